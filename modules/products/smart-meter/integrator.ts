// Energy from sampled power: the trapezoid rule between consecutive samples, in micro-kWh
// (1 µkWh = 3.6 J), so the ledger can count whole units exactly. Pure: the caller passes
// the time and the reading.

import type { Reading } from "./hardware.js";

/** Largest plausible reading; beyond it (or negative, or not finite) the sensor is at fault. */
export const MAX_VOLTAGE = 300;
export const MAX_CURRENT = 100;

/** W·ms per µkWh: 1 µkWh = 1e-6 kWh = 3.6 J = 3600 W·ms. */
const WATT_MS_PER_MICRO_KWH = 3600;

/** Why a reading cannot be used, or undefined when it can. */
export function readingFault(r: Reading | undefined): string | undefined {
  if (!r || typeof r !== "object") return "no reading";
  if (!Number.isFinite(r.voltage) || r.voltage < 0 || r.voltage > MAX_VOLTAGE) return `voltage out of range: ${r.voltage}`;
  if (!Number.isFinite(r.current) || r.current < 0 || r.current > MAX_CURRENT) return `current out of range: ${r.current}`;
  return undefined;
}

export class EnergyIntegrator {
  /** A gap longer than this is not billed (clock jump, stalled loop): a new baseline starts. */
  readonly maxGapMs: number;
  #lastAt: number | undefined;
  #lastWatts = 0;

  constructor(maxGapMs: number) {
    this.maxGapMs = maxGapMs;
  }

  /** Forgets the last sample: the next one only sets a baseline. */
  reset(): void {
    this.#lastAt = undefined;
  }

  /** Power in watts of the last sample (0 before the first). */
  get watts(): number {
    return this.#lastWatts;
  }

  /** Adds a sample taken at `now` with `watts`; returns the µkWh since the previous one. */
  sample(now: number, watts: number): number {
    const last = this.#lastAt;
    const lastWatts = this.#lastWatts;
    this.#lastAt = now;
    this.#lastWatts = watts;
    if (last === undefined) return 0;
    const dt = now - last;
    if (dt <= 0 || dt > this.maxGapMs) return 0; // clock went back or jumped: baseline only
    return ((lastWatts + watts) / 2) * dt / WATT_MS_PER_MICRO_KWH;
  }
}
