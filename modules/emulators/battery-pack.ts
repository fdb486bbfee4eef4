// A physically plausible battery pack for the emulated BMS, driven by a clock and a random
// source (no timers of its own): every state() integrates from the last call to now(). The
// power comes from its load (the emulated power converter), asked at each step.
//
// - State of charge integrates the load's power against the capacity (charging at 95 %
//   efficiency), never below the load's floor nor above 100 %.
// - Pack voltage is open-circuit voltage (linear in SoC, 16 LFP cells: 44.8-54.4 V) minus
//   I x R; current solves P = V x I, so voltage, current and power always agree.
// - Each module's temperature lags (first order, time constant tauMs) toward
//   ambient + k x |power|, hotter modules a little more; ambient wanders slowly.
// - State of health fades a little with energy throughput.

export interface PackOptions {
  capacityKwh: number;
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
  /** Difference between the highest and the lowest cell, V. */
  cellSpreadV: number;
}

export const PACK_DEFAULTS: PackOptions = {
  capacityKwh: 50,
  initialSoc: 75.8,
  initialSoh: 98.2,
  modules: 4,
  ambientC: 25,
  kPerKw: 0.7,
  tauMs: 600_000,
  resistanceOhm: 0.005,
  cellSpreadV: 0.008,
};

/** What draws from (or feeds) the pack. */
export interface PackLoad {
  /** Power at this state of charge, kW: positive discharging, negative charging. */
  powerKw(soc: number): number;
  /** The state of charge discharging stops at (a step never integrates past it). */
  socFloor(soc: number): number;
}

export interface PackState {
  voltage: number;
  /** A, positive while discharging. */
  current: number;
  powerKw: number;
  soc: number;
  soh: number;
  moduleTemps: number[];
  cellMaxV: number;
  cellMinV: number;
}

export const CELLS = 16;
const CELL_EMPTY_V = 2.8;
const CELL_FULL_V = 3.4;
const CHARGE_EFFICIENCY = 0.95;
/** Longest integration step, ms: keeps the SoC limits sharp. */
const MAX_STEP_MS = 1000;
/** Most steps per call, so a long gap (a paused simulator) costs bounded time. */
const MAX_STEPS = 3600;

const IDLE: PackLoad = { powerKw: () => 0, socFloor: () => 0 };

export class BatteryPack {
  readonly options: PackOptions;
  /** Set by the converter model that drives the pack. */
  load: PackLoad = IDLE;
  readonly #now: () => number;
  readonly #random: () => number;
  #at: number;
  #soc: number;
  #soh: number;
  #ambient: number;
  #temps: number[];

  /** A module heated at once (a failed fan, a bad cell), cooling back by the same physics. */
  overheat(module: number, celsius: number): void {
    if (module >= 0 && module < this.#temps.length) this.#temps[module] = celsius;
  }
  #powerKw = 0;
  #current = 0;
  #voltage: number;

  constructor(source: { now(): number; random(): number }, options: Partial<PackOptions> = {}) {
    this.options = { ...PACK_DEFAULTS, ...options };
    this.#now = () => source.now();
    this.#random = () => source.random();
    this.#at = source.now();
    this.#soc = clamp(this.options.initialSoc, 0, 100);
    this.#soh = this.options.initialSoh;
    this.#ambient = this.options.ambientC;
    this.#temps = Array.from({ length: this.options.modules }, (_, i) => this.options.ambientC + i * 0.5);
    this.#voltage = this.#ocv();
  }

  /** The state now, integrated up to now(). */
  state(): PackState {
    this.advance();
    const cell = this.#voltage / CELLS;
    const spread = this.options.cellSpreadV;
    return {
      voltage: this.#voltage,
      current: this.#current,
      powerKw: (this.#voltage * this.#current) / 1000,
      soc: this.#soc,
      soh: this.#soh,
      moduleTemps: this.#temps.slice(),
      cellMaxV: cell + spread / 2,
      cellMinV: cell - spread / 2,
    };
  }

  /** Integrates up to now() with the load as it is; call before the load changes. */
  advance(): void {
    const now = this.#now();
    const elapsed = now - this.#at;
    this.#at = now;
    if (elapsed > 0) {
      const steps = Math.min(MAX_STEPS, Math.ceil(elapsed / MAX_STEP_MS));
      const dt = elapsed / steps;
      for (let i = 0; i < steps; i++) this.#step(dt);
    }
    this.#settleElectrical(); // the load may have changed since the last step
  }

  #ocv(): number {
    return CELLS * (CELL_EMPTY_V + ((CELL_FULL_V - CELL_EMPTY_V) * this.#soc) / 100);
  }

  /** Current and voltage for the load's power: R I^2 - OCV I + P = 0. */
  #settleElectrical(): void {
    const ocv = this.#ocv();
    const r = this.options.resistanceOhm;
    const watts = this.load.powerKw(this.#soc) * 1000;
    const disc = Math.max(0, ocv * ocv - 4 * r * watts);
    this.#current = (ocv - Math.sqrt(disc)) / (2 * r);
    this.#voltage = ocv - this.#current * r;
    this.#powerKw = (this.#voltage * this.#current) / 1000;
  }

  #step(dtMs: number): void {
    this.#settleElectrical();
    const hours = dtMs / 3_600_000;
    const energyKwh = this.#powerKw * hours; // positive leaves the battery
    const stored = energyKwh > 0 ? energyKwh : energyKwh * CHARGE_EFFICIENCY;
    const capacity = this.options.capacityKwh * (this.#soh / 100);
    this.#soc = clamp(this.#soc - (stored / capacity) * 100, this.load.socFloor(this.#soc), 100);
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
