// The buses drivers talk over: the parts of the ECMA-419 IO classes (embedded:io/serial, i2c,
// analog, digital, pulsecount) and of Moddable's BLE client that our drivers use. On a board
// the host passes the real classes; elsewhere the emulators in modules/emulators implement
// the same constructors and methods, so a driver never knows which it has.

/** An IO class and its options, ECMA-419 style: `new provider.io({...provider, ...callbacks})`. */
export interface IoProvider<T = unknown> {
  io: new (options: Record<string, unknown>) => T;
  [option: string]: unknown;
}

/** A product's buses, by name (`meter`, `relay`, `ph`...). */
export type Buses = Record<string, IoProvider>;

export interface Serial419 {
  /** Bytes received so far (buffer format), or undefined when none. */
  read(): ArrayBuffer | undefined;
  write(data: ArrayBuffer | ArrayBufferView): void;
  close(): void;
}

export interface I2C419 {
  read(byteLength: number, stop?: boolean): ArrayBuffer;
  write(data: ArrayBuffer | ArrayBufferView, stop?: boolean): void;
  close(): void;
}

export interface Analog419 {
  /** A raw sample, 0 .. 2^resolution - 1. */
  read(): number;
  readonly resolution: number;
  close(): void;
}

export interface Digital419 {
  read(): 0 | 1;
  write(value: 0 | 1): void;
  close(): void;
}

export interface PulseCount419 {
  /** Pulses counted since the counter was opened (or last written). */
  read(): number;
  write(value: number): void;
  close(): void;
}

/** What a board offers for each bus kind; a product's spec names the kind and default options of each bus. */
export type BusKind = "serial" | "i2c" | "analog" | "digital" | "pulsecount" | "ble" | "sleep";

export interface BusSpec {
  kind: BusKind;
  /**
   * Options for a common ESP32 dev board (pins, port, baud, address...). The host overrides
   * each from config key `<bus>_<option>` (mcconfig `meter_receive=16`).
   */
  options: Readonly<Record<string, number | string>>;
  /** One line for the README's wiring table. */
  doc: string;
}

export type BoardSpec = Readonly<Record<string, BusSpec>>;
