// An emulated ADC channel, as embedded:io/analog: each read samples the part's model (a
// function of time giving volts at the pin) and quantises it like the ESP32's 12-bit ADC with
// its attenuation's full scale. A fault makes the channel read the rail (an open probe) or
// throw (a dead converter).

import type { Analog419 } from "../drivers/io.js";

export interface AnalogChannelOptions {
  /** Volts at the pin now. */
  volts(): number;
  /** Full-scale volts (ESP32 at 11 dB attenuation: about 3.3 V). */
  fullScale?: number;
  /** Bits; default 12. */
  resolution?: number;
}

export class EmulatedAnalog {
  readonly #options: AnalogChannelOptions;
  /** "open": reads full scale; "dead": read() throws. */
  fault: "open" | "dead" | undefined = undefined;
  readonly resolution: number;
  /**
   * The ECMA-419 class for this channel: `{ io: channel.io, pin: 34 }`. One class for every
   * channel, bound to this one: a class per channel would cost a fleet kilobytes each.
   */
  readonly io: new (options: Record<string, unknown>) => Analog419;

  constructor(options: AnalogChannelOptions) {
    this.#options = options;
    this.resolution = options.resolution ?? 12;
    this.io = AnalogIO.bind(null, this);
  }

  /** One conversion: the model's volts quantised, the rail when open; throws when dead. */
  sample(): number {
    const max = (1 << this.resolution) - 1;
    if (this.fault === "dead") throw new Error("ADC not responding");
    if (this.fault === "open") return max;
    const v = this.#options.volts();
    return Math.max(0, Math.min(max, Math.round((v / (this.#options.fullScale ?? 3.3)) * max)));
  }
}

class AnalogIO implements Analog419 {
  readonly #channel: EmulatedAnalog;
  readonly resolution: number;

  constructor(channel: EmulatedAnalog, _options: Record<string, unknown>) {
    this.#channel = channel;
    this.resolution = channel.resolution;
  }

  read(): number {
    return this.#channel.sample();
  }

  close(): void {}
}
