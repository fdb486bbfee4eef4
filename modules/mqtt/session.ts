// Sans-IO MQTT 3.1.1 client session. It never touches a socket, a timer or a store:
// every method takes an event (transport up/down, bytes in, API request, the time) and
// returns the actions the binding must carry out, in order. The clock is passed in.

import * as P from "./packets.js";
import type { Packet, PublishPacket, QoS, SkippedPacket, Subscription, Will } from "./packets.js";
import { MqttError } from "./errors.js";
import { encode, writePublish, MAX_REMAINING_LENGTH } from "./encode.js";
import { Decoder } from "./decode.js";
import { measureUtf8, encodeUtf8 } from "./utf8.js";
import { NOT_PLAIN_TOPIC_NAME, topicNameError, topicFilterError } from "./topic.js";
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

export interface WillOptions {
  topic: string;
  payload: string | Uint8Array;
  qos?: QoS;
  retain?: boolean;
}

export interface SessionOptions {
  clientId: string;
  /** Clean session [MQTT-3.1.2-6]. Default true. */
  clean?: boolean;
  /** Keepalive in seconds; 0 disables it. Default 60. */
  keepalive?: number;
  username?: string;
  password?: string | Uint8Array;
  /**
   * The Last Will. A function is asked again at every connect, so the will can say what
   * holds then (a status with the time and state of that connection).
   */
  will?: WillOptions | (() => WillOptions);
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
  /**
   * Largest incoming packet accepted. Default 256 KiB. A larger PUBLISH is skipped as it
   * streams in, acknowledged per its QoS and reported (PACKET_TOO_LARGE); any other packet
   * over the limit closes the connection.
   */
  maxPacketSize?: number;
  outbox?: OutboxOptions;
  /** 4 for MQTT 3.1.1 (default); 3 for MQTT 3.1 ("MQIsdp"), whose client ids are 1 to 23 characters. */
  protocolVersion?: 3 | 4;
  /**
   * Inbound QoS 2 ids remembered for exactly-once delivery, awaiting PUBREL or released but
   * not yet known to be complete at the broker (see #pubrel). Default 128: about 12 KB at
   * most on an ESP32. When full, a new QoS 2 message is left unacknowledged and the session
   * reconnects once memory frees, so that the broker sends it again.
   */
  qos2Memory?: number;
  /**
   * Bytes handed to the transport and not yet written beyond which publishes wait in the
   * outbox (QoS 0 included, under its limits and policy) and the binding stops reading.
   * The binding's write queue then holds at most this plus one packet, plus the small
   * acknowledgements of one read. MqttClient's default is 16 KiB; a bare Session's is
   * unlimited, since only a binding that reports written() bytes can lift the block.
   */
  maxUnwritten?: number;
  /** Retry of subscriptions the broker refused: delay doubling from initialMs (1 s) to maxMs (60 s). */
  resubscribe?: { initialMs?: number; maxMs?: number };
  /** Emit store/unstore actions (default true); off when nothing persists them. */
  persist?: boolean;
}

/** A received message: the PUBLISH without its type tag (`id` present for QoS 1 and 2). */
export type Message = Omit<PublishPacket, "type">;

export type MessageHandler = (message: Message) => void;

/** A filter the application wants, whoever holds it, and where the broker stands on it. */
export interface Wanted {
  qos: QoS;
  /** Handlers given to subscribe() for this filter. */
  handlers: MessageHandler[];
  /** Subscribed without a handler (messages reach the "message" event only). */
  anonymous: boolean;
  state: "pending" | "granted" | "refused";
  /** Refusals in a row, for the retry backoff. */
  refusals: number;
  /** When a refused filter is next tried. */
  retryAt: number;
}

export type SessionState = "offline" | "connecting" | "connected" | "disconnecting";

/**
 * The caller's handle for one request, handed back in the request's send, resolve or reject
 * action. Opaque to the session: the client passes the promise's settle functions, so an
 * answer needs no lookup.
 */
export type Op = object | number;

/** What the binding must do. `op` values are the handles the caller passed in. */
export type Action =
  /**
   * Write `bytes`, then `payload` when present (a PUBLISH's payload too large to copy into
   * its packet); if `op` is set, resolve it once they are written. `ping`: a PINGREQ, the
   * one send after which deadline() can come earlier (its answer's timeout).
   */
  | { type: "send"; bytes: Uint8Array; payload?: Uint8Array; op?: Op; ping?: true }
  /** Close the transport; with an error when the session gives up on the connection. */
  /** `resync`: a deliberate reconnect, to be made at once and not counted as a failure. */
  | { type: "close"; error?: MqttError; resync?: boolean }
  | { type: "connected"; sessionPresent: boolean }
  | { type: "message"; packet: PublishPacket }
  | { type: "resolve"; op: Op; value?: unknown }
  | { type: "reject"; op: Op; error: MqttError }
  /** Persist (insert or replace) this unacknowledged QoS >= 1 message. */
  | { type: "store"; message: StoredMessage }
  | { type: "unstore"; seq: number }
  /** Report this to the application; the connection stays up. */
  | { type: "error"; error: MqttError }
  /** The broker's answer for one filter: its granted QoS, or 0x80 with the retry delay. */
  | { type: "suback"; filter: string; code: number; retryInMs?: number };

/** An outgoing publish from acceptance until its last acknowledgement. */
interface Outgoing {
  seq: number;
  topic: string;
  /** The topic's UTF-8 length, found when it was validated. */
  topicLength: number;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  id: number;
  /** QoS 2: PUBREC received, waiting for PUBCOMP. */
  released: boolean;
  /** Sent at least once on some connection: a resend carries DUP [MQTT-3.3.1-1]. */
  sent: boolean;
  op: Op | undefined;
}

interface Control {
  kind: "subscribe" | "unsubscribe";
  subscriptions: Subscription[];
  id: number;
  op: Op | undefined;
}

const NO_OP = undefined;

/** Payloads up to this size are copied into their PUBLISH's buffer; larger ones follow it as a view. */
const INLINE_PAYLOAD = 256;

/** At most this many SUBSCRIBE/UNSUBSCRIBE requests wait or await their answer. */
const MAX_CONTROLS = 256;

const PINGREQ_BYTES = encode({ type: P.PINGREQ });

/** Shared and frozen: returned when there is nothing to do. */
const NO_ACTIONS = Object.freeze([]) as unknown as Action[];

/**
 * FNV-1a over topic and payload (or, for a skipped packet, its size): tells a
 * retransmission from a new message reusing an id.
 */
function fingerprint(p: PublishPacket | SkippedPacket): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < p.topic.length; i++) h = Math.imul(h ^ p.topic.charCodeAt(i), 0x01000193);
  if (p.type === P.SKIPPED) return (h ^ p.size ^ 0x5a5a5a5a) >>> 0;
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
  readonly protocolVersion: 3 | 4;
  readonly keepaliveMs: number;
  readonly pingTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly inflightWindow: number;
  readonly maxQueued: number;
  readonly maxQueuedBytes: number;
  readonly overflow: OverflowPolicy;
  readonly queueQos0: boolean;
  readonly qos2Memory: number;
  readonly maxUnwritten: number;
  readonly resubscribeInitialMs: number;
  readonly resubscribeMaxMs: number;
  readonly persist: boolean;

  #state: SessionState = "offline";
  /** CONNECT, encoded once: it never changes, and encoding validates it at construction. */
  #connectBytes: Uint8Array;
  /** The CONNECT without its will, and the will's source when it is asked at every connect. */
  #connect: P.ConnectPacket;
  #willSource: (() => WillOptions) | undefined;
  #decoder: Decoder;
  /** Packets decoded by feed() and not yet handled by next(). */
  #inbox: (Packet | SkippedPacket)[] = [];
  #inboxError: MqttError | undefined;

  /** Accepted, not yet sent, in order. */
  #queue: Outgoing[] = [];
  #queuedBytes = 0;
  /** Sent QoS 1/2 awaiting acknowledgement, in the order first sent (Map keeps insertion order). */
  #inflight = new Map<number, Outgoing>();
  /** SUBSCRIBE/UNSUBSCRIBE waiting to be sent, and those sent awaiting SUBACK/UNSUBACK. */
  #controlQueue: Control[] = [];
  #controlInflight = new Map<number, Control>();
  /**
   * Inbound QoS 2 ids remembered, with their message's fingerprint: those awaiting PUBREL
   * [MQTT-4.3.3-2] and those released that the broker may still re-send (see #pubrel).
   */
  #qos2 = new Map<number, number>();
  /** The released subset: which PUBCOMP each was answered with, oldest first. */
  #released = new Map<number, number>();
  /** PUBCOMPs sent so far, and how many of them the outstanding PINGREQ follows. */
  #comps = 0;
  #barrier = 0;
  /** New QoS 2 messages were left unacknowledged while #qos2 was full. */
  #skippedQos2 = 0;
  /** What the application subscribed to: the one owner of filters and their handlers. */
  #subscriptions = new Map<string, Wanted>();
  /** SUBACK refusals seen: until the first, no filter can be waiting for a retry. */
  #refusals = 0;

  #nextId = 1;
  #nextSeq = 1;
  #lastSent = 0;
  #lastReceived = 0;
  #connectDeadline = 0;
  #pingDeadline = 0;
  /** Bytes in send actions the binding has not yet reported written. */
  #unwritten = 0;

  constructor(options: SessionOptions) {
    const keepalive = options.keepalive ?? 60;
    if (!(keepalive >= 0 && keepalive <= 0xffff)) throw new MqttError("INVALID_ARGUMENT", `keepalive ${keepalive} out of range 0..65535`);
    if (typeof options.clientId !== "string") throw new MqttError("INVALID_ARGUMENT", "clientId must be a string");
    this.clientId = options.clientId;
    this.clean = options.clean ?? true;
    this.protocolVersion = options.protocolVersion ?? 4;
    this.keepaliveMs = keepalive * 1000;
    this.pingTimeoutMs = options.pingTimeoutMs ?? Math.min(this.keepaliveMs || 10_000, 10_000);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.inflightWindow = Math.max(1, Math.min(options.inflightWindow ?? 16, 65_535));
    this.maxQueued = options.outbox?.maxMessages ?? 1000;
    this.maxQueuedBytes = options.outbox?.maxBytes ?? 1024 * 1024;
    this.overflow = options.outbox?.overflow ?? "reject-new";
    this.queueQos0 = options.outbox?.queueQos0 ?? true;
    this.qos2Memory = Math.max(2, options.qos2Memory ?? 128);
    this.maxUnwritten = Math.max(1, options.maxUnwritten ?? Infinity);
    this.resubscribeInitialMs = Math.max(1, options.resubscribe?.initialMs ?? 1000);
    this.resubscribeMaxMs = Math.max(this.resubscribeInitialMs, options.resubscribe?.maxMs ?? 60_000);
    this.persist = options.persist ?? true;
    this.#decoder = new Decoder({ maxPacketSize: options.maxPacketSize, skipOversize: true });
    const connect: P.ConnectPacket = { type: P.CONNECT, clientId: this.clientId, clean: this.clean, keepalive };
    if (this.protocolVersion !== 4) connect.protocolVersion = this.protocolVersion;
    if (options.username !== undefined) connect.username = options.username;
    if (options.password !== undefined) connect.password = toBytes(options.password);
    this.#connect = connect;
    // A will given as a function is asked at each connect (transportUp), not here.
    if (typeof options.will === "function") this.#willSource = options.will;
    this.#connectBytes = encode(withWill(connect, this.#willSource ? undefined : options.will as WillOptions | undefined)); // a bad will or id is a construction error, not a runtime one
  }

  get state(): SessionState {
    return this.#state;
  }

  /** Messages accepted but not yet sent, and QoS 1/2 messages awaiting acknowledgement. */
  get queued(): number {
    return this.#queue.length;
  }
  get queuedBytes(): number {
    return this.#queuedBytes;
  }
  get inflight(): number {
    return this.#inflight.size;
  }
  /** Filters the application wants, with their handlers and the broker's answer. */
  get subscriptions(): ReadonlyMap<string, Readonly<Wanted>> {
    return this.#subscriptions;
  }
  /** Inbound QoS 2 ids remembered: awaiting PUBREL, and released but not yet confirmed. */
  get qos2Remembered(): { awaiting: number; released: number } {
    return { awaiting: this.#qos2.size - this.#released.size, released: this.#released.size };
  }
  /** Bytes handed to the transport and not yet written. */
  get unwritten(): number {
    return this.#unwritten;
  }
  /** Over maxUnwritten: publishes wait in the outbox and the binding should stop reading. */
  get writeBlocked(): boolean {
    return this.#unwritten >= this.maxUnwritten;
  }

  /** Re-queues messages a store kept across a restart, ahead of anything new. */
  restore(messages: StoredMessage[]): void {
    const sorted = [...messages].sort((a, b) => a.seq - b.seq);
    for (const m of sorted) {
      if (m === null || typeof m !== "object") continue;
      const topicLength = checkPublish(m.topic, m.payload, m.qos, m.retain);
      if (typeof topicLength !== "number") continue; // a store that kept garbage: nothing to send
      const out: Outgoing = {
        seq: m.seq, topic: m.topic, topicLength, payload: m.payload, qos: m.qos, retain: m.retain,
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
    this.#unwritten = 0;
    this.#connectDeadline = now + this.connectTimeoutMs;
    this.#pingDeadline = 0;
    this.#barrier = 0;
    this.#lastReceived = now;
    if (this.#willSource) {
      // A will that cannot be made now leaves the last good CONNECT (without a will before the
      // first success) and reports why: the connection matters more.
      try {
        this.#connectBytes = encode(withWill(this.#connect, this.#willSource()));
      } catch (e) {
        const error = e instanceof MqttError ? e : new MqttError("INVALID_ARGUMENT", `the will could not be made: ${String(e)}`, undefined, e);
        return [{ type: "error", error }, this.#send(this.#connectBytes, now)];
      }
    }
    return [this.#send(this.#connectBytes, now)];
  }

  /** The transport is gone. Unacknowledged work is kept for the next connection. */
  transportDown(_now: number): Action[] {
    this.#state = "offline";
    this.#pingDeadline = 0;
    this.#barrier = 0;
    this.#connectDeadline = 0;
    this.#unwritten = 0;
    this.#decoder.reset();
    this.#inbox.length = 0;
    this.#inboxError = undefined;
    // The broker re-sends what was skipped on the next connection anyway.
    this.#skippedQos2 = 0;
    // SUBSCRIBE/UNSUBSCRIBE are not resumed by the broker [MQTT-4.4.0-1]: send them again.
    if (this.#controlInflight.size) {
      this.#controlQueue.unshift(...this.#controlInflight.values());
      this.#controlInflight.clear();
    }
    return [];
  }

  /**
   * The binding wrote `bytes` of what send actions asked for. Returns what may now be sent:
   * publishes held back while more than maxUnwritten bytes were waiting.
   */
  written(bytes: number, now: number): Action[] {
    // While reading is paused (writeBlocked), a PINGRESP cannot be seen: writes that still
    // progress are the proof of life instead.
    if (bytes > 0 && this.#pingDeadline && this.#unwritten >= this.maxUnwritten) this.#pingDeadline = Math.max(this.#pingDeadline, now + this.pingTimeoutMs);
    const unwritten = this.#unwritten - bytes;
    this.#unwritten = unwritten > 0 ? unwritten : 0;
    // Called per socket write: no garbage, and no getter or Math call (each costs on XS).
    if (this.#queue.length === 0 || this.#unwritten >= this.maxUnwritten) return NO_ACTIONS;
    const actions: Action[] = [];
    this.#drain(now, actions);
    return actions;
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
   * reported by next() after the packets before it. Returns how many next() calls have work
   * (packets waiting, and the fault if one was found), so a caller need not call once more
   * to learn that nothing is left.
   */
  feed(chunk: Uint8Array, now: number): number {
    if (this.#state === "offline" || this.#state === "disconnecting" || this.#inboxError) return 0;
    this.#lastReceived = now;
    try {
      this.#decoder.push(chunk, this.#inbox);
    } catch (e) {
      this.#inboxError = e instanceof MqttError ? e : new MqttError("MALFORMED_PACKET", String(e), undefined, e);
      return this.#inbox.length + 1;
    }
    return this.#inbox.length;
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
    const packet = this.#inbox.shift();
    if (packet) {
      const actions: Action[] = [];
      this.#handle(packet, now, actions);
      return actions;
    }
    const error = this.#inboxError;
    if (!error) return undefined;
    this.#inboxError = undefined;
    return this.#fail([], error);
  }

  /** Time passes: connect timeout, keepalive, dead-link detection and subscription retries. */
  tick(now: number): Action[] {
    const actions: Action[] = [];
    if (this.#state === "connecting" && now >= this.#connectDeadline) {
      return this.#fail(actions, new MqttError("TIMEOUT", `no CONNACK within ${this.connectTimeoutMs} ms`));
    }
    if (this.#state !== "connected") return actions;
    if (this.#refusals) this.#retryRefused(now, actions);
    if (this.#pingDeadline) {
      if (now >= this.#pingDeadline) {
        return this.#fail(actions, new MqttError("TIMEOUT", `no PINGRESP within ${this.pingTimeoutMs} ms: link is dead`));
      }
    } else if (this.keepaliveMs !== 0 && now >= this.#nextPing()) {
      // Ping when either direction has been idle a keepalive, so a link that swallows our
      // writes is found dead too; the spec requires at least the send side [MQTT-3.1.2-23].
      this.#ping(now, actions);
    }
    return actions;
  }

  /** When tick() must next be called, or undefined when no timer is needed. */
  deadline(): number | undefined {
    if (this.#state === "connecting") return this.#connectDeadline;
    if (this.#state !== "connected") return undefined;
    let at = this.#pingDeadline || (this.keepaliveMs !== 0 ? this.#nextPing() : Infinity);
    if (this.#refusals) for (const w of this.#subscriptions.values()) if (w.state === "refused" && w.retryAt < at) at = w.retryAt;
    return at === Infinity ? undefined : at;
  }

  #nextPing(): number {
    return Math.min(this.#lastSent, this.#lastReceived) + this.keepaliveMs;
  }

  // ---- API requests ----

  publish(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, now: number, op?: Op): Action[] {
    const actions: Action[] = [];
    const topicLength = checkPublish(topic, payload, qos, retain);
    if (typeof topicLength !== "number") return reject(actions, op, topicLength);
    const out: Outgoing = {
      seq: this.#nextSeq++, topic, topicLength, payload, qos, retain,
      id: 0, released: false, sent: false, op,
    };
    const online = this.#state === "connected";
    // writeBlocked and #idFree written out: a call costs on XS, and this is the hot path.
    if (online && this.#queue.length === 0 && this.#unwritten < this.maxUnwritten &&
        (qos === 0 || (this.#inflight.size < this.inflightWindow && this.#inflight.size + this.#controlInflight.size < 0xffff))) {
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
    if (qos > 0 && this.persist) actions.push({ type: "store", message: stored(out) });
    return actions;
  }

  /**
   * Subscribes; `handler`, if given, joins the filters' handlers. A filter stays wanted until
   * unsubscribed: refused, it is retried with backoff and on every reconnect.
   */
  subscribe(subscriptions: Subscription[], now: number, op?: Op, handler?: MessageHandler): Action[] {
    const actions: Action[] = [];
    if (!Array.isArray(subscriptions)) return reject(actions, op, invalid("subscriptions must be an array"));
    if (subscriptions.length === 0) return reject(actions, op, invalid("no topic filters", "MQTT-3.8.3-3"));
    if (handler !== undefined && typeof handler !== "function") return reject(actions, op, invalid("handler must be a function"));
    for (const s of subscriptions) {
      const e = filterError(s?.topic);
      if (e) return reject(actions, op, e);
      if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) return reject(actions, op, invalid(`QoS ${String(s.qos)}`, "MQTT-3.8.3-4"));
    }
    if (this.#controls() >= MAX_CONTROLS) return reject(actions, op, queueFull());
    for (const s of subscriptions) {
      let w = this.#subscriptions.get(s.topic);
      if (!w) this.#subscriptions.set(s.topic, w = { qos: s.qos, handlers: [], anonymous: false, state: "pending", refusals: 0, retryAt: 0 });
      w.qos = s.qos;
      w.state = "pending";
      if (!handler) w.anonymous = true;
      else if (!w.handlers.includes(handler)) w.handlers.push(handler);
    }
    this.#controlQueue.push({ kind: "subscribe", subscriptions: subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })), id: 0, op });
    this.#drain(now, actions);
    return actions;
  }

  /**
   * With a handler, detaches it and sends UNSUBSCRIBE only for filters no one else holds
   * (resolving at once if none); without, forgets the filters whoever holds them.
   */
  unsubscribe(topics: string[], now: number, op?: Op, handler?: MessageHandler): Action[] {
    const actions: Action[] = [];
    if (!Array.isArray(topics)) return reject(actions, op, invalid("topic filters must be an array"));
    if (topics.length === 0) return reject(actions, op, invalid("no topic filters", "MQTT-3.10.3-2"));
    for (const t of topics) {
      const e = filterError(t);
      if (e) return reject(actions, op, e);
    }
    if (this.#controls() >= MAX_CONTROLS) return reject(actions, op, queueFull());
    const release: string[] = [];
    for (const t of topics) {
      const w = this.#subscriptions.get(t);
      if (handler && w) {
        const i = w.handlers.indexOf(handler);
        if (i >= 0) w.handlers.splice(i, 1);
        if (w.handlers.length || w.anonymous) continue;
      } else if (handler) continue;
      this.#subscriptions.delete(t);
      release.push(t);
    }
    if (release.length === 0) return op !== undefined ? [{ type: "resolve", op }] : actions;
    this.#controlQueue.push({ kind: "unsubscribe", subscriptions: release.map((topic) => ({ topic, qos: 0 as QoS })), id: 0, op });
    this.#drain(now, actions);
    return actions;
  }

  /**
   * Graceful close: DISCONNECT (the broker then discards the will [MQTT-3.14.4-3]) and close.
   * Unacknowledged messages stay queued (and stored) and complete on a later connect.
   */
  disconnect(now: number, op?: Op): Action[] {
    const actions: Action[] = [];
    if (this.#state === "connected") {
      actions.push(this.#send(encode({ type: P.DISCONNECT }), now));
    }
    this.#state = "disconnecting";
    actions.push({ type: "close" });
    if (op !== undefined) actions.push({ type: "resolve", op });
    return actions;
  }

  /**
   * The application stopped (disconnect(), abort(), or reconnecting gave up): every pending
   * operation settles with `error`. Queued QoS 0 messages are dropped; QoS 1/2 messages and
   * SUBSCRIBE/UNSUBSCRIBE requests stay queued, without their callers, for the next connect.
   */
  abandon(error: MqttError): Action[] {
    const actions: Action[] = [];
    const kept: Outgoing[] = [];
    for (const out of this.#queue) {
      reject(actions, out.op, error);
      out.op = NO_OP;
      if (out.qos > 0) kept.push(out);
      else this.#queuedBytes -= out.payload.length;
    }
    this.#queue = kept;
    for (const out of this.#inflight.values()) {
      reject(actions, out.op, error);
      out.op = NO_OP;
    }
    for (const c of this.#controlQueue) {
      reject(actions, c.op, error);
      c.op = NO_OP;
    }
    for (const c of this.#controlInflight.values()) {
      reject(actions, c.op, error);
      c.op = NO_OP;
    }
    return actions;
  }

  // ---- internals ----

  #handle(packet: Packet | SkippedPacket, now: number, actions: Action[]): void {
    if (this.#state === "connecting") {
      if (packet.type !== P.CONNACK) {
        this.#fail(actions, new MqttError("PROTOCOL_ERROR", `${packetName(packet)} before CONNACK`, "MQTT-3.2.0-1"));
        return;
      }
      this.#connack(packet, now, actions);
      return;
    }
    switch (packet.type) {
      case P.PUBLISH:
      case P.SKIPPED:
        this.#inbound(packet, now, actions);
        return;
      case P.PUBACK: {
        const out = this.#inflight.get(packet.id);
        if (out && out.qos === 1) {
          this.#inflight.delete(packet.id);
          this.#finish(out, actions);
        }
        break;
      }
      case P.PUBREC: {
        const out = this.#inflight.get(packet.id);
        if (out && out.qos === 2 && !out.released) {
          out.released = true;
          if (this.persist) actions.push({ type: "store", message: stored(out) });
        }
        // Answer even an unknown id so the broker can finish its side [MQTT-4.3.3-1].
        actions.push(this.#send(encode({ type: P.PUBREL, id: packet.id }), now));
        return;
      }
      case P.PUBREL:
        this.#pubrel(packet.id, now, actions);
        return;
      case P.PUBCOMP: {
        const out = this.#inflight.get(packet.id);
        if (out && out.qos === 2 && out.released) {
          this.#inflight.delete(packet.id);
          this.#finish(out, actions);
        }
        break;
      }
      case P.SUBACK:
        this.#suback(packet, now, actions);
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
        this.#confirm(now, actions);
        return;
      default:
        this.#fail(actions, new MqttError("PROTOCOL_ERROR", `a server must not send ${packetName(packet)}`, "MQTT-4.8.0-1"));
        return;
    }
    // An acknowledgement freed a place in the window: send what waits for one.
    if (this.#queue.length !== 0 || this.#controlQueue.length !== 0) this.#drain(now, actions);
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
    // MQTT 3.1 has no session-present flag. With clean false the exchanges resume as if the
    // broker kept the session (same ids: a broker that lost it takes them as new), and the
    // filters are subscribed again in case it did not.
    const present = packet.sessionPresent || (this.protocolVersion === 3 && !this.clean);
    if (present) {
      // Resume exactly where the broker's session stands, in the original order [MQTT-4.4.0-1], [MQTT-4.6.0-1].
      for (const out of this.#inflight.values()) this.#resend(out, now, actions);
    } else if (this.#inflight.size || this.#qos2.size) {
      // The broker has no state: what it acknowledged with PUBREC is delivered; the rest is sent anew.
      this.#qos2.clear();
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
    }
    // Filters the broker may not hold: all when it has no session, else the refused ones.
    // Those a queued SUBSCRIBE carries go with it: subscribing twice would make the broker
    // send the retained messages twice [MQTT-3.8.4-3].
    if (this.#subscriptions.size && (!packet.sessionPresent || this.#refusals)) this.#resubscribe(packet.sessionPresent);
    // Released ids from before the cut are confirmed (or re-sent) behind a PINGREQ.
    if (this.#released.size) this.#ping(now, actions);
    this.#drain(now, actions);
  }

  /** After CONNACK: subscribes again to every filter (no session) or to the refused ones. */
  #resubscribe(sessionPresent: boolean): void {
    const queued = new Set<string>();
    for (const c of this.#controlQueue) if (c.kind === "subscribe") for (const s of c.subscriptions) queued.add(s.topic);
    const again: Subscription[] = [];
    for (const [topic, w] of this.#subscriptions) {
      if (queued.has(topic) || (sessionPresent && w.state !== "refused")) continue;
      w.state = "pending";
      again.push({ topic, qos: w.qos });
    }
    if (again.length) this.#controlQueue.unshift({ kind: "subscribe", subscriptions: again, id: 0, op: NO_OP });
  }

  /**
   * Inbound PUBLISH (or one skipped as oversize). QoS 2 is delivered on arrival and its id
   * remembered until PUBREL: a PUBLISH with that id before then is the same message
   * [MQTT-4.3.3-2]. A DUP PUBLISH matching a released id's fingerprint is a retransmission
   * of a message already delivered (see #pubrel); one that differs is a new message whose
   * first send was lost, and is delivered.
   */
  #inbound(packet: PublishPacket | SkippedPacket, now: number, actions: Action[]): void {
    if (packet.qos === 0) {
      deliver(packet, actions);
    } else if (packet.qos === 1) {
      deliver(packet, actions);
      actions.push(this.#send(encode({ type: P.PUBACK, id: packet.id as number }), now));
    } else {
      const id = packet.id as number;
      const known = this.#qos2.get(id);
      const print = fingerprint(packet);
      if (known === undefined || this.#released.has(id)) {
        const resent = known === print && packet.dup;
        if (known === undefined && this.#qos2.size >= this.qos2Memory) {
          // Full: no PUBREC, so the broker still owes this message; #confirm reconnects to get it.
          this.#skippedQos2++;
          if (!this.#pingDeadline) this.#ping(now, actions);
          return;
        }
        if (!resent) deliver(packet, actions);
        this.#released.delete(id);
        this.#qos2.set(id, print);
      }
      actions.push(this.#send(encode({ type: P.PUBREC, id }), now));
    }
  }

  /**
   * PUBREL: the broker is done with the id once it has our PUBCOMP. But mosquitto 2.0
   * re-sends a message as PUBLISH (DUP) if cuts lose that PUBCOMP (see the README), so a
   * released id is remembered until the broker is known to have processed its PUBCOMP: it
   * handles packets in order, so the PINGRESP to a PINGREQ sent after the PUBCOMP proves it.
   * Memory then holds what is in flight, not the burst: at half of qos2Memory released, a
   * PINGREQ goes out. A re-sent PUBREL means that PUBCOMP was lost: it is confirmed anew.
   */
  #pubrel(id: number, now: number, actions: Action[]): void {
    const print = this.#qos2.get(id);
    if (print !== undefined) {
      this.#released.delete(id);
      this.#released.set(id, ++this.#comps);
    }
    actions.push(this.#send(encode({ type: P.PUBCOMP, id }), now));
    if ((this.#released.size >= this.qos2Memory / 2 || this.#skippedQos2) && !this.#pingDeadline) this.#ping(now, actions);
  }

  /**
   * A PINGRESP: the broker processed every PUBCOMP sent before its PINGREQ, so those ids are
   * forgotten. If messages were skipped for want of memory, reconnect so they come again.
   */
  #confirm(now: number, actions: Action[]): void {
    const barrier = this.#barrier;
    this.#barrier = 0;
    for (const [id, comp] of this.#released) {
      if (comp > barrier) break;
      this.#released.delete(id);
      this.#qos2.delete(id);
    }
    if (this.#skippedQos2 && this.#qos2.size < this.qos2Memory) {
      this.#fail(actions, new MqttError("QUEUE_FULL",
        `reconnecting so the broker re-sends ${this.#skippedQos2} QoS 2 message(s) skipped while qos2Memory (${this.qos2Memory}) was full`), true);
    } else if (this.#skippedQos2 && this.#released.size) {
      this.#ping(now, actions);
    }
  }

  #ping(now: number, actions: Action[]): void {
    this.#lastSent = now;
    this.#unwritten += PINGREQ_BYTES.length;
    actions.push({ type: "send", bytes: PINGREQ_BYTES, ping: true });
    this.#pingDeadline = now + this.pingTimeoutMs;
    this.#barrier = this.#comps;
  }

  #suback(packet: P.SubackPacket, now: number, actions: Action[]): void {
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
      const code = packet.granted[i];
      const w = this.#subscriptions.get(s.topic);
      if (code !== P.SUBACK_FAILURE) {
        if (w) {
          w.state = "granted";
          w.refusals = 0;
        }
        actions.push({ type: "suback", filter: s.topic, code });
        return;
      }
      refused.push(s.topic);
      this.#refusals++;
      if (!w) return; // unsubscribed meanwhile
      const delay = Math.min(this.resubscribeMaxMs, this.resubscribeInitialMs * Math.pow(2, Math.min(w.refusals, 30)));
      w.state = "refused";
      w.refusals++;
      w.retryAt = now + delay;
      actions.push({ type: "suback", filter: s.topic, code, retryInMs: delay });
    });
    if (refused.length) {
      const error = new MqttError("SUBSCRIBE_FAILED", `broker refused subscription to ${refused.join(", ")}; retrying`);
      error.granted = packet.granted;
      reject(actions, c.op, error);
    } else if (c.op !== undefined) {
      actions.push({ type: "resolve", op: c.op, value: packet.granted });
    }
  }

  /** Queues a SUBSCRIBE for refused filters whose retry time has come. */
  #retryRefused(now: number, actions: Action[]): void {
    let due: Subscription[] | undefined;
    for (const [topic, w] of this.#subscriptions) {
      if (w.state !== "refused" || w.retryAt > now) continue;
      w.state = "pending";
      (due ??= []).push({ topic, qos: w.qos });
    }
    if (!due) return;
    this.#controlQueue.push({ kind: "subscribe", subscriptions: due, id: 0, op: NO_OP });
    this.#drain(now, actions);
  }

  #controls(): number {
    return this.#controlQueue.length + this.#controlInflight.size;
  }

  /** Sends what waits, within the inflight window and the write budget: controls first, then publishes in order. */
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
    while (this.#queue.length && !this.writeBlocked) {
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
      if (this.persist) actions.push({ type: "store", message: stored(out) });
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
    // A small payload is copied in: one buffer is cheaper than a second part to write.
    const whole = out.payload.length <= INLINE_PAYLOAD;
    const bytes = writePublish(out.topic, out.topicLength, out.payload, out.qos, out.retain, dup, out.id, whole);
    this.#lastSent = now;
    this.#unwritten += whole ? bytes.length : bytes.length + out.payload.length;
    const op = out.qos === 0 ? out.op : undefined;
    actions.push(whole
      ? (op !== undefined ? { type: "send", bytes, op } : { type: "send", bytes })
      : (op !== undefined ? { type: "send", bytes, payload: out.payload, op } : { type: "send", bytes, payload: out.payload }));
  }

  #finish(out: Outgoing, actions: Action[]): void {
    if (this.persist) actions.push({ type: "unstore", seq: out.seq });
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
      if (dropped.qos > 0 && this.persist) actions.push({ type: "unstore", seq: dropped.seq });
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
    this.#unwritten += bytes.length;
    return { type: "send", bytes };
  }

  /** Gives up on this connection with a reason (or resyncs it); the binding closes the transport. */
  #fail(actions: Action[], error: MqttError, resync = false): Action[] {
    this.transportDown(0);
    actions.push(resync ? { type: "close", error, resync } : { type: "close", error });
    return actions;
  }
}

function withWill(connect: P.ConnectPacket, w: WillOptions | undefined): P.ConnectPacket {
  if (!w) return connect;
  const will: Will = { topic: w.topic, payload: toBytes(w.payload), qos: w.qos ?? 0, retain: w.retain ?? false };
  return { ...connect, will };
}

function invalid(message: string, clause?: string): MqttError {
  return new MqttError("INVALID_ARGUMENT", message, clause);
}

/**
 * Every check the encoder would make, before anything changes: validate, then mutate.
 * Returns the topic's UTF-8 length, or why the request is refused.
 */
function checkPublish(topic: string, payload: Uint8Array, qos: QoS, retain: boolean): MqttError | number {
  if (typeof topic !== "string") return invalid(`topic must be a string, not ${typeof topic}`);
  // The usual topic is settled by one native test; the rest get the full checks.
  const plain = topic.length !== 0 && !NOT_PLAIN_TOPIC_NAME.test(topic);
  if (!plain) {
    const e = topicNameError(topic);
    if (e) return invalid(e[0], e[1]);
  }
  if (qos !== 0 && qos !== 1 && qos !== 2) return invalid(`QoS ${String(qos)} is not 0, 1 or 2`, "MQTT-3.3.1-4");
  if (!(payload instanceof Uint8Array)) return invalid("payload must be a Uint8Array");
  if (typeof retain !== "boolean") return invalid("retain must be a boolean");
  const length = plain ? topic.length : measureUtf8(topic);
  if (typeof length !== "number") return length;
  if (length > 0xffff) return invalid(`topic of ${length} bytes is longer than 65535`, "MQTT-1.5.3");
  if (2 + length + 2 + payload.length > MAX_REMAINING_LENGTH) return invalid(`payload of ${payload.length} bytes exceeds the MQTT maximum`, "MQTT-2.2.3");
  return length;
}

function filterError(filter: unknown): MqttError | null {
  if (typeof filter !== "string") return invalid(`topic filter must be a string, not ${typeof filter}`);
  const e = topicFilterError(filter);
  if (e) return invalid(e[0], e[1]);
  const length = measureUtf8(filter);
  if (typeof length !== "number") return length;
  return length > 0xffff ? invalid(`topic filter of ${length} bytes is longer than 65535`, "MQTT-1.5.3") : null;
}

/** A message for the application, or for a skipped one the report of it. */
function deliver(packet: PublishPacket | SkippedPacket, actions: Action[]): void {
  if (packet.type === P.PUBLISH) actions.push({ type: "message", packet });
  else actions.push({ type: "error", error: oversize(packet) });
}

function oversize(p: SkippedPacket): MqttError {
  const error = new MqttError("PACKET_TOO_LARGE",
    `skipped a ${p.size}-byte message on ${p.topic || "(topic too long to keep)"}: over maxPacketSize; acknowledged at QoS ${p.qos}`);
  error.topic = p.topic;
  error.size = p.size;
  return error;
}

function packetName(p: Packet | SkippedPacket): string {
  return p.type === P.SKIPPED ? "PUBLISH" : P.PACKET_NAMES[p.type];
}

function queueFull(): MqttError {
  return new MqttError("QUEUE_FULL", `${MAX_CONTROLS} subscribe/unsubscribe requests already pending`);
}

function reject(actions: Action[], op: Op | undefined, error: MqttError): Action[] {
  if (op !== undefined) actions.push({ type: "reject", op, error });
  return actions;
}

function stored(out: Outgoing): StoredMessage {
  const m: StoredMessage = { seq: out.seq, topic: out.topic, payload: out.payload, qos: out.qos as 1 | 2, retain: out.retain };
  if (out.id) m.id = out.id;
  if (out.released) m.released = true;
  return m;
}
