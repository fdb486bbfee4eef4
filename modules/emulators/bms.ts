// A battery management system on an emulated Modbus line: the register map of
// modules/drivers/bms.ts filled from a BatteryPack's state at each read. Like a real BMS it
// raises its own flags (SunSpec 802 Evt1 bits) from its own limits, which sit above the
// controller's thresholds. Tests and the simulator can force flags (`forced`) and replace
// any register's value (`overrides`, e.g. a SoC of 120 %) to model a faulty BMS.

import { BMS_ALARM, BMS_MAX_MODULES, BMS_REGISTERS, NOT_FITTED } from "../drivers/bms.js";
import type { BatteryPack } from "./battery-pack.js";
import type { ModbusSlave } from "./modbus.js";

export interface BmsLimits {
  /** Hottest module at or above this: OVER_TEMP_WARNING, °C. */
  overTempWarningC: number;
  /** OVER_TEMP_ALARM, °C. */
  overTempAlarmC: number;
  /** Highest minus lowest cell at or above this: VOLTAGE_IMBALANCE_WARNING, V. */
  imbalanceWarningV: number;
}

export const BMS_LIMITS: BmsLimits = { overTempWarningC: 50, overTempAlarmC: 60, imbalanceWarningV: 0.1 };

const ILLEGAL_ADDRESS = { exception: 2 };

export class EmulatedBms implements ModbusSlave {
  readonly pack: BatteryPack;
  readonly limits: BmsLimits;
  /** Flags raised whatever the pack's state (bit i = BMS_ALARM value i). */
  forced = 0;
  /** Register values answered instead of the pack's, by register address (undefined: the pack's). */
  readonly overrides: (number | undefined)[] = new Array<number | undefined>(BMS_REGISTERS.count).fill(undefined);

  constructor(pack: BatteryPack, limits: Partial<BmsLimits> = {}) {
    if (pack.options.modules < 1 || pack.options.modules > BMS_MAX_MODULES) throw new RangeError(`a BMS carries 1 to ${BMS_MAX_MODULES} modules`);
    this.pack = pack;
    this.limits = { ...BMS_LIMITS, ...limits };
  }

  /** The flags the BMS raises now. */
  alarms(): number {
    const s = this.pack.state();
    const hottest = Math.max(...s.moduleTemps);
    let bits = this.forced;
    if (hottest >= this.limits.overTempAlarmC) bits |= 1 << BMS_ALARM.OVER_TEMP_ALARM;
    else if (hottest >= this.limits.overTempWarningC) bits |= 1 << BMS_ALARM.OVER_TEMP_WARNING;
    if (s.cellMaxV - s.cellMinV >= this.limits.imbalanceWarningV) bits |= 1 << BMS_ALARM.VOLTAGE_IMBALANCE_WARNING;
    return bits >>> 0;
  }

  /** The whole register block. */
  registers(): number[] {
    const s = this.pack.state();
    const R = BMS_REGISTERS;
    const r = new Array<number>(R.count).fill(0);
    const alarms = this.alarms();
    r[R.voltage] = u16(s.voltage * 100);
    r[R.current] = u16(s.current * 10);
    r[R.soc] = u16(s.soc * 100);
    r[R.soh] = u16(s.soh * 100);
    r[R.cellMax] = u16(s.cellMaxV * 1000);
    r[R.cellMin] = u16(s.cellMinV * 1000);
    r[R.modules] = s.moduleTemps.length;
    r[R.alarmsHigh] = alarms >>> 16;
    r[R.alarmsLow] = alarms & 0xffff;
    for (let m = 0; m < BMS_MAX_MODULES; m++) r[R.temperatures + m] = m < s.moduleTemps.length ? u16(s.moduleTemps[m] * 10) : NOT_FITTED;
    for (let i = 0; i < r.length; i++) {
      const value = this.overrides[i];
      if (value !== undefined) r[i] = value & 0xffff;
    }
    return r;
  }

  readInput(start: number, count: number): number[] | { exception: number } {
    if (start + count > BMS_REGISTERS.count) return ILLEGAL_ADDRESS;
    return this.registers().slice(start, start + count);
  }
}

/** A value as a 16-bit register (two's complement for negatives). */
function u16(x: number): number {
  return Math.round(x) & 0xffff;
}
