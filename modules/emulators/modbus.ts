// A serial line carrying Modbus-RTU to emulated slaves (a PZEM-004T, a BMS), as
// embedded:io/serial: the driver writes a request frame; after the line's transfer time the
// addressed slave's answer arrives through onReadable. Faults on the line are set by the
// test or the simulator: answers with a bad CRC, no answer, or answers cut short.

import type { TimerLike } from "../mqtt/io.js";
import { crc16, withCrc } from "../drivers/modbus.js";
import type { Serial419 } from "../drivers/io.js";

/** What a slave answers: the data after address and function, or an exception code. */
export type SlaveAnswer = { data: number[] } | { exception: number };

export interface ModbusSlave {
  /** Function 0x04 (input registers); undefined: illegal function. */
  readInput?(start: number, count: number): number[] | { exception: number };
  /** Function 0x03 (holding registers). */
  readHolding?(start: number, count: number): number[] | { exception: number };
  /** Function 0x06 / 0x10. */
  writeHolding?(start: number, values: number[]): { exception: number } | void;
  /** Any other function, e.g. PZEM's 0x42 (reset energy). */
  custom?(fn: number, data: Uint8Array): SlaveAnswer | undefined;
}

export interface LineFaults {
  /** The next n answers carry a corrupted CRC. */
  badCrc: number;
  /** The next n requests get no answer. */
  silent: number;
  /** The next n answers stop halfway. */
  truncated: number;
  /** While true, no slave answers (unplugged). */
  unplugged: boolean;
}

export class ModbusLine {
  readonly #timer: TimerLike;
  readonly #slaves = new Map<number, ModbusSlave>();
  readonly faults: LineFaults = { badCrc: 0, silent: 0, truncated: 0, unplugged: false };
  /** Requests seen, for tests (bounded to the last 64). */
  readonly requests: Uint8Array[] = [];
  /** Milliseconds per byte on the line: 9600 baud 8N1 is about 1 ms. */
  msPerByte = 1;

  constructor(timer: TimerLike) {
    this.#timer = timer;
  }

  attach(address: number, slave: ModbusSlave): this {
    this.#slaves.set(address, slave);
    return this;
  }

  /** Nobody answers at this address any more (a slave moved to another). */
  detach(address: number): this {
    this.#slaves.delete(address);
    return this;
  }

  /** The ECMA-419 serial class of the master's end: `{ io: line.io, port: 2, baud: 9600 }` (one class, bound to this line). */
  readonly io: new (options: Record<string, unknown>) => Serial419 = SerialIO.bind(null, this);

  /** A request frame from the master: the addressed slave's answer, if any, arrives after the line's transfer time. */
  request(frame: Uint8Array, deliver: (answer: Uint8Array) => void): void {
    const answer = this.#answer(frame);
    if (answer) this.#timer.set(() => deliver(answer), (frame.length + answer.length) * this.msPerByte + 2);
  }

  #answer(frame: Uint8Array): Uint8Array | undefined {
    this.requests.push(frame);
    if (this.requests.length > 64) this.requests.shift();
    if (frame.length < 4) return undefined;
    const crc = crc16(frame, frame.length - 2);
    if (frame[frame.length - 2] !== (crc & 0xff) || frame[frame.length - 1] !== crc >> 8) return undefined; // a slave ignores a garbled request
    const slave = this.#slaves.get(frame[0]);
    if (!slave || this.faults.unplugged) return undefined;
    if (this.faults.silent > 0) {
      this.faults.silent--;
      return undefined;
    }
    const fn = frame[1];
    const result = answerFor(slave, fn, frame.subarray(2, frame.length - 2));
    const body = "exception" in result ? [frame[0], fn | 0x80, result.exception] : [frame[0], fn, ...result.data];
    let out = withCrc(body);
    if (this.faults.badCrc > 0) {
      this.faults.badCrc--;
      out[out.length - 1] ^= 0x5a;
    }
    if (this.faults.truncated > 0) {
      this.faults.truncated--;
      out = out.subarray(0, out.length >> 1);
    }
    return out;
  }
}

class SerialIO implements Serial419 {
  readonly #line: ModbusLine;
  #inbox: number[] = [];
  #closed = false;
  readonly #onReadable: ((count: number) => void) | undefined;

  constructor(line: ModbusLine, options: Record<string, unknown>) {
    this.#line = line;
    this.#onReadable = options.onReadable as ((count: number) => void) | undefined;
  }

  read(): ArrayBuffer | undefined {
    if (this.#inbox.length === 0) return undefined;
    const out = Uint8Array.from(this.#inbox);
    this.#inbox = [];
    return out.buffer;
  }

  write(data: ArrayBuffer | ArrayBufferView): void {
    if (this.#closed) throw new Error("closed");
    const frame = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.#line.request(frame.slice(), (answer) => {
      if (this.#closed) return;
      for (const b of answer) this.#inbox.push(b);
      this.#onReadable?.(answer.length);
    });
  }

  close(): void {
    this.#closed = true;
  }
}

const ILLEGAL_FUNCTION = { exception: 1 };

function answerFor(slave: ModbusSlave, fn: number, data: Uint8Array): SlaveAnswer {
  const u16 = (i: number): number => (data[i] << 8) | data[i + 1];
  const registers = (values: number[] | { exception: number }): SlaveAnswer => {
    if (!Array.isArray(values)) return values;
    const out = [values.length * 2];
    for (const v of values) out.push((v >> 8) & 0xff, v & 0xff);
    return { data: out };
  };
  switch (fn) {
    case 0x03:
      return slave.readHolding ? registers(slave.readHolding(u16(0), u16(2))) : ILLEGAL_FUNCTION;
    case 0x04:
      return slave.readInput ? registers(slave.readInput(u16(0), u16(2))) : ILLEGAL_FUNCTION;
    case 0x06: {
      if (!slave.writeHolding) return ILLEGAL_FUNCTION;
      const refused = slave.writeHolding(u16(0), [u16(2)]);
      return refused ?? { data: [...data.subarray(0, 4)] };
    }
    case 0x10: {
      if (!slave.writeHolding) return ILLEGAL_FUNCTION;
      const count = u16(2);
      const values: number[] = [];
      for (let i = 0; i < count; i++) values.push(u16(5 + 2 * i));
      const refused = slave.writeHolding(u16(0), values);
      return refused ?? { data: [...data.subarray(0, 4)] };
    }
    default:
      return slave.custom?.(fn, data) ?? ILLEGAL_FUNCTION;
  }
}
