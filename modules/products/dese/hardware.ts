// What the controller needs from the water system: raw sensor readings, the pumps, and the
// board's battery and Wi-Fi. The simulation implements it; a board would over its ADCs,
// probe interfaces and relay outputs.

import type { RawReadings } from "./sensors.js";

/** Pump ids of the controller (set_pump's pump_id). */
export const PUMPS = {
  /** Circulation: moves water past the probes (flow_rate). */
  circulation: 1,
  /** pH minus (acid) dosing: lowers pH. */
  acid: 2,
  /** pH plus (base) dosing: raises pH. */
  base: 3,
  /** Chlorine dosing: raises free chlorine. */
  chlorine: 4,
} as const;

export interface DeseHardware {
  /** Ids of the pumps fitted. */
  readonly pumps: readonly number[];
  /** Raw (uncalibrated) readings now: NaN for a probe that gives no value, absent for one not fitted. */
  readSensors(): RawReadings;
  /** Switches a fitted pump; takes effect at once. */
  setPump(id: number, on: boolean): void;
  pumpOn(id: number): boolean;
  /** Battery charge, percent (0-100), or undefined on mains power. */
  battery(): number | undefined;
  /** Wi-Fi RSSI, dBm, or undefined when unknown. */
  signalStrength(): number | undefined;
}
