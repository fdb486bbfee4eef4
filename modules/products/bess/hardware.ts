// What the controller needs from the battery system: the power converter (mode and limits)
// and the battery management system's measurements. The simulation implements it; a real
// board would over its BMS/PCS bus.

export type Mode = "charge" | "discharge" | "idle";

export interface ModeLimits {
  /** Largest |power| in kW the converter may draw or deliver. */
  powerLimitKw: number;
  /** Discharging stops at this state of charge, percent. */
  socMin: number;
}

export interface BessReading {
  /** Pack terminal voltage, V. */
  voltage: number;
  /** Pack current, A: positive while discharging, negative while charging. */
  current: number;
  /** voltage x current / 1000, kW: positive while delivering power. */
  powerKw: number;
  /** State of charge, percent. */
  soc: number;
  /** State of health, percent. */
  soh: number;
  /** Temperature of each battery module, degrees C (module ids are the indices + 1). */
  moduleTemps: number[];
}

export interface BessHardware {
  /** Commands the converter; takes effect at once. */
  setMode(mode: Mode, limits: ModeLimits): void;
  readonly mode: Mode;
  /** The state now (a simulation integrates up to the device's now() first). */
  read(): BessReading;
}
