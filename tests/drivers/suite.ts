// Portable driver tests: each driver against its bus-level emulator, faults included. No Node
// APIs, so the same cases run on Node (tests/unit/drivers.test.ts) and on the XS engine
// (tests/xs/drivers.test.ts, through tests/drivers/entry.ts).

import type { TimerLike } from "../../modules/mqtt/io.js";

export interface DriverCase {
  name: string;
  run(): void | Promise<void>;
}

export interface DriverSuite {
  /** The part and its bus, e.g. "PZEM-004T v3 (Modbus-RTU over serial)". */
  name: string;
  cases: DriverCase[];
}

export class CheckError extends Error {}

/** Assertions without node:assert. */
export const check = {
  ok(value: unknown, message = "expected a truthy value"): void {
    if (!value) throw new CheckError(message);
  },
  equal(actual: unknown, expected: unknown, message?: string): void {
    if (!Object.is(actual, expected)) throw new CheckError(`${message ? message + ": " : ""}${show(actual)} !== ${show(expected)}`);
  },
  near(actual: number, expected: number, tolerance: number, message?: string): void {
    if (!(Math.abs(actual - expected) <= tolerance)) throw new CheckError(`${message ? message + ": " : ""}${actual} is not within ${tolerance} of ${expected}`);
  },
  deepEqual(actual: unknown, expected: unknown, message?: string): void {
    if (show(actual) !== show(expected)) throw new CheckError(`${message ? message + ": " : ""}${show(actual)} does not equal ${show(expected)}`);
  },
  throws(f: () => unknown, pattern: RegExp, message?: string): void {
    try {
      f();
    } catch (e) {
      const text = e instanceof Error ? e.message : String(e);
      if (!pattern.test(text)) throw new CheckError(`${message ? message + ": " : ""}threw "${text}", not matching ${pattern}`);
      return;
    }
    throw new CheckError(`${message ? message + ": " : ""}did not throw`);
  },
  async rejects(p: Promise<unknown>, pattern: RegExp, message?: string): Promise<void> {
    try {
      await p;
    } catch (e) {
      const text = e instanceof Error ? e.message : String(e);
      if (!pattern.test(text)) throw new CheckError(`${message ? message + ": " : ""}rejected with "${text}", not matching ${pattern}`);
      return;
    }
    throw new CheckError(`${message ? message + ": " : ""}did not reject`);
  },
};

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? [...x] : typeof x === "number" && !Number.isFinite(x) ? String(x) : x)) ?? String(v);
}

/** A fake clock for drivers and emulators: timers run when the case advances time. */
export class ManualClock {
  now = 0;
  #timers: { id: number; due: number; f: () => void }[] = [];
  #next = 1;
  readonly timer: TimerLike = {
    set: (f: () => void, ms: number) => {
      const id = this.#next++;
      this.#timers.push({ id, due: this.now + Math.max(0, ms), f });
      return id;
    },
    clear: (id: unknown) => {
      this.#timers = this.#timers.filter((t) => t.id !== id);
    },
  };

  /** Runs every timer due within `ms`, in order, letting promise jobs run between them. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await settle();
      let next: { id: number; due: number; f: () => void } | undefined;
      for (const t of this.#timers) if (t.due <= end && (!next || t.due < next.due)) next = t;
      if (!next) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.now = next.due;
      next.f();
    }
    this.now = end;
    await settle();
  }
}

/** Lets pending promise jobs run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}
