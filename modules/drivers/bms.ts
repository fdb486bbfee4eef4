// A battery management system read over Modbus-RTU (RS-485), ECMA-419 Sensor Class Pattern:
// `new ModbusBms({ modbus, address })`, `sample()` resolving to the pack's readings,
// `configure({ address })`, `close()`. The BMS shares its RS-485 line with other slaves (the
// power converter), so the driver takes the line's ModbusMaster rather than a port.
//
// Register map (input registers, function 0x04, one read of 17 from 0x0000; big-endian words):
//   0x0000 pack voltage         uint16  0.01 V
//   0x0001 pack current         int16   0.1 A, positive while discharging
//   0x0002 state of charge      uint16  0.01 %
//   0x0003 state of health      uint16  0.01 %
//   0x0004 highest cell voltage uint16  1 mV
//   0x0005 lowest cell voltage  uint16  1 mV
//   0x0006 modules fitted       uint16  1 to 8
//   0x0007 alarm bits 31-16     uint16  } one 32-bit field, high word first, with the bit
//   0x0008 alarm bits 15-0      uint16  } assignments of SunSpec model 802's Evt1 (BMS_ALARM)
//   0x0009 module 1 temperature int16   0.1 °C ... 0x0010 module 8; 0x8000 = not fitted
// Values outside what a pack can report are refused (BmsError "range"), never passed on.

import { ModbusMaster } from "./modbus.js";

/** SunSpec model 802 Evt1 bit numbers: a BMS's own alarm and warning flags. */
export const BMS_ALARM = {
  COMMUNICATION_ERROR: 0,
  OVER_TEMP_ALARM: 1,
  OVER_TEMP_WARNING: 2,
  UNDER_TEMP_ALARM: 3,
  UNDER_TEMP_WARNING: 4,
  OVER_CHARGE_CURRENT_ALARM: 5,
  OVER_CHARGE_CURRENT_WARNING: 6,
  OVER_DISCHARGE_CURRENT_ALARM: 7,
  OVER_DISCHARGE_CURRENT_WARNING: 8,
  OVER_VOLT_ALARM: 9,
  OVER_VOLT_WARNING: 10,
  UNDER_VOLT_ALARM: 11,
  UNDER_VOLT_WARNING: 12,
  UNDER_SOC_MIN_ALARM: 13,
  UNDER_SOC_MIN_WARNING: 14,
  OVER_SOC_MAX_ALARM: 15,
  OVER_SOC_MAX_WARNING: 16,
  VOLTAGE_IMBALANCE_WARNING: 17,
  TEMPERATURE_IMBALANCE_ALARM: 18,
  TEMPERATURE_IMBALANCE_WARNING: 19,
  CONTACTOR_ERROR: 20,
  FAN_ERROR: 21,
  GROUND_FAULT: 22,
  OPEN_DOOR_ERROR: 23,
  CURRENT_IMBALANCE_WARNING: 24,
  OTHER_ALARM: 25,
  OTHER_WARNING: 26,
} as const;
export type BmsAlarmName = keyof typeof BMS_ALARM;

export const BMS_REGISTERS = {
  voltage: 0x0000,
  current: 0x0001,
  soc: 0x0002,
  soh: 0x0003,
  cellMax: 0x0004,
  cellMin: 0x0005,
  modules: 0x0006,
  alarmsHigh: 0x0007,
  alarmsLow: 0x0008,
  temperatures: 0x0009,
  /** Registers read at once: 0x0000 to 0x0010. */
  count: 17,
} as const;

/** Most modules the map carries. */
export const BMS_MAX_MODULES = 8;
/** The int16 "not available" value (SunSpec's convention). */
export const NOT_FITTED = 0x8000;

export interface BmsSample {
  /** V */
  voltage: number;
  /** A, positive while discharging. */
  current: number;
  /** percent */
  soc: number;
  /** percent */
  soh: number;
  /** V */
  cellMaxV: number;
  /** V */
  cellMinV: number;
  /** °C per fitted module, module 1 first. */
  moduleTemps: number[];
  /** The BMS's own flags (BMS_ALARM bit numbers). */
  alarms: number;
}

/** A reading the BMS answered correctly on the bus but that no pack can have. */
export class BmsError extends Error {
  readonly kind = "range";
}

export interface ModbusBmsOptions {
  modbus: ModbusMaster;
  /** Slave address, 1 to 247. */
  address: number;
}

export class ModbusBms {
  #modbus: ModbusMaster | undefined;
  #address: number;

  constructor(options: ModbusBmsOptions) {
    this.#modbus = options.modbus;
    this.#address = checkAddress(options.address);
  }

  configure(options: { address?: number }): void {
    if (options.address !== undefined) this.#address = checkAddress(options.address);
  }

  get configuration(): { address: number } {
    return { address: this.#address };
  }

  /** One reading; rejects with a ModbusError (bus) or a BmsError (values out of range). */
  async sample(): Promise<BmsSample> {
    if (!this.#modbus) throw new Error("BMS driver closed");
    return decodeBms(await this.#modbus.readInputRegisters(this.#address, 0, BMS_REGISTERS.count));
  }

  /** Forgets the line; the line itself belongs to whoever opened it (it carries other slaves). */
  close(): void {
    this.#modbus = undefined;
  }
}

export function checkAddress(address: number): number {
  if (!Number.isInteger(address) || address < 1 || address > 247) throw new RangeError(`Modbus slave address must be 1 to 247, not ${address}`);
  return address;
}

const int16 = (r: number): number => (r & 0x8000 ? r - 0x10000 : r);

function within(name: string, value: number, lo: number, hi: number, unit: string): number {
  if (!(value >= lo && value <= hi)) throw new BmsError(`BMS ${name} ${value} ${unit} out of range ${lo} to ${hi}`);
  return value;
}

/** The register block as readings, each checked against what a pack can report. */
export function decodeBms(r: number[]): BmsSample {
  const R = BMS_REGISTERS;
  const modules = within("module count", r[R.modules], 1, BMS_MAX_MODULES, "");
  const moduleTemps: number[] = [];
  for (let m = 0; m < modules; m++) {
    const raw = r[R.temperatures + m];
    if (raw === NOT_FITTED) throw new BmsError(`BMS module ${m + 1} temperature not available`);
    moduleTemps.push(within(`module ${m + 1} temperature`, int16(raw) / 10, -40, 125, "C"));
  }
  const cellMaxV = within("highest cell voltage", r[R.cellMax] / 1000, 1, 5, "V");
  const cellMinV = within("lowest cell voltage", r[R.cellMin] / 1000, 1, cellMaxV, "V");
  return {
    voltage: within("pack voltage", r[R.voltage] / 100, 1, 655.35, "V"),
    current: int16(r[R.current]) / 10,
    soc: within("state of charge", r[R.soc] / 100, 0, 100, "%"),
    soh: within("state of health", r[R.soh] / 100, 0, 100, "%"),
    cellMaxV,
    cellMinV,
    moduleTemps,
    alarms: ((r[R.alarmsHigh] << 16) | r[R.alarmsLow]) >>> 0,
  };
}

/** The names of the flags set in a BMS alarm field. */
export function alarmNames(bits: number): BmsAlarmName[] {
  return (Object.keys(BMS_ALARM) as BmsAlarmName[]).filter((name) => (bits >>> BMS_ALARM[name]) & 1);
}
