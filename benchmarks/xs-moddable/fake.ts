// For the profile: a socket, timer and clock inside XS with no bridge, so a whole exchange
// runs in one crank and the in-crank meter sees only the clients (and this small harness,
// whose cost is measured and subtracted). The socket behaves as hosts/xsnap's XsSocket, and
// reads through the same ChunkReader: the first onWritable means connected, each write is
// acknowledged by an onWritable with the full window, and a canned broker answers CONNECT,
// a QoS 1 PUBLISH and PINGREQ.

import type { SocketOptions, TimerLike } from "../../modules/mqtt/io.js";
import { ChunkReader } from "../../hosts/xsnap/socket.js";

const WINDOW = 16_384;
const CONNACK = Uint8Array.of(0x20, 2, 0, 0);
const PUBACK_1 = Uint8Array.of(0x40, 2, 0, 1);
const PINGRESP = Uint8Array.of(0xd0, 0);

/** Host events waiting to be delivered, in order. */
const events: (() => void)[] = [];
let clock = 1_000_000;
const timers = new Map<number, { due: number; seq: number; callback: () => void }>();
let nextTimer = 1;
/** Macrotask turns taken by settle(), to subtract their cost. */
export let turns = 0;

export const fakeNow = (): number => clock;

export const fakeTimer: TimerLike = {
  set(callback: () => void, delayMs: number): number {
    const id = nextTimer++;
    timers.set(id, { due: clock + Math.max(0, delayMs), seq: id, callback });
    return id;
  },
  clear(handle: unknown): void {
    timers.delete(handle as number);
  },
};

const macrotask = (): Promise<void> => new Promise((resolve) => { setImmediate(resolve); });

/** Lets microtasks run, then delivers queued events one at a time until none is left. */
export async function settle(): Promise<void> {
  for (;;) {
    turns++;
    await macrotask();
    const event = events.shift();
    if (!event) return;
    event();
  }
}

/** Moves the clock by `ms`, firing due timers in order, settling after each. */
export async function advance(ms: number): Promise<void> {
  const target = clock + ms;
  for (;;) {
    await settle();
    let next: [number, { due: number; seq: number; callback: () => void }] | undefined;
    for (const t of timers) if (t[1].due <= target && (!next || t[1].due < next[1].due || (t[1].due === next[1].due && t[1].seq < next[1].seq))) next = t;
    if (!next) break;
    timers.delete(next[0]);
    clock = Math.max(clock, next[1].due);
    next[1].callback();
  }
  clock = target;
}

export function reset(): void {
  events.length = 0;
  timers.clear();
  turns = 0;
}

declare function setImmediate(callback: () => void): void;

export class FakeSocket extends ChunkReader {
  readonly #options: SocketOptions;
  #done = false;
  /** Bytes written, for the profile to check. */
  static written: Uint8Array[] = [];

  constructor(options: SocketOptions) {
    super();
    this.#options = options;
    events.push(() => this.#writable());
  }

  write(data: Uint8Array): number {
    FakeSocket.written.push(data);
    events.push(() => this.#writable());
    const type = data[0]! >> 4;
    const reply = type === 1 ? CONNACK : type === 3 ? PUBACK_1 : type === 12 ? PINGRESP : undefined;
    if (reply) events.push(() => this.#readable(reply));
    return WINDOW - data.length;
  }

  close(): void {
    this.#done = true;
  }

  #writable(): void {
    if (!this.#done) this.#options.onWritable(WINDOW);
  }

  #readable(bytes: Uint8Array): void {
    if (this.#done) return;
    this.#options.onReadable(this.queue(bytes));
  }
}
