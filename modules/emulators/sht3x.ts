// A Sensirion SHT3x on the emulated I2C bus, at command level: the single-shot measurement
// commands without clock stretching (high, medium, low repeatability) and soft reset. A
// measurement samples the climate model when it starts and is ready after the datasheet's
// maximum duration on the timer; until then the part NACKs reads and commands, as the real one
// does. The answer is two 16-bit words, each followed by its CRC-8. Faults: a part that does
// not answer (unplugged, browned out), bit errors on the wire (a CRC mismatch on a word), and
// raw words stuck at a value (a broken sensing element).

import { crc8, REPEATABILITY, SOFT_RESET } from "../drivers/sht3x.js";
import type { TimerLike } from "../mqtt/io.js";
import type { I2CPart } from "./i2c.js";

export interface Climate {
  celsius: number;
  /** Relative humidity, percent. */
  humidity: number;
}

export interface Sht3xModelOptions {
  timer: TimerLike;
  /** The air at the sensor now: the physics behind the bus. */
  climate(): Climate;
}

export class Sht3xModel implements I2CPart {
  readonly #options: Sht3xModelOptions;
  /** The answer being measured (ready when the timer fires) or ready to read. */
  #measuring: unknown;
  #result: Uint8Array | undefined;
  readonly faults = {
    /** NACKs everything while set. */
    absent: false,
    /** The next `count` answers arrive with byte `byte` (0..5) bit-flipped: a CRC mismatch on its word. */
    corrupt: { count: 0, byte: 1 },
    /** Raw [temperature, humidity] words measured while set (0xFFFF, 0xFFFF reads 130 C, 100 %). */
    stuck: undefined as [number, number] | undefined,
  };
  /** Measurements started, for tests and the live view. */
  measurements = 0;

  constructor(options: Sht3xModelOptions) {
    this.#options = options;
  }

  write(data: Uint8Array): boolean {
    if (this.faults.absent || this.#measuring !== undefined || data.length !== 2) return false;
    const command = (data[0] << 8) | data[1];
    if (command === SOFT_RESET) {
      this.#result = undefined;
      return true;
    }
    const mode = Object.values(REPEATABILITY).find((m) => m.command === command);
    if (!mode) return false; // not a command this model knows: the part NACKs it
    this.#result = undefined;
    this.measurements++;
    const words = this.faults.stuck ?? encode(this.#options.climate());
    this.#measuring = this.#options.timer.set(() => {
      this.#measuring = undefined;
      this.#result = answer(words);
    }, mode.maxMs);
    return true;
  }

  read(count: number): Uint8Array | undefined {
    const result = this.#result;
    if (this.faults.absent || !result) return undefined; // measuring, or nothing measured
    this.#result = undefined;
    const out = result.slice(0, count);
    const corrupt = this.faults.corrupt;
    if (corrupt.count > 0) {
      corrupt.count--;
      if (corrupt.byte < out.length) out[corrupt.byte] ^= 0x01;
    }
    return out;
  }
}

/** Raw words for a climate, as the part converts them (clamped to what 16 bits hold). */
export function encode(c: Climate): [number, number] {
  const raw = (x: number): number => Math.max(0, Math.min(65535, Math.round(x)));
  return [raw(((c.celsius + 45) * 65535) / 175), raw((c.humidity * 65535) / 100)];
}

function answer([t, h]: [number, number]): Uint8Array {
  const out = new Uint8Array([t >> 8, t & 0xff, 0, h >> 8, h & 0xff, 0]);
  out[2] = crc8(out, 0, 2);
  out[5] = crc8(out, 3, 5);
  return out;
}
