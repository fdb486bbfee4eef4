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
  readonly #timer: TimerLike | undefined;
  readonly retained = new Uint32Array(RETAINED_WORDS);
  /** Durations slept, newest last (bounded: the last 64). */
  readonly sleeps: number[] = [];

  constructor(options: { timer?: TimerLike } = {}) {
    this.#timer = options.timer;
  }

  /** Power lost and back: the retained memory reads zeros. */
  powerLoss(): void {
    this.retained.fill(0);
  }

  /** The class for the bus: `{ io: sleep.io }`. */
  get io(): new (options: Record<string, unknown>) => DeepSleep419 {
    const model = this;
    return class implements DeepSleep419 {
      readonly retained = model.retained.length;
      readonly #onWake: (() => void) | undefined;
      #pending: unknown;
      #closed = false;

      constructor(options: Record<string, unknown>) {
        this.#onWake = typeof options.onWake === "function" ? (options.onWake as () => void) : undefined;
      }

      getRetained(index: number): number {
        return model.retained[this.#index(index)];
      }

      setRetained(index: number, value: number): void {
        model.retained[this.#index(index)] = value;
      }

      sleep(ms: number): void {
        if (this.#closed) throw new Error("sleep closed");
        if (this.#pending !== undefined) throw new Error("already asleep");
        model.sleeps.push(ms);
        if (model.sleeps.length > 64) model.sleeps.shift();
        const timer = model.#timer;
        if (!timer) return;
        this.#pending = timer.set(() => {
          this.#pending = undefined;
          this.#onWake?.();
        }, ms);
      }

      /** Cancels a pending wake: only an emulator can. */
      close(): void {
        this.#closed = true;
        if (this.#pending !== undefined) model.#timer?.clear(this.#pending);
        this.#pending = undefined;
      }

      #index(index: number): number {
        if (this.#closed) throw new Error("sleep closed");
        if (!Number.isInteger(index) || index < 0 || index >= model.retained.length) throw new RangeError(`retained word ${index} of ${model.retained.length}`);
        return index;
      }
    };
  }
}
