// Alarm conditions from a reading, with hysteresis so a value hovering at a threshold does not
// flap: an alarm is raised at `raiseAt` and held until the value is back past `clearAt`.
// Thermal alarms follow the specification's example: per module, warning (3001,
// severity 2) then critical (3002, severity 4, followed by a thermal shutdown). State of
// charge alarms are ours and concern the whole system (module_id 0).

import type { Alarms } from "../../device/alarms.js";
import { AlarmCode } from "./codes.js";
import type { BessReading } from "./hardware.js";

export type Severity = 1 | 2 | 3 | 4;

export interface AlarmDetail {
  code: number;
  message: string;
  moduleId: number;
}

export interface Band {
  severity: Severity;
  code: number;
  message: string;
  raiseAt: number;
  clearAt: number;
}

export interface Thresholds {
  /** Most severe first; values above raiseAt alarm. */
  temperature: Band[];
  /** Most severe first; values below raiseAt alarm. */
  socLow: Band[];
  /** Values above raiseAt alarm. */
  socFull: Band[];
}

export const THRESHOLDS: Thresholds = {
  temperature: [
    { severity: 4, code: AlarmCode.temperatureCritical, message: "Module temperature above critical threshold", raiseAt: 55, clearAt: 52 },
    { severity: 2, code: AlarmCode.temperatureWarning, message: "Module temperature above warning threshold", raiseAt: 45, clearAt: 42 },
  ],
  socLow: [
    { severity: 3, code: AlarmCode.socCritical, message: "State of charge critically low", raiseAt: 5, clearAt: 8 },
    { severity: 2, code: AlarmCode.socLow, message: "State of charge low", raiseAt: 15, clearAt: 18 },
  ],
  socFull: [
    { severity: 1, code: AlarmCode.socFull, message: "Battery fully charged", raiseAt: 99.5, clearAt: 97 },
  ],
};

/**
 * The band a value falls in, given the alarm's current severity: a band already reached is
 * held until `clearAt`, a higher one needs `raiseAt`. Undefined: no alarm.
 */
export function bandFor(value: number, current: number | undefined, bands: Band[], above: boolean): Band | undefined {
  const beyond = (limit: number) => (above ? value >= limit : value <= limit);
  for (const band of bands) {
    const held = current !== undefined && current >= band.severity;
    if (beyond(held ? band.clearAt : band.raiseAt)) return band;
  }
  return undefined;
}

/** Raises, changes or clears every condition for this reading; returns modules that just became critical. */
export function evaluate(reading: BessReading, alarms: Alarms<AlarmDetail>, thresholds: Thresholds = THRESHOLDS): number[] {
  const newlyCritical: number[] = [];
  reading.moduleTemps.forEach((t, i) => {
    const moduleId = i + 1;
    const key = `temperature:${moduleId}`;
    const before = alarms.get(key)?.severity;
    const band = apply(alarms, key, bandFor(t, before, thresholds.temperature, true), moduleId, `${t.toFixed(1)} C`);
    if (band?.severity === 4 && before !== 4) newlyCritical.push(moduleId);
  });
  const soc = reading.soc;
  apply(alarms, "soc:low", bandFor(soc, alarms.get("soc:low")?.severity, thresholds.socLow, false), 0, `${soc.toFixed(1)} %`);
  apply(alarms, "soc:full", bandFor(soc, alarms.get("soc:full")?.severity, thresholds.socFull, true), 0, `${soc.toFixed(1)} %`);
  return newlyCritical;
}

function apply(alarms: Alarms<AlarmDetail>, key: string, band: Band | undefined, moduleId: number, shown: string): Band | undefined {
  if (!band) {
    const active = alarms.get(key);
    if (active) alarms.clear(key, { ...active.detail, message: `${active.detail.message.replace(/ \(.*\)$/, "")} cleared (${shown})` });
    return undefined;
  }
  alarms.raise(key, band.severity, { code: band.code, message: `${band.message} (${shown})`, moduleId });
  return band;
}
