// A periodic task whose interval can change while it runs (a config update), on the
// host's timer. A new interval takes effect from now, not after the old period ends.

import type { TimerLike } from "../mqtt/io.js";

export class Periodic {
  readonly #timer: TimerLike;
  readonly #task: () => void;
  #intervalMs: number;
  #handle: unknown;

  constructor(timer: TimerLike, intervalMs: number, task: () => void) {
    Periodic.check(intervalMs);
    this.#timer = timer;
    this.#intervalMs = intervalMs;
    this.#task = task;
  }

  static check(intervalMs: number): void {
    if (!Number.isFinite(intervalMs) || intervalMs < 100) throw new RangeError(`interval must be at least 100 ms, not ${intervalMs}`);
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  get running(): boolean {
    return this.#handle !== undefined;
  }

  start(): void {
    if (this.#handle === undefined) this.#arm();
  }

  stop(): void {
    if (this.#handle !== undefined) this.#timer.clear(this.#handle);
    this.#handle = undefined;
  }

  setInterval(intervalMs: number): void {
    Periodic.check(intervalMs);
    this.#intervalMs = intervalMs;
    if (this.#handle !== undefined) {
      this.stop();
      this.#arm();
    }
  }

  #arm(): void {
    this.#handle = this.#timer.set(() => {
      this.#arm(); // re-arm first: a throwing task must not stop the schedule
      this.#task();
    }, this.#intervalMs);
  }
}
