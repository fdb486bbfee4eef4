// A room that warms while the heater is on and cools towards 12 °C otherwise.

import type { Device } from "../../modules/device/device.js";
import type { ThermostatHardware } from "./hardware.js";

export class SimulatedRoom implements ThermostatHardware {
  #celsius = 16;
  #heating = false;
  #at: number;
  readonly #device: Device;

  constructor(device: Device) {
    this.#device = device;
    this.#at = device.now();
  }

  temperature(): number {
    const now = this.#device.now();
    const hours = (now - this.#at) / 3_600_000;
    this.#at = now;
    this.#celsius += hours * (this.#heating ? 3 : (12 - this.#celsius) * 0.5);
    return Math.round(this.#celsius * 10) / 10;
  }

  heat(on: boolean): void {
    this.temperature();
    this.#heating = on;
  }
}
