// Sans-IO MQTT 3.1.1 client session. It never touches a socket, a timer or a store:
// every method takes an event (transport up/down, bytes in, API request, the time) and
// returns the actions the binding must carry out, in order. The clock is passed in.

import * as P from "./packets.js";
import type { Packet, PublishPacket, QoS, Subscription, Will } from "./packets.js";
import { MqttError } from "./errors.js";
import { encode, encodePublishHeader } from "./encode.js";
import { Decoder } from "./decode.js";
import { utf8Length, encodeUtf8 } from "./utf8.js";
import { topicNameError, topicFilterError } from "./topic.js";
import type { StoredMessage } from "./io.js";

export type OverflowPolicy = "reject-new" | "drop-oldest";

export interface OutboxOptions {
  /** Most messages waiting to be sent (offline, or beyond the inflight window). Default 1000. */
  maxMessages?: number;
  /** Most payload bytes waiting to be sent. Default 1 MiB. */
  maxBytes?: number;
  /**
   * When full: "reject-new" fails the new publish with QUEUE_FULL (default);
   * "drop-oldest" fails the oldest waiting message with QUEUE_FULL to make room.
   */
  overflow?: OverflowPolicy;
  /** Queue QoS 0 publishes made while offline (default true); false rejects them with DISCONNECTED. */
  queueQos0?: boolean;
}

export interface SessionOptions {
  clientId: string;
  /** Clean session [MQTT-3.1.2-6]. Default true. */
  clean?: boolean;
  /** Keepalive in seconds; 0 disables it. Default 60. */
  keepalive?: number;
  username?: string;
  password?: string | Uint8Array;
  will?: { topic: string; payload: string | Uint8Array; qos?: QoS; retain?: boolean };
  /** How long to wait for CONNACK. Default 10 s. */
  connectTimeoutMs?: number;
  /** How long to wait for PINGRESP before declaring the link dead. Default min(keepalive, 10 s). */
  pingTimeoutMs?: number;
  /**
   * Most outgoing QoS 1/2 publishes awaiting acknowledgement at once. Default 16: mosquitto
   * 2.0's default max_inflight_messages is 20, and beyond it mosquitto acknowledges incoming
   * QoS 2 messages yet silently drops them.
   */
  inflightWindow?: number;
  /** Largest incoming packet accepted. Default 256 KiB. */
  maxPacketSize?: number;
  outbox?: OutboxOptions;
}

export type SessionState = "offline" | "connecting" | "connected" | "disconnecting";

/** What the binding must do. `op` values are the handles the caller passed in. */
export type Action =
  /** Write these parts, in order; if `op` is set, resolve it once they are written. */
  | { type: "send"; parts: Uint8Array[]; op?: number }
  /** Close the transport; with an error when the session gives up on the connection. */
  | { type: "close"; error?: MqttError }
  | { type: "connected"; sessionPresent: boolean }
  | { type: "message"; packet: PublishPacket }
  | { type: "resolve"; op: number; value?: unknown }
  | { type: "reject"; op: number; error: MqttError }
  /** Persist (insert or replace) this unacknowledged QoS >= 1 message. */
  | { type: "store"; message: StoredMessage }
  | { type: "unstore"; seq: number };

export interface PublishRequest {
  topic: string;
  payload: Uint8Array;
  qos?: QoS;
  retain?: boolean;
}

/** An outgoing publish from acceptance until its last acknowledgement. */
interface Outgoing {
  seq: number;
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  id: number;
  /** QoS 2: PUBREC received, waiting for PUBCOMP. */
  released: boolean;
  /** Sent at least once on some connection: a resend carries DUP [MQTT-3.3.1-1]. */
  sent: boolean;
  op: number | undefined;
}

interface Control {
  kind: "subscribe" | "unsubscribe";
  subscriptions: Subscription[];
  id: number;
  op: number | undefined;
}

const NO_OP = undefined;

/** How many released inbound QoS 2 ids are remembered against broker retransmissions. */
const RELEASED_MEMORY = 64;

/** FNV-1a over topic and payload: tells a retransmission from a new message reusing an id. */
function fingerprint(p: PublishPacket): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < p.topic.length; i++) h = Math.imul(h ^ p.topic.charCodeAt(i), 0x01000193);
  const bytes = p.payload;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return (h ^ bytes.length) >>> 0;
}

const CONNACK_REASONS: Record<number, [string, "CONNECT_FAILED" | "AUTHENTICATION_FAILED"]> = {
  1: ["unacceptable protocol version", "CONNECT_FAILED"],
  2: ["client identifier rejected", "CONNECT_FAILED"],
  3: ["server unavailable", "CONNECT_FAILED"],
  4: ["bad user name or password", "AUTHENTICATION_FAILED"],
  5: ["not authorized", "AUTHENTICATION_FAILED"],
};

function toBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === "string" ? encodeUtf8(value) : value;
}

export class Session {
  readonly clientId: string;
  readonly clean: boolean;
  readonly keepaliveMs: number;
  readonly pingTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly inflightWindow: number;
  readonly maxQueued: number;
  readonly maxQueuedBytes: number;
  readonly overflow: OverflowPolicy;
  readonly queueQos0: boolean;

  #state: SessionState = "offline";
  #connect: P.ConnectPacket;
  #decoder: Decoder;
  /** Packets decoded by feed() and not yet handled by next(). */
  #inbox: Packet[] = [];
  #inboxError: MqttError | undefined;

  /** Accepted, not yet sent, in order. */
  #queue: Outgoing[] = [];
  #queuedBytes = 0;
  /** Sent QoS 1/2 awaiting acknowledgement, in the order first sent (Map keeps insertion order). */
  #inflight = new Map<number, Outgoing>();
  /** SUBSCRIBE/UNSUBSCRIBE waiting to be sent, and those sent awaiting SUBACK/UNSUBACK. */
  #controlQueue: Control[] = [];
  #controlInflight = new Map<number, Control>();
  /** Inbound QoS 2 packet ids delivered and awaiting PUBREL: exactly-once [MQTT-4.3.3-2]. */
  #inboundQos2 = new Map<number, number>();
  /**
   * Ids whose PUBREL we answered, with the message's fingerprint, newest last. mosquitto
   * 2.0 re-sends a released message as PUBLISH (DUP=1) after two quick reconnects, against
   * [MQTT-4.3.3-1]; a DUP PUBLISH matching one of these is that retransmission, not news.
   */
  #released = new Map<number, number>();
  /** What the application subscribed to, to restore when the broker has no session. */
  #subscriptions = new Map<string, QoS>();

  #nextId = 1;
  #nextSeq = 1;
  #lastSent = 0;
  #lastReceived = 0;
  #connectDeadline = 0;
  #pingDeadline = 0;

  constructor(options: SessionOptions) {
    const keepalive = options.keepalive ?? 60;
    if (!(keepalive >= 0 && keepalive <= 0xffff)) throw new MqttError("INVALID_ARGUMENT", `keepalive ${keepalive} out of range 0..65535`);
    this.clientId = options.clientId;
    this.clean = options.clean ?? true;
    this.keepaliveMs = keepalive * 1000;
    this.pingTimeoutMs = options.pingTimeoutMs ?? Math.min(this.keepaliveMs || 10_000, 10_000);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.inflightWindow = Math.max(1, Math.min(options.inflightWindow ?? 16, 65_535));
    this.maxQueued = options.outbox?.maxMessages ?? 1000;
    this.maxQueuedBytes = options.outbox?.maxBytes ?? 1024 * 1024;
    this.overflow = options.outbox?.overflow ?? "reject-new";
    this.queueQos0 = options.outbox?.queueQos0 ?? true;
    this.#decoder = new Decoder({ maxPacketSize: options.maxPacketSize });
    this.#connect = { type: P.CONNECT, clientId: this.clientId, clean: this.clean, keepalive };
    if (options.username !== undefined) this.#connect.username = options.username;
    if (options.password !== undefined) this.#connect.password = toBytes(options.password);
    if (options.will) {
      const w = options.will;
      const will: Will = { topic: w.topic, payload: toBytes(w.payload), qos: w.qos ?? 0, retain: w.retain ?? false };
      this.#connect.will = will;
    }
    encode(this.#connect); // validate now: a bad will or id is a construction error, not a runtime one
  }

  get state(): SessionState {
    return this.#state;
  }

  /** Messages accepted but not yet sent, and QoS 1/2 messages awaiting acknowledgement. */
  get queued(): number {
    return this.#queue.length;
  }
  get inflight(): number {
    return this.#inflight.size;
  }
  get subscriptions(): ReadonlyMap<string, QoS> {
    return this.#subscriptions;
  }

  /** Re-queues messages a store kept across a restart, ahead of anything new. */
  restore(messages: StoredMessage[]): void {
    const sorted = [...messages].sort((a, b) => a.seq - b.seq);
    for (const m of sorted) {
      const out: Outgoing = {
        seq: m.seq, topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain,
        id: m.id ?? 0, released: m.released ?? false, sent: m.id !== undefined, op: NO_OP,
      };
      // With a known id the exchange resumes with the broker's session; else it is sent anew.
      if (out.id && !this.#inflight.has(out.id)) this.#inflight.set(out.id, out);
      else {
        out.id = 0;
        out.sent = false;
        this.#queue.push(out);
        this.#queuedBytes += out.payload.length;
      }
      if (m.seq >= this.#nextSeq) this.#nextSeq = m.seq + 1;
    }
  }

  // ---- transport events ----

  /** The transport is connected: send CONNECT and wait for CONNACK. */
  transportUp(now: number): Action[] {
    this.#state = "connecting";
    this.#decoder.reset();
    this.#connectDeadline = now + this.connectTimeoutMs;
    this.#pingDeadline = 0;
    this.#lastReceived = now;
    return [this.#send(encode(this.#connect), now)];
  }

  /** The transport is gone. Unacknowledged work is kept for the next connection. */
  transportDown(_now: number): Action[] {
    this.#state = "offline";
    this.#pingDeadline = 0;
    this.#connectDeadline = 0;
    this.#decoder.reset();
    this.#inbox.length = 0;
    this.#inboxError = undefined;
    // SUBSCRIBE/UNSUBSCRIBE are not resumed by the broker [MQTT-4.4.0-1]: send them again.
    if (this.#controlInflight.size) {
      this.#controlQueue.unshift(...this.#controlInflight.values());
      this.#controlInflight.clear();
    }
    return [];
  }

  /** Bytes from the broker: feed() then next() until it returns undefined, in one call. */
  received(chunk: Uint8Array, now: number): Action[] {
    const actions: Action[] = [];
    this.feed(chunk, now);
    for (let step = this.next(now); step; step = this.next(now)) actions.push(...step);
    return actions;
  }

  /**
   * Decodes bytes from the broker into packets waiting for next(). A malformed packet is
   * reported by next() after the packets before it.
   */
  feed(chunk: Uint8Array, now: number): void {
    if (this.#state === "offline" || this.#state === "disconnecting") return;
    this.#lastReceived = now;
    try {
      this.#decoder.push(chunk, this.#inbox);
    } catch (e) {
      this.#inboxError = e as MqttError;
    }
  }

  /**
   * Handles one decoded packet and returns its actions, or undefined when none is left.
   * One at a time, so that an application reacting to a message (say, by disconnecting)
   * decides the fate of the packets behind it: after disconnect() they are not handled,
   * not acknowledged, and the broker sends them again.
   */
  next(now: number): Action[] | undefined {
    if (this.#state === "offline" || this.#state === "disconnecting") {
      this.#inbox.length = 0;
      this.#inboxError = undefined;
      return undefined;
    }
    const actions: Action[] = [];
    const packet = this.#inbox.shift();
    if (packet) {
      this.#handle(packet, now, actions);
      return actions;
    }
    const error = this.#inboxError;
    if (!error) return undefined;
    this.#inboxError = undefined;
    return this.#fail(actions, error);
  }

  /** Time passes: connect timeout, keepalive and dead-link detection. */
  tick(now: number): Action[] {
    const actions: Action[] = [];
    if (this.#state === "connecting" && now >= this.#connectDeadline) {
      return this.#fail(actions, new MqttError("TIMEOUT", `no CONNACK within ${this.connectTimeoutMs} ms`));
    }
    if (this.#state !== "connected" || this.keepaliveMs === 0) return actions;
    if (this.#pingDeadline) {
      if (now >= this.#pingDeadline) {
        return this.#fail(actions, new MqttError("TIMEOUT", `no PINGRESP within ${this.pingTimeoutMs} ms: link is dead`));
      }
    } else if (now >= this.#nextPing()) {
      // Ping when either direction has been idle a keepalive, so a link that swallows our
      // writes is found dead too; the spec requires at least the send side [MQTT-3.1.2-23].
      actions.push(this.#send(encode({ type: P.PINGREQ }), now));
      this.#pingDeadline = now + this.pingTimeoutMs;
    }
    return actions;
  }

  /** When tick() must next be called, or undefined when no timer is needed. */
  deadline(): number | undefined {
    if (this.#state === "connecting") return this.#connectDeadline;
    if (this.#state !== "connected" || this.keepaliveMs === 0) return undefined;
    return this.#pingDeadline || this.#nextPing();
  }

  #nextPing(): number {
    return Math.min(this.#lastSent, this.#lastReceived) + this.keepaliveMs;
  }

  // ---- API requests ----

  publish(request: PublishRequest, now: number, op?: number): Action[] {
    const actions: Action[] = [];
    const qos = request.qos ?? 0;
    const error = checkPublish(request.topic, qos);
    if (error) return reject(actions, op, error);
    if (this.#state === "disconnecting") return reject(actions, op, closed());
    const out: Outgoing = {
      seq: this.#nextSeq++, topic: request.topic, payload: request.payload, qos, retain: request.retain ?? false,
      id: 0, released: false, sent: false, op,
    };
    const online = this.#state === "connected";
    if (online && this.#queue.length === 0 && (qos === 0 || (this.#inflight.size < this.inflightWindow && this.#idFree()))) {
      this.#transmit(out, now, actions);
      return actions;
    }
    if (!online && qos === 0 && !this.queueQos0) {
      return reject(actions, op, new MqttError("DISCONNECTED", "not connected; QoS 0 messages are not queued"));
    }
    if (!this.#makeRoom(out.payload.length, actions)) {
      return reject(actions, op, new MqttError("QUEUE_FULL",
        `outbox full (${this.#queue.length}/${this.maxQueued} messages, ${this.#queuedBytes}/${this.maxQueuedBytes} bytes)`));
    }
    this.#queue.push(out);
    this.#queuedBytes += out.payload.length;
    if (qos > 0) actions.push({ type: "store", message: stored(out) });
    return actions;
  }

  subscribe(subscriptions: Subscription[], now: number, op?: number): Action[] {
    const actions: Action[] = [];
    if (subscriptions.length === 0) return reject(actions, op, new MqttError("INVALID_ARGUMENT", "no topic filters", "MQTT-3.8.3-3"));
    for (const s of subscriptions) {
      const e = topicFilterError(s.topic);
      if (e) return reject(actions, op, new MqttError("INVALID_ARGUMENT", e[0], e[1]));
      if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) return reject(actions, op, new MqttError("INVALID_ARGUMENT", `QoS ${s.qos}`, "MQTT-3.8.3-4"));
    }
    return this.#control({ kind: "subscribe", subscriptions, id: 0, op }, now, actions);
  }

  unsubscribe(topics: string[], now: number, op?: number): Action[] {
    const actions: Action[] = [];
    if (topics.length === 0) return reject(actions, op, new MqttError("INVALID_ARGUMENT", "no topic filters", "MQTT-3.10.3-2"));
    for (const t of topics) {
      const e = topicFilterError(t);
      if (e) return reject(actions, op, new MqttError("INVALID_ARGUMENT", e[0], e[1]));
    }
    return this.#control({ kind: "unsubscribe", subscriptions: topics.map((topic) => ({ topic, qos: 0 as QoS })), id: 0, op }, now, actions);
  }

  /**
   * Graceful close: DISCONNECT (the broker then discards the will [MQTT-3.14.4-3]) and close.
   * Unacknowledged messages stay queued (and stored) and complete on a later connect.
   */
  disconnect(now: number, op?: number): Action[] {
    const actions: Action[] = [];
    if (this.#state === "connected") {
      actions.push(this.#send(encode({ type: P.DISCONNECT }), now));
    }
    this.#state = "disconnecting";
    actions.push({ type: "close" });
    if (op !== undefined) actions.push({ type: "resolve", op });
    return actions;
  }

  // ---- internals ----

  #handle(packet: Packet, now: number, actions: Action[]): void {
    if (this.#state === "connecting") {
      if (packet.type !== P.CONNACK) {
        this.#fail(actions, new MqttError("PROTOCOL_ERROR", `${P.PACKET_NAMES[packet.type]} before CONNACK`, "MQTT-3.2.0-1"));
        return;
      }
      this.#connack(packet, now, actions);
      return;
    }
    switch (packet.type) {
      case P.PUBLISH:
        this.#inbound(packet, now, actions);
        return;
      case P.PUBACK: {
        const out = this.#inflight.get(packet.id);
        if (out && out.qos === 1) this.#complete(out, actions);
        break;
      }
      case P.PUBREC: {
        const out = this.#inflight.get(packet.id);
        if (out && out.qos === 2 && !out.released) {
          out.released = true;
          actions.push({ type: "store", message: stored(out) });
        }
        // Answer even an unknown id so the broker can finish its side [MQTT-4.3.3-1].
        actions.push(this.#send(encode({ type: P.PUBREL, id: packet.id }), now));
        return;
      }
      case P.PUBREL:
        this.#release(packet.id);
        actions.push(this.#send(encode({ type: P.PUBCOMP, id: packet.id }), now));
        return;
      case P.PUBCOMP: {
        const out = this.#inflight.get(packet.id);
        if (out && out.qos === 2 && out.released) this.#complete(out, actions);
        break;
      }
      case P.SUBACK:
        this.#suback(packet, actions);
        break;
      case P.UNSUBACK: {
        const c = this.#controlInflight.get(packet.id);
        if (c && c.kind === "unsubscribe") {
          this.#controlInflight.delete(packet.id);
          if (c.op !== undefined) actions.push({ type: "resolve", op: c.op });
        }
        break;
      }
      case P.PINGRESP:
        this.#pingDeadline = 0;
        return;
      default:
        this.#fail(actions, new MqttError("PROTOCOL_ERROR", `a server must not send ${P.PACKET_NAMES[packet.type]}`, "MQTT-4.8.0-1"));
        return;
    }
    this.#drain(now, actions);
  }

  #connack(packet: P.ConnackPacket, now: number, actions: Action[]): void {
    if (packet.returnCode !== P.CONNACK_ACCEPTED) {
      const [reason, code] = CONNACK_REASONS[packet.returnCode];
      this.#fail(actions, new MqttError(code, `broker refused the connection: ${reason} (CONNACK ${packet.returnCode})`));
      return;
    }
    this.#state = "connected";
    this.#connectDeadline = 0;
    actions.push({ type: "connected", sessionPresent: packet.sessionPresent });
    if (packet.sessionPresent) {
      // Resume exactly where the broker's session stands, in the original order [MQTT-4.4.0-1], [MQTT-4.6.0-1].
      for (const out of this.#inflight.values()) this.#resend(out, now, actions);
    } else {
      // The broker has no state: what it acknowledged with PUBREC is delivered; the rest is sent anew.
      this.#inboundQos2.clear();
      this.#released.clear();
      const resend: Outgoing[] = [];
      for (const out of this.#inflight.values()) {
        if (out.qos === 2 && out.released) this.#finish(out, actions);
        else {
          out.id = 0;
          out.sent = false;
          out.released = false;
          resend.push(out);
          this.#queuedBytes += out.payload.length;
        }
      }
      this.#inflight.clear();
      this.#queue.unshift(...resend);
      // Filters a queued SUBSCRIBE carries go with it: subscribing twice would make the
      // broker send the retained messages twice [MQTT-3.8.4-3].
      const queued = new Set<string>();
      for (const c of this.#controlQueue) if (c.kind === "subscribe") for (const s of c.subscriptions) queued.add(s.topic);
      const subscriptions = [...this.#subscriptions].filter(([topic]) => !queued.has(topic)).map(([topic, qos]) => ({ topic, qos }));
      if (subscriptions.length) {
        this.#controlQueue.unshift({ kind: "subscribe", subscriptions, id: 0, op: NO_OP });
      }
    }
    this.#drain(now, actions);
  }

  #inbound(packet: PublishPacket, now: number, actions: Action[]): void {
    if (packet.qos === 0) {
      actions.push({ type: "message", packet });
    } else if (packet.qos === 1) {
      actions.push({ type: "message", packet });
      actions.push(this.#send(encode({ type: P.PUBACK, id: packet.id as number }), now));
    } else {
      const id = packet.id as number;
      if (!this.#inboundQos2.has(id)) {
        const print = fingerprint(packet);
        this.#inboundQos2.set(id, print);
        if (!(packet.dup && this.#released.get(id) === print)) actions.push({ type: "message", packet });
        this.#released.delete(id);
      }
      actions.push(this.#send(encode({ type: P.PUBREC, id }), now));
    }
  }

  #release(id: number): void {
    const print = this.#inboundQos2.get(id);
    if (print === undefined) return;
    this.#inboundQos2.delete(id);
    this.#released.set(id, print);
    if (this.#released.size > RELEASED_MEMORY) this.#released.delete(this.#released.keys().next().value as number);
  }

  #suback(packet: P.SubackPacket, actions: Action[]): void {
    const c = this.#controlInflight.get(packet.id);
    if (!c || c.kind !== "subscribe") return;
    this.#controlInflight.delete(packet.id);
    if (packet.granted.length !== c.subscriptions.length) {
      reject(actions, c.op, new MqttError("PROTOCOL_ERROR",
        `SUBACK has ${packet.granted.length} codes for ${c.subscriptions.length} filters`, "MQTT-3.8.4-5"));
      return;
    }
    const refused: string[] = [];
    c.subscriptions.forEach((s, i) => {
      if (packet.granted[i] === P.SUBACK_FAILURE) {
        refused.push(s.topic);
        this.#subscriptions.delete(s.topic);
      }
    });
    if (refused.length) {
      const error = new MqttError("SUBSCRIBE_FAILED", `broker refused subscription to ${refused.join(", ")}`);
      (error as MqttError & { granted?: number[] }).granted = packet.granted;
      reject(actions, c.op, error);
    } else if (c.op !== undefined) {
      actions.push({ type: "resolve", op: c.op, value: packet.granted });
    }
  }

  #control(c: Control, now: number, actions: Action[]): Action[] {
    if (this.#state === "disconnecting") return reject(actions, c.op, closed());
    if (this.#controlQueue.length + this.#controlInflight.size >= 256) {
      return reject(actions, c.op, new MqttError("QUEUE_FULL", "256 subscribe/unsubscribe requests already pending"));
    }
    for (const s of c.subscriptions) {
      if (c.kind === "subscribe") this.#subscriptions.set(s.topic, s.qos);
      else this.#subscriptions.delete(s.topic);
    }
    this.#controlQueue.push(c);
    this.#drain(now, actions);
    return actions;
  }

  /** Sends what waits, within the inflight window: controls first, then publishes in order. */
  #drain(now: number, actions: Action[]): void {
    if (this.#state !== "connected") return;
    while (this.#controlQueue.length && this.#idFree()) {
      const c = this.#controlQueue.shift() as Control;
      c.id = this.#allocateId();
      this.#controlInflight.set(c.id, c);
      const packet: Packet = c.kind === "subscribe"
        ? { type: P.SUBSCRIBE, id: c.id, subscriptions: c.subscriptions }
        : { type: P.UNSUBSCRIBE, id: c.id, topics: c.subscriptions.map((s) => s.topic) };
      actions.push(this.#send(encode(packet), now));
    }
    while (this.#queue.length) {
      const out = this.#queue[0];
      if (out.qos > 0 && (this.#inflight.size >= this.inflightWindow || !this.#idFree())) break;
      this.#queue.shift();
      this.#queuedBytes -= out.payload.length;
      this.#transmit(out, now, actions);
    }
  }

  #transmit(out: Outgoing, now: number, actions: Action[]): void {
    if (out.qos > 0) {
      out.id = this.#allocateId();
      this.#inflight.set(out.id, out);
      actions.push({ type: "store", message: stored(out) });
    }
    this.#sendPublish(out, false, now, actions);
    out.sent = true;
  }

  #resend(out: Outgoing, now: number, actions: Action[]): void {
    if (out.released) actions.push(this.#send(encode({ type: P.PUBREL, id: out.id }), now));
    else this.#sendPublish(out, out.sent, now, actions);
    out.sent = true;
  }

  #sendPublish(out: Outgoing, dup: boolean, now: number, actions: Action[]): void {
    const packet: PublishPacket = { type: P.PUBLISH, topic: out.topic, payload: out.payload, qos: out.qos, retain: out.retain, dup };
    if (out.qos > 0) packet.id = out.id;
    const header = encodePublishHeader(packet);
    const parts = out.payload.length ? [header, out.payload] : [header];
    this.#lastSent = now;
    actions.push(out.qos === 0 && out.op !== undefined ? { type: "send", parts, op: out.op } : { type: "send", parts });
  }

  #complete(out: Outgoing, actions: Action[]): void {
    this.#inflight.delete(out.id);
    this.#finish(out, actions);
  }

  #finish(out: Outgoing, actions: Action[]): void {
    actions.push({ type: "unstore", seq: out.seq });
    if (out.op !== undefined) actions.push({ type: "resolve", op: out.op });
  }

  /** Frees queue space per the overflow policy; false when the message cannot fit. */
  #makeRoom(bytes: number, actions: Action[]): boolean {
    const fits = () => this.#queue.length < this.maxQueued && this.#queuedBytes + bytes <= this.maxQueuedBytes;
    if (fits()) return true;
    if (this.overflow !== "drop-oldest" || bytes > this.maxQueuedBytes || this.maxQueued === 0) return false;
    while (this.#queue.length && !fits()) {
      const dropped = this.#queue.shift() as Outgoing;
      this.#queuedBytes -= dropped.payload.length;
      if (dropped.qos > 0) actions.push({ type: "unstore", seq: dropped.seq });
      reject(actions, dropped.op, new MqttError("QUEUE_FULL", "dropped from a full outbox to make room for a newer message"));
    }
    return fits();
  }

  /** Whether a packet id is free; #allocateId would never return otherwise. */
  #idFree(): boolean {
    return this.#inflight.size + this.#controlInflight.size < 0xffff;
  }

  /** A packet id not used by any exchange in flight [MQTT-2.3.1-2]. */
  #allocateId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = id === 0xffff ? 1 : id + 1;
      if (!this.#inflight.has(id) && !this.#controlInflight.has(id)) return id;
    }
  }

  #send(bytes: Uint8Array, now: number): Action {
    this.#lastSent = now;
    return { type: "send", parts: [bytes] };
  }

  /** Gives up on this connection with a reason; the binding closes the transport. */
  #fail(actions: Action[], error: MqttError): Action[] {
    this.transportDown(0);
    actions.push({ type: "close", error });
    return actions;
  }
}

function checkPublish(topic: string, qos: number): MqttError | null {
  const e = topicNameError(topic);
  if (e) return new MqttError("INVALID_ARGUMENT", e[0], e[1]);
  if (qos !== 0 && qos !== 1 && qos !== 2) return new MqttError("INVALID_ARGUMENT", `QoS ${qos} is not 0, 1 or 2`, "MQTT-3.3.1-4");
  try {
    utf8Length(topic);
  } catch (err) {
    return err as MqttError;
  }
  return null;
}

function closed(): MqttError {
  return new MqttError("CLOSED", "the client is disconnecting");
}

function reject(actions: Action[], op: number | undefined, error: MqttError): Action[] {
  if (op !== undefined) actions.push({ type: "reject", op, error });
  return actions;
}

function stored(out: Outgoing): StoredMessage {
  const m: StoredMessage = { seq: out.seq, topic: out.topic, payload: out.payload, qos: out.qos as 1 | 2, retain: out.retain };
  if (out.id) m.id = out.id;
  if (out.released) m.released = true;
  return m;
}
