// Emulated deep sleep (the "sleep" bus): sleep(ms) ends the wake and, with a timer, starts the
// next one after ms by calling the class's onWake (the board restarts the program instead).
// The retained memory lives in this object, so every class opened on it (a product rebuilt
// after a "deep sleep") sees what the last wake left; powerLoss() clears it as a battery swap
// would. Without a timer sleeps are only recorded and the test wakes the node itself.

import type { DeepSleep419 } from "../drivers/sleep.js";
import type { TimerLike } from "../mqtt/io.js";

/** The ESP32 has 8 KB of RTC slow memory; a node's few records need far less. */
export const RETAINED_WORDS = 32;

export class EmulatedDeepSleep {
  /** Wakes the node after each sleep; without one, sleeps are only recorded. */
  readonly timer: TimerLike | undefined;
  readonly retained = new Uint32Array(RETAINED_WORDS);
  /** Durations slept, newest last (bounded: the last 64). */
  readonly sleeps: number[] = [];
  /** The class for the bus: `{ io: sleep.io }` (one class, bound to this model). */
  readonly io: new (options: Record<string, unknown>) => DeepSleep419 = DeepSleepIO.bind(null, this);

  constructor(options: { timer?: TimerLike } = {}) {
    this.timer = options.timer;
  }

  /** Power lost and back: the retained memory reads zeros. */
  powerLoss(): void {
    this.retained.fill(0);
  }

  /** A sleep of `ms` begins (recorded, bounded). */
  record(ms: number): void {
    this.sleeps.push(ms);
    if (this.sleeps.length > 64) this.sleeps.shift();
  }
}

class DeepSleepIO implements DeepSleep419 {
  readonly #model: EmulatedDeepSleep;
  readonly retained: number;
  readonly #onWake: (() => void) | undefined;
  #pending: unknown;
  #closed = false;

  constructor(model: EmulatedDeepSleep, options: Record<string, unknown>) {
    this.#model = model;
    this.retained = model.retained.length;
    this.#onWake = typeof options.onWake === "function" ? (options.onWake as () => void) : undefined;
  }

  getRetained(index: number): number {
    return this.#model.retained[this.#index(index)];
  }

  setRetained(index: number, value: number): void {
    this.#model.retained[this.#index(index)] = value;
  }

  sleep(ms: number): void {
    if (this.#closed) throw new Error("sleep closed");
    if (this.#pending !== undefined) throw new Error("already asleep");
    this.#model.record(ms);
    const timer = this.#model.timer;
    if (!timer) return;
    this.#pending = timer.set(() => {
      this.#pending = undefined;
      this.#onWake?.();
    }, ms);
  }

  /** Cancels a pending wake: only an emulator can. */
  close(): void {
    this.#closed = true;
    if (this.#pending !== undefined) this.#model.timer?.clear(this.#pending);
    this.#pending = undefined;
  }

  #index(index: number): number {
    if (this.#closed) throw new Error("sleep closed");
    const words = this.#model.retained.length;
    if (!Number.isInteger(index) || index < 0 || index >= words) throw new RangeError(`retained word ${index} of ${words}`);
    return index;
  }
}
