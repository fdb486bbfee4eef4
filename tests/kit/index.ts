// The one test kit for products: a Device over the real MqttClient, on a fake clock, talking
// to a scripted broker through fake ECMA-419 sockets. The broker answers what a broker would
// (CONNACK, SUBACK, PUBACK, PUBREC/PUBCOMP, UNSUBACK, PINGRESP), keeps retained messages,
// routes what the test delivers, and records every PUBLISH the device sends, so a product
// test reads as: start, advance time, deliver, look at what was published.

import * as P from "../../modules/mqtt/packets.js";
import type { Packet, PublishPacket, QoS } from "../../modules/mqtt/packets.js";
import { MqttClient } from "../../modules/mqtt/client.js";
import { topicMatches } from "../../modules/mqtt/topic.js";
import { Device } from "../../modules/device/device.js";
import type { Platform } from "../../modules/device/device.js";
import { MemorySettingsStore } from "../../modules/device/settings.js";
import type { SettingsStore } from "../../modules/device/settings.js";
import { prng } from "../../modules/device/prng.js";
import { FakeClock, FakeNet, microtasks } from "../unit/fakes.js";
import type { FakeSocket } from "../unit/fakes.js";

export { FakeClock, microtasks };

export interface Published {
  topic: string;
  /** The payload as text. */
  text: string;
  /** The payload parsed as JSON, or undefined when it is not JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Fake-clock time when the broker received it. */
  at: number;
}

export interface KitOptions {
  deviceId: string;
  config?: Record<string, string>;
  /** Shared with an earlier kit to model a restart with the same flash. */
  settings?: SettingsStore;
  /** Start of the fake clock, ms since the epoch. Default 2025-01-01T00:00:00Z. */
  start?: number;
  seed?: number;
}

const td = new TextDecoder();
const te = new TextEncoder();

/** Plays the broker on every socket the device opens. */
export class ScriptedBroker {
  readonly published: Published[] = [];
  readonly retained = new Map<string, Published>();
  /** Filters the device subscribed to, with the granted QoS. */
  readonly subscriptions = new Map<string, QoS>();
  /** Filters to refuse (SUBACK 0x80). */
  readonly refuse = new Set<string>();
  /** Filters whose QoS 1/2 publishes are recorded but not acknowledged (an ack lost with the link). */
  readonly withhold = new Set<string>();
  /** What CONNACK says about the session. */
  sessionPresent = false;
  /** While true, sockets are not accepted (the broker is down). */
  down = false;
  /** The will of the current connection, as CONNECT carried it. */
  will: Published | undefined;
  /** Client ids in CONNECT order. */
  readonly connects: P.ConnectPacket[] = [];
  #nextId = 1;
  #served = new Set<FakeSocket>();
  readonly net: FakeNet;
  readonly clock: FakeClock;

  constructor(net: FakeNet, clock: FakeClock) {
    this.net = net;
    this.clock = clock;
  }

  /** The device's current socket, if any. */
  get socket(): FakeSocket | undefined {
    const s = this.net.sockets[this.net.sockets.length - 1];
    return s && !s.closed ? s : undefined;
  }

  get connected(): boolean {
    return this.socket !== undefined && this.#served.has(this.socket) && this.connects.length > 0;
  }

  /** Answers everything the device has written; accepts a new socket when up. */
  serve(): void {
    // What a client wrote just before it closed (a last publish, DISCONNECT) still reaches the
    // broker, as over TCP; nothing is answered on a closed socket.
    const mute = { send: () => {} } as unknown as FakeSocket;
    for (const s of this.#served) {
      if (!s.closed) continue;
      this.#served.delete(s);
      try {
        for (const p of s.take()) this.#answer(mute, p);
      } catch {
        // a packet cut short by a dying link never reaches a broker
      }
    }
    const socket = this.net.sockets[this.net.sockets.length - 1];
    if (!socket || socket.closed) return;
    if (!this.#served.has(socket)) {
      if (this.down) return;
      this.#served.add(socket);
      socket.writable(1 << 20);
    }
    for (const p of socket.take()) this.#answer(socket, p);
  }

  /** Sends a message to the device as if another client published it. */
  deliver(topic: string, payload: unknown, options: { qos?: QoS; retain?: boolean } = {}): void {
    const bytes = payload instanceof Uint8Array ? payload : te.encode(typeof payload === "string" ? payload : JSON.stringify(payload));
    const qos = options.qos ?? 1;
    if (options.retain) this.retained.set(topic, record(topic, bytes, qos, true, false, this.clock.now));
    const socket = this.socket;
    if (!socket || ![...this.subscriptions.keys()].some((f) => topicMatches(f, topic))) return;
    socket.send({ type: P.PUBLISH, topic, payload: bytes, qos, retain: false, dup: false, id: qos ? this.#nextId++ : undefined } as PublishPacket);
  }

  /** Drops the device's connection as a failing link would; the will is published. */
  cut(): void {
    const socket = this.socket;
    if (!socket) return;
    this.#publishWill();
    socket.fail(new Error("ECONNRESET"));
  }

  /** Messages the device published on topics matching `filter`. */
  on(filter: string): Published[] {
    return this.published.filter((m) => topicMatches(filter, m.topic));
  }

  /** JSON payloads published on topics matching `filter`. */
  payloads(filter: string): any[] { // eslint-disable-line @typescript-eslint/no-explicit-any
    return this.on(filter).map((m) => m.json);
  }

  #answer(socket: FakeSocket, p: Packet): void {
    switch (p.type) {
      case P.CONNECT:
        this.connects.push(p);
        this.will = p.will ? record(p.will.topic, p.will.payload, p.will.qos, p.will.retain, false, this.clock.now) : undefined;
        socket.send({ type: P.CONNACK, sessionPresent: this.sessionPresent, returnCode: 0 });
        break;
      case P.SUBSCRIBE: {
        const granted = p.subscriptions.map((s) => (this.refuse.has(s.topic) ? 0x80 : s.qos));
        p.subscriptions.forEach((s, i) => { if (granted[i] !== 0x80) this.subscriptions.set(s.topic, s.qos); });
        socket.send({ type: P.SUBACK, id: p.id, granted } as Packet);
        for (const s of p.subscriptions) {
          if (this.refuse.has(s.topic)) continue;
          for (const m of this.retained.values()) {
            if (topicMatches(s.topic, m.topic)) socket.send({ type: P.PUBLISH, topic: m.topic, payload: te.encode(m.text), qos: Math.min(s.qos, m.qos) as QoS, retain: true, dup: false, id: Math.min(s.qos, m.qos) ? this.#nextId++ : undefined } as PublishPacket);
          }
        }
        break;
      }
      case P.UNSUBSCRIBE:
        for (const f of p.topics) this.subscriptions.delete(f);
        socket.send({ type: P.UNSUBACK, id: p.id });
        break;
      case P.PUBLISH: {
        const m = record(p.topic, p.payload, p.qos, p.retain, p.dup, this.clock.now);
        this.published.push(m);
        if (p.retain) {
          if (p.payload.length === 0) this.retained.delete(p.topic);
          else this.retained.set(p.topic, m);
        }
        if ([...this.withhold].some((f) => topicMatches(f, p.topic))) break;
        if (p.qos === 1) socket.send({ type: P.PUBACK, id: p.id as number });
        if (p.qos === 2) socket.send({ type: P.PUBREC, id: p.id as number });
        break;
      }
      case P.PUBREL:
        socket.send({ type: P.PUBCOMP, id: p.id });
        break;
      case P.PINGREQ:
        socket.send({ type: P.PINGRESP });
        break;
      case P.DISCONNECT:
        this.will = undefined;
        break;
    }
  }

  #publishWill(): void {
    const w = this.will;
    this.will = undefined;
    if (!w) return;
    this.published.push(w);
    if (w.retain) this.retained.set(w.topic, w);
  }
}

function record(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, dup: boolean, at: number): Published {
  const text = td.decode(payload);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { topic, text, json, qos, retain, dup, at };
}

/** A device on the kit: its Device, platform pieces, the broker and the clock. */
export class Kit {
  readonly clock = new FakeClock();
  readonly net = new FakeNet();
  readonly broker: ScriptedBroker;
  readonly settings: SettingsStore;
  readonly logs: string[] = [];
  readonly platform: Platform;
  readonly device: Device;

  constructor(options: KitOptions) {
    this.clock.now = options.start ?? Date.parse("2025-01-01T00:00:00Z");
    this.broker = new ScriptedBroker(this.net, this.clock);
    this.settings = options.settings ?? new MemorySettingsStore();
    const clock = this.clock;
    this.platform = {
      deviceId: options.deviceId,
      config: options.config ?? {},
      timer: clock.timer,
      now: () => clock.now,
      settings: this.settings,
      random: prng(options.seed ?? 7),
      log: (line) => this.logs.push(line),
      createClient: (choices) => new MqttClient({
        host: "broker.test", socket: { io: this.net.io }, timer: clock.timer, now: () => clock.now, random: () => 0.5,
        reconnect: { initialMs: 1000, maxMs: 10_000 }, ...choices,
      }),
    };
    this.device = new Device(this.platform);
  }

  /** Lets the client and the broker exchange everything pending, without time passing. */
  async settle(): Promise<void> {
    // Until three rounds in a row bring nothing new to the broker (at most 200 rounds).
    let quiet = 0;
    for (let round = 0; round < 200 && quiet < 3; round++) {
      const before = this.#activity();
      await microtasks();
      this.broker.serve();
      quiet = this.#activity() === before ? quiet + 1 : 0;
    }
  }

  #activity(): number {
    let bytes = 0;
    for (const s of this.net.sockets) bytes += s.writes.length;
    return bytes + this.net.sockets.length + this.broker.published.length;
  }

  /** Advances the fake clock by `ms` in steps of `stepMs`, settling after each. */
  async run(ms: number, stepMs = 1000): Promise<void> {
    await this.settle();
    for (let left = ms; left > 0; left -= stepMs) {
      this.clock.advance(Math.min(stepMs, left));
      await this.settle();
    }
  }
}
