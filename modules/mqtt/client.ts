// MQTT client: binds the sans-IO Session to an ECMA-419 socket provider and a timer,
// reconnects with backoff, persists the outbox through a store, and gives the
// application promises and events.

import type { PublishPacket, QoS, Subscription } from "./packets.js";
import { MqttError } from "./errors.js";
import { Session } from "./session.js";
import type { Action, Message, MessageHandler, SessionOptions } from "./session.js";
import { Emitter } from "./emitter.js";
import type { OutboxStore, Socket, SocketOptions, SocketProvider, TimerLike } from "./io.js";
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
  /**
   * The reconnect backoff starts over only after a connection stayed up this long, so a
   * broker that accepts and then drops us at once is not hammered. Default 10 s.
   */
  stableMs?: number;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
}

export type { Message, MessageHandler };

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
  /**
   * The broker's answer for one filter, on every SUBACK (retries included): the granted QoS,
   * or 128 (refused) with the delay before the client asks again.
   */
  suback: [{ filter: string; code: number; retryInMs?: number }];
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
  /** Absent: the session then emits no store actions. */
  #store: OutboxStore | undefined;

  #socket: Socket | undefined;
  #socketUp = false;
  #writable = 0;
  /** The socket reported bytes to read while writes were backed up; read them once they drain. */
  #readPending = false;
  /** Bytes waiting for the socket, with the ops that resolve once they are written. */
  #out: Uint8Array[] = [];
  #enqueued = 0;
  #written = 0;
  #writtenOps: { at: number; op: Pending }[] = [];
  /** A flush is running: one nested in it (say, from a batch it set off) leaves the work to it. */
  #flushing = false;
  #closeAfterFlush = false;
  /** Bumped when the connection is given up, so actions computed before are dropped. */
  #epoch = 0;

  /** Handlers routed by handle(), which subscribes to nothing; subscriptions live in the session. */
  #routes: { filter: string; handler: MessageHandler }[] = [];

  #wanted = false;
  #attempt = 0;
  #connectedAt = 0;
  #sessionPresent = false;
  #connectWaiters: Pending[] = [];
  #disconnectWaiters: (() => void)[] = [];
  #tickTimer: unknown;
  #tickAt = 0;
  #retryTimer: unknown;
  #openTimer: unknown;
  #closeTimer: unknown;
  #builtSocketOptions: SocketOptions | undefined;

  constructor(options: ClientOptions) {
    super();
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#timer = options.timer;
    this.#store = options.store;
    // Without a store the session's own queues are the RAM copy: no store actions at all.
    this.session = new Session({ maxUnwritten: 16 * 1024, persist: options.store !== undefined, ...options });
    if (options.store) this.session.restore(options.store.load());
    this.onListenerError = (e) => this.#report(e instanceof MqttError ? e : new MqttError("INIT_FAILED", "a listener threw", undefined, e));
  }

  get connected(): boolean {
    return this.session.state === "connected";
  }

  /**
   * Connects, and keeps reconnecting until disconnect(). Resolves on the first CONNACK (at
   * once, with the last CONNACK's session flag, when already connected); rejects when
   * disconnect() or abort() is called first or reconnecting gives up (maxAttempts).
   */
  connect(): Promise<{ sessionPresent: boolean }> {
    return new Promise((resolve, reject) => {
      if (this.connected) {
        resolve({ sessionPresent: this.#sessionPresent });
        return;
      }
      this.#connectWaiters.push({ resolve: resolve as (v: unknown) => void, reject });
      if (!this.#wanted) {
        this.#wanted = true;
        this.#attempt = 0;
        // A socket still closing after disconnect() reconnects from #lost once it is gone.
        if (!this.#socket) this.#guard(() => this.#open());
      }
    });
  }

  /**
   * Resolves when written for QoS 0, on PUBACK for QoS 1, on PUBCOMP for QoS 2. Across
   * connection losses it stays pending while the client reconnects; disconnect(), abort() and
   * giving up (maxAttempts) reject it with CLOSED (the cause kept); a QoS 1/2 message itself
   * stays in the outbox for the next connect(), as does one published while stopped.
   * A Uint8Array payload is not copied: leave it unchanged until the promise settles (and,
   * at QoS 0 on Node, until the socket has sent it).
   */
  publish(topic: string, payload: string | Uint8Array | ArrayBuffer, options: PublishOptions = {}): Promise<void> {
    // The hot path: written out rather than through #request, which costs a closure on XS.
    // What throws in the executor (a bad payload or options) rejects the promise.
    return new Promise<void>((resolve, reject) => {
      const o = options ?? {};
      if (typeof o !== "object") throw new MqttError("INVALID_ARGUMENT", "options must be an object");
      const op: Pending = { resolve: resolve as (v: unknown) => void, reject };
      this.#run(this.session.publish(topic, payload instanceof Uint8Array ? payload : toPayload(payload), o.qos ?? 0, o.retain ?? false, this.#now(), op));
    });
  }

  /**
   * Subscribes; resolves with the granted QoS per filter on SUBACK. If the broker refuses a
   * filter it rejects with SUBSCRIBE_FAILED, yet the filter stays wanted: the client asks
   * again with backoff and on every reconnect ("suback" events tell each answer) until
   * unsubscribe(). A handler, if given, receives the messages matching the filters.
   */
  subscribe(filter: string | string[], options: { qos?: QoS } = {}, handler?: MessageHandler): Promise<number[]> {
    return this.#request((op) => {
      const qos = (options ?? {}).qos ?? 0;
      const subs: Subscription[] = filters(filter).map((topic) => ({ topic, qos }));
      return this.session.subscribe(subs, this.#now(), op, handler);
    }) as Promise<number[]>;
  }

  /**
   * With a handler, removes only that handler, and unsubscribes from the broker only the
   * filters no other subscribe() holds. Without one, unsubscribes the filters for everyone.
   */
  unsubscribe(filter: string | string[], handler?: MessageHandler): Promise<void> {
    return this.#request((op) => this.session.unsubscribe(filters(filter), this.#now(), op, handler)) as Promise<void>;
  }

  /** Routes messages matching `filter` to `handler` without subscribing (e.g. after a session resume). */
  handle(filter: string, handler: MessageHandler): () => void {
    const entry = { filter, handler };
    this.#routes.push(entry);
    return () => { this.#routes = this.#routes.filter((h) => h !== entry); };
  }

  /**
   * Sends DISCONNECT, closes, and stops reconnecting. Every pending operation settles (see
   * Session.abandon); unacknowledged QoS 1/2 messages stay in the store for the next connect.
   */
  disconnect(): Promise<void> {
    this.#stop("disconnect() called");
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
    this.#stop("abort() called");
    if (!this.#socket) return;
    this.#written = this.#enqueued; // nothing more reaches the wire
    this.#out = [];
    this.#close();
  }

  /** No more reconnecting; what waits for a connection settles now if none is open. */
  #stop(why: string): void {
    this.#wanted = false;
    this.#clearTimer(this.#retryTimer);
    this.#retryTimer = undefined;
    const error = new MqttError("CLOSED", `${why} before the operation completed`);
    for (const w of this.#connectWaiters.splice(0)) w.reject(error);
    this.#run(this.session.abandon(error));
  }

  // ---- session plumbing ----

  #request(call: (op: Pending) => Action[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let actions: Action[];
      try {
        actions = call({ resolve, reject });
      } catch (e) {
        reject(asArgumentError(e));
        return;
      }
      this.#run(actions);
    });
  }

  /** `reading`: part of a read, whose end flushes once. */
  #run(actions: Action[], reading?: boolean): void {
    const epoch = this.#epoch;
    let connected: { sessionPresent: boolean } | undefined;
    // The session's deadline only comes earlier by a ping (its timeout), a change of state
    // or a refusal; else the armed timer stands (firing early is harmless).
    let rearm = this.#tickTimer === undefined;
    let direct = 0; // bytes written straight to the socket
    for (let i = 0; i < actions.length; i++) {
      const a = actions[i];
      // A handler that disconnected mid-batch makes the batch's later sends and deliveries stale.
      switch (a.type) {
        case "send": {
          if (epoch !== this.#epoch) break;
          const bytes = a.bytes;
          const n = bytes.length;
          this.#enqueued += n;
          if (!reading && this.#enqueued - n === this.#written && n <= this.#writable && this.#socketUp) {
            // Nothing waits and the socket has room: straight to it, no queue (a read's
            // answers instead leave together once it is handled).
            let result: number | void;
            try {
              result = (this.#socket as Socket).write(bytes);
            } catch (e) {
              this.#close(new MqttError("DISCONNECTED", "socket write failed", undefined, e));
              break;
            }
            this.#writable = typeof result === "number" ? result : this.#writable - n;
            this.#written += n;
            direct += n;
          } else this.#out.push(bytes);
          if (a.payload) {
            this.#out.push(a.payload);
            this.#enqueued += a.payload.length;
          }
          if (a.ping) rearm = true;
          if (a.op === undefined) break;
          if (this.#enqueued === this.#written) (a.op as Pending).resolve(undefined);
          else this.#writtenOps.push({ at: this.#enqueued, op: a.op as Pending });
          break;
        }
        case "close":
          // "connected" before "disconnected", even within one batch
          if (connected) this.#announce(connected);
          connected = undefined;
          this.#close(a.error, a.resync);
          rearm = true;
          break;
        case "connected":
          this.#connectedAt = this.#now();
          this.#sessionPresent = a.sessionPresent;
          connected = { sessionPresent: a.sessionPresent };
          rearm = true;
          break;
        case "message":
          if (epoch === this.#epoch) this.#deliver(a.packet);
          break;
        case "resolve":
          (a.op as Pending).resolve(a.value);
          break;
        case "reject":
          (a.op as Pending).reject(a.error);
          break;
        case "store":
          this.#persist(() => this.#store?.put(a.message));
          break;
        case "unstore":
          this.#persist(() => this.#store?.delete(a.seq));
          break;
        case "error":
          this.#report(a.error);
          break;
        case "suback":
          rearm = true;
          this.emit("suback", a.retryInMs === undefined
            ? { filter: a.filter, code: a.code }
            : { filter: a.filter, code: a.code, retryInMs: a.retryInMs });
          break;
      }
    }
    // Announced after the batch: the CONNACK's batch resends the outbox, and what a
    // "connected" listener publishes must queue behind it, not jump ahead.
    if (connected) this.#announce(connected);
    // A batch's packets are written now (a read's batches once, at its end). Coalescing
    // across calls is the host socket's job (Node corks until the microtasks settle; lwip
    // has Nagle): a microtask per turn here costs 78 heap slots on XS.
    if (direct !== 0 && epoch === this.#epoch) this.#wrote(direct);
    if (!reading && this.#enqueued !== this.#written) this.#flush();
    if (rearm) this.#armTick();
  }

  #announce(event: { sessionPresent: boolean }): void {
    this.emit("connected", event);
    const waiters = this.#connectWaiters.splice(0);
    for (let i = 0; i < waiters.length; i++) waiters[i].resolve(event);
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
    // Indexed loops and no destructuring: on XS each costs an iterator per message.
    for (const entry of this.session.subscriptions) {
      const handlers = entry[1].handlers;
      if (handlers.length && topicMatches(entry[0], packet.topic)) {
        for (let i = 0; i < handlers.length; i++) this.#call(handlers[i], entry[0], message);
      }
    }
    const routes = this.#routes;
    for (let i = 0; i < routes.length; i++) if (topicMatches(routes[i].filter, packet.topic)) this.#call(routes[i].handler, routes[i].filter, message);
    this.emit("message", message);
  }

  #call(handler: MessageHandler, filter: string, message: Message): void {
    try {
      handler(message);
    } catch (e) {
      this.#report(new MqttError("INIT_FAILED", `message handler for ${filter} threw`, undefined, e));
    }
  }

  #report(error: MqttError): void {
    if (this.listenerCount("error")) this.emit("error", error);
  }

  /**
   * Socket and timer callbacks run through here: nothing may escape into the platform's
   * event loop. A fault of ours resets the connection, as a broken link would.
   */
  #guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.#fault(e);
    }
  }

  #fault(e: unknown): void {
    const error = e instanceof MqttError ? e : new MqttError("INTERNAL_ERROR", `unexpected fault: ${String(e)}`, undefined, e);
    try {
      if (this.#socket) this.#close(error);
      else this.#report(error);
    } catch {
      // nothing sane is left to do; the next timer or socket event starts over
    }
  }

  // Callbacks made once, each with its own try/catch: a closure per event costs on XS.
  #tickFired = (): void => {
    this.#tickTimer = undefined;
    try {
      this.#run(this.session.tick(this.#now()));
    } catch (e) {
      this.#fault(e);
    }
  };

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
    this.#tickTimer = this.#timer.set(this.#tickFired, Math.max(0, at - this.#now()));
  }

  #clearTimer(t: unknown): void {
    if (t !== undefined) this.#timer.clear(t);
  }

  // ---- socket ----

  /** The provider's options with ours, built once: every connection uses the same. */
  #socketOptions(): SocketOptions {
    if (this.#builtSocketOptions) return this.#builtSocketOptions;
    const { io: _io, ...providerOptions } = this.#options.socket;
    return (this.#builtSocketOptions = {
      ...providerOptions,
      host: this.#options.host,
      port: this.#options.port ?? 1883,
      format: "buffer",
      onReadable: (count: number) => {
        try {
          this.#onReadable(count);
        } catch (e) {
          this.#fault(e);
        }
      },
      onWritable: (count: number) => {
        try {
          this.#onWritable(count);
        } catch (e) {
          this.#fault(e);
        }
      },
      onError: (error?: unknown) => {
        try {
          this.#onError(error);
        } catch (e) {
          this.#fault(e);
        }
      },
    });
  }

  #open(): void {
    this.#socketUp = false;
    this.#writable = 0;
    this.#readPending = false;
    try {
      this.#socket = new this.#options.socket.io(this.#socketOptions());
    } catch (e) {
      this.#socket = undefined;
      this.#lost(new MqttError("CONNECT_FAILED", `cannot open a socket to ${this.#options.host}`, undefined, e));
      return;
    }
    this.#openTimer = this.#timer.set(() => {
      this.#openTimer = undefined;
      if (!this.#socketUp) this.#guard(() => this.#close(new MqttError("TIMEOUT", `no connection to ${this.#options.host} within ${this.session.connectTimeoutMs} ms`)));
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
    // Most calls only report room after a write: nothing waits, nothing to do.
    if (this.#enqueued !== this.#written || this.#closeAfterFlush || this.#readPending) this.#flush();
  }

  #onReadable(_count: number): void {
    // While our writes are backed up, the broker's bytes wait in the socket (TCP then holds
    // the broker back): reading on would only pile up acknowledgements we cannot send.
    if (this.session.writeBlocked) {
      this.#readPending = true;
      return;
    }
    this.#readPending = false;
    const socket = this.#socket;
    if (!socket) return;
    const data = socket.read();
    if (!data || data.byteLength === 0) return;
    const now = this.#now();
    // One flush for the whole read: the acknowledgements of many packets leave together.
    for (let n = this.session.feed(new Uint8Array(data), now); n > 0; n--) {
      const actions = this.session.next(now);
      if (!actions) break; // a handler disconnected: the rest is not handled
      this.#run(actions, true);
    }
    if (this.#enqueued !== this.#written) this.#flush();
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

  /**
   * Writes queued bytes, never more than the socket said it can take. Parts go to the
   * socket as they are, unmerged: gathering them into one system call is the host's job
   * (Node's socket corks them into one writev), and a merge would copy every payload.
   */
  #flush(): void {
    if (this.#flushing) return;
    this.#flushing = true; // reset here and in #lost, should a fault escape the loop
    const socket = this.#socket;
    while (socket && this.#socket === socket && this.#socketUp && this.#enqueued > this.#written && this.#writable > 0) {
      const writable = this.#writable;
      let part = this.#out[0];
      let n = part.length;
      if (n <= writable) this.#out.shift();
      else {
        this.#out[0] = part.subarray(writable);
        part = part.subarray(0, writable);
        n = writable;
      }
      let result: number | void;
      try {
        result = socket.write(part);
      } catch (e) {
        this.#flushing = false;
        this.#close(new MqttError("DISCONNECTED", "socket write failed", undefined, e));
        return;
      }
      this.#writable = typeof result === "number" ? result : writable - n;
      this.#written += n;
      while (this.#writtenOps.length && this.#writtenOps[0].at <= this.#written) {
        (this.#writtenOps.shift() as { op: Pending }).op.resolve(undefined);
      }
      this.#wrote(n);
    }
    this.#flushing = false;
    if (this.#closeAfterFlush && this.#unwritten === 0) this.#close();
    else if (this.#readPending && this.#socket && !this.session.writeBlocked) this.#onReadable(0);
  }

  /** Tells the session `n` bytes reached the socket: room in its write budget may let it send what it held back. */
  #wrote(n: number): void {
    const more = this.session.written(n, this.#now());
    if (more.length !== 0) this.#run(more);
  }

  /** Closes the socket; an error means the link failed, none means disconnect() finished. */
  #close(error?: MqttError, resync = false): void {
    if (!error && this.#unwritten > 0 && this.#socketUp && this.#socket) {
      // Let DISCONNECT reach the wire first, but not forever: a stalled link is cut.
      if (!this.#closeAfterFlush) {
        this.#closeAfterFlush = true;
        this.#closeTimer = this.#timer.set(() => {
          this.#closeTimer = undefined;
          this.#guard(() => {
            this.#written = this.#enqueued;
            this.#out = [];
            this.#close();
          });
        }, this.session.connectTimeoutMs);
      }
      return;
    }
    this.#closeAfterFlush = false;
    this.#clearTimer(this.#closeTimer);
    this.#closeTimer = undefined;
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
    this.#lost(error, resync);
  }

  /** The connection is gone: fail what cannot survive it and decide whether to retry. */
  #lost(error?: MqttError, resync = false): void {
    const now = this.#now();
    this.#run(this.session.transportDown(now));
    // Bytes not yet written belong to the dead connection; QoS 0 "written" ops fail.
    this.#out = [];
    this.#enqueued = this.#written = 0;
    this.#readPending = false;
    this.#flushing = false;
    for (const { op } of this.#writtenOps.splice(0)) {
      op.reject(new MqttError("DISCONNECTED", "connection lost before the message was written"));
    }
    if (error) this.#report(error);
    // Only a connection that lasted earns a fresh backoff: one dropped right after its
    // CONNACK (say, by a message that kills it every time) must not retry at full speed.
    if (this.#connectedAt && now - this.#connectedAt >= (this.#options.stableMs ?? 10_000)) this.#attempt = 0;
    this.#connectedAt = 0;
    const retry = this.#wanted && this.#options.reconnect !== false && shouldRetry(this.#attempt, this.#options.reconnect || {});
    if (!this.#wanted || !retry) {
      const wasWanted = this.#wanted;
      this.#wanted = false;
      const final = error ?? new MqttError("CLOSED", "disconnect() called before the operation completed");
      // connect() learns the cause itself; operations learn the client stopped, with the cause kept.
      if (wasWanted) this.#run(this.session.abandon(new MqttError("CLOSED", `gave up reconnecting: ${final.message}`, undefined, final)));
      this.emit("disconnected", error ? { error } : {});
      for (const w of this.#disconnectWaiters.splice(0)) w();
      for (const w of this.#connectWaiters.splice(0)) w.reject(final);
      return;
    }
    // connect() was called while disconnect() was closing: that close is done, a new link follows.
    for (const w of this.#disconnectWaiters.splice(0)) w();
    // A resync the session asked for is no failure: straight back, the backoff untouched.
    if (!resync) this.#attempt++;
    const delayMs = resync ? 0 : backoffDelay(this.#attempt, this.#options.reconnect || {}, this.#options.random ?? Math.random);
    this.emit("disconnected", error ? { error, reconnectInMs: delayMs } : { reconnectInMs: delayMs });
    this.emit("reconnecting", { attempt: this.#attempt, delayMs });
    this.#retryTimer = this.#timer.set(() => {
      this.#retryTimer = undefined;
      if (this.#wanted) this.#guard(() => this.#open());
    }, delayMs);
  }
}

function asArgumentError(e: unknown): MqttError {
  return e instanceof MqttError ? e : new MqttError("INVALID_ARGUMENT", String(e), undefined, e);
}

/** Plain JavaScript callers may pass anything: only strings and bytes are payloads. */
function toPayload(payload: unknown): Uint8Array {
  if (typeof payload === "string") return encodeUtf8(payload);
  if (payload instanceof Uint8Array) return payload;
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  if (ArrayBuffer.isView(payload)) return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  throw new MqttError("INVALID_ARGUMENT", `payload must be a string, Uint8Array or ArrayBuffer, not ${payload === null ? "null" : typeof payload}`);
}

function filters(filter: unknown): string[] {
  const list = Array.isArray(filter) ? filter : [filter];
  for (const f of list) if (typeof f !== "string") throw new MqttError("INVALID_ARGUMENT", `topic filter must be a string, not ${typeof f}`);
  return list as string[];
}
