// MQTT client: binds the sans-IO Session to an ECMA-419 socket provider and a timer,
// reconnects with backoff, persists the outbox through a store, and gives the
// application promises and events.

import type { PublishPacket, QoS } from "./packets.js";
import { MqttError } from "./errors.js";
import { Session } from "./session.js";
import type { Action, SessionOptions } from "./session.js";
import { Emitter } from "./emitter.js";
import { MemoryStore } from "./io.js";
import type { OutboxStore, Socket, SocketProvider, TimerLike } from "./io.js";
import { backoffDelay, shouldRetry } from "./backoff.js";
import type { BackoffOptions } from "./backoff.js";
import { topicMatches } from "./topic.js";
import { encodeUtf8 } from "./utf8.js";

export interface ClientOptions extends SessionOptions {
  host: string;
  /** Default 1883. */
  port?: number;
  /** {io: TCP, ...} or {io: TLSSocket, TCP: {io: TCP}, secure: {...}}; extra properties go to the socket. */
  socket: SocketProvider;
  timer: TimerLike;
  /** Milliseconds since some origin; default Date.now. */
  now?: () => number;
  /** Uniform [0, 1) for backoff jitter; default Math.random. */
  random?: () => number;
  /** false disables reconnecting; default on with BACKOFF_DEFAULTS. */
  reconnect?: false | BackoffOptions;
  /** Keeps unacknowledged QoS >= 1 publishes across restarts; RAM by default. */
  store?: OutboxStore;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
}

/** A received message: the PUBLISH without its type tag (`id` present for QoS 1 and 2). */
export type Message = Omit<PublishPacket, "type">;

export type MessageHandler = (message: Message) => void;

export interface DisconnectInfo {
  /** Why the connection ended; absent after disconnect(). */
  error?: MqttError;
  /** Milliseconds until the next attempt, when one is scheduled. */
  reconnectInMs?: number;
}

export type ClientEvents = {
  connected: [{ sessionPresent: boolean }];
  disconnected: [DisconnectInfo];
  message: [Message];
  error: [MqttError];
  reconnecting: [{ attempt: number; delayMs: number }];
};

interface Pending {
  resolve(value: unknown): void;
  reject(error: MqttError): void;
}

const TLS_ERROR = /TLS|SSL|CERT|SELF_SIGNED|UNABLE_TO_VERIFY|HANDSHAKE|ALTNAME/i;

export class MqttClient extends Emitter<ClientEvents> {
  readonly session: Session;
  #options: ClientOptions;
  #now: () => number;
  #timer: TimerLike;
  #store: OutboxStore;

  #socket: Socket | undefined;
  #socketUp = false;
  #writable = 0;
  /** Bytes waiting for the socket, with the ops that resolve once they are written. */
  #out: Uint8Array[] = [];
  #enqueued = 0;
  #written = 0;
  #writtenOps: { at: number; op: number }[] = [];
  #flushScheduled = false;
  #closeAfterFlush = false;
  /** Bumped when the connection is given up, so actions computed before are dropped. */
  #epoch = 0;

  #ops = new Map<number, Pending>();
  #nextOp = 1;
  #handlers: { filter: string; handler: MessageHandler }[] = [];

  #wanted = false;
  #attempt = 0;
  #connectWaiters: Pending[] = [];
  #disconnectWaiters: (() => void)[] = [];
  #tickTimer: unknown;
  #tickAt = 0;
  #retryTimer: unknown;
  #openTimer: unknown;

  constructor(options: ClientOptions) {
    super();
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#timer = options.timer;
    this.#store = options.store ?? new MemoryStore();
    this.session = new Session(options);
    this.session.restore(this.#store.load());
    this.onListenerError = (e) => this.#report(e instanceof MqttError ? e : new MqttError("INIT_FAILED", "a listener threw", undefined, e));
  }

  get connected(): boolean {
    return this.session.state === "connected";
  }

  /** Connects, and keeps reconnecting until disconnect(). Resolves on the first CONNACK. */
  connect(): Promise<{ sessionPresent: boolean }> {
    return new Promise((resolve, reject) => {
      if (this.connected) {
        resolve({ sessionPresent: false });
        return;
      }
      this.#connectWaiters.push({ resolve: resolve as (v: unknown) => void, reject });
      if (!this.#wanted) {
        this.#wanted = true;
        this.#attempt = 0;
        this.#open();
      }
    });
  }

  /** Resolves when written for QoS 0, on PUBACK for QoS 1, on PUBCOMP for QoS 2. */
  publish(topic: string, payload: string | Uint8Array, options: PublishOptions = {}): Promise<void> {
    return this.#request((op) => {
      const bytes = typeof payload === "string" ? encodeUtf8(payload) : payload;
      return this.session.publish({ topic, payload: bytes, qos: options.qos ?? 0, retain: options.retain ?? false }, this.#now(), op);
    }) as Promise<void>;
  }

  /**
   * Subscribes; resolves with the granted QoS per filter on SUBACK, rejects with
   * SUBSCRIBE_FAILED if the broker refuses any. A handler, if given, receives the
   * messages matching `filter`.
   */
  subscribe(filter: string | string[], options: { qos?: QoS } = {}, handler?: MessageHandler): Promise<number[]> {
    const filters = Array.isArray(filter) ? filter : [filter];
    if (handler) for (const f of filters) this.#handlers.push({ filter: f, handler });
    return this.#request((op) =>
      this.session.subscribe(filters.map((topic) => ({ topic, qos: options.qos ?? 0 })), this.#now(), op)) as Promise<number[]>;
  }

  /** Unsubscribes and removes the handlers registered for these filters. */
  unsubscribe(filter: string | string[]): Promise<void> {
    const filters = Array.isArray(filter) ? filter : [filter];
    this.#handlers = this.#handlers.filter((h) => !filters.includes(h.filter));
    return this.#request((op) => this.session.unsubscribe(filters, this.#now(), op)) as Promise<void>;
  }

  /** Routes messages matching `filter` to `handler` without subscribing (e.g. after a session resume). */
  handle(filter: string, handler: MessageHandler): () => void {
    const entry = { filter, handler };
    this.#handlers.push(entry);
    return () => { this.#handlers = this.#handlers.filter((h) => h !== entry); };
  }

  /** Sends DISCONNECT, closes, and stops reconnecting. Unacknowledged messages stay in the store. */
  disconnect(): Promise<void> {
    this.#wanted = false;
    this.#clearTimer(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const w of this.#connectWaiters.splice(0)) w.reject(new MqttError("CLOSED", "disconnect() called before the connection was made"));
    if (!this.#socket) return Promise.resolve();
    this.#epoch++;
    return new Promise((resolve) => {
      this.#disconnectWaiters.push(resolve);
      this.#run(this.session.disconnect(this.#now()));
    });
  }

  /**
   * Drops the connection without DISCONNECT, as a power loss would: the broker publishes
   * the will. Stops reconnecting; unacknowledged messages stay in the store.
   */
  abort(): void {
    this.#wanted = false;
    this.#clearTimer(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const w of this.#connectWaiters.splice(0)) w.reject(new MqttError("CLOSED", "abort() called before the connection was made"));
    if (!this.#socket) return;
    this.#written = this.#enqueued; // nothing more reaches the wire
    this.#out = [];
    this.#close();
  }

  // ---- session plumbing ----

  #request(call: (op: number) => Action[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const op = this.#nextOp++;
      this.#ops.set(op, { resolve, reject });
      try {
        this.#run(call(op));
      } catch (e) {
        this.#ops.delete(op);
        reject(e instanceof MqttError ? e : new MqttError("INVALID_ARGUMENT", String(e), undefined, e));
      }
    });
  }

  #run(actions: Action[]): void {
    const epoch = this.#epoch;
    let connected: { sessionPresent: boolean } | undefined;
    const announce = (): void => {
      if (!connected) return;
      const event = connected;
      connected = undefined;
      this.emit("connected", event);
      for (const w of this.#connectWaiters.splice(0)) w.resolve(event);
    };
    for (const a of actions) {
      // A handler that disconnected mid-batch makes the batch's later sends and deliveries stale.
      if (epoch !== this.#epoch && (a.type === "send" || a.type === "message")) continue;
      switch (a.type) {
        case "send":
          for (const part of a.parts) {
            this.#out.push(part);
            this.#enqueued += part.length;
          }
          if (a.op !== undefined) this.#writtenOps.push({ at: this.#enqueued, op: a.op });
          this.#scheduleFlush();
          break;
        case "close":
          announce(); // "connected" before "disconnected", even within one batch
          this.#close(a.error);
          break;
        case "connected":
          this.#attempt = 0;
          connected = { sessionPresent: a.sessionPresent };
          break;
        case "message":
          this.#deliver(a.packet);
          break;
        case "resolve":
          this.#settle(a.op, (p) => p.resolve(a.value));
          break;
        case "reject":
          this.#settle(a.op, (p) => p.reject(a.error));
          break;
        case "store":
          this.#persist(() => this.#store.put(a.message));
          break;
        case "unstore":
          this.#persist(() => this.#store.delete(a.seq));
          break;
      }
    }
    // Announced after the batch: the CONNACK's batch resends the outbox, and what a
    // "connected" listener publishes must queue behind it, not jump ahead.
    announce();
    this.#armTick();
  }

  #settle(op: number, f: (p: Pending) => void): void {
    const p = this.#ops.get(op);
    if (p) {
      this.#ops.delete(op);
      f(p);
    }
  }

  #persist(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.#report(new MqttError("PUBLISH_FAILED", "the outbox store failed; the message is kept in RAM only", undefined, e));
    }
  }

  #deliver(packet: PublishPacket): void {
    const message: Message = { topic: packet.topic, payload: packet.payload, qos: packet.qos, retain: packet.retain, dup: packet.dup };
    if (packet.id !== undefined) message.id = packet.id;
    for (const h of this.#handlers) {
      if (topicMatches(h.filter, packet.topic)) {
        try {
          h.handler(message);
        } catch (e) {
          this.#report(new MqttError("INIT_FAILED", `message handler for ${h.filter} threw`, undefined, e));
        }
      }
    }
    this.emit("message", message);
  }

  #report(error: MqttError): void {
    if (this.listenerCount("error")) this.emit("error", error);
  }

  // ---- timers ----

  #armTick(): void {
    const at = this.session.deadline();
    if (at === undefined) {
      if (this.#tickTimer !== undefined) this.#clearTimer(this.#tickTimer);
      this.#tickTimer = undefined;
      return;
    }
    // Firing early is harmless (tick re-arms), so only re-arm for an earlier deadline.
    if (this.#tickTimer !== undefined && this.#tickAt <= at) return;
    if (this.#tickTimer !== undefined) this.#clearTimer(this.#tickTimer);
    this.#tickAt = at;
    this.#tickTimer = this.#timer.set(() => {
      this.#tickTimer = undefined;
      this.#run(this.session.tick(this.#now()));
    }, Math.max(0, at - this.#now()));
  }

  #clearTimer(t: unknown): void {
    if (t !== undefined) this.#timer.clear(t);
  }

  // ---- socket ----

  #open(): void {
    const { io, ...providerOptions } = this.#options.socket;
    this.#socketUp = false;
    this.#writable = 0;
    try {
      this.#socket = new io({
        ...providerOptions,
        host: this.#options.host,
        port: this.#options.port ?? 1883,
        format: "buffer",
        onReadable: (count: number) => this.#onReadable(count),
        onWritable: (count: number) => this.#onWritable(count),
        onError: (error?: unknown) => this.#onError(error),
      });
    } catch (e) {
      this.#socket = undefined;
      this.#lost(new MqttError("CONNECT_FAILED", `cannot open a socket to ${this.#options.host}`, undefined, e));
      return;
    }
    this.#openTimer = this.#timer.set(() => {
      this.#openTimer = undefined;
      if (!this.#socketUp) this.#close(new MqttError("TIMEOUT", `no connection to ${this.#options.host} within ${this.session.connectTimeoutMs} ms`));
    }, this.session.connectTimeoutMs);
  }

  #onWritable(count: number): void {
    this.#writable = count;
    if (!this.#socketUp) {
      this.#socketUp = true;
      this.#clearTimer(this.#openTimer);
      this.#openTimer = undefined;
      this.#run(this.session.transportUp(this.#now()));
    }
    this.#flush();
  }

  #onReadable(count: number): void {
    const socket = this.#socket;
    if (!socket) return;
    const data = socket.read(count);
    if (!data || data.byteLength === 0) return;
    const now = this.#now();
    this.session.feed(new Uint8Array(data), now);
    for (let actions = this.session.next(now); actions; actions = this.session.next(now)) this.#run(actions);
  }

  #onError(error?: unknown): void {
    if (!this.#socket) return;
    const code = String((error as { code?: unknown })?.code ?? "") + " " + String((error as { message?: unknown })?.message ?? "");
    let reason: MqttError;
    if (TLS_ERROR.test(code) && !(this.#socketUp && this.session.state === "connected")) {
      reason = new MqttError("TLS_FAILED", `TLS failed: ${code.trim()}`, undefined, error);
    } else if (!this.#socketUp) {
      reason = new MqttError("CONNECT_FAILED", `cannot connect to ${this.#options.host}:${this.#options.port ?? 1883}: ${code.trim()}`, undefined, error);
    } else {
      reason = new MqttError("DISCONNECTED", `connection lost: ${code.trim() || "closed"}`, undefined, error);
    }
    this.#close(reason);
  }

  /** Bytes queued for the socket and not yet written. */
  get #unwritten(): number {
    return this.#enqueued - this.#written;
  }

  #scheduleFlush(): void {
    // Coalesce everything queued in this turn into as few socket writes as possible.
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    Promise.resolve().then(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Writes queued bytes, never more than the socket said it can take. */
  #flush(): void {
    const socket = this.#socket;
    while (socket && this.#socketUp && this.#unwritten > 0 && this.#writable > 0) {
      const n = Math.min(this.#writable, this.#unwritten);
      let chunk: Uint8Array;
      const first = this.#out[0];
      if (first.length === n) {
        chunk = first;
        this.#out.shift();
      } else if (first.length > n) {
        chunk = first.subarray(0, n);
        this.#out[0] = first.subarray(n);
      } else {
        chunk = new Uint8Array(n);
        let o = 0;
        while (o < n) {
          const part = this.#out[0];
          const take = Math.min(part.length, n - o);
          chunk.set(take === part.length ? part : part.subarray(0, take), o);
          o += take;
          if (take === part.length) this.#out.shift();
          else this.#out[0] = part.subarray(take);
        }
      }
      let result: number | void;
      try {
        result = socket.write(chunk);
      } catch (e) {
        this.#close(new MqttError("DISCONNECTED", "socket write failed", undefined, e));
        return;
      }
      this.#writable = typeof result === "number" ? result : this.#writable - n;
      this.#written += n;
      while (this.#writtenOps.length && this.#writtenOps[0].at <= this.#written) {
        const { op } = this.#writtenOps.shift() as { at: number; op: number };
        this.#settle(op, (p) => p.resolve(undefined));
      }
    }
    if (this.#closeAfterFlush && this.#unwritten === 0) this.#close();
  }

  /** Closes the socket; an error means the link failed, none means disconnect() finished. */
  #close(error?: MqttError): void {
    if (!error && this.#unwritten > 0 && this.#socketUp && this.#socket) {
      this.#closeAfterFlush = true; // let DISCONNECT reach the wire first
      return;
    }
    this.#closeAfterFlush = false;
    this.#epoch++;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#socketUp = false;
    this.#clearTimer(this.#openTimer);
    this.#openTimer = undefined;
    try {
      socket?.close();
    } catch {
      // already closed
    }
    this.#lost(error);
  }

  /** The connection is gone: fail what cannot survive it and decide whether to retry. */
  #lost(error?: MqttError): void {
    this.#run(this.session.transportDown(this.#now()));
    // Bytes not yet written belong to the dead connection; QoS 0 "written" ops fail.
    this.#out = [];
    this.#enqueued = this.#written = 0;
    for (const { op } of this.#writtenOps.splice(0)) {
      this.#settle(op, (p) => p.reject(new MqttError("DISCONNECTED", "connection lost before the message was written")));
    }
    if (error) this.#report(error);
    const retry = this.#wanted && this.#options.reconnect !== false && shouldRetry(this.#attempt, this.#options.reconnect || {});
    if (!this.#wanted || !retry) {
      const wasWanted = this.#wanted;
      this.#wanted = false;
      this.emit("disconnected", error ? { error } : {});
      for (const w of this.#disconnectWaiters.splice(0)) w();
      if (wasWanted) {
        const final = error ?? new MqttError("DISCONNECTED", "connection closed");
        for (const w of this.#connectWaiters.splice(0)) w.reject(final);
      }
      return;
    }
    this.#attempt++;
    const delayMs = backoffDelay(this.#attempt, this.#options.reconnect || {}, this.#options.random ?? Math.random);
    this.emit("disconnected", error ? { error, reconnectInMs: delayMs } : { reconnectInMs: delayMs });
    this.emit("reconnecting", { attempt: this.#attempt, delayMs });
    this.#retryTimer = this.#timer.set(() => {
      this.#retryTimer = undefined;
      if (this.#wanted) this.#open();
    }, delayMs);
  }
}
