// Simulated, physically plausible water: the state advances lazily to now() whenever it
// is read or a pump switches, with closed-form exponentials so any time step is exact and no
// timer of its own is needed. Noise comes from random() (the Device's, seeded by the host).
//
//   pH      drifts slowly up towards 7.8 (CO2 outgassing, ~6 h time constant); the acid pump
//           pulls it down and the base pump up, about 0.1 pH per minute.
//   chlorine decays first order (half-life 8 h at 25 C, faster when warmer); the dosing pump
//           raises it by 0.2 ppm/min.
//   temperature follows a daily sine around 26 C (+-2 C, warmest at 15:00 UTC).
//   ORP     follows chlorine and pH (more chlorine, lower pH: higher ORP).
//   TDS     rises slowly with evaporation and every dose.
//   flow    ~45 L/min with the circulation pump on, 0 off (seconds to spin up or down).
//   battery drains 1 % per 10 h, faster with pumps running.
// Each probe has a small fixed bias, which calibrate_sensor and sensor_calibration correct.

import type { DeseHardware } from "./hardware.js";
import { PUMPS } from "./hardware.js";
import type { RawReadings, SensorName } from "./sensors.js";

export interface SimulationHost {
  now(): number;
  random(): number;
}

const HOUR = 3600;
const DAY = 24 * HOUR;

export class SimulatedWaterSystem implements DeseHardware {
  readonly pumps: readonly number[] = [PUMPS.circulation, PUMPS.acid, PUMPS.base, PUMPS.chlorine];
  readonly #host: SimulationHost;
  readonly #on = new Set<number>();
  /** Probe biases (raw - true), fixed per device. */
  readonly #bias: Record<"ph" | "chlorine" | "temperature" | "orp", number>;
  /** Readings forced by a test or a demo (fault injection): NaN = dead probe. */
  readonly #forced = new Map<SensorName, number>();
  #t: number;
  #ph: number;
  #chlorine: number;
  #tds: number;
  #flow = 0;
  #battery: number;

  constructor(host: SimulationHost) {
    this.#host = host;
    this.#t = host.now();
    const r = () => host.random();
    this.#ph = 7.2 + 0.4 * r();
    this.#chlorine = 1.5 + 1.5 * r();
    this.#tds = 900 + 400 * r();
    this.#battery = 70 + 30 * r();
    this.#bias = { ph: (r() - 0.5) * 0.2, chlorine: (r() - 0.5) * 0.1, temperature: (r() - 0.5) * 0.4, orp: Math.round((r() - 0.5) * 20) };
  }

  // ---- the true state (for tests and demos) ----

  get ph(): number { this.#advance(); return this.#ph; }
  get chlorine(): number { this.#advance(); return this.#chlorine; }
  get temperature(): number { return this.#temperature(this.#host.now()); }
  get batteryLevel(): number { this.#advance(); return this.#battery; }

  /** Makes a probe read `value` (NaN: no reading) until release(sensor). */
  force(sensor: SensorName, value: number): void {
    this.#forced.set(sensor, value);
  }

  release(sensor?: SensorName): void {
    if (sensor === undefined) this.#forced.clear();
    else this.#forced.delete(sensor);
  }

  // ---- DeseHardware ----

  readSensors(): RawReadings {
    this.#advance();
    const now = this.#host.now();
    const noise = (amplitude: number) => (this.#host.random() - 0.5) * 2 * amplitude;
    const temperature = this.#temperature(now);
    const raw: RawReadings = {
      ph: clamp(this.#ph + this.#bias.ph + noise(0.01), 0, 14),
      chlorine: clamp(this.#chlorine + this.#bias.chlorine + noise(0.02), 0, 20),
      temperature: temperature + this.#bias.temperature + noise(0.05),
      orp: Math.round(this.#orp() + this.#bias.orp + noise(3)),
      tds: Math.round(this.#tds + noise(2)),
      flow_rate: Math.max(0, this.#flow + (this.#flow > 0 ? noise(0.5) : 0)),
    };
    for (const [sensor, value] of this.#forced) raw[sensor] = value;
    return raw;
  }

  setPump(id: number, on: boolean): void {
    if (!this.pumps.includes(id)) throw new RangeError(`no pump ${id}`);
    this.#advance(); // the old pump state applies up to now
    if (on) this.#on.add(id);
    else this.#on.delete(id);
  }

  pumpOn(id: number): boolean {
    return this.#on.has(id);
  }

  battery(): number {
    this.#advance();
    return Math.round(this.#battery);
  }

  signalStrength(): number {
    return Math.round(-65 + (this.#host.random() - 0.5) * 10);
  }

  // ---- physics ----

  #temperature(now: number): number {
    const secondsOfDay = (now / 1000) % DAY;
    return 26 + 2 * Math.sin(2 * Math.PI * (secondsOfDay - 9 * HOUR) / DAY);
  }

  #orp(): number {
    const free = Math.max(this.#chlorine, 0.05);
    return clamp(650 + 120 * Math.log10(free / 1.5) - 50 * (this.#ph - 7.5), -2000, 2000);
  }

  #advance(): void {
    const now = this.#host.now();
    const dt = (now - this.#t) / 1000;
    if (dt <= 0) return;
    this.#t = now;
    const approach = (value: number, target: number, tau: number) => target + (value - target) * Math.exp(-dt / tau);
    // pH: natural drift, then dosing.
    this.#ph = approach(this.#ph, 7.8, 6 * HOUR);
    // Dosing pulls pH towards what the acid (pH 2) or base (pH 12) would give, about 0.1 pH/min near 7.4.
    if (this.#on.has(PUMPS.acid)) this.#ph = approach(this.#ph, 2, 3240);
    if (this.#on.has(PUMPS.base)) this.#ph = approach(this.#ph, 12, 2760);
    // Chlorine: decay (half-life 8 h at 25 C, doubling rate per +10 C), then dosing.
    const halfLife = 8 * HOUR / Math.pow(2, (this.#temperature(now) - 25) / 10);
    this.#chlorine *= Math.pow(0.5, dt / halfLife);
    if (this.#on.has(PUMPS.chlorine)) this.#chlorine = Math.min(20, this.#chlorine + 0.2 * dt / 60);
    // TDS: evaporation, plus what the dosing adds.
    const dosing = [PUMPS.acid, PUMPS.base, PUMPS.chlorine].filter((p) => this.#on.has(p)).length;
    this.#tds = Math.min(100000, this.#tds + dt * (1 / HOUR + dosing * 0.05));
    // Flow: spins up or down with a few seconds' time constant.
    this.#flow = approach(this.#flow, this.#on.has(PUMPS.circulation) ? 45 : 0, 3);
    if (this.#flow < 0.05) this.#flow = 0;
    // Battery: 1 %/10 h idle, +1 %/10 h per running pump.
    this.#battery = Math.max(0, this.#battery - dt * (1 + this.#on.size) / (10 * HOUR));
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
