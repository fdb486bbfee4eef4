// `npm start`'s engine, without its terminal or web views: the broker (embedded aedes, or the
// one given), the simulated devices of each product on their emulated buses, what they send
// and receive, each one's connection state, a console that commands them, and faults on
// demand (a device's link cut or black-holed, the embedded broker stopped and started). The
// views (view.ts, web/) only listen to its events and call its methods.

import { EventEmitter } from "node:events";
import type { MqttClient } from "../../modules/mqtt/client.js";
import { topicMatches } from "../../modules/mqtt/topic.js";
import { Device } from "../../modules/device/device.js";
import type { Json, JsonObject } from "../../modules/device/commands.js";
import { simulate } from "../../modules/device/product.js";
import type { HardwareFault, Product, ProductDefinition } from "../../modules/device/product.js";
import { createNodeClient } from "./client.js";
import { sendRequest } from "./request.js";
import { EmbeddedBroker } from "./embedded-broker.js";
import { Link } from "./link.js";
import { nodePlatform } from "./platform.js";
import { configFor } from "./session.js";
import type { Broker } from "./session.js";

export interface Traffic {
  at: number;
  topic: string;
  payload: Uint8Array;
  qos: number;
  retain: boolean;
  /** ">" sent by the device (or its will, by the broker), "<" sent to it. */
  direction: ">" | "<";
  device: SimDevice | undefined;
  /** Sent while the device was offline: held in its outbox until it reconnects. */
  queued?: boolean;
}

export interface Outage {
  since: number;
  attempts: number;
  lastError: string;
  retryInMs?: number;
}

export interface SimDevice {
  product: ProductDefinition;
  deviceId: string;
  /** "<product>/<deviceId>" */
  label: string;
  config: Record<string, string>;
  /** A filter covering the device's topics. */
  filter: string;
  device: Device;
  running: Product;
  /** What may be done to its emulated parts (dashboard faults). */
  faults: Record<string, HardwareFault>;
  link: Link;
  clientIds: Set<string>;
  connected: boolean;
  /** Set while the device cannot reach the broker. */
  outage: Outage | undefined;
  everConnected: boolean;
}

export interface SimulatorOptions {
  /** An external broker; without one, an embedded aedes on 127.0.0.1:`port`. */
  broker?: Broker;
  port: number;
  products: readonly ProductDefinition[];
  count: number;
  /** Product name -> its settings. */
  config: Record<string, Record<string, string>>;
  state: string;
  seed: number;
}

export type SimulatorEvents = {
  traffic: [Traffic];
  /** A device connected ("up"), lost or failed a connection ("down"), or gave up. */
  link: [SimDevice, "up" | "down", Outage | undefined];
  /** A line a device logged. */
  log: [SimDevice, string];
  broker: ["up" | "down"];
};

/** The most messages kept for the views (the dashboard's stream); older ones are dropped. */
export const HISTORY = 2_000;

export class Simulator extends EventEmitter<SimulatorEvents> {
  readonly devices: SimDevice[] = [];
  readonly broker: Broker;
  readonly embedded: EmbeddedBroker | undefined;
  /** Retained messages by topic, as the devices left them. */
  readonly retained = new Map<string, Traffic>();
  readonly history: Traffic[] = [];
  #console: MqttClient | undefined;

  private constructor(broker: Broker, embedded: EmbeddedBroker | undefined) {
    super();
    this.broker = broker;
    this.embedded = embedded;
  }

  /**
   * Starts the broker (unless one is given) and creates every device; nothing runs yet. A
   * device's bad setting throws here (with the embedded broker stopped again).
   */
  static async create(options: SimulatorOptions): Promise<Simulator> {
    let sim!: Simulator;
    let embedded: EmbeddedBroker | undefined;
    let broker = options.broker;
    if (!broker) {
      embedded = new EmbeddedBroker((packet, clientId) => sim.#fromBroker(packet, clientId));
      const port = await embedded.start(options.port);
      broker = { url: `mqtt://127.0.0.1:${port}`, host: "127.0.0.1", port };
    }
    sim = new Simulator(broker, embedded);
    try {
      options.products.forEach((definition, p) => {
        for (let i = 0; i < options.count; i++) sim.#boot(definition, i, options, options.seed * 1_000_000 + p * options.count + i);
      });
    } catch (e) {
      await embedded?.stop();
      throw e;
    }
    return sim;
  }

  /** Starts every device. */
  start(): void {
    for (const d of this.devices) d.running.start();
  }

  /** Stops every device (each bounded), then the console and the embedded broker. */
  async stop(boundMs = 3_000): Promise<void> {
    await Promise.all(this.devices.map((d) => Promise.race([d.running.stop().catch(() => {}), delay(boundMs)])));
    await this.#console?.disconnect().catch(() => {});
    await this.embedded?.stop();
  }

  find(label: string): SimDevice | undefined {
    return this.devices.find((d) => d.label === label || d.deviceId === label);
  }

  // ---- faults on demand ----

  /** Cuts a device's link: its socket fails, it reconnects with backoff. */
  cut(device: SimDevice): void {
    device.link.cut();
  }

  /** Black-holes a device's link (or restores it): bytes vanish, nothing errors. */
  blackhole(device: SimDevice, on: boolean): void {
    device.link.blackholed = on;
  }

  /** Sets off a fault on a device's emulated parts (a probe pulled, a module overheated). */
  hardwareFault(device: SimDevice, kind: string): void {
    const fault = device.faults[kind];
    if (!fault) throw new RangeError(`${device.label} has no fault "${kind}"; it has: ${Object.keys(device.faults).join(", ") || "none"}`);
    fault.apply();
    this.emit("log", device, `fault: ${fault.label}`);
  }

  /** Stops or starts the embedded broker (what it held is lost, as in a restart without persistence). */
  async setBroker(up: boolean): Promise<void> {
    if (!this.embedded) throw new RangeError("only the embedded broker can be stopped and started; this run uses " + this.broker.url);
    if (up) await this.embedded.start();
    else {
      await this.embedded.stop();
      this.retained.clear(); // the broker forgot them; the devices announce themselves again
    }
    this.emit("broker", up ? "up" : "down");
  }

  // ---- the console ----

  /** Sends a command as the companion would and resolves with the device's answer (or rejects after `timeoutMs`). */
  async command(device: SimDevice, name: string, params: JsonObject, timeoutMs = 10_000): Promise<Json> {
    const request = device.product.command(device.deviceId, device.config, name, params);
    const answer = await sendRequest(await this.#consoleClient(), request, timeoutMs);
    if (answer === undefined) throw new Error(`no answer on ${request.responseTopic} within ${timeoutMs} ms`);
    return answer;
  }

  async #consoleClient(): Promise<MqttClient> {
    if (!this.#console) {
      const b = this.broker;
      this.#console = createNodeClient({
        host: b.host, port: b.port, username: b.username, password: b.password, secure: b.secure,
        clientId: `console-${process.pid}`, reconnect: { initialMs: 200, maxMs: 2_000 },
      });
      this.#console.on("error", () => {});
      void this.#console.connect().catch(() => {});
    }
    if (!this.#console.connected) {
      const c = this.#console;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the console cannot reach the broker at ${this.broker.url}`)), 10_000);
        c.once("connected", () => { clearTimeout(timer); resolve(); });
      });
    }
    return this.#console;
  }

  // ---- devices and their traffic ----

  #boot(definition: ProductDefinition, index: number, options: SimulatorOptions, seed: number): void {
    const deviceId = definition.deviceId(index);
    const config = configFor(definition, options.config[definition.name], deviceId, options.count);
    const link = new Link();
    let entry!: SimDevice;
    const platform = nodePlatform({
      product: definition.name, deviceId, broker: this.broker, config, stateDir: options.state, seed, link,
      log: (line) => this.emit("log", entry, line),
    });
    // Products that sleep connect once per wake: tap every client the platform makes.
    const createClient = platform.createClient;
    platform.createClient = (choices) => {
      const client = createClient(choices);
      entry.clientIds.add(choices.clientId);
      if (!this.embedded) this.#tap(entry, client);
      return client;
    };
    const device = new Device(platform);
    entry = {
      product: definition, deviceId, label: `${definition.name}/${deviceId}`, config, filter: definition.topicFilter(deviceId, config),
      device, running: undefined!, faults: {}, link, clientIds: new Set(), connected: false, outage: undefined, everConnected: false,
    };
    device.on("connected", () => {
      entry.connected = true;
      entry.everConnected = true;
      const outage = entry.outage;
      entry.outage = undefined;
      this.emit("link", entry, "up", outage);
    });
    device.on("disconnected", ({ error, reconnectInMs }) => {
      entry.connected = false;
      if (!error) {
        this.emit("link", entry, "down", undefined); // a planned disconnect (a node going to sleep, a stop)
        return;
      }
      const outage = entry.outage ?? { since: Date.now(), attempts: 0, lastError: "" };
      outage.attempts++;
      outage.lastError = error.message;
      outage.retryInMs = reconnectInMs;
      entry.outage = outage;
      this.emit("link", entry, "down", outage);
    });
    const simulated = simulate(definition, device);
    entry.running = simulated.product;
    entry.faults = simulated.faults;
    this.devices.push(entry);
  }

  /** On an external broker, what a device sends and receives is seen at its client. */
  #tap(entry: SimDevice, client: MqttClient): void {
    client.on("message", (m) => this.#record({ at: Date.now(), topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, direction: "<", device: entry }));
    const publish = client.publish.bind(client);
    client.publish = (topic, payload, options = {}) => {
      const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload instanceof ArrayBuffer ? new Uint8Array(payload) : payload;
      this.#record({ at: Date.now(), topic, payload: bytes, qos: options.qos ?? 0, retain: options.retain ?? false, direction: ">", device: entry, queued: !client.connected });
      return publish(topic, payload, options);
    };
  }

  /** On the embedded broker, every PUBLISH exactly as the broker received it. */
  #fromBroker(packet: { topic: string; payload: Uint8Array; qos: number; retain: boolean }, clientId: string | undefined): void {
    // A will (no client) is the device's last word, published by the broker on its behalf.
    if (clientId === undefined) return this.#record({ at: Date.now(), ...packet, direction: ">", device: this.#owner(packet.topic) });
    const sender = this.devices.find((d) => d.clientIds.has(clientId));
    this.#record({ at: Date.now(), ...packet, direction: sender ? ">" : "<", device: sender ?? this.#owner(packet.topic) });
  }

  #owner(topic: string): SimDevice | undefined {
    return this.devices.find((d) => topicMatches(d.filter, topic));
  }

  #record(t: Traffic): void {
    if (t.retain && t.direction === ">") {
      if (t.payload.length === 0) this.retained.delete(t.topic);
      else this.retained.set(t.topic, t);
    }
    this.history.push(t);
    if (this.history.length > HISTORY) this.history.shift();
    this.emit("traffic", t);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
