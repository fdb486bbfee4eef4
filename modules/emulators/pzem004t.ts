// A PZEM-004T v3.0 as a Modbus slave for ModbusLine: it measures a load model (volts, amps,
// power factor, frequency at a given time) and keeps the energy register the way the part does,
// counting Wh of active power since the last reset, with or without anyone reading it (the
// model integrates up to "now" at every request and on `advance()`). Register map as in
// modules/drivers/pzem004t.ts. Tests and the simulator can set the register (a reset, a wrap,
// a meter swapped), override raw registers (out-of-range values behind a good CRC), and put
// the line's faults (modules/emulators/modbus.ts) on top.

import { PZEM_GENERAL_ADDRESS, PZEM_HOLDING, PZEM_RESET_ENERGY } from "../drivers/pzem004t.js";
import type { ModbusLine, ModbusSlave, SlaveAnswer } from "./modbus.js";

export interface PzemLoad {
  /** RMS volts at the meter's terminals. */
  voltage: number;
  /** RMS amperes through the current transformer. */
  current: number;
  /** Default 1 (a resistive load). */
  powerFactor?: number;
  /** Default 50 Hz. */
  frequency?: number;
}

export interface EmulatedPzemOptions {
  /** The time, ms (the device's clock). */
  now: () => number;
  /** The load at the meter now. */
  load: () => PzemLoad;
  /** The slave address stored in the meter, 1..0xF7; default 1. It also answers 0xF8. */
  address?: number;
  /** The energy register at start, Wh. */
  energyWh?: number;
}

const ILLEGAL_ADDRESS = { exception: 2 };
const ILLEGAL_VALUE = { exception: 3 };
const WRAP = 0x1_0000_0000;

export class EmulatedPzem implements ModbusSlave {
  readonly #now: () => number;
  readonly #load: () => PzemLoad;
  /** Energy in Wh with its fraction: the register shows the whole part. */
  #energy: number;
  #lastAt: number;
  #last: PzemLoad = { voltage: 0, current: 0 };
  #line: ModbusLine | undefined;
  address: number;
  alarmThreshold = 2300;
  /** Raw input registers (0..9) to report instead of the measured ones while set. */
  readonly override = new Map<number, number>();

  constructor(options: EmulatedPzemOptions) {
    this.#now = options.now;
    this.#load = options.load;
    this.address = options.address ?? 1;
    this.#energy = options.energyWh ?? 0;
    this.#lastAt = options.now();
  }

  /** Attaches the meter at its own and at the general address. */
  attachTo(line: ModbusLine): this {
    this.#line = line;
    line.attach(this.address, this);
    line.attach(PZEM_GENERAL_ADDRESS, this);
    return this;
  }

  /** The energy register, Wh. */
  get energyWh(): number {
    this.advance();
    return Math.floor(this.#energy) % WRAP;
  }

  /** Sets the register (a reset by another tool, a wrap, a swapped meter); the fraction is kept. */
  set energyWh(wh: number) {
    this.advance();
    this.#energy = wh + (this.#energy - Math.floor(this.#energy));
  }

  /** Counts the energy of the load since the last step (rectangle rule on the load seen then). */
  advance(): PzemLoad {
    const now = this.#now();
    const dt = now - this.#lastAt;
    this.#lastAt = now;
    if (dt > 0) this.#energy = (this.#energy + power(this.#last) * dt / 3_600_000) % WRAP;
    this.#last = this.#load();
    return this.#last;
  }

  readInput(start: number, count: number): number[] | { exception: number } {
    if (start + count > 10) return ILLEGAL_ADDRESS;
    const load = this.advance();
    const watts = power(load);
    const current = Math.round(load.current * 1000);
    const decawatts = Math.round(watts * 10);
    const energy = Math.floor(this.#energy) % WRAP;
    const regs = [
      Math.round(load.voltage * 10),
      current & 0xffff, Math.floor(current / 0x10000),
      decawatts & 0xffff, Math.floor(decawatts / 0x10000),
      energy % 0x10000, Math.floor(energy / 0x10000),
      Math.round((load.frequency ?? 50) * 10),
      Math.round((load.powerFactor ?? 1) * 100),
      watts > this.alarmThreshold ? 0xffff : 0,
    ];
    for (const [i, v] of this.override) regs[i] = v & 0xffff;
    return regs.slice(start, start + count);
  }

  readHolding(start: number, count: number): number[] | { exception: number } {
    if (start < 1 || start + count > 3) return ILLEGAL_ADDRESS;
    return [this.alarmThreshold, this.address].slice(start - 1, start - 1 + count);
  }

  writeHolding(start: number, values: number[]): { exception: number } | void {
    if (values.length !== 1) return ILLEGAL_ADDRESS;
    if (start === PZEM_HOLDING.alarmThreshold) this.alarmThreshold = values[0];
    else if (start === PZEM_HOLDING.address) {
      if (values[0] < 1 || values[0] >= PZEM_GENERAL_ADDRESS) return ILLEGAL_VALUE;
      this.#line?.detach(this.address).attach(values[0], this);
      this.address = values[0];
    } else return ILLEGAL_ADDRESS;
  }

  custom(fn: number): SlaveAnswer | undefined {
    if (fn !== PZEM_RESET_ENERGY) return undefined;
    this.advance();
    this.#energy = 0;
    return { data: [] };
  }
}

function power(load: PzemLoad): number {
  return load.voltage * load.current * (load.powerFactor ?? 1);
}
