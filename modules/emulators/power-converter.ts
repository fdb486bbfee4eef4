// A battery power converter on an emulated Modbus line: the holding registers of
// modules/drivers/power-converter.ts, and the load it puts on a BatteryPack. Discharging
// delivers the power limit (capped at the converter's rating) down to the SoC floor;
// charging takes it up to 95 %, then tapers to nothing at 100 %. A set-point change first
// lets the pack integrate up to now under the old ones. `refuse` makes it answer writes with
// a Modbus exception (a converter in a fault state, or under local control).

import { CONVERTER_MODES, CONVERTER_REGISTERS } from "../drivers/power-converter.js";
import type { BatteryPack, PackLoad } from "./battery-pack.js";
import type { ModbusSlave } from "./modbus.js";

const ILLEGAL_ADDRESS = { exception: 2 };
const ILLEGAL_VALUE = { exception: 3 };

export class EmulatedConverter implements ModbusSlave, PackLoad {
  readonly pack: BatteryPack;
  /** Largest |power| it converts, kW. */
  readonly ratingKw: number;
  /** Exception code answered to every write while non-zero (4: device failure, 6: busy). */
  refuse = 0;
  /** The holding registers: mode, power limit (W, two words), SoC floor (0.01 %). Idle at power-up. */
  readonly #registers = [0, 0, 0, 0];

  constructor(pack: BatteryPack, ratingKw = 30) {
    this.pack = pack;
    this.ratingKw = ratingKw;
    pack.load = this;
  }

  get mode(): string {
    return CONVERTER_MODES[this.#registers[CONVERTER_REGISTERS.mode]];
  }

  get #limitKw(): number {
    const r = CONVERTER_REGISTERS.powerLimit;
    return Math.min((this.#registers[r] * 0x10000 + this.#registers[r + 1]) / 1000, this.ratingKw);
  }

  get #socMin(): number {
    return this.#registers[CONVERTER_REGISTERS.socFloor] / 100;
  }

  powerKw(soc: number): number {
    switch (this.mode) {
      case "discharge":
        return soc > this.#socMin ? this.#limitKw : 0;
      case "charge":
        return soc >= 100 ? 0 : -this.#limitKw * Math.min(1, (100 - soc) / 5);
      default:
        return 0;
    }
  }

  socFloor(soc: number): number {
    return this.mode === "discharge" ? Math.min(soc, this.#socMin) : 0;
  }

  readHolding(start: number, count: number): number[] | { exception: number } {
    if (start + count > CONVERTER_REGISTERS.count) return ILLEGAL_ADDRESS;
    return this.#registers.slice(start, start + count);
  }

  writeHolding(start: number, values: number[]): { exception: number } | void {
    if (this.refuse) return { exception: this.refuse };
    if (start + values.length > CONVERTER_REGISTERS.count) return ILLEGAL_ADDRESS;
    const next = this.#registers.slice();
    values.forEach((v, i) => { next[start + i] = v; });
    if (next[CONVERTER_REGISTERS.mode] >= CONVERTER_MODES.length || next[CONVERTER_REGISTERS.socFloor] > 10000) return ILLEGAL_VALUE;
    this.pack.advance(); // the old set-points apply up to now
    next.forEach((v, i) => { this.#registers[i] = v; });
    this.pack.advance();
  }
}
