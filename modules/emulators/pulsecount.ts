// An emulated pulse counter, as embedded:io/pulsecount (the ESP32's PCNT): the part's model
// says how many pulses arrived since it was last asked (fractions carry over, so a slow source
// still counts right), and read() gives the count since the counter was opened or last
// written, as Moddable's class does. A "dead" fault makes read() throw (a counter that fails).

import type { PulseCount419 } from "../drivers/io.js";

export interface PulseSourceOptions {
  /** Pulses (may be fractional) since the last call: the model integrates its own rate. */
  pulses(): number;
}

export class EmulatedPulseCounter {
  readonly #options: PulseSourceOptions;
  /** Whole pulses seen on the pin since the emulator was made. */
  #total = 0;
  #fraction = 0;
  fault: "dead" | undefined = undefined;

  constructor(options: PulseSourceOptions) {
    this.#options = options;
  }

  /** Whole pulses on the pin so far (brings the model up to now). */
  get total(): number {
    const p = this.#options.pulses() + this.#fraction;
    const whole = Math.floor(Math.max(0, p));
    this.#fraction = Math.max(0, p) - whole;
    this.#total += whole;
    return this.#total;
  }

  /** The ECMA-419 class for this counter: `{ io: counter.io, signal: 27 }` (one class, bound to this counter). */
  readonly io: new (options: Record<string, unknown>) => PulseCount419 = PulseCountIO.bind(null, this);
}

class PulseCountIO implements PulseCount419 {
  readonly #counter: EmulatedPulseCounter;
  #base: number;
  #closed = false;

  constructor(counter: EmulatedPulseCounter, _options: Record<string, unknown>) {
    this.#counter = counter;
    this.#base = counter.total;
  }

  read(): number {
    if (this.#closed) throw new Error("closed");
    if (this.#counter.fault === "dead") throw new Error("pulse counter not responding");
    // Counted as a 32-bit integer, as the native class does.
    return (this.#counter.total - this.#base) | 0;
  }

  write(value: number): void {
    if (this.#closed) throw new Error("closed");
    this.#base = this.#counter.total - (value | 0);
  }

  close(): void {
    this.#closed = true;
  }
}
