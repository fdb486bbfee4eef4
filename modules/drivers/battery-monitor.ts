// A battery's voltage through a resistor divider on an ADC channel (the cell's 4.2 V would
// exceed the ESP32 ADC's ~3.3 V full scale), and its charge estimated linearly between an
// empty and a full voltage (Li-ion: 3.0 V to 4.2 V by default). A cell in use puts 1.5 V
// to 2.1 V on the pin through the default 2:1 divider, so a rail means a cut wire. Sensor Class Pattern:
// new BatteryMonitor({ sensor, divider, empty, full }), sample() -> { volts, percent }.

import { AdcChannel } from "./analog-probe.js";
import type { IoProvider } from "./io.js";

export interface BatteryOptions {
  /** Battery volts per pin volt: (R1 + R2) / R2 (default 2, two equal resistors). */
  divider?: number;
  /** Volts at 0 % and at 100 %. */
  empty?: number;
  full?: number;
  averaging?: number;
}

export class BatteryMonitor {
  readonly #adc: AdcChannel;
  #divider = 2;
  #empty = 3.0;
  #full = 4.2;

  constructor(options: BatteryOptions & { sensor: IoProvider }) {
    this.#adc = new AdcChannel(options.sensor);
    this.configure(options);
  }

  configure(options: BatteryOptions): void {
    const divider = options.divider ?? this.#divider;
    const empty = options.empty ?? this.#empty;
    const full = options.full ?? this.#full;
    if (!(Number.isFinite(divider) && divider >= 1)) throw new RangeError("divider must be a number of at least 1");
    if (!(Number.isFinite(empty) && Number.isFinite(full) && empty > 0 && full > empty)) throw new RangeError("empty and full must be volts with empty below full");
    this.#divider = divider;
    this.#empty = empty;
    this.#full = full;
    if (options.averaging !== undefined) this.#adc.configure({ averaging: options.averaging });
  }

  /** Battery volts and charge (0-100 %); throws a ProbeError when the ADC fails or reads a rail. */
  sample(): { volts: number; percent: number } {
    const volts = this.#adc.volts().volts * this.#divider;
    const percent = Math.min(100, Math.max(0, ((volts - this.#empty) / (this.#full - this.#empty)) * 100));
    return { volts, percent };
  }

  close(): void {
    this.#adc.close();
  }
}
