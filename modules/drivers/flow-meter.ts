// A pulse-output flow meter (a Hall-effect turbine such as the YF-S201: about 450 pulses per
// litre) on a pulse counter (embedded:io/pulsecount, the ESP32's PCNT). The rate is the pulses
// between two samples over the time between them; samples closer than minWindowMs repeat the
// last rate rather than divide a handful of pulses by a few milliseconds. Sensor Class
// Pattern: new FlowMeter({ sensor, now, pulsesPerLitre }), sample() -> { flow_rate, litres }.

import { ProbeError } from "./analog-probe.js";
import type { IoProvider, PulseCount419 } from "./io.js";

export interface FlowMeterOptions {
  pulsesPerLitre?: number;
  /** Shortest window a rate is measured over, ms (default 1000). */
  minWindowMs?: number;
}

export class FlowMeter {
  #io: PulseCount419 | undefined;
  readonly #now: () => number;
  #pulsesPerLitre = 450;
  #minWindowMs = 1000;
  #count: number;
  #at: number;
  #rate = 0;
  #litres = 0;

  constructor(options: FlowMeterOptions & { sensor: IoProvider; now: () => number }) {
    this.#io = new options.sensor.io({ ...options.sensor }) as PulseCount419;
    this.#now = options.now;
    this.configure(options);
    this.#count = this.#read();
    this.#at = this.#now();
  }

  configure(options: FlowMeterOptions): void {
    if (options.pulsesPerLitre !== undefined) {
      if (!(Number.isFinite(options.pulsesPerLitre) && options.pulsesPerLitre > 0)) throw new RangeError("pulsesPerLitre must be a positive number");
      this.#pulsesPerLitre = options.pulsesPerLitre;
    }
    if (options.minWindowMs !== undefined) {
      if (!(Number.isInteger(options.minWindowMs) && options.minWindowMs >= 1)) throw new RangeError("minWindowMs must be a positive integer");
      this.#minWindowMs = options.minWindowMs;
    }
  }

  /** L/min over the last window and litres since opened; throws a ProbeError("bus") when the counter fails. */
  sample(): { flow_rate: number; litres: number } {
    const now = this.#now();
    const window = now - this.#at;
    if (window >= this.#minWindowMs) {
      const count = this.#read();
      // A counter written or restarted under us: this window is lost, the next one counts.
      const pulses = count >= this.#count ? count - this.#count : 0;
      this.#rate = (pulses / this.#pulsesPerLitre) / (window / 60_000);
      this.#litres += pulses / this.#pulsesPerLitre;
      this.#count = count;
      this.#at = now;
    }
    return { flow_rate: this.#rate, litres: this.#litres };
  }

  close(): void {
    this.#io?.close();
    this.#io = undefined;
  }

  #read(): number {
    if (!this.#io) throw new ProbeError("bus", "pulse counter closed");
    try {
      return this.#io.read();
    } catch (e) {
      throw new ProbeError("bus", `pulse counter read failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
}
