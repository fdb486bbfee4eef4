// Sensirion SHT3x (SHT30/31/35) temperature and humidity sensor over ECMA-419 I2C, after the
// Moddable SDK's SHT3x driver (same `sensor` provider, default address 0x44, sample() as
// { thermometer: { temperature }, hygrometer: { humidity } }) with these differences:
// - single-shot measurement with clock stretching disabled (command 0x2400/0x240B/0x2416):
//   the sensor NACKs reads until the measurement is done, so the driver waits the datasheet's
//   maximum measurement time on the host's timer instead of blocking the bus or the CPU;
// - a CRC mismatch on either word and a NACK are typed errors (Sht3xError), never a reading
//   with a field missing; after a failed sample the next one starts with a soft reset.
// Datasheet: 16-bit words each followed by CRC-8 (polynomial 0x31, init 0xFF);
// T = -45 + 175 * word / 65535 degrees Celsius, RH = 100 * word / 65535 percent.

import type { TimerLike } from "../mqtt/io.js";
import type { I2C419, IoProvider } from "./io.js";

export const SHT3X_ADDRESS = 0x44;

/** Single-shot, clock stretching disabled: command and the datasheet's maximum duration, ms. */
export const REPEATABILITY = {
  high: { command: 0x2400, maxMs: 15 },
  medium: { command: 0x240b, maxMs: 6 },
  low: { command: 0x2416, maxMs: 4 },
} as const;

export type Repeatability = keyof typeof REPEATABILITY;

export const SOFT_RESET = 0x30a2;
/** Soft reset takes at most 1.5 ms. */
const RESET_MS = 2;

/** What the part measures at all (its specified operating range). */
export const SHT3X_RANGE = { celsius: { min: -40, max: 125 }, humidity: { min: 0, max: 100 } } as const;

export type Sht3xErrorKind = "nack" | "crc" | "busy" | "closed";

export class Sht3xError extends Error {
  readonly kind: Sht3xErrorKind;
  constructor(kind: Sht3xErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

/** Sensirion's CRC-8: polynomial 0x31, initial 0xFF, no reflection, no final XOR (0xBEEF -> 0x92). */
export function crc8(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xff;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i];
    for (let b = 0; b < 8; b++) crc = crc & 0x80 ? ((crc << 1) ^ 0x31) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

export interface Sht3xSample {
  thermometer: { temperature: number };
  hygrometer: { humidity: number };
}

export interface Sht3xOptions {
  /** The I2C bus: `{ io: I2C, data: 21, clock: 22, hz: 100_000, address: 0x44 }`. */
  sensor: IoProvider<I2C419>;
  /** For the measurement wait. */
  timer: TimerLike;
  repeatability?: Repeatability;
}

export class Sht3x {
  readonly #io: I2C419;
  readonly #timer: TimerLike;
  readonly #word = new Uint8Array(2);
  #repeatability: Repeatability = "high";
  #busy = false;
  #closed = false;
  /** Set by a failed sample: the next starts from a soft reset, leaving no half-done measurement behind. */
  #reset = false;

  constructor(options: Sht3xOptions) {
    this.#timer = options.timer;
    // The datasheet allows 1 MHz; 100 kHz is what a long cable to a remote probe carries.
    this.#io = new options.sensor.io({ hz: 100_000, address: SHT3X_ADDRESS, ...options.sensor });
    this.configure(options);
  }

  configure(options: { repeatability?: Repeatability }): void {
    if (options.repeatability === undefined) return;
    if (!(options.repeatability in REPEATABILITY)) throw new RangeError(`repeatability must be high, medium or low, not ${String(options.repeatability)}`);
    this.#repeatability = options.repeatability;
  }

  /** One single-shot measurement; rejects with an Sht3xError (nack, crc, busy, closed). */
  async sample(): Promise<Sht3xSample> {
    if (this.#closed) throw new Sht3xError("closed", "SHT3x closed");
    if (this.#busy) throw new Sht3xError("busy", "SHT3x measurement already in progress");
    this.#busy = true;
    try {
      if (this.#reset) {
        this.#command(SOFT_RESET, "soft reset");
        await this.#wait(RESET_MS);
        this.#reset = false;
      }
      const mode = REPEATABILITY[this.#repeatability];
      this.#command(mode.command, "measurement");
      await this.#wait(mode.maxMs + 1);
      const data = this.#read(6);
      const t = word(data, 0, "temperature");
      const h = word(data, 3, "humidity");
      return { thermometer: { temperature: -45 + (175 * t) / 65535 }, hygrometer: { humidity: (100 * h) / 65535 } };
    } catch (e) {
      this.#reset = true;
      throw e;
    } finally {
      this.#busy = false;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#io.close();
  }

  #command(command: number, what: string): void {
    this.#word[0] = command >> 8;
    this.#word[1] = command & 0xff;
    try {
      this.#io.write(this.#word);
    } catch (e) {
      throw new Sht3xError("nack", `SHT3x did not acknowledge the ${what} command: ${describe(e)}`);
    }
  }

  #read(count: number): Uint8Array {
    try {
      return new Uint8Array(this.#io.read(count));
    } catch (e) {
      throw new Sht3xError("nack", `SHT3x did not answer the read: ${describe(e)}`);
    }
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#timer.set(() => (this.#closed ? reject(new Sht3xError("closed", "SHT3x closed")) : resolve()), ms);
    });
  }
}

function word(data: Uint8Array, at: number, what: string): number {
  const crc = crc8(data, at, at + 2);
  if (data[at + 2] !== crc) throw new Sht3xError("crc", `SHT3x ${what} CRC mismatch: got 0x${hex(data[at + 2])}, computed 0x${hex(crc)}`);
  return (data[at] << 8) | data[at + 1];
}

const hex = (n: number): string => n.toString(16).padStart(2, "0");

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
