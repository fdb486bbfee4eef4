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

  constructor(options: AnalogChannelOptions) {
    this.#options = options;
  }

  /** The ECMA-419 class for this channel: `{ io: channel.io, pin: 34 }`. */
  get io(): new (options: Record<string, unknown>) => Analog419 {
    const channel = this;
    const bits = this.#options.resolution ?? 12;
    const fullScale = this.#options.fullScale ?? 3.3;
    return class implements Analog419 {
      readonly resolution = bits;
      read(): number {
        const max = (1 << bits) - 1;
        if (channel.fault === "dead") throw new Error("ADC not responding");
        if (channel.fault === "open") return max;
        const v = channel.#options.volts();
        return Math.max(0, Math.min(max, Math.round((v / fullScale) * max)));
      }
      close(): void {}
    };
  }
}
