// An emulated I2C bus, as embedded:io/i2c: parts are attached by their 7-bit address, and
// every `new bus.io({ address, ... })` talks to the part at its address. A transfer the part
// does not acknowledge (nobody at the address, a part that is busy or unplugged) throws, as
// the ECMA-419 class does on a NACK, so drivers see the same failure on a board and here.

import type { I2C419 } from "../drivers/io.js";

/** A part's side of the bus: one write or read transfer at a time. */
export interface I2CPart {
  /** A write transfer; false is a NACK. */
  write(data: Uint8Array): boolean;
  /** A read transfer of `count` bytes; undefined is a NACK of the read header. */
  read(count: number): Uint8Array | undefined;
}

/** Largest transfer either way: the ESP32's I2C FIFO is 32 bytes, and no modelled part needs more. */
export const MAX_TRANSFER = 32;

export class I2CNack extends Error {}

export class EmulatedI2C {
  readonly #parts = new Map<number, I2CPart>();
  /**
   * The ECMA-419 class for this bus: `{ io: bus.io, data: 21, clock: 22, hz: 100_000, address: 0x44 }`
   * (one class, bound to this bus).
   */
  readonly io: new (options: Record<string, unknown>) => I2C419 = I2CIO.bind(null, this);

  /** Puts a part on the bus at `address` (0x08..0x77; one part per address). */
  attach(address: number, part: I2CPart): this {
    if (!Number.isInteger(address) || address < 0x08 || address > 0x77) throw new RangeError(`I2C address 0x${address.toString(16)} is reserved or out of range`);
    if (this.#parts.has(address)) throw new RangeError(`I2C address 0x${address.toString(16)} is taken`);
    this.#parts.set(address, part);
    return this;
  }

  /** Takes the part off the bus: transfers to its address NACK until it is attached again. */
  detach(address: number): void {
    this.#parts.delete(address);
  }

  /** The part at `address`, if one is attached. */
  part(address: number): I2CPart | undefined {
    return this.#parts.get(address);
  }
}

class I2CIO implements I2C419 {
  readonly #bus: EmulatedI2C;
  readonly #address: number;
  #closed = false;

  constructor(bus: EmulatedI2C, options: Record<string, unknown>) {
    const { address, hz } = options;
    if (typeof address !== "number" || !Number.isInteger(address) || address < 0 || address > 0x7f) throw new RangeError(`invalid I2C address ${String(address)}`);
    if (hz !== undefined && !(typeof hz === "number" && hz > 0)) throw new RangeError(`invalid I2C hz ${String(hz)}`);
    this.#bus = bus;
    this.#address = address;
  }

  write(data: ArrayBuffer | ArrayBufferView): void {
    if (data.byteLength > MAX_TRANSFER) throw new RangeError(`I2C write of ${data.byteLength} bytes (at most ${MAX_TRANSFER})`);
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data).slice() : new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    if (!this.#part().write(bytes)) throw this.#nack("write");
  }

  read(byteLength: number): ArrayBuffer {
    if (!Number.isInteger(byteLength) || byteLength < 1 || byteLength > MAX_TRANSFER) throw new RangeError(`I2C read of ${byteLength} bytes (1 to ${MAX_TRANSFER})`);
    const got = this.#part().read(byteLength);
    if (!got) throw this.#nack("read");
    const out = new Uint8Array(byteLength);
    out.set(got.subarray(0, byteLength));
    return out.buffer;
  }

  close(): void {
    this.#closed = true;
  }

  #part(): I2CPart {
    if (this.#closed) throw new Error("I2C closed");
    const part = this.#bus.part(this.#address);
    if (!part) throw this.#nack("address");
    return part;
  }

  #nack(what: string): I2CNack {
    return new I2CNack(`I2C ${what} not acknowledged by 0x${this.#address.toString(16)}`);
  }
}
