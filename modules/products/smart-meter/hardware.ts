// What the meter reads and drives. A board implements it over its ADC (current transformer,
// voltage divider), relay pin and Wi-Fi; simulation.ts implements it for the simulator and tests.

import type { Relay } from "../../device/hardware.js";

export interface Reading {
  /** RMS volts. */
  voltage: number;
  /** RMS amperes drawn by the load. */
  current: number;
}

export interface MeterHardware {
  /** The supply relay: closed (on) lets the load draw power. */
  readonly relay: Relay;
  /** An instantaneous reading; may throw when the sensor fails. */
  measure(): Reading;
  /** Wi-Fi signal strength in dBm. */
  rssi(): number;
}
