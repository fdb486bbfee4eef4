// The XS entry for the tests' xsnap tier: bundled at test time (tests/harness/xsnap.ts)
// and evaluated in an xsnap worker. It runs our MQTT client on the XS engine with sockets
// and timers bridged to the Node driver, and answers the driver's jobs:
//   scenario           one of Moddable's scenarios (tests/scenarios/moddable-mqtt.ts)
//   client.*           drive a named client step by step (create, connect, subscribe,
//                      publish, next message, disconnect, abort, state)
//   product.*          boot one of the five products on simulated hardware (start, stop)
//   noop               nothing: what the bridge itself costs
// Every job ends with a "done" call carrying its result or its error (./jobs.ts).

import { simulate } from "../../modules/device/product.js";
import { Device } from "../../modules/device/device.js";
import { MqttClient } from "../../modules/mqtt/client.js";
import type { ClientOptions, Message } from "../../modules/mqtt/client.js";
import type { QoS } from "../../modules/mqtt/packets.js";
import { scenarios } from "../../tests/scenarios/moddable-mqtt.js";
import type { ScenarioBroker, ScenarioHost } from "../../tests/scenarios/moddable-mqtt.js";
import { call, now } from "./bridge.js";
import { serveJobs } from "./jobs.js";
import type { Args, Job } from "./jobs.js";
import { XsSocket } from "./socket.js";
import { delay, xsTimer } from "./timer.js";
import { prng } from "../../modules/device/prng.js";
import { MemorySettingsStore } from "../../modules/device/settings.js";
import type { Product } from "../../modules/device/product.js";
import { productNamed } from "../../modules/products/index.js";

type HostClientOptions = Omit<ClientOptions, "socket" | "timer" | "now" | "random" | "store">;

/** A client on XS's bridged socket and timer, with the host's clock and a seeded PRNG. */
function xsClient(options: HostClientOptions, seed = 1): MqttClient {
  return new MqttClient({ ...options, socket: { io: XsSocket }, timer: xsTimer, now, random: prng(seed) });
}

interface Entry {
  client: MqttClient;
  inbox: Message[];
  waiter: ((m: Message) => void) | undefined;
  errors: string[];
}
const clients = new Map<string, Entry>();
const running = new Map<string, Product>();

function entry(args: Args): Entry {
  const e = clients.get(args.client as string);
  if (!e) throw new Error(`no client ${String(args.client)}`);
  return e;
}

const jobs: Record<string, Job> = {
  /** Nothing: one event in and one "done" call out, the bridge's own cost. */
  noop() {},

  async scenario(args) {
    const scenario = scenarios.find((s) => s.name === args.name);
    if (!scenario) throw new Error(`no scenario ${String(args.name)}`);
    let count = 0;
    const host: ScenarioHost = {
      broker: args.broker as ScenarioBroker,
      client: (options) => xsClient(options, ++count),
      delay,
      unique: () => `${String(args.prefix)}-${++count}`,
    };
    await scenario.run(host);
  },

  "client.create"(args) {
    const name = args.client as string;
    if (clients.has(name)) throw new Error(`client ${name} exists`);
    const client = xsClient(args.options as HostClientOptions, (args.seed as number | undefined) ?? 1);
    const e: Entry = { client, inbox: [], waiter: undefined, errors: [] };
    client.on("message", (m) => {
      // The payload is a view into a received chunk; keep a copy of its own.
      const copy: Message = { ...m, payload: m.payload.slice() };
      const waiter = e.waiter;
      if (waiter) {
        e.waiter = undefined;
        waiter(copy);
      } else {
        e.inbox.push(copy);
      }
    });
    client.on("error", (error) => { e.errors.push(error.code); });
    clients.set(name, e);
  },

  async "client.connect"(args) {
    return { result: await entry(args).client.connect() };
  },

  async "client.subscribe"(args) {
    const granted = await entry(args).client.subscribe(args.filter as string | string[], { qos: (args.qos ?? 0) as QoS });
    return { result: { granted } };
  },

  async "client.publish"(args, payload) {
    await entry(args).client.publish(args.topic as string, payload, { qos: (args.qos ?? 0) as QoS, retain: args.retain === true });
  },

  /** The next message received (queued or awaited); its payload is the binary result. */
  async "client.next"(args) {
    const e = entry(args);
    const timeoutMs = (args.timeoutMs as number | undefined) ?? 5_000;
    const m = e.inbox.shift() ?? await new Promise<Message>((resolve, reject) => {
      const timer = xsTimer.set(() => {
        e.waiter = undefined;
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      e.waiter = (message) => {
        xsTimer.clear(timer);
        resolve(message);
      };
    });
    return { result: { topic: m.topic, qos: m.qos, retain: m.retain, dup: m.dup }, bytes: m.payload };
  },

  async "client.disconnect"(args) {
    const e = entry(args);
    clients.delete(args.client as string);
    await e.client.disconnect();
  },

  "client.abort"(args) {
    const e = entry(args);
    clients.delete(args.client as string);
    e.client.abort();
  },

  /** Boots a product on its simulated hardware against the broker at args.port; log lines go to args.log. */
  "product.start"(args) {
    const definition = productNamed(args.product as string);
    const deviceId = (args.deviceId as string | undefined) ?? definition.deviceId(0);
    if (running.has(deviceId)) throw new Error(`device ${deviceId} is running`);
    let count = 0;
    const product = simulate(definition, new Device({
      deviceId,
      config: { ...definition.defaults, ...(args.config as Record<string, string> | undefined) },
      timer: xsTimer,
      now,
      settings: new MemorySettingsStore(),
      random: prng((args.seed as number | undefined) ?? 1),
      log: (line) => call({ op: "log", line: `${deviceId} ${line}` }),
      createClient: (options) => new MqttClient({
        host: "127.0.0.1", port: args.port as number, reconnect: { initialMs: 50, maxMs: 500 },
        ...options, socket: { io: XsSocket }, timer: xsTimer, now, random: prng(++count),
      }),
    })).product;
    running.set(deviceId, product);
    product.start();
  },

  async "product.stop"(args) {
    const product = running.get(args.deviceId as string);
    if (!product) throw new Error(`no device ${String(args.deviceId)}`);
    running.delete(args.deviceId as string);
    await product.stop();
  },

  "client.state"(args) {
    const { client, errors, inbox } = entry(args);
    return { result: { state: client.session.state, connected: client.connected, errors, queued: inbox.length } };
  },
};

serveJobs(jobs);
