// `npm start`: the desktop simulator. Starts an embedded aedes broker on 127.0.0.1 (or uses
// --broker / MQTT_URL), boots simulated devices of the five products on their emulated
// buses, and shows their traffic in the terminal and on a web dashboard. `npm run cmd`
// (hosts/node/cmd.ts) commands them; it finds the broker and the devices through
// <state>/session.json, written here once everything is valid.

import * as fs from "node:fs";
import * as path from "node:path";
import type { ProductDefinition } from "../../modules/device/product.js";
import { products, productNamed } from "../../modules/products/index.js";
import { lockState, StateLocked } from "./lock.js";
import { parseBroker, parseSettings, tlsFilesFromEnv, writeSession, removeSession } from "./session.js";
import type { SessionFile, TlsFiles } from "./session.js";
import { Simulator } from "./simulator.js";
import { attachView } from "./view.js";
import { startDashboard } from "./web/server.js";

const USAGE = `npm start -- [options]
  --broker URL            use this broker (mqtt://host:port or mqtts://...) instead of the embedded aedes; also MQTT_URL
  --ca FILE               with mqtts://: the CA to trust, PEM or DER (also MQTT_CA; default: the system's roots)
  --cert FILE, --key FILE with mqtts://: the client certificate and its private key for mutual TLS, PEM or DER (also MQTT_CERT, MQTT_KEY)
  --port N                embedded broker port (default 1883; a free port if it is taken)
  --products a,b,...      products to boot (default: all of ${products.map((p) => p.name).join(", ")})
  --count N               devices per product (default 1)
  --set product.key=value product setting, repeatable (e.g. --set dese.org=org-042)
  --state DIR             where devices keep settings and unsent messages (default .state)
  --fresh                 start from an empty state folder (forgets unsent messages, balances, and backoff such as esp-sensors' hour-long wait)
  --seed N                seed of the simulated hardware (default 1)
  --duration S            stop after S seconds (default: until Ctrl-C)
  --exit-on-error         exit with status 1 as soon as a device cannot connect, instead of retrying
  --full                  whole payloads (default: cut at 160 characters)
  --filter TEXT           only messages of devices or topics containing TEXT (or matching it as a topic filter)
  --quiet                 connections only, no message view
  --web-port N            the dashboard's port on 127.0.0.1 (default 8080; a free port if it is taken)
  --no-web                no dashboard`;

interface Args {
  broker?: string;
  tls: TlsFiles;
  port: number;
  products: ProductDefinition[];
  count: number;
  settings: string[];
  state: string;
  fresh: boolean;
  seed: number;
  duration: number;
  exitOnError: boolean;
  full: boolean;
  filter?: string;
  quiet: boolean;
  web: boolean;
  webPort: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    broker: process.env.MQTT_URL || undefined, tls: tlsFilesFromEnv(), port: 1883, products: [...products], count: 1, settings: [],
    state: ".state", fresh: false, seed: 1, duration: 0, exitOnError: false, full: false, quiet: false, web: true, webPort: 8080,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new RangeError(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    if (flag === "--broker") args.broker = value();
    else if (flag === "--ca" || flag === "--cert" || flag === "--key") args.tls[flag.slice(2) as keyof TlsFiles] = value();
    else if (flag === "--port") args.port = integer(flag, value(), 0, 65535);
    else if (flag === "--products") args.products = value().split(",").map((name) => productNamed(name.trim()));
    else if (flag === "--count") args.count = integer(flag, value(), 1, 2_000);
    else if (flag === "--set") args.settings.push(value());
    else if (flag === "--state") args.state = value();
    else if (flag === "--fresh") args.fresh = true;
    else if (flag === "--seed") args.seed = integer(flag, value(), 0, 2 ** 31);
    else if (flag === "--duration") args.duration = integer(flag, value(), 0, 86_400);
    else if (flag === "--exit-on-error") args.exitOnError = true;
    else if (flag === "--full") args.full = true;
    else if (flag === "--filter") args.filter = value();
    else if (flag === "--quiet") args.quiet = true;
    else if (flag === "--web-port") args.webPort = integer(flag, value(), 0, 65535);
    else if (flag === "--no-web") args.web = false;
    else if (flag === "--help" || flag === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else throw new RangeError(`unknown option ${flag}\n${USAGE}`);
  }
  return args;
}

function integer(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`${flag} must be an integer ${min}..${max}, not "${text}"`);
  return n;
}

/** Output that survives its reader going away (`npm start | tee log` and Ctrl-C): lines are dropped, the shutdown goes on. */
function safeWriter(): (line: string) => void {
  let broken = false;
  process.stdout.on("error", () => { broken = true; });
  return (line) => {
    if (!broken) process.stdout.write(line + "\n");
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const config = parseSettings(args.settings, args.products);
  const broker = args.broker ? parseBroker(args.broker, args.tls) : undefined;
  const release = lockState(args.state);
  process.on("exit", release);
  if (args.fresh) {
    for (const entry of fs.readdirSync(args.state)) if (entry !== "lock") fs.rmSync(path.join(args.state, entry), { recursive: true, force: true });
  }
  const write = safeWriter();

  // Every device is created before anything is written or started: a bad setting (the
  // product's options refuse unknown keys and bad values) stops here and leaves no session.
  const sim = await Simulator.create({ broker, port: args.port, products: args.products, count: args.count, config, state: args.state, seed: args.seed });
  const devices: SessionFile["devices"] = {};
  for (const d of sim.devices) (devices[d.product.name] ??= {})[d.deviceId] = d.config;
  writeSession(args.state, { url: sim.broker.url, config, devices });
  write(`broker ${sim.broker.url}${sim.embedded ? " (embedded aedes)" : ""}`);

  attachView(sim, { full: args.full, filter: args.filter, quiet: args.quiet, color: process.stdout.isTTY === true, write });
  const dashboard = args.web ? await startDashboard(sim, args.webPort) : undefined;
  if (dashboard) write(`dashboard ${dashboard.url}`);

  let stopping: Promise<void> | undefined;
  const stop = (code = 0): Promise<void> => {
    stopping ??= (async () => {
      await dashboard?.close();
      await sim.stop();
      removeSession(args.state, sim.broker.url);
      release();
      process.exit(code);
    })();
    return stopping;
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP", "SIGPIPE"] as const) process.on(signal, () => void stop());
  if (args.duration > 0) setTimeout(() => void stop(), args.duration * 1000).unref();
  if (args.exitOnError) {
    sim.on("link", (d, state, outage) => {
      if (state !== "down" || !outage) return;
      process.stderr.write(`${d.label} cannot connect to ${sim.broker.url}: ${outage.lastError}\n`);
      void stop(1);
    });
  }

  sim.start();
  write(`${sim.devices.length} device(s) started; npm run cmd -- <product> <device> <command> [key=value...] commands them. Ctrl-C stops.`);
}

main().catch((e) => {
  console.error(e instanceof RangeError || e instanceof StateLocked ? e.message : e);
  process.exit(2);
});
