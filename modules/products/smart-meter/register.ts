// Consumption from the meter's energy register: the increase of the PZEM's 32-bit Wh count
// between two readings, checked against what the installation can physically draw. Pure: the
// caller passes the readings and the time.

import { PZEM_LIMITS } from "../../drivers/pzem004t.js";
import type { MeterReading } from "./hardware.js";

/** The register counts modulo 2^32 Wh. */
export const REGISTER_WRAP = 0x1_0000_0000;

/** Why a reading cannot be used, or undefined when it can. */
export function readingFault(r: MeterReading | undefined): string | undefined {
  if (!r || typeof r !== "object") return "no reading";
  if (!Number.isFinite(r.voltage) || r.voltage < 0 || r.voltage > PZEM_LIMITS.voltage) return `voltage out of range: ${r.voltage}`;
  if (!Number.isFinite(r.current) || r.current < 0 || r.current > PZEM_LIMITS.current) return `current out of range: ${r.current}`;
  if (!Number.isSafeInteger(r.energy) || r.energy < 0 || r.energy >= REGISTER_WRAP) return `energy register out of range: ${r.energy}`;
  return undefined;
}

export type RegisterStep =
  /** Wh to bill (0 for the very first reading: a baseline). */
  | { wh: number }
  /** The increase cannot be real: nothing is billed and the reading is the new baseline. */
  | { fault: string };

/**
 * The Wh used between the last billed register value (`lastWh` at `lastAt`) and `wh` now.
 * An increase across the 2^32 wrap counts like any other. An increase beyond what the meter's
 * full power could deliver in the elapsed time (at least `minStepMs`, so a clock that stepped
 * back does not make every increase implausible) is a fault: a register that went back (a
 * meter reset or replaced, a roll-over at another point) or jumped forward. Never negative.
 */
export function registerStep(lastWh: number | undefined, lastAt: number | undefined, wh: number, now: number, minStepMs: number): RegisterStep {
  if (lastWh === undefined) return { wh: 0 };
  const increase = (wh - lastWh + REGISTER_WRAP) % REGISTER_WRAP;
  const elapsed = Math.max(lastAt === undefined ? 0 : now - lastAt, minStepMs);
  // One Wh more for the register's resolution.
  const possible = Math.ceil((PZEM_LIMITS.power * elapsed) / 3_600_000) + 1;
  if (increase <= possible) return { wh: increase };
  if (wh < lastWh) return { fault: `Meter register went back from ${lastWh} to ${wh} Wh (reset or replaced): new baseline` };
  return { fault: `Meter register jumped by ${increase} Wh in ${Math.round(elapsed / 1000)} s: not billed, new baseline` };
}
