// An NTC thermistor in a divider on an ADC channel, temperature by the beta equation, as the
// Moddable SDK's ntcThermistor driver (same option names and defaults, but the full-scale count
// is 2^bits - 1, which is what the reading is a fraction of). The divider is fed from the ADC's
// reference, so the reading is a ratio and needs no volts. With `pullup` the series resistor
// goes to the supply and the thermistor to ground: an open thermistor then reads full scale, a
// shorted one zero; both are a ProbeError("open"), never a temperature.

import { AdcChannel } from "./analog-probe.js";
import type { IoProvider } from "./io.js";

export interface NtcOptions {
  /** Ohms of the fixed divider resistor (default 10 k). */
  series_resistance?: number;
  /** Ohms of the thermistor at 25 °C (default 10 k). */
  thermistor_resistance?: number;
  /** Beta, K (default 3435). */
  beta?: number;
  /** Samples averaged (1-64). */
  averaging?: number;
  /** True: series resistor to the supply, thermistor to ground. */
  pullup?: boolean;
}

const T25 = 298.15;

export class NtcThermistor {
  readonly #adc: AdcChannel;
  #series = 10_000;
  #nominal = 10_000;
  #beta = 3435;
  #pullup = false;

  constructor(options: NtcOptions & { sensor: IoProvider }) {
    this.#adc = new AdcChannel(options.sensor);
    this.configure(options);
  }

  configure(options: NtcOptions): void {
    const positive = (name: string, v: number) => {
      if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be a positive number`);
      return v;
    };
    if (options.series_resistance !== undefined) this.#series = positive("series_resistance", options.series_resistance);
    if (options.thermistor_resistance !== undefined) this.#nominal = positive("thermistor_resistance", options.thermistor_resistance);
    if (options.beta !== undefined) this.#beta = positive("beta", options.beta);
    if (options.averaging !== undefined) this.#adc.configure({ averaging: options.averaging });
    if (options.pullup !== undefined) this.#pullup = options.pullup;
  }

  /** °C and the thermistor's ohms; throws a ProbeError when the thermistor is open or shorted, or the ADC fails. */
  sample(): { temperature: number; resistance: number } {
    const { volts } = this.#adc.volts();
    const ratio = volts / this.#adc.fullScale;
    const resistance = this.#pullup ? this.#series * ratio / (1 - ratio) : this.#series * (1 / ratio - 1);
    const inverse = Math.log(resistance / this.#nominal) / this.#beta + 1 / T25;
    return { temperature: 1 / inverse - 273.15, resistance };
  }

  close(): void {
    this.#adc.close();
  }
}

/** The divider's output as a fraction of the supply at a temperature: what an emulated thermistor puts on the pin. */
export function ntcRatio(celsius: number, options: Required<Omit<NtcOptions, "averaging">>): number {
  const r = options.thermistor_resistance * Math.exp(options.beta * (1 / (celsius + 273.15) - 1 / T25));
  return options.pullup ? r / (r + options.series_resistance) : options.series_resistance / (r + options.series_resistance);
}
