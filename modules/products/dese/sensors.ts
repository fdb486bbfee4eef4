// The six sensors of the telemetry field table: their ranges, rounding
// and how a raw reading becomes a published one. A reading that is missing or outside the
// sensor's range is never published as valid: a required sensor's value is clamped into
// range and flagged as a fault, an optional sensor's value is left out and flagged.

export const SENSORS = ["ph", "chlorine", "temperature", "orp", "tds", "flow_rate"] as const;
export type SensorName = (typeof SENSORS)[number];

/** Sensors the telemetry must always carry. */
export const REQUIRED_SENSORS: readonly SensorName[] = ["ph", "chlorine", "temperature"];

export interface SensorSpec {
  /** Measuring range, the same bounds as telemetry.schema.json. */
  min: number;
  max: number;
  /** Decimals published; 0 for the integer fields (orp, tds). */
  decimals: number;
  /** How alerts name it. */
  label: string;
  /** How far back inside a threshold a reading must come before the alert clears. */
  hysteresis: number;
}

export const SENSOR_SPECS: Readonly<Record<SensorName, SensorSpec>> = {
  ph: { min: 0, max: 14, decimals: 2, label: "pH level", hysteresis: 0.1 },
  chlorine: { min: 0, max: 100, decimals: 2, label: "Chlorine level", hysteresis: 0.1 },
  temperature: { min: -40, max: 125, decimals: 1, label: "Temperature", hysteresis: 0.5 },
  orp: { min: -2000, max: 2000, decimals: 0, label: "ORP level", hysteresis: 10 },
  tds: { min: 0, max: 100000, decimals: 0, label: "TDS level", hysteresis: 20 },
  flow_rate: { min: 0, max: 100000, decimals: 1, label: "Flow rate", hysteresis: 1 },
};

export function isSensor(name: unknown): name is SensorName {
  return typeof name === "string" && (SENSORS as readonly string[]).includes(name);
}

/** Raw, uncalibrated readings: NaN is a probe that gives no value (`errors` says why), absent a probe not fitted. */
export type RawReadings = Partial<Record<SensorName, number>> & { errors?: Partial<Record<SensorName, string>> };
export type Readings = Partial<Record<SensorName, number>>;

/** reading = raw x scale + offset (config.schema.json's calibration). */
export interface Calibration {
  offset: number;
  scale: number;
}
export type CalibrationTable = Partial<Record<SensorName, Calibration>>;

export interface SensorFault {
  sensor: SensorName;
  reason: string;
  /** The calibrated value when there was one. */
  value?: number;
}

export interface Sample {
  /** What telemetry may publish: in range, rounded, required sensors always present unless faulted without a value. */
  readings: Readings;
  /** Sensors whose reading is missing or out of range, at most one entry each. */
  faults: SensorFault[];
  /** False when a required sensor has no value at all, so no telemetry can be built. */
  complete: boolean;
}

export function round(value: number, decimals: number): number {
  const f = Math.pow(10, decimals);
  const r = Math.round(value * f) / f;
  return r === 0 ? 0 : r; // no -0 in JSON
}

export function calibrate(raw: number, calibration: Calibration | undefined): number {
  return calibration ? raw * calibration.scale + calibration.offset : raw;
}

/** Applies calibration, rounding and the range policy to one set of raw readings. */
export function sample(raw: RawReadings, calibration: CalibrationTable): Sample {
  const readings: Readings = {};
  const faults: SensorFault[] = [];
  let complete = true;
  for (const sensor of SENSORS) {
    const required = REQUIRED_SENSORS.includes(sensor);
    const r = raw[sensor];
    if (r === undefined && !required) continue; // not fitted
    const spec = SENSOR_SPECS[sensor];
    if (r === undefined || !Number.isFinite(r)) {
      const why = raw.errors?.[sensor];
      faults.push({ sensor, reason: why ? `no reading (${why})` : "no reading" });
      if (required) complete = false;
      continue;
    }
    const value = round(calibrate(r, calibration[sensor]), spec.decimals);
    if (value < spec.min || value > spec.max) {
      faults.push({ sensor, reason: `reading ${value} outside the sensor range ${spec.min} to ${spec.max}`, value });
      if (required) readings[sensor] = Math.min(spec.max, Math.max(spec.min, value));
      continue;
    }
    readings[sensor] = value;
  }
  return { readings, faults, complete };
}
