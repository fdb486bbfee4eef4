// A battery power converter (PCS: the bidirectional inverter/charger) commanded over
// Modbus-RTU on the same RS-485 line as the BMS, at its own slave address.
// `configure(setpoints)` writes the set-points in one request (function 0x10) and reads them
// back (function 0x03): it resolves only when the converter holds exactly what was asked, and
// rejects with the converter's Modbus exception when it refuses the write. `sample()` reads
// the set-points the converter holds.
//
// Register map (holding registers, big-endian words):
//   0x0000 mode                    uint16  0 idle, 1 charge, 2 discharge
//   0x0001 power limit, high word  uint32  W (the converter caps it at its own rating)
//   0x0002 power limit, low word
//   0x0003 discharge SoC floor     uint16  0.01 % (discharging stops at this state of charge)

import { ModbusError, ModbusMaster } from "./modbus.js";
import { checkAddress } from "./bms.js";

export type ConverterMode = "idle" | "charge" | "discharge";

export interface ConverterSetpoints {
  mode: ConverterMode;
  /** kW, 0 to 4 294 967 (the register holds W). */
  powerLimitKw: number;
  /** percent */
  socMin: number;
}

export const CONVERTER_REGISTERS = { mode: 0x0000, powerLimit: 0x0001, socFloor: 0x0003, count: 4 } as const;
export const CONVERTER_MODES: readonly ConverterMode[] = ["idle", "charge", "discharge"];

/** Modbus exception codes, for messages. */
const EXCEPTIONS: Record<number, string> = {
  1: "illegal function",
  2: "illegal data address",
  3: "illegal data value",
  4: "slave device failure",
  5: "acknowledge",
  6: "slave device busy",
};

export function exceptionText(code: number | undefined): string {
  return `exception ${code}${code !== undefined && EXCEPTIONS[code] ? ` (${EXCEPTIONS[code]})` : ""}`;
}

export function encodeSetpoints(s: ConverterSetpoints): number[] {
  const mode = CONVERTER_MODES.indexOf(s.mode);
  if (mode < 0) throw new RangeError(`unknown converter mode ${String(s.mode)}`);
  const watts = Math.round(s.powerLimitKw * 1000);
  if (!(watts >= 0 && watts <= 0xffffffff)) throw new RangeError(`power limit ${s.powerLimitKw} kW out of range`);
  const floor = Math.round(s.socMin * 100);
  if (!(floor >= 0 && floor <= 10000)) throw new RangeError(`SoC floor ${s.socMin} % out of range 0 to 100`);
  return [mode, Math.floor(watts / 0x10000), watts & 0xffff, floor];
}

export function decodeSetpoints(r: number[]): ConverterSetpoints {
  const mode = CONVERTER_MODES[r[CONVERTER_REGISTERS.mode]];
  if (mode === undefined) throw new ModbusError("frame", `converter reports unknown mode ${r[CONVERTER_REGISTERS.mode]}`);
  const watts = r[CONVERTER_REGISTERS.powerLimit] * 0x10000 + r[CONVERTER_REGISTERS.powerLimit + 1];
  return { mode, powerLimitKw: watts / 1000, socMin: r[CONVERTER_REGISTERS.socFloor] / 100 };
}

export interface PowerConverterOptions {
  modbus: ModbusMaster;
  /** Slave address, 1 to 247. */
  address: number;
}

export class PowerConverter {
  #modbus: ModbusMaster | undefined;
  readonly #address: number;

  constructor(options: PowerConverterOptions) {
    this.#modbus = options.modbus;
    this.#address = checkAddress(options.address);
  }

  /** Writes the set-points and resolves with their read-back; a refusal rejects with the converter's exception. */
  async configure(setpoints: ConverterSetpoints): Promise<ConverterSetpoints> {
    const modbus = this.#line();
    const words = encodeSetpoints(setpoints);
    try {
      await modbus.writeRegisters(this.#address, CONVERTER_REGISTERS.mode, words);
    } catch (e) {
      if (e instanceof ModbusError && e.kind === "exception") {
        throw new ModbusError("exception", `converter refused the set-points: ${exceptionText(e.exception)}`, e.exception);
      }
      throw e;
    }
    const back = await modbus.readHoldingRegisters(this.#address, CONVERTER_REGISTERS.mode, CONVERTER_REGISTERS.count);
    if (back.some((w, i) => w !== words[i])) {
      throw new ModbusError("frame", `converter read-back [${back.join(", ")}] differs from the set-points written [${words.join(", ")}]`);
    }
    return decodeSetpoints(back);
  }

  /** The set-points the converter holds. */
  async sample(): Promise<ConverterSetpoints> {
    return decodeSetpoints(await this.#line().readHoldingRegisters(this.#address, CONVERTER_REGISTERS.mode, CONVERTER_REGISTERS.count));
  }

  close(): void {
    this.#modbus = undefined;
  }

  #line(): ModbusMaster {
    if (!this.#modbus) throw new Error("converter driver closed");
    return this.#modbus;
  }
}
