// Alarm conditions from a reading, with hysteresis so a value hovering at a threshold does not
// flap: an alarm is raised at `raiseAt` and held until the value is back past `clearAt`.
// Thermal alarms follow the specification's example: per module, warning (3001,
// severity 2) then critical (3002, severity 4, followed by a thermal shutdown). State of
// charge and cell imbalance alarms are ours and concern the whole system (module_id 0).
// The BMS's own flags feed the same conditions: its over-temperature flags raise the hottest
// module's thermal alarm at least to warning or critical, its imbalance flag the cell
// imbalance alarm, and its other flags alarms of their own (BMS_CONDITIONS). Its SoC flags
// are left to the controller's SoC thresholds, which read the same BMS.

import type { Alarms } from "../../device/alarms.js";
import { alarmNames, BMS_ALARM } from "../../drivers/bms.js";
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
  /** Highest minus lowest cell voltage, V; values above raiseAt alarm. */
  cellImbalance: Band[];
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
  cellImbalance: [
    { severity: 2, code: AlarmCode.cellImbalance, message: "Cell voltage deviation", raiseAt: 0.1, clearAt: 0.05 },
  ],
};

/** A BMS condition: severity 3 while one of its alarm flags is set, 2 while only a warning flag is. */
export interface BmsCondition {
  key: string;
  code: number;
  message: string;
  alarm: readonly number[];
  warning: readonly number[];
}

const B = BMS_ALARM;
export const BMS_CONDITIONS: readonly BmsCondition[] = [
  { key: "bms:under_temperature", code: AlarmCode.underTemperature, message: "BMS: module temperature below its limit", alarm: [B.UNDER_TEMP_ALARM], warning: [B.UNDER_TEMP_WARNING] },
  { key: "bms:temperature_imbalance", code: AlarmCode.temperatureImbalance, message: "BMS: module temperatures diverge", alarm: [B.TEMPERATURE_IMBALANCE_ALARM], warning: [B.TEMPERATURE_IMBALANCE_WARNING] },
  { key: "bms:charge_current", code: AlarmCode.overChargeCurrent, message: "BMS: charge current above its limit", alarm: [B.OVER_CHARGE_CURRENT_ALARM], warning: [B.OVER_CHARGE_CURRENT_WARNING] },
  { key: "bms:discharge_current", code: AlarmCode.overDischargeCurrent, message: "BMS: discharge current above its limit", alarm: [B.OVER_DISCHARGE_CURRENT_ALARM], warning: [B.OVER_DISCHARGE_CURRENT_WARNING] },
  { key: "bms:over_voltage", code: AlarmCode.overVoltage, message: "BMS: voltage above its limit", alarm: [B.OVER_VOLT_ALARM], warning: [B.OVER_VOLT_WARNING] },
  { key: "bms:under_voltage", code: AlarmCode.underVoltage, message: "BMS: voltage below its limit", alarm: [B.UNDER_VOLT_ALARM], warning: [B.UNDER_VOLT_WARNING] },
  {
    key: "bms:fault", code: AlarmCode.bmsFault, message: "BMS fault",
    alarm: [B.COMMUNICATION_ERROR, B.CONTACTOR_ERROR, B.FAN_ERROR, B.GROUND_FAULT, B.OPEN_DOOR_ERROR, B.OTHER_ALARM],
    warning: [B.CURRENT_IMBALANCE_WARNING, B.OTHER_WARNING],
  },
];

const flag = (bits: number, bit: number): boolean => ((bits >>> bit) & 1) === 1;

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

/** The more severe of two bands (the first on a tie). */
function stronger(a: Band | undefined, b: Band | undefined): Band | undefined {
  return !b || (a && a.severity >= b.severity) ? a : b;
}

/** Raises, changes or clears every condition for this reading; returns modules that just became critical. */
export function evaluate(reading: BessReading, alarms: Alarms<AlarmDetail>, thresholds: Thresholds = THRESHOLDS): number[] {
  const newlyCritical: number[] = [];
  const bits = reading.bmsAlarms;
  const temps = reading.moduleTemps;
  const hottest = temps.indexOf(Math.max(...temps));
  // The BMS's over-temperature flags, as the bands they stand for, on the hottest module.
  const [critical, warning] = thresholds.temperature;
  const bmsThermal = flag(bits, BMS_ALARM.OVER_TEMP_ALARM) ? critical : flag(bits, BMS_ALARM.OVER_TEMP_WARNING) ? warning : undefined;
  temps.forEach((t, i) => {
    const moduleId = i + 1;
    const key = `temperature:${moduleId}`;
    const before = alarms.get(key)?.severity;
    const own = bandFor(t, before, thresholds.temperature, true);
    const fromBms = i === hottest ? bmsThermal : undefined;
    const band = stronger(own, fromBms);
    const shown = band && band !== own ? `BMS flag, ${t.toFixed(1)} C` : `${t.toFixed(1)} C`;
    apply(alarms, key, band, moduleId, shown);
    if (band?.severity === 4 && before !== 4) newlyCritical.push(moduleId);
  });
  const soc = reading.soc;
  apply(alarms, "soc:low", bandFor(soc, alarms.get("soc:low")?.severity, thresholds.socLow, false), 0, `${soc.toFixed(1)} %`);
  apply(alarms, "soc:full", bandFor(soc, alarms.get("soc:full")?.severity, thresholds.socFull, true), 0, `${soc.toFixed(1)} %`);
  const spread = reading.cellMaxV - reading.cellMinV;
  const imbalance = bandFor(spread, alarms.get("cell:imbalance")?.severity, thresholds.cellImbalance, true);
  const bmsImbalance = flag(bits, BMS_ALARM.VOLTAGE_IMBALANCE_WARNING) ? thresholds.cellImbalance[0] : undefined;
  const cells = `cells ${reading.cellMinV.toFixed(3)}-${reading.cellMaxV.toFixed(3)} V`;
  apply(alarms, "cell:imbalance", stronger(imbalance, bmsImbalance), 0, imbalance ? cells : bmsImbalance ? `BMS flag, ${cells}` : cells);
  for (const c of BMS_CONDITIONS) {
    const set = [...c.alarm, ...c.warning].filter((b) => flag(bits, b));
    const severity: Severity | undefined = c.alarm.some((b) => flag(bits, b)) ? 3 : set.length ? 2 : undefined;
    const band = severity && { severity, code: c.code, message: c.message, raiseAt: 0, clearAt: 0 };
    apply(alarms, c.key, band, 0, set.length ? alarmNames(set.reduce((a, b) => a | (1 << b), 0)).join(", ") : "flags clear");
  }
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
