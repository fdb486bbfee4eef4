// The Peacefair PZEM-004T v3.0 energy monitor over Modbus-RTU (9600 baud 8N1, TTL UART), as
// an ECMA-419 sensor: `new Pzem004t({ sensor: { io: Serial, port, receive, transmit }, timer })`,
// `sample()` reads the ten input registers 0x0000..0x0009 in one request. Register map and
// scaling as in the Moddable SDK's pzem-004t driver and the v3.0 datasheet: voltage 0.1 V;
// current 0.001 A, power 0.1 W and energy 1 Wh as 32-bit values sent low word first;
// frequency 0.1 Hz; power factor 0.01; alarm 0xFFFF / 0x0000. Holding registers: 0x0001
// power alarm threshold (1 W), 0x0002 the slave address (1..0xF7). Function 0x42 resets the
// energy register. 0xF8 is the general address every PZEM answers (one meter on the line).
// Bus failures reject with the master's ModbusError (timeout, crc, frame, exception); values
// outside what the part can report reject with a PzemError of kind "range".

import type { TimerLike } from "../mqtt/io.js";
import type { IoProvider, Serial419 } from "./io.js";
import { ModbusMaster } from "./modbus.js";

export const PZEM_GENERAL_ADDRESS = 0xf8;

export const PZEM_INPUT = { voltage: 0x00, currentLow: 0x01, powerLow: 0x03, energyLow: 0x05, frequency: 0x07, powerFactor: 0x08, alarm: 0x09 } as const;
export const PZEM_HOLDING = { alarmThreshold: 0x01, address: 0x02 } as const;
export const PZEM_RESET_ENERGY = 0x42;

export interface PzemSample {
  /** V, resolution 0.1. */
  voltage: number;
  /** A, resolution 0.001. */
  current: number;
  /** W, resolution 0.1. */
  power: number;
  /** The energy register, Wh: an unsigned 32-bit count the meter keeps through power cuts. */
  energy: number;
  /** Hz, resolution 0.1. */
  frequency: number;
  /** 0..1, resolution 0.01. */
  powerFactor: number;
  /** Power above the alarm threshold. */
  alarm: boolean;
}

export class PzemError extends Error {
  readonly kind = "range";
}

/**
 * The most each register can hold for a real PZEM-004T (100 A version, 80..260 V, 23 kW,
 * 45..65 Hz), with a margin: a reading beyond it is a corrupted frame that passed the CRC or
 * a broken part, never a measurement.
 */
export const PZEM_LIMITS = { voltage: 300, current: 100, power: 30_000, frequencyMin: 40, frequencyMax: 70 } as const;

export interface PzemOptions {
  /** The UART: `{ io: Serial, port: 2, receive: 16, transmit: 17, baud: 9600 }`. */
  sensor: IoProvider<Serial419>;
  timer: TimerLike;
  /** Slave address, 1..0xF7, or 0xF8 (default) for the only meter on the line. */
  address?: number;
  /** Answer timeout; default 200 ms (the PZEM answers in about 50 ms at 9600 baud). */
  timeoutMs?: number;
}

function checkAddress(address: number): number {
  if (!Number.isInteger(address) || address < 1 || address > PZEM_GENERAL_ADDRESS) throw new RangeError(`PZEM address must be 1..247 or 248 (0xF8), not ${address}`);
  return address;
}

export class Pzem004t {
  readonly #modbus: ModbusMaster;
  #address: number;

  constructor(options: PzemOptions) {
    this.#address = checkAddress(options.address ?? PZEM_GENERAL_ADDRESS);
    this.#modbus = new ModbusMaster({ serial: { baud: 9600, ...options.sensor }, timer: options.timer, timeoutMs: options.timeoutMs });
  }

  get address(): number {
    return this.#address;
  }

  /** `address`: talk to another slave address from now on (not written to the meter; see setAddress). */
  configure(options: { address?: number }): void {
    if (options.address !== undefined) this.#address = checkAddress(options.address);
  }

  /** All measurements in one transaction. */
  async sample(): Promise<PzemSample> {
    const r = await this.#modbus.readInputRegisters(this.#address, PZEM_INPUT.voltage, 10);
    const u32 = (low: number): number => r[low + 1] * 0x10000 + r[low];
    const s: PzemSample = {
      voltage: r[PZEM_INPUT.voltage] / 10,
      current: u32(PZEM_INPUT.currentLow) / 1000,
      power: u32(PZEM_INPUT.powerLow) / 10,
      energy: u32(PZEM_INPUT.energyLow),
      frequency: r[PZEM_INPUT.frequency] / 10,
      powerFactor: r[PZEM_INPUT.powerFactor] / 100,
      alarm: r[PZEM_INPUT.alarm] === 0xffff,
    };
    const bad = rangeProblem(s, r[PZEM_INPUT.alarm]);
    if (bad) throw new PzemError(`PZEM ${this.#address} reported ${bad}`);
    return s;
  }

  /** Clears the energy register (function 0x42). */
  async resetEnergy(): Promise<void> {
    await this.#modbus.custom(this.#address, PZEM_RESET_ENERGY, [], 4);
  }

  /** The power alarm threshold, W. */
  async alarmThreshold(): Promise<number> {
    return (await this.#modbus.readHoldingRegisters(this.#address, PZEM_HOLDING.alarmThreshold, 1))[0];
  }

  async setAlarmThreshold(watts: number): Promise<void> {
    if (!Number.isInteger(watts) || watts < 0 || watts > 0xffff) throw new RangeError(`alarm threshold must be 0..65535 W, not ${watts}`);
    await this.#modbus.writeRegister(this.#address, PZEM_HOLDING.alarmThreshold, watts);
  }

  /** Gives the meter a new slave address (kept in its flash) and talks to it there. */
  async setAddress(address: number): Promise<void> {
    if (checkAddress(address) === PZEM_GENERAL_ADDRESS) throw new RangeError("0xF8 is the general address, not one a PZEM can take");
    await this.#modbus.writeRegister(this.#address, PZEM_HOLDING.address, address);
    this.#address = address;
  }

  close(): void {
    this.#modbus.close();
  }
}

function rangeProblem(s: PzemSample, alarmRaw: number): string | undefined {
  const L = PZEM_LIMITS;
  if (s.voltage > L.voltage) return `voltage ${s.voltage} V`;
  if (s.current > L.current) return `current ${s.current} A`;
  if (s.power > L.power) return `power ${s.power} W`;
  // 0 Hz only when the meter cannot measure (too little voltage); otherwise the mains frequency.
  if (s.frequency !== 0 && (s.frequency < L.frequencyMin || s.frequency > L.frequencyMax)) return `frequency ${s.frequency} Hz`;
  if (s.powerFactor > 1) return `power factor ${s.powerFactor}`;
  if (alarmRaw !== 0 && alarmRaw !== 0xffff) return `alarm status 0x${alarmRaw.toString(16)}`;
  return undefined;
}
