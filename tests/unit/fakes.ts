// Test doubles and helpers shared by the session, backoff and client unit tests (and the
// property test's broker): a seeded PRNG, packet summaries, a controllable clock/timer and a
// fake ECMA-419 socket.

import * as assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import * as P from "../../modules/mqtt/packets.js";
import type { Packet } from "../../modules/mqtt/packets.js";
import { encode } from "../../modules/mqtt/encode.js";
import { Decoder } from "../../modules/mqtt/decode.js";
import type { Action } from "../../modules/mqtt/session.js";
import type { Socket, SocketClass, SocketOptions, TimerLike } from "../../modules/mqtt/io.js";

import { concatBytes as concat } from "../../modules/mqtt/bytes.js";

export { prng } from "../../modules/device/prng.js";
export { concat };

// Assertions for hot loops: the failure message is only built on failure.
export function ok(cond: unknown, msg: () => string): asserts cond {
  if (!cond) assert.fail(msg());
}
export function same(actual: unknown, expected: unknown, msg: () => string): void {
  if (!isDeepStrictEqual(actual, expected)) assert.deepStrictEqual(actual, expected, msg());
}

/** Runs fn with stack capture off: loops that throw ~10^4 errors spend most of their time on stacks. */
export function withoutStacks(fn: () => void): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    fn();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export const te = new TextEncoder();
export const td = new TextDecoder();
export const bytes = (s: string): Uint8Array => te.encode(s);

/** Decodes bytes that must hold whole packets only. */
export function decodeAll(data: Uint8Array | Uint8Array[]): Packet[] {
  const d = new Decoder({ maxPacketSize: 1 << 28 });
  const out: Packet[] = [];
  for (const part of Array.isArray(data) ? data : [data]) d.push(part, out);
  if (d.buffered !== 0) throw new Error(`${d.buffered} bytes of an incomplete packet`);
  return out;
}

/** Broker -> client bytes. */
export function wire(...packets: Packet[]): Uint8Array {
  return concat(packets.map((p) => encode(p)));
}

export const connack = (sessionPresent = false, returnCode = 0): Packet => ({ type: P.CONNACK, sessionPresent, returnCode });

/** A compact, exact, human-readable form of a packet. */
export function show(p: Packet): string {
  switch (p.type) {
    case P.CONNECT: {
      let s = `CONNECT ${p.clientId} clean=${p.clean ? 1 : 0} ka=${p.keepalive}`;
      if (p.will) s += ` will=${p.will.topic}:${td.decode(p.will.payload)}:q${p.will.qos}${p.will.retain ? ":retain" : ""}`;
      if (p.username !== undefined) s += ` user=${p.username}`;
      if (p.password !== undefined) s += ` pass=${td.decode(p.password)}`;
      return s;
    }
    case P.PUBLISH: {
      let s = `PUBLISH ${p.topic} q${p.qos}`;
      if (p.id !== undefined) s += ` #${p.id}`;
      if (p.dup) s += " dup";
      if (p.retain) s += " retain";
      return `${s} '${td.decode(p.payload)}'`;
    }
    default:
      return showControl(p);
  }
}

/**
 * The compact form of any packet but CONNECT and PUBLISH, whose forms differ by who shows
 * them. Shared by show() and tests/unit/property/broker.ts's showPacket().
 */
export function showControl(p: Packet): string {
  switch (p.type) {
    case P.CONNACK:
      return `CONNACK sp=${p.sessionPresent ? 1 : 0} rc=${p.returnCode}`;
    case P.SUBSCRIBE:
      return `SUBSCRIBE #${p.id} ${p.subscriptions.map((x) => `${x.topic}:${x.qos}`).join(",")}`;
    case P.SUBACK:
      return `SUBACK #${p.id} ${p.granted.join(",")}`;
    case P.UNSUBSCRIBE:
      return `UNSUBSCRIBE #${p.id} ${p.topics.join(",")}`;
    case P.PUBACK: case P.PUBREC: case P.PUBREL: case P.PUBCOMP: case P.UNSUBACK:
      return `${P.PACKET_NAMES[p.type]} #${p.id}`;
    default:
      return P.PACKET_NAMES[p.type];
  }
}

/** A send action's bytes, in the order written. */
export function sendParts(a: Extract<Action, { type: "send" }>): Uint8Array[] {
  return a.payload ? [a.bytes, a.payload] : [a.bytes];
}

/** Each action in a compact exact form; a "send" must hold whole packets. */
export function acts(actions: Action[]): string[] {
  return actions.map((a) => {
    switch (a.type) {
      case "send":
        return `send ${decodeAll(sendParts(a)).map(show).join(" + ")}${a.op !== undefined ? ` op=${a.op}` : ""}`;
      case "close":
        return a.error ? `close ${a.error.code}` : "close";
      case "connected":
        return `connected sp=${a.sessionPresent ? 1 : 0}`;
      case "message":
        return `message ${show(a.packet)}`;
      case "resolve":
        return a.value === undefined ? `resolve ${a.op}` : `resolve ${a.op} ${JSON.stringify(a.value)}`;
      case "reject":
        return `reject ${a.op} ${a.error.code}`;
      case "store":
        return `store seq=${a.message.seq} id=${a.message.id ?? "-"}${a.message.released ? " rel" : ""}`;
      case "unstore":
        return `unstore seq=${a.seq}`;
      case "error":
        return `error ${a.error.code}`;
      case "suback":
        return `suback ${a.filter} ${a.code}${a.retryInMs !== undefined ? ` retry=${a.retryInMs}` : ""}`;
    }
  });
}

/** The packets of all "send" actions, in order. */
export function sent(actions: Action[]): Packet[] {
  const out: Packet[] = [];
  for (const a of actions) if (a.type === "send") out.push(...decodeAll(sendParts(a)));
  return out;
}

/** Drains pending microtasks (promise callbacks) without any real timer. */
export async function microtasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

// ---- a controllable clock ----

interface FakeTimerEntry {
  handle: number;
  due: number;
  callback: () => void;
}

/** `timer.set` records callbacks with due times; `advance(ms)` runs them in due order. */
export class FakeClock {
  now = 0;
  #timers: FakeTimerEntry[] = [];
  #nextHandle = 1;

  readonly timer: TimerLike = {
    set: (callback: () => void, delayMs: number): unknown => {
      const handle = this.#nextHandle++;
      this.#timers.push({ handle, due: this.now + Math.max(0, delayMs), callback });
      return handle;
    },
    clear: (handle: unknown): void => {
      this.#timers = this.#timers.filter((t) => t.handle !== handle);
    },
  };

  /** Due times of the pending timers, relative to now. */
  get pending(): number[] {
    return this.#timers.map((t) => t.due - this.now).sort((a, b) => a - b);
  }

  /** Moves time forward, running every timer that falls due, in order (ties: first set first). */
  advance(ms: number): void {
    const end = this.now + ms;
    let sameInstant = 0;
    for (;;) {
      let next: FakeTimerEntry | undefined;
      for (const t of this.#timers) if (t.due <= end && (!next || t.due < next.due)) next = t;
      if (!next) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      sameInstant = next.due === this.now ? sameInstant + 1 : 0;
      if (sameInstant > 10_000) throw new Error(`timer storm: over 10,000 timers fired at t=${this.now} without time passing`);
      this.now = next.due;
      next.callback();
    }
    this.now = end;
  }
}

// ---- a fake ECMA-419 socket the test drives as the broker ----

export class FakeSocket implements Socket {
  readonly options: SocketOptions;
  /** Every chunk the client wrote, copied at write time. */
  readonly writes: Uint8Array[] = [];
  /** "write n" / "close" in order. */
  readonly log: string[] = [];
  closed = false;
  /** Bytes the client may still write since the last onWritable. */
  budget = 0;
  /** Largest overrun of the budget seen (0 when the client behaved). */
  overrun = 0;
  /** What write() returns: undefined (ECMA-419) or the bytes still writable (Moddable). */
  returnsRemaining = false;
  #inbox: Uint8Array[] = [];
  #taken = 0;

  constructor(options: SocketOptions) {
    this.options = options;
  }

  read(byteLength?: number): ArrayBuffer | undefined {
    const all = concat(this.#inbox);
    const n = Math.min(byteLength ?? all.length, all.length);
    this.#inbox = n < all.length ? [all.slice(n)] : [];
    return all.slice(0, n).buffer;
  }

  write(data: Uint8Array): number | void {
    if (this.closed) throw new Error("write after close");
    if (data.length > this.budget) this.overrun = Math.max(this.overrun, data.length - this.budget);
    this.budget -= data.length;
    this.writes.push(data.slice());
    this.log.push(`write ${data.length}`);
    return this.returnsRemaining ? Math.max(0, this.budget) : undefined;
  }

  close(): void {
    this.closed = true;
    this.log.push("close");
  }

  // ---- the broker's side ----

  /** Says the socket can take `count` bytes; the first call means "connected". */
  writable(count: number): void {
    this.budget = count;
    this.options.onWritable(count);
  }

  /** Delivers bytes from the broker. */
  deliver(data: Uint8Array): void {
    this.#inbox.push(data);
    this.options.onReadable(data.length);
  }

  send(...packets: Packet[]): void {
    this.deliver(wire(...packets));
  }

  fail(error?: unknown): void {
    this.options.onError(error);
  }

  /** All bytes written so far. */
  get bytes(): Uint8Array {
    return concat(this.writes);
  }

  /** Packets written since the last take(), decoded (must be whole packets). */
  take(): Packet[] {
    const all = this.bytes;
    const fresh = all.subarray(this.#taken);
    this.#taken = all.length;
    return decodeAll(fresh);
  }

  takeShown(): string[] {
    return this.take().map(show);
  }
}

/** A socket class whose instances are captured, like {io: TCP}. */
export class FakeNet {
  readonly sockets: FakeSocket[] = [];
  /** When set, the constructor throws this instead of making a socket. */
  refuse: unknown = undefined;
  readonly io: SocketClass;

  constructor() {
    const net = this;
    this.io = class extends FakeSocket {
      constructor(options: SocketOptions) {
        if (net.refuse !== undefined) throw net.refuse;
        super(options);
        net.sockets.push(this);
      }
    };
  }

  get last(): FakeSocket {
    const s = this.sockets[this.sockets.length - 1];
    if (!s) throw new Error("no socket was constructed");
    return s;
  }
}
