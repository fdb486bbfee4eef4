// The "sleep" bus on the ESP32 (DeepSleep419, modules/drivers/sleep.ts): deep sleep woken by
// the RTC timer, and 32-bit words in RTC slow memory that survive it (RTC_DATA_ATTR in
// deepsleep.c; zeros after power-on). sleep() does not return: the chip restarts from reset
// when the timer fires, so `onWake` is never called here. Only images whose board has a
// "sleep" bus hold this module and its native part.

import deepSleep, { getRetained, retainedWords, setRetained } from "hosts/moddable/esp32/deepsleep";
import type { DeepSleep419 } from "../../../modules/drivers/sleep.js";

export class RtcDeepSleep implements DeepSleep419 {
  readonly retained = retainedWords();
  #closed = false;

  constructor(_options: Record<string, unknown>) {}

  getRetained(index: number): number {
    return getRetained(this.#index(index));
  }

  setRetained(index: number, value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`retained words are 32-bit unsigned integers, not ${value}`);
    setRetained(this.#index(index), value);
  }

  sleep(ms: number): void {
    if (this.#closed) throw new Error("sleep closed");
    if (!(ms >= 0 && ms <= 0x7fffffff)) throw new RangeError(`cannot sleep ${ms} ms`);
    deepSleep(ms);
  }

  close(): void {
    this.#closed = true;
  }

  #index(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.retained) throw new RangeError(`retained word ${index} out of 0..${this.retained - 1}`);
    return index;
  }
}
