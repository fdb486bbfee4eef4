// A physically plausible battery system for the simulator and the tests, driven by the
// device's clock and random source (no timers of its own): every read() integrates from the
// last read to now().
//
// - State of charge integrates the converter's power against the capacity (charging at 95 %
//   efficiency); discharging stops at soc_min, charging tapers above 95 % and stops at 100 %.
// - Pack voltage is open-circuit voltage (linear in SOC, 16 LFP cells: 44.8-54.4 V) minus
//   I x R; current solves P = V x I, so voltage, current and power always agree.
// - Each module's temperature lags (first order, time constant tauMs) toward
//   ambient + k x |power|, hotter modules a little more; ambient wanders slowly.
// - State of health fades a little with energy throughput.

import type { BessHardware, BessReading, Mode, ModeLimits } from "./hardware.js";

export interface SimulationOptions {
  capacityKwh: number;
  maxPowerKw: number;
  initialSoc: number;
  initialSoh: number;
  modules: number;
  /** Mean ambient temperature, degrees C. */
  ambientC: number;
  /** Temperature rise at steady state per kW of |power|, degrees C. */
  kPerKw: number;
  /** Thermal time constant, ms. */
  tauMs: number;
  /** Internal resistance of the pack, ohm. */
  resistanceOhm: number;
}

export const SIMULATION_DEFAULTS: SimulationOptions = {
  capacityKwh: 50,
  maxPowerKw: 30,
  initialSoc: 75.8,
  initialSoh: 98.2,
  modules: 4,
  ambientC: 25,
  kPerKw: 0.7,
  tauMs: 600_000,
  resistanceOhm: 0.005,
};

const CELLS = 16;
const CELL_EMPTY_V = 2.8;
const CELL_FULL_V = 3.4;
const CHARGE_EFFICIENCY = 0.95;
/** Longest integration step, ms: keeps the SOC limits sharp. */
const MAX_STEP_MS = 1000;
/** Most steps per read, so a long gap (a paused simulator) costs bounded time. */
const MAX_STEPS = 3600;

export class SimulatedBess implements BessHardware {
  readonly options: SimulationOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  #mode: Mode = "idle";
  #limits: ModeLimits = { powerLimitKw: 0, socMin: 0 };
  #at: number;
  #soc: number;
  #soh: number;
  #ambient: number;
  #temps: number[];
  #powerKw = 0;
  #current = 0;
  #voltage: number;

  constructor(source: { now(): number; random(): number }, options: Partial<SimulationOptions> = {}) {
    this.options = { ...SIMULATION_DEFAULTS, ...options };
    this.#now = () => source.now();
    this.#random = () => source.random();
    this.#at = source.now();
    this.#soc = clamp(this.options.initialSoc, 0, 100);
    this.#soh = this.options.initialSoh;
    this.#ambient = this.options.ambientC;
    this.#temps = Array.from({ length: this.options.modules }, (_, i) => this.options.ambientC + i * 0.5);
    this.#voltage = this.#ocv();
  }

  get mode(): Mode {
    return this.#mode;
  }

  setMode(mode: Mode, limits: ModeLimits): void {
    this.#advance(); // the old mode applies up to now
    this.#mode = mode;
    this.#limits = { ...limits };
    this.#settleElectrical();
  }

  read(): BessReading {
    this.#advance();
    return {
      voltage: this.#voltage,
      current: this.#current,
      powerKw: (this.#voltage * this.#current) / 1000,
      soc: this.#soc,
      soh: this.#soh,
      moduleTemps: this.#temps.slice(),
    };
  }

  /** The power the converter runs at now, kW (positive = discharging). */
  #targetPowerKw(): number {
    const limit = Math.min(this.#limits.powerLimitKw, this.options.maxPowerKw);
    switch (this.#mode) {
      case "discharge":
        return this.#soc > this.#limits.socMin ? limit : 0;
      case "charge":
        // Constant power to 95 %, then tapering to nothing at 100 %.
        return this.#soc >= 100 ? 0 : -limit * Math.min(1, (100 - this.#soc) / 5);
      default:
        return 0;
    }
  }

  #ocv(): number {
    return CELLS * (CELL_EMPTY_V + ((CELL_FULL_V - CELL_EMPTY_V) * this.#soc) / 100);
  }

  /** Current and voltage for the target power: R I^2 - OCV I + P = 0. */
  #settleElectrical(): void {
    const ocv = this.#ocv();
    const r = this.options.resistanceOhm;
    const watts = this.#targetPowerKw() * 1000;
    const disc = Math.max(0, ocv * ocv - 4 * r * watts);
    this.#current = (ocv - Math.sqrt(disc)) / (2 * r);
    this.#voltage = ocv - this.#current * r;
    this.#powerKw = (this.#voltage * this.#current) / 1000;
  }

  #advance(): void {
    const now = this.#now();
    const elapsed = now - this.#at;
    this.#at = now;
    if (!(elapsed > 0)) return; // the clock stood still or went back: nothing to integrate
    const steps = Math.min(MAX_STEPS, Math.ceil(elapsed / MAX_STEP_MS));
    const dt = elapsed / steps;
    for (let i = 0; i < steps; i++) this.#step(dt);
  }

  #step(dtMs: number): void {
    this.#settleElectrical();
    const hours = dtMs / 3_600_000;
    const energyKwh = this.#powerKw * hours; // positive leaves the battery
    const stored = energyKwh > 0 ? energyKwh : energyKwh * CHARGE_EFFICIENCY;
    const capacity = this.options.capacityKwh * (this.#soh / 100);
    const floor = this.#mode === "discharge" ? Math.min(this.#soc, this.#limits.socMin) : 0;
    this.#soc = clamp(this.#soc - (stored / capacity) * 100, floor, 100);
    // 0.002 % of health per full equivalent cycle of throughput.
    this.#soh = Math.max(0, this.#soh - (Math.abs(energyKwh) / this.options.capacityKwh) * 0.001);

    const wander = (this.#random() - 0.5) * 0.02;
    this.#ambient = clamp(this.#ambient + wander, this.options.ambientC - 2, this.options.ambientC + 2);
    const alpha = 1 - Math.exp(-dtMs / this.options.tauMs);
    const heat = this.options.kPerKw * Math.abs(this.#powerKw);
    for (let m = 0; m < this.#temps.length; m++) {
      const target = this.#ambient + m * 0.5 + heat * (1 + 0.05 * m);
      this.#temps[m] += (target - this.#temps[m]) * alpha;
    }
    this.#settleElectrical();
  }
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
