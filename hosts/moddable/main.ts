// The platform checks' entry (manifest.json at the top of the repository): runs the app named
// by config.app, `roundtrip` (the round trip of modules/apps/roundtrip.ts) or `scenarios`
// (Moddable's MQTT scenarios, tests/scenarios/), with the broker, device id and credentials
// from config. A product is not an app here: each has its own image,
// hosts/moddable/products/<name>/manifest.json (boot.ts).

import Timer from "timer";
import { text, number, parseBrokerUrl } from "./config.js";
import { createModdableClient } from "./client.js";
import { PreferenceOutbox } from "./preference-store.js";
import { logger, secure } from "./boot.js";
import { runRoundTrip, roundTripWill } from "../../modules/apps/roundtrip.js";
import { runScenarios } from "./apps/scenarios.js";

const PRODUCTS = ["bess", "battery-hawk", "dese", "esp-sensors", "smart-meter"];

function start(log: (line: string) => void): void {
  const app = text("app") || "roundtrip";
  if (PRODUCTS.includes(app)) throw new RangeError(`${app} has its own image: mcconfig ... hosts/moddable/products/${app}/manifest.json`);
  if (app !== "roundtrip" && app !== "scenarios") throw new RangeError(`unknown app "${app}"; apps: roundtrip, scenarios`);
  const broker = parseBrokerUrl(text("broker") || "mqtt://127.0.0.1:1883");
  const tls = secure(broker);
  if (app === "scenarios") {
    runScenarios({
      host: broker.host,
      port: broker.port,
      authPort: number("authPort", broker.port),
      user: text("mqttUser"),
      password: text("mqttPassword"),
      refusedPort: number("refusedPort", 1),
      foreignPort: number("foreignPort", 443),
      badHost: "no-such-host.invalid",
    }, log).catch((e) => log(`scenarios crashed: ${String(e)}`));
    return;
  }
  const device = text("device") || "device-001";
  const client = createModdableClient({
    host: broker.host,
    port: broker.port,
    clientId: device,
    clean: false,
    keepalive: number("keepalive", 30),
    username: text("mqttUser") || undefined,
    password: text("mqttPassword") || undefined,
    will: roundTripWill(device),
    reconnect: { initialMs: 500, maxMs: number("maxBackoffMs", 10_000) },
    secure: tls,
    store: new PreferenceOutbox(`ob-${device}`.slice(0, 15)),
    outbox: { maxMessages: 100, maxBytes: 64 * 1024 },
  });
  runRoundTrip(client, {
    device,
    intervalMs: number("interval", 1_000),
    log,
    setInterval: (callback, ms) => { Timer.repeat(callback, ms); },
    now: Date.now,
  });
  client.connect().catch((e) => log(`connect failed: ${String(e)}`));
}

// A configuration error (a missing or unusable certificate, an unknown app) is reported
// with its reason, rather than as an uncaught exception at module load.
const log = logger(text("app") || "roundtrip");
try {
  start(log);
} catch (e) {
  log(`cannot start: ${e instanceof Error ? e.message : String(e)}`);
}
