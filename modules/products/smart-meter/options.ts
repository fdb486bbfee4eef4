// The meter's options from the host's configuration text, parsed once at creation: a bad
// value or an unknown key is a deployment mistake, refused with a RangeError naming it.

import { readOptions } from "../../device/options.js";
import type { OptionsSpec } from "../../device/options.js";

export const OPTIONS = {
  tariff: { type: "number", default: 1, min: 0.000001, max: 1_000_000, doc: "balance units deducted per kWh (1: the balance is in kWh)" },
  lowBalance: { type: "number", default: 1, min: 0, max: 1_000_000_000, doc: "at or below this balance the status is low_balance" },
  reportIntervalS: { type: "number", default: 30, min: 0.1, max: 86_400, doc: "consumption report period, s" },
  sampleIntervalS: { type: "number", default: 5, min: 0.1, max: 3_600, doc: "meter reading step (read, bill, persist), s; at most reportIntervalS" },
  statusIntervalS: { type: "number", default: 300, min: 0, max: 86_400, doc: "periodic status, s; 0 turns it off" },
  maxBacklog: { type: "number", default: 40, min: 1, max: 1_000, integer: true, doc: "most closed reports kept until acknowledged" },
  meterFaultLimit: { type: "number", default: 3, min: 1, max: 100, integer: true, doc: "failed meter readings in a row before the status says error" },
} satisfies OptionsSpec;

export interface MeterOptions {
  /** Balance units deducted per kWh (1: the balance is in kWh, as the schemas describe it). */
  tariff: number;
  /** At or below this balance the status is low_balance. */
  lowBalance: number;
  /** Consumption report period. */
  reportIntervalMs: number;
  /** How often the meter is read, its register increase billed, and the ledger persisted. */
  sampleIntervalMs: number;
  /** Periodic status; 0 turns it off. */
  statusIntervalMs: number;
  /** Most closed reports kept until acknowledged (persisted journal); see README "Backlog". */
  maxBacklog: number;
  /** Failed meter readings in a row (no answer, bad CRC, nonsense) before the status says error. */
  meterFaultLimit: number;
}

export function readMeterOptions(text: Readonly<Record<string, string>>): MeterOptions {
  const o = readOptions(OPTIONS, text);
  const parsed: MeterOptions = {
    tariff: o.tariff,
    lowBalance: o.lowBalance,
    reportIntervalMs: Math.round(o.reportIntervalS * 1000),
    sampleIntervalMs: Math.round(o.sampleIntervalS * 1000),
    // The scheduler's floor is 100 ms.
    statusIntervalMs: o.statusIntervalS === 0 ? 0 : Math.round(Math.max(o.statusIntervalS, 0.1) * 1000),
    maxBacklog: o.maxBacklog,
    meterFaultLimit: o.meterFaultLimit,
  };
  if (parsed.sampleIntervalMs > parsed.reportIntervalMs) {
    throw new RangeError(`sampleIntervalS (${o.sampleIntervalS}) must not exceed reportIntervalS (${o.reportIntervalS})`);
  }
  return parsed;
}
