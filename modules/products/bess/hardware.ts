// What the controller needs from the battery system, and the drivers that give it: a BMS
// (measurements and its own alarm flags) and a power converter (mode and limits), both
// Modbus-RTU slaves on one RS-485 line. The same drivers run on a board's UART and on the
// emulated line of simulation.ts.

import type { Device } from "../../device/device.js";
import type { BoardSpec, Buses, IoProvider, Serial419 } from "../../drivers/io.js";
import { ModbusMaster } from "../../drivers/modbus.js";
import { ModbusBms } from "../../drivers/bms.js";
import { PowerConverter } from "../../drivers/power-converter.js";
import type { ConverterMode } from "../../drivers/power-converter.js";

export type Mode = ConverterMode;

export interface ModeLimits {
  /** Largest |power| in kW the converter may draw or deliver. */
  powerLimitKw: number;
  /** Discharging stops at this state of charge, percent. */
  socMin: number;
}

export interface BessReading {
  /** Pack terminal voltage, V. */
  voltage: number;
  /** Pack current, A: positive while discharging, negative while charging. */
  current: number;
  /** voltage x current / 1000, kW: positive while delivering power. */
  powerKw: number;
  /** State of charge, percent. */
  soc: number;
  /** State of health, percent. */
  soh: number;
  /** Temperature of each battery module, degrees C (module ids are the indices + 1). */
  moduleTemps: number[];
  /** Highest and lowest cell voltage, V. */
  cellMaxV: number;
  cellMinV: number;
  /** The BMS's own flags: SunSpec 802 Evt1 bits (BMS_ALARM in modules/drivers/bms.ts). */
  bmsAlarms: number;
}

export interface BessHardware {
  /**
   * Commands the converter and confirms by read-back. Rejects (a ModbusError) when the
   * converter refuses (kind "exception") or does not answer; the mode is then unchanged.
   */
  setMode(mode: Mode, limits: ModeLimits): Promise<void>;
  /** The mode the converter last confirmed. */
  readonly mode: Mode;
  /** One BMS reading. Rejects with a ModbusError (no answer, bad CRC...) or a BmsError (values out of range). */
  read(): Promise<BessReading>;
}

/** The RS-485 line; the host overrides each option with `bms_<option>`. */
export const BOARD: BoardSpec = {
  bms: {
    kind: "serial",
    options: { port: 2, receive: 16, transmit: 17, baud: 9600, address: 1, converter_address: 2 },
    doc: "RS-485 transceiver with automatic direction (e.g. MAX13487): BMS at `address`, power converter at `converter_address` on the same A/B pair",
  },
};

/** How long a slave has to answer: the 17-register BMS answer takes about 40 ms at 9600 baud. */
export const BUS_TIMEOUT_MS = 200;

function option(provider: IoProvider, name: string): number {
  const value = Number(provider[name] ?? BOARD.bms.options[name]);
  if (!Number.isInteger(value)) throw new RangeError(`bms_${name} must be an integer, not ${String(provider[name])}`);
  return value;
}

/** The drivers on the board's buses (or the emulated ones). */
export function bessHardware(buses: Buses, device: Device): BessHardware {
  const bus = buses.bms as IoProvider<Serial419>;
  if (!bus) throw new RangeError("bess needs a serial bus named bms");
  const modbus = new ModbusMaster({ serial: bus, timer: device.timer, timeoutMs: BUS_TIMEOUT_MS });
  const bms = new ModbusBms({ modbus, address: option(bus, "address") });
  const converter = new PowerConverter({ modbus, address: option(bus, "converter_address") });
  let mode: Mode = "idle";
  return {
    get mode() {
      return mode;
    },
    async setMode(next, limits) {
      const confirmed = await converter.configure({ mode: next, powerLimitKw: limits.powerLimitKw, socMin: limits.socMin });
      mode = confirmed.mode;
    },
    async read() {
      const s = await bms.sample();
      return {
        voltage: s.voltage,
        current: s.current,
        powerKw: (s.voltage * s.current) / 1000,
        soc: s.soc,
        soh: s.soh,
        moduleTemps: s.moduleTemps,
        cellMaxV: s.cellMaxV,
        cellMinV: s.cellMinV,
        bmsAlarms: s.alarms,
      };
    },
  };
}
