// Firmware entry on Moddable (ESP32 and the lin simulator): runs the app named by config.app
// (a product: bess, battery-hawk, dese, esp-sensors, smart-meter; or the platform checks
// roundtrip and scenarios) with the broker, device id and credentials from config. A
// product's own settings (its definition's defaults, e.g. org for dese) are config keys too. On ESP32, Moddable's setup/network
// (from the io manifest) joins Wi-Fi from config ssid/password and sets the clock by SNTP
// before this module is imported. For mqtts, ca= (and cert=/key= for mutual TLS) name files
// in certs/, embedded as resources; they are loaded and converted once, here.

import { simulate } from "../../modules/device/product.js";
import Timer from "timer";
import { text, number, parseBrokerUrl } from "./config.js";
import { createModdableClient } from "./client.js";
import { secureOptions } from "./tls.js";
import type { BrokerAddress } from "./config.js";
import { PreferenceOutbox } from "./preference-store.js";
import { runRoundTrip, roundTripWill } from "../../modules/apps/roundtrip.js";
import { runScenarios } from "./apps/scenarios.js";
import { products } from "../../modules/products/index.js";
import { moddablePlatform } from "./platform.js";
import { Device } from "../../modules/device/device.js";

function log(line: string): void {
  trace(`[${text("app")}] ${line}\n`);
}

/** TLS from config keys ca, cert, key, alpn, serverName; undefined for mqtt://. */
function secure(broker: BrokerAddress): Record<string, unknown> | undefined {
  if (!broker.tls) return undefined;
  const ca = text("ca");
  if (!ca) throw new RangeError("mqtts needs ca=<file in certs/>, the CA certificate (PEM or DER) that signed the broker's");
  return secureOptions({
    ca,
    cert: text("cert") || undefined,
    key: text("key") || undefined,
    alpn: text("alpn") || undefined,
    serverName: text("serverName") || undefined,
  });
}

function start(): void {
  const app = text("app") || "roundtrip";
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
  const product = products.find((p) => p.name === app);
  if (product) {
    const config: Record<string, string> = {};
    for (const [key, value] of Object.entries(product.defaults)) config[key] = text(key) || value;
    const deviceId = text("device") || product.deviceId(0);
    const running = simulate(product, new Device(moddablePlatform({
      deviceId,
      config,
      broker,
      username: text("mqttUser") || undefined,
      password: text("mqttPassword") || undefined,
      secure: tls,
      maxBackoffMs: number("maxBackoffMs", 10_000),
      seed: number("seed", 1),
      log,
    }))).product;
    running.start();
    return;
  }
  if (app !== "roundtrip") throw new RangeError(`unknown app "${app}"; apps: roundtrip, scenarios, ${products.map((p) => p.name).join(", ")}`);
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
try {
  start();
} catch (e) {
  log(`cannot start: ${e instanceof Error ? e.message : String(e)}`);
}
