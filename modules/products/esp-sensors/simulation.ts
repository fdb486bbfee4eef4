// The node's buses, emulated, for the desktop, the tests, the XS tier and the lin images: an
// SHT31 on an emulated I2C bus at 0x44, measuring an indoor climate whose temperature follows
// the day (coolest near 03:00, warmest near 15:00, local time taken as UTC) with measurement
// noise and whose relative humidity falls as it warms; and deep sleep that ends the wake and
// starts the next one on the device's timer, its retained memory kept in RAM across wakes.
// Driven by the device's now() and random(), so a seeded host repeats exactly.

import type { HardwareFault } from "../../device/product.js";
import type { Device } from "../../device/device.js";
import type { Buses } from "../../drivers/io.js";
import { EmulatedI2C } from "../../emulators/i2c.js";
import { Sht3xModel } from "../../emulators/sht3x.js";
import type { Climate } from "../../emulators/sht3x.js";
import { EmulatedDeepSleep } from "../../emulators/sleep.js";
import { BOARD } from "./hardware.js";

const DAY_MS = 86_400_000;

export interface ClimateModel {
  /** Daily mean, degrees Celsius. */
  meanC: number;
  /** Half the daily swing, degrees Celsius. */
  amplitudeC: number;
  /** Relative humidity at the mean temperature, percent. */
  meanHumidity: number;
  /** Percent of humidity lost per degree of warming. */
  humidityPerDegree: number;
  /** Noise amplitude (uniform, +/-) for temperature (C) and humidity (%): an SHT31 is good to 0.2 C and 2 %. */
  noiseC: number;
  noiseHumidity: number;
}

export const INDOOR: ClimateModel = { meanC: 21, amplitudeC: 3, meanHumidity: 50, humidityPerDegree: 2.5, noiseC: 0.2, noiseHumidity: 1 };

/** The air at the sensor. */
export class Room {
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #model: ClimateModel;

  constructor(source: Pick<Device, "now" | "random">, model: ClimateModel = INDOOR) {
    this.#now = () => source.now();
    this.#random = () => source.random();
    this.#model = model;
  }

  /** The noiseless temperature at a time (ms since the epoch): a sine peaking at 15:00, lowest at 03:00. */
  expectedCelsius(at: number): number {
    const hour = ((at % DAY_MS) + DAY_MS) % DAY_MS / 3_600_000;
    return this.#model.meanC + this.#model.amplitudeC * Math.sin(((hour - 9) / 24) * 2 * Math.PI);
  }

  climate(): Climate {
    const m = this.#model;
    const celsius = this.expectedCelsius(this.#now()) + (this.#random() * 2 - 1) * m.noiseC;
    const humidity = m.meanHumidity - m.humidityPerDegree * (celsius - m.meanC) + (this.#random() * 2 - 1) * m.noiseHumidity;
    return { celsius, humidity: Math.min(100, Math.max(0, humidity)) };
  }
}

/** The emulated parts, for tests that inject faults. */
export interface EmulatedNode {
  buses: Buses;
  i2c: EmulatedI2C;
  sht: Sht3xModel;
  sleep: EmulatedDeepSleep;
}

export interface EmulatedNodeOptions {
  /** The physics; default the indoor Room on the device's clock and random(). */
  climate?: () => Climate;
  /** False: sleeps are only recorded and the caller wakes the node (tests). Default true. */
  wakeOnTimer?: boolean;
}

/** What the dashboard may do to a simulated node. */
export function nodeFaults(e: EmulatedNode): Record<string, HardwareFault> {
  return {
    absent: { label: "SHT31 stops answering / answers again", apply: () => { e.sht.faults.absent = !e.sht.faults.absent; } },
    corrupt: { label: "Three corrupt readings (CRC)", apply: () => { e.sht.faults.corrupt.count = 3; } },
  };
}

export function emulatedNode(device: Device, options: EmulatedNodeOptions = {}): EmulatedNode {
  const room = new Room(device);
  const sht = new Sht3xModel({ timer: device.timer, climate: options.climate ?? (() => room.climate()) });
  const address = BOARD.sensor.options.address as number;
  const i2c = new EmulatedI2C().attach(address, sht);
  const sleep = new EmulatedDeepSleep({ timer: options.wakeOnTimer === false ? undefined : device.timer });
  return { buses: { sensor: { io: i2c.io, ...BOARD.sensor.options }, sleep: { io: sleep.io, ...BOARD.sleep.options } }, i2c, sht, sleep };
}
