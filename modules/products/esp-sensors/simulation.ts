// Simulated hardware for the desktop and the Moddable simulator: a DHT22-like sensor whose
// temperature follows the day (coolest near 03:00, warmest near 15:00, local time taken as UTC)
// with measurement noise, and whose relative humidity falls as it warms; and a "deep sleep"
// that is a timer calling wake. Driven by the device's now() and random(), so a seeded host
// repeats exactly.

import type { Device } from "../../device/device.js";
import type { TimerLike } from "../../mqtt/io.js";
import type { CancellableSleeper, ClimateReading, ClimateSensor } from "./hardware.js";

const DAY_MS = 86_400_000;

export interface ClimateModel {
  /** Daily mean, degrees Celsius. */
  meanC: number;
  /** Half the daily swing, degrees Celsius. */
  amplitudeC: number;
  /** Relative humidity at the mean temperature, percent. */
  meanHumidity: number;
  /** Percent of humidity lost per degree of warming. */
  humidityPerDegree: number;
  /** Noise amplitude (uniform, +/-) for temperature (C) and humidity (%): a DHT22 is good to ~0.5 C, 2-5 %. */
  noiseC: number;
  noiseHumidity: number;
}

export const INDOOR: ClimateModel = { meanC: 21, amplitudeC: 3, meanHumidity: 50, humidityPerDegree: 2.5, noiseC: 0.2, noiseHumidity: 1 };

export class SimulatedClimateSensor implements ClimateSensor {
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #model: ClimateModel;

  constructor(source: Pick<Device, "now" | "random">, model: ClimateModel = INDOOR) {
    this.#now = () => source.now();
    this.#random = () => source.random();
    this.#model = model;
  }

  /** The noiseless temperature at a time (ms since the epoch): a sine peaking at 15:00, lowest at 03:00. */
  expectedCelsius(at: number): number {
    const hour = ((at % DAY_MS) + DAY_MS) % DAY_MS / 3_600_000;
    return this.#model.meanC + this.#model.amplitudeC * Math.sin(((hour - 9) / 24) * 2 * Math.PI);
  }

  read(): ClimateReading {
    const m = this.#model;
    const celsius = this.expectedCelsius(this.#now()) + (this.#random() * 2 - 1) * m.noiseC;
    const humidity = m.meanHumidity - m.humidityPerDegree * (celsius - m.meanC) + (this.#random() * 2 - 1) * m.noiseHumidity;
    return { celsius, humidity: Math.min(100, Math.max(0, humidity)) };
  }
}

/** Deep sleep stood in for by a timer: wake is called after ms instead of the program restarting. */
export class TimerSleeper implements CancellableSleeper {
  readonly #timer: TimerLike;
  #pending: unknown;
  /** Durations asked for, newest last (bounded: the last 16). */
  readonly history: number[] = [];

  constructor(timer: TimerLike) {
    this.#timer = timer;
  }

  sleep(ms: number, wake: () => void): void {
    this.cancel();
    this.history.push(ms);
    if (this.history.length > 16) this.history.shift();
    this.#pending = this.#timer.set(() => {
      this.#pending = undefined;
      wake();
    }, ms);
  }

  cancel(): void {
    if (this.#pending !== undefined) this.#timer.clear(this.#pending);
    this.#pending = undefined;
  }
}
