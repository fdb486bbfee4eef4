// A Modbus-RTU master over an ECMA-419 serial port (a UART, or RS-485 through a transceiver
// with automatic direction control). One request at a time: each waits for its answer until
// a timeout; the answer's length, address, function and CRC are checked before it is used.
// Failures are typed (ModbusError: timeout, crc, exception, frame), never thrown from a
// callback: the caller's promise rejects and the next request starts clean.

import type { TimerLike } from "../mqtt/io.js";
import type { IoProvider, Serial419 } from "./io.js";

export type ModbusErrorKind = "timeout" | "crc" | "exception" | "frame" | "busy" | "closed";

export class ModbusError extends Error {
  readonly kind: ModbusErrorKind;
  /** The slave's exception code, for kind "exception". */
  readonly exception?: number;
  constructor(kind: ModbusErrorKind, message: string, exception?: number) {
    super(message);
    this.kind = kind;
    this.exception = exception;
  }
}

/** CRC-16/MODBUS (polynomial 0xA001 reflected, initial 0xFFFF), sent low byte first. */
export function crc16(bytes: Uint8Array, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = 0; i < end; i++) {
    crc ^= bytes[i];
    for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** A frame with its CRC appended. */
export function withCrc(body: number[] | Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 2);
  out.set(body);
  const crc = crc16(out, body.length);
  out[body.length] = crc & 0xff;
  out[body.length + 1] = crc >> 8;
  return out;
}

export interface ModbusOptions {
  /** The serial port: `{ io: Serial, port, receive, transmit, baud: 9600 }`. */
  serial: IoProvider<Serial419>;
  timer: TimerLike;
  /** How long to wait for an answer. Default 200 ms (a PZEM answers within about 50 ms). */
  timeoutMs?: number;
  /** Most requests waiting behind the one on the line; beyond it a request is refused ("busy"). Default 8. */
  maxQueued?: number;
}

interface Pending {
  expect: (frame: Uint8Array) => number | undefined;
  address: number;
  fn: number;
  resolve(frame: Uint8Array): void;
  reject(e: ModbusError): void;
  timer: unknown;
}

export class ModbusMaster {
  readonly #serial: Serial419;
  readonly #timer: TimerLike;
  readonly #timeoutMs: number;
  readonly #maxQueued: number;
  #rx = new Uint8Array(0);
  #pending: Pending | undefined;
  #queue: (() => void)[] = [];
  #closed = false;

  constructor(options: ModbusOptions) {
    this.#timer = options.timer;
    this.#timeoutMs = options.timeoutMs ?? 200;
    this.#maxQueued = Math.max(0, options.maxQueued ?? 8);
    this.#serial = new options.serial.io({ ...options.serial, format: "buffer", onReadable: () => this.#onReadable() });
  }

  /** Function 0x04: `count` input registers from `start`. */
  readInputRegisters(address: number, start: number, count: number): Promise<number[]> {
    return this.#registers(address, 0x04, start, count);
  }

  /** Function 0x03: `count` holding registers from `start`. */
  readHoldingRegisters(address: number, start: number, count: number): Promise<number[]> {
    return this.#registers(address, 0x03, start, count);
  }

  /** Function 0x06: one holding register; resolves when the slave echoes it. */
  async writeRegister(address: number, register: number, value: number): Promise<void> {
    await this.#request(address, 0x06, [register >> 8, register & 0xff, (value >> 8) & 0xff, value & 0xff], () => 8);
  }

  /** Function 0x10: consecutive holding registers. */
  async writeRegisters(address: number, start: number, values: number[]): Promise<void> {
    const body = [start >> 8, start & 0xff, values.length >> 8, values.length & 0xff, values.length * 2];
    for (const v of values) body.push((v >> 8) & 0xff, v & 0xff);
    await this.#request(address, 0x10, body, () => 8);
  }

  /** A vendor function (PZEM's 0x42 energy reset): `answerLength` bytes expected, CRC included. */
  async custom(address: number, fn: number, data: number[], answerLength: number): Promise<Uint8Array> {
    return this.#request(address, fn, data, () => answerLength);
  }

  close(): void {
    this.#closed = true;
    this.#fail(new ModbusError("closed", "port closed"));
    for (const next of this.#queue.splice(0)) next();
    this.#serial.close();
  }

  async #registers(address: number, fn: number, start: number, count: number): Promise<number[]> {
    if (count < 1 || count > 125) throw new ModbusError("frame", `cannot read ${count} registers (1 to 125)`);
    const frame = await this.#request(address, fn, [start >> 8, start & 0xff, count >> 8, count & 0xff], (f) => (f.length >= 3 ? 5 + f[2] : undefined));
    if (frame[2] !== count * 2) throw new ModbusError("frame", `asked for ${count} registers, got ${frame[2]} bytes`);
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push((frame[3 + 2 * i] << 8) | frame[4 + 2 * i]);
    return out;
  }

  /** Sends a request once the port is free; resolves with the whole checked answer. */
  #request(address: number, fn: number, data: number[], length: (frame: Uint8Array) => number | undefined): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const start = (): void => {
        if (this.#closed) {
          reject(new ModbusError("closed", "port closed"));
          return;
        }
        this.#rx = new Uint8Array(0);
        this.#serial.read(); // drop what a late answer left behind
        const pending: Pending = {
          address, fn, resolve, reject,
          // An exception answer is 5 bytes whatever the function.
          expect: (f) => (f.length >= 2 && f[1] === (fn | 0x80) ? 5 : length(f)),
          timer: this.#timer.set(() => this.#fail(new ModbusError("timeout", `no answer from ${address} to function ${fn} within ${this.#timeoutMs} ms`)), this.#timeoutMs),
        };
        this.#pending = pending;
        try {
          this.#serial.write(withCrc([address, fn, ...data]));
        } catch (e) {
          this.#fail(new ModbusError("closed", `write failed: ${e instanceof Error ? e.message : String(e)}`));
        }
      };
      if (!this.#pending) start();
      else if (this.#queue.length < this.#maxQueued) this.#queue.push(start);
      else reject(new ModbusError("busy", `${this.#queue.length} requests already wait for the line`));
    });
  }

  #onReadable(): void {
    const chunk = this.#serial.read();
    const pending = this.#pending;
    if (!chunk || !pending) return;
    const bytes = new Uint8Array(chunk);
    const rx = new Uint8Array(this.#rx.length + bytes.length);
    rx.set(this.#rx);
    rx.set(bytes, this.#rx.length);
    this.#rx = rx;
    const want = pending.expect(rx);
    if (want === undefined || rx.length < want) return;
    const frame = rx.subarray(0, want);
    const crc = crc16(frame, want - 2);
    if (frame[want - 2] !== (crc & 0xff) || frame[want - 1] !== crc >> 8) {
      this.#fail(new ModbusError("crc", `bad CRC in the answer from ${pending.address}`));
    } else if (frame[0] !== pending.address || (frame[1] & 0x7f) !== pending.fn) {
      this.#fail(new ModbusError("frame", `answer from ${frame[0]} to function ${frame[1] & 0x7f}, expected ${pending.address}/${pending.fn}`));
    } else if (frame[1] & 0x80) {
      this.#fail(new ModbusError("exception", `slave ${pending.address} refused function ${pending.fn}: exception ${frame[2]}`, frame[2]));
    } else {
      this.#finish();
      pending.resolve(frame.slice());
    }
  }

  #fail(e: ModbusError): void {
    const pending = this.#pending;
    if (!pending) return;
    this.#finish();
    pending.reject(e);
  }

  /** Frees the port for the next request. */
  #finish(): void {
    const pending = this.#pending;
    if (pending) this.#timer.clear(pending.timer);
    this.#pending = undefined;
    this.#rx = new Uint8Array(0);
    const next = this.#queue.shift();
    if (next) next();
  }
}
