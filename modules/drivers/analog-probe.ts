// An analog probe front end on an ADC channel (embedded:io/analog): a pH amplifier, an ORP
// amplifier, a chlorine or TDS transmitter... anything whose output volts map linearly to its
// quantity: value = originValue + (volts - originVolts) x perVolt. The front ends are wired so
// that no valid signal sits at a rail: a reading at either rail is an open or shorted probe
// (an unplugged BNC floats to the pull-up, a cut 4-20 mA loop gives 0 V), never a value.
// Sensor Class Pattern: new AnalogProbe({ sensor: provider, ...transfer }), configure(),
// sample() -> { value, volts }, close().

import type { Analog419, IoProvider } from "./io.js";

export type ProbeErrorKind = "open" | "bus";

/** Why a sensor gave no value: "open" (the ADC reads a rail: probe unplugged or shorted), "bus" (the converter or counter failed). */
export class ProbeError extends Error {
  readonly kind: ProbeErrorKind;
  constructor(kind: ProbeErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ProbeError";
    this.kind = kind;
  }
}

export interface ProbeTransfer {
  /** Volts at the pin where the quantity is originValue. */
  originVolts: number;
  originValue: number;
  /** Quantity per volt (negative for an inverting amplifier). */
  perVolt: number;
}

export interface AnalogProbeOptions extends Partial<ProbeTransfer> {
  /** Volts at full scale of the ADC (ESP32, 11 dB attenuation: 3.3). */
  fullScale?: number;
  /** Samples averaged per reading (1-64). */
  averaging?: number;
  /** Counts from either rail that still mean "at the rail" (0-256). */
  railMargin?: number;
}

/** Reads volts from an ADC channel; throws a ProbeError at a rail or when the converter fails. */
export class AdcChannel {
  #io: Analog419 | undefined;
  fullScale = 3.3;
  averaging = 1;
  railMargin = 8;

  constructor(sensor: IoProvider) {
    this.#io = new sensor.io({ ...sensor }) as Analog419;
  }

  configure(options: { fullScale?: number; averaging?: number; railMargin?: number }): void {
    if (options.fullScale !== undefined) this.fullScale = positive("fullScale", options.fullScale);
    if (options.averaging !== undefined) this.averaging = integer("averaging", options.averaging, 1, 64);
    if (options.railMargin !== undefined) this.railMargin = integer("railMargin", options.railMargin, 0, 256);
  }

  /** Mean volts over `averaging` samples, and the raw mean. */
  volts(): { volts: number; raw: number } {
    const io = this.#io;
    if (!io) throw new ProbeError("bus", "ADC channel closed");
    const max = (1 << io.resolution) - 1;
    let sum = 0;
    for (let i = 0; i < this.averaging; i++) {
      let raw: number;
      try {
        raw = io.read();
      } catch (e) {
        throw new ProbeError("bus", `ADC read failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      if (!Number.isFinite(raw) || raw < 0 || raw > max) throw new ProbeError("bus", `ADC gave ${raw}, outside 0 to ${max}`);
      if (raw >= max - this.railMargin) throw new ProbeError("open", `probe open: ADC at full scale (${raw} of ${max})`);
      if (raw <= this.railMargin) throw new ProbeError("open", `probe shorted or loop open: ADC at zero (${raw})`);
      sum += raw;
    }
    const raw = sum / this.averaging;
    return { volts: (raw / max) * this.fullScale, raw };
  }

  close(): void {
    this.#io?.close();
    this.#io = undefined;
  }
}

export class AnalogProbe {
  readonly #adc: AdcChannel;
  #transfer: ProbeTransfer = { originVolts: 0, originValue: 0, perVolt: 1 };

  constructor(options: AnalogProbeOptions & { sensor: IoProvider }) {
    this.#adc = new AdcChannel(options.sensor);
    this.configure(options);
  }

  configure(options: AnalogProbeOptions): void {
    this.#adc.configure(options);
    const t = { ...this.#transfer };
    if (options.originVolts !== undefined) t.originVolts = finite("originVolts", options.originVolts);
    if (options.originValue !== undefined) t.originValue = finite("originValue", options.originValue);
    if (options.perVolt !== undefined) {
      t.perVolt = finite("perVolt", options.perVolt);
      if (t.perVolt === 0) throw new RangeError("perVolt must not be 0");
    }
    this.#transfer = t;
  }

  /** The quantity and the volts it came from; throws a ProbeError when the probe gives none. */
  sample(): { value: number; volts: number } {
    const { volts } = this.#adc.volts();
    const t = this.#transfer;
    return { value: t.originValue + (volts - t.originVolts) * t.perVolt, volts };
  }

  close(): void {
    this.#adc.close();
  }
}

/** The volts a transfer gives for a value: what an emulated front end puts on the pin. */
export function probeVolts(t: ProbeTransfer, value: number): number {
  return t.originVolts + (value - t.originValue) / t.perVolt;
}

function finite(name: string, v: number): number {
  if (!Number.isFinite(v)) throw new RangeError(`${name} must be a finite number`);
  return v;
}

function positive(name: string, v: number): number {
  if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be a positive number`);
  return v;
}

function integer(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}`);
  return v;
}
