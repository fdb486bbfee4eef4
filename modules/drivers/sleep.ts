// Deep sleep as hardware: a "sleep" bus whose IO class puts the board into deep sleep until
// its RTC timer fires, and holds a small retained memory (the ESP32's RTC slow memory) that
// survives deep sleep but not a power loss. ECMA-419 defines no such class; this one follows
// its shape (`new provider.io({ ...provider, onWake })`) and the Moddable SDK's Sleep module
// (persistent values by index). On the ESP32 the host implements it with esp_deep_sleep and
// RTC_DATA_ATTR words (hosts/moddable/esp32/sleep.ts, over the native deepsleep.c: the SDK
// has neither on ESP32); sleep() never returns there: the program starts again from the top.
// The emulator (modules/emulators/sleep.ts) ends the wake and calls onWake on the timer.
//
// DeepSleep, the driver, keeps checked records in the retained words: a record is its values
// and a checksum word, so memory after power-on (zeros, or noise) reads as no record, and a
// product falls back to what it keeps in flash.

import { fnv1a } from "../device/hash.js";
import type { IoProvider } from "./io.js";

export interface DeepSleep419 {
  /** How many 32-bit words of retained memory there are. */
  readonly retained: number;
  /** A retained word (0 .. 2^32 - 1). */
  getRetained(index: number): number;
  setRetained(index: number, value: number): void;
  /**
   * Deep sleep for `ms`, woken by the RTC timer. On a board RAM is lost and the program
   * restarts; an emulator calls the constructor's `onWake` instead.
   */
  sleep(ms: number): void;
  close(): void;
}

/** What a product uses: sleep, and records in retained memory. */
export interface Sleeper {
  /** Sleeps `ms`; `wake` runs only where sleeping returns (emulators): on a board the program restarts. */
  sleep(ms: number, wake: () => void): void;
  /** The record of `count` values at word `offset`, or undefined when there is none (power-on) or it is damaged. */
  load(offset: number, count: number): number[] | undefined;
  /** Stores a record of 32-bit values at word `offset` (it takes count + 1 words). */
  save(offset: number, values: readonly number[]): void;
  close(): void;
}

export class DeepSleep implements Sleeper {
  readonly #io: DeepSleep419;
  #wake: (() => void) | undefined;

  constructor(options: { sleep: IoProvider<DeepSleep419> }) {
    this.#io = new options.sleep.io({
      ...options.sleep,
      onWake: () => {
        const wake = this.#wake;
        this.#wake = undefined;
        wake?.();
      },
    });
  }

  sleep(ms: number, wake: () => void): void {
    if (!(ms >= 0 && Number.isFinite(ms))) throw new RangeError(`cannot sleep ${ms} ms`);
    this.#wake = wake;
    this.#io.sleep(ms);
  }

  load(offset: number, count: number): number[] | undefined {
    this.#span(offset, count);
    const values: number[] = [];
    for (let i = 0; i < count; i++) values.push(this.#io.getRetained(offset + 1 + i));
    return this.#io.getRetained(offset) === checksum(values) ? values : undefined;
  }

  save(offset: number, values: readonly number[]): void {
    this.#span(offset, values.length);
    for (const v of values) if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`retained values are 32-bit unsigned integers, not ${v}`);
    // Checksum last: a save cut short by a reset leaves a record that reads as none.
    this.#io.setRetained(offset, ~checksum(values) >>> 0);
    values.forEach((v, i) => this.#io.setRetained(offset + 1 + i, v));
    this.#io.setRetained(offset, checksum(values));
  }

  close(): void {
    this.#wake = undefined;
    this.#io.close();
  }

  #span(offset: number, count: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(count) || offset < 0 || count < 1 || offset + 1 + count > this.#io.retained) {
      throw new RangeError(`a record of ${count} values at word ${offset} does not fit ${this.#io.retained} retained words`);
    }
  }
}

/** Over the count and the values, so a record read with another length does not pass. */
function checksum(values: readonly number[]): number {
  return fnv1a(`${values.length}:${values.join(",")}`);
}
