// `npm start`: the desktop simulator. Starts an embedded aedes broker on 127.0.0.1 (or uses
// --broker / MQTT_URL), boots simulated devices of the five products, and prints a live view
// of their traffic. `npm run cmd` (hosts/node/cmd.ts) commands them; it finds the broker and
// the product settings through <state>/session.json, written here.

import * as net from "node:net";
import { Aedes } from "aedes";
import type { Product, ProductDefinition } from "../../modules/device/product.js";
import { products, productNamed } from "../../modules/products/index.js";
import { topicMatches } from "../../modules/mqtt/topic.js";
import { createNodeClient } from "./client.js";
import { nodePlatform } from "./platform.js";
import { Device } from "../../modules/device/device.js";
import { configFor, parseBroker, parseSettings, tlsFilesFromEnv, writeSession, removeSession } from "./session.js";
import type { SessionFile, TlsFiles } from "./session.js";

const USAGE = `npm start -- [options]
  --broker URL            use this broker (mqtt://host:port or mqtts://...) instead of the embedded aedes; also MQTT_URL
  --ca FILE               with mqtts://: the CA to trust, PEM or DER (also MQTT_CA; default: the system's roots)
  --cert FILE, --key FILE with mqtts://: the client certificate and its private key for mutual TLS, PEM or DER (also MQTT_CERT, MQTT_KEY)
  --port N                embedded broker port (default 1883; a free port if it is taken)
  --products a,b,...      products to boot (default: all of ${products.map((p) => p.name).join(", ")})
  --count N               devices per product (default 1)
  --set product.key=value product setting, repeatable (e.g. --set dese.org=org-042)
  --state DIR             where devices keep settings and unsent messages (default .state)
  --seed N                seed of the simulated hardware (default 1)
  --duration S            stop after S seconds (default: until Ctrl-C)
  --quiet                 connections only, no message view`;

interface Args {
  broker?: string;
  tls: TlsFiles;
  port: number;
  products: ProductDefinition[];
  count: number;
  settings: string[];
  state: string;
  seed: number;
  duration: number;
  quiet: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { broker: process.env.MQTT_URL || undefined, tls: tlsFilesFromEnv(), port: 1883, products: [...products], count: 1, settings: [], state: ".state", seed: 1, duration: 0, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new RangeError(`${flag} needs a value`);
      return v;
    };
    if (flag === "--broker") args.broker = value();
    else if (flag === "--ca" || flag === "--cert" || flag === "--key") args.tls[flag.slice(2) as keyof TlsFiles] = value();
    else if (flag === "--port") args.port = integer(flag, value(), 0, 65535);
    else if (flag === "--products") args.products = value().split(",").map((name) => productNamed(name.trim()));
    else if (flag === "--count") args.count = integer(flag, value(), 1, 100);
    else if (flag === "--set") args.settings.push(value());
    else if (flag === "--state") args.state = value();
    else if (flag === "--seed") args.seed = integer(flag, value(), 0, 2 ** 31);
    else if (flag === "--duration") args.duration = integer(flag, value(), 0, 86_400);
    else if (flag === "--quiet") args.quiet = true;
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

function listen(server: net.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE" && port !== 0) resolve(listen(server, 0));
      else reject(e);
    });
    server.listen(port, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

const COLORS = ["\x1b[36m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[34m"];
const paint = process.stdout.isTTY ? (color: string, text: string) => `${color}${text}\x1b[0m` : (_: string, text: string) => text;
const decoder = new TextDecoder();

interface Running {
  label: string;
  color: string;
  filter: string;
  product: Product;
  clientIds: Set<string>;
}

function time(): string {
  return new Date().toISOString().slice(11, 23);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const config = parseSettings(args.settings, args.products);

  let broker = args.broker ? parseBroker(args.broker, args.tls) : undefined;
  let closeBroker = async (): Promise<void> => {};
  let aedes: Aedes | undefined;
  if (!broker) {
    aedes = await Aedes.createBroker();
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      aedes!.handle(socket);
    });
    const port = await listen(server, args.port);
    broker = { url: `mqtt://127.0.0.1:${port}`, host: "127.0.0.1", port };
    closeBroker = () => new Promise((resolve) => aedes!.close(() => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }));
  }
  console.log(`broker ${broker.url}${aedes ? " (embedded aedes)" : ""}`);

  // Every device is created before anything is written or started: a bad setting (the
  // product's options refuse unknown keys and bad values) stops here and leaves no session.
  const running: Running[] = [];
  const devices: SessionFile["devices"] = {};
  try {
    args.products.forEach((definition, p) => {
      devices[definition.name] = {};
      for (let i = 0; i < args.count; i++) {
        const deviceId = definition.deviceId(i);
        const deviceConfig = configFor(definition, config[definition.name], deviceId, args.count);
        devices[definition.name][deviceId] = deviceConfig;
        running.push(boot(definition, deviceId, deviceConfig, COLORS[p % COLORS.length], args.seed * 1000 + p * 100 + i));
      }
    });
  } catch (e) {
    await closeBroker();
    throw e;
  }
  writeSession(args.state, { url: broker.url, config, devices });

  function boot(definition: ProductDefinition, deviceId: string, deviceConfig: Record<string, string>, color: string, seed: number): Running {
    const label = `${definition.name}/${deviceId}`;
    const platform = nodePlatform({
      product: definition.name, deviceId, broker: broker!, config: deviceConfig, stateDir: args.state,
      seed, log: (line) => console.log(`${time()} ${paint(color, label)} ${line}`),
    });
    const entry: Running = { label, color, filter: definition.topicFilter(deviceId, deviceConfig), product: undefined!, clientIds: new Set() };
    // Products that sleep connect once per wake: watch every client the platform makes.
    const createClient = platform.createClient;
    platform.createClient = (options) => {
      entry.clientIds.add(options.clientId);
      return createClient(options);
    };
    const device = new Device(platform);
    device.on("connected", ({ sessionPresent }) => console.log(`${time()} ${paint(color, label)} connected${sessionPresent ? " (session resumed)" : ""}`));
    device.on("disconnected", ({ error, reconnectInMs }) => {
      if (error) console.log(`${time()} ${paint(color, label)} disconnected: ${error.message}${reconnectInMs !== undefined ? `, retrying in ${reconnectInMs} ms` : ""}`);
    });
    entry.product = definition.simulate(device);
    return entry;
  }

  const show = (topic: string, payload: Uint8Array, qos: number, retain: boolean, from?: string): void => {
    if (args.quiet) return;
    const device = running.find((r) => (from !== undefined && r.clientIds.has(from)) || topicMatches(r.filter, topic));
    const who = device ? paint(device.color, device.label) : "-";
    const arrow = from === undefined ? " " : device?.clientIds.has(from) ? ">" : "<";
    const body = decoder.decode(payload);
    console.log(`${time()} ${who} ${arrow} ${topic} q${qos}${retain ? " retained" : ""} ${body.length > 160 ? body.slice(0, 157) + "..." : body}`);
  };
  if (aedes) {
    // The broker sees each message exactly as published, retain flag included.
    aedes.on("publish", (packet, client) => {
      if (client) show(packet.topic, packet.payload as Uint8Array, packet.qos, packet.retain, client.id);
    });
  } else {
    const monitor = createNodeClient({ host: broker.host, port: broker.port, username: broker.username, password: broker.password, secure: broker.secure, clientId: `monitor-${process.pid}` });
    monitor.on("error", () => {});
    await monitor.connect();
    // One subscription per distinct filter: overlapping ones would print a message per match.
    await monitor.subscribe([...new Set(running.map((r) => r.filter))], { qos: 2 }, (m) => show(m.topic, m.payload, m.qos, m.retain));
  }

  for (const r of running) r.product.start();
  console.log(`${running.length} device(s) started; npm run cmd -- <product> <device> <command> [key=value...] commands them. Ctrl-C stops.`);

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await Promise.all(running.map((r) => Promise.race([r.product.stop(), new Promise((resolve) => setTimeout(resolve, 2000))]).catch(() => {})));
    removeSession(args.state, broker!.url);
    await closeBroker();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  if (args.duration > 0) setTimeout(stop, args.duration * 1000);
}

main().catch((e) => {
  console.error(e instanceof RangeError ? e.message : e);
  process.exit(2);
});
