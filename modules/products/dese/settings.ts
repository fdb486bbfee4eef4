// The device's persisted settings: the four configurable parameters of a config message and
// the two set-points of set_ph_target / set_chlorine_target. A config message (checked in
// config.ts) is merged into a patch and applied through Settings: the merged whole is
// validated again, persisted, and only then applied, so a rejected message changes nothing.

import { schemaValidator } from "../../device/schema.js";
import type { Validator } from "../../device/commands.js";
import { SENSORS, SENSOR_SPECS } from "./sensors.js";
import type { CalibrationTable, SensorName } from "./sensors.js";
import { config as configSchema } from "./validators.js";

export interface Threshold {
  /** Alert when the reading drops below this. */
  min?: number;
  /** Alert when the reading rises above this. */
  max?: number;
}
export type ThresholdTable = Partial<Record<SensorName, Threshold>>;

export interface DeseSettings extends Record<string, unknown> {
  /** Telemetry period, ms (default 30 s). */
  telemetry_interval: number;
  /** MQTT keepalive, s (default 60 s). */
  mqtt_keepalive: number;
  sensor_calibration: CalibrationTable;
  alert_thresholds: ThresholdTable;
  /** Set-point of the pH dosing pumps (set_ph_target). */
  ph_target: number;
  /** Set-point of the chlorine dosing pump (set_chlorine_target), ppm. */
  chlorine_target: number;
}

export const SETTINGS_KEY = "dese.settings";

/** What reset_config restores. Thresholds bracket a pool's usual water so a fresh device alerts sensibly. */
export const DEFAULT_SETTINGS: DeseSettings = {
  telemetry_interval: 30_000,
  mqtt_keepalive: 60,
  sensor_calibration: {},
  alert_thresholds: {
    ph: { min: 6.8, max: 8.0 },
    chlorine: { min: 0.5, max: 5.0 },
    temperature: { max: 35 },
  },
  ph_target: 7.4,
  chlorine_target: 2.0,
};

export const PH_TARGET_RANGE = { min: 0, max: 14 };
export const CHLORINE_TARGET_RANGE = { min: 0, max: 20 };

const validateConfigMessage: Validator = schemaValidator(configSchema);

/** Validates a whole settings value: the config schema's rules plus what a schema cannot say. */
export function validateSettings(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "settings must be an object";
  const s = value as DeseSettings;
  // Reuse the config message's schema for the four configurable parameters.
  const config: Record<string, unknown> = { telemetry_interval: s.telemetry_interval, mqtt_keepalive: s.mqtt_keepalive };
  if (s.sensor_calibration && Object.keys(s.sensor_calibration).length) config.sensor_calibration = s.sensor_calibration;
  if (s.alert_thresholds && Object.keys(s.alert_thresholds).length) config.alert_thresholds = s.alert_thresholds;
  const schemaError = validateConfigMessage({ device_id: "settings", config, timestamp: "2000-01-01T00:00:00Z" });
  if (schemaError) return schemaError;
  for (const sensor of SENSORS) {
    const t = s.alert_thresholds?.[sensor];
    if (t && t.min !== undefined && t.max !== undefined && t.min >= t.max) {
      return `config.alert_thresholds.${sensor}: min (${t.min}) must be below max (${t.max})`;
    }
  }
  if (!inRange(s.ph_target, PH_TARGET_RANGE)) return `ph_target must be a number from ${PH_TARGET_RANGE.min} to ${PH_TARGET_RANGE.max}`;
  if (!inRange(s.chlorine_target, CHLORINE_TARGET_RANGE)) return `chlorine_target must be a number from ${CHLORINE_TARGET_RANGE.min} to ${CHLORINE_TARGET_RANGE.max}`;
  return undefined;
}

function inRange(v: unknown, r: { min: number; max: number }): boolean {
  return typeof v === "number" && Number.isFinite(v) && v >= r.min && v <= r.max;
}

export interface ConfigMessage {
  device_id: string;
  config: {
    telemetry_interval?: number;
    mqtt_keepalive?: number;
    sensor_calibration?: Partial<Record<SensorName, { offset?: number; scale?: number }>>;
    alert_thresholds?: ThresholdTable;
  };
  timestamp: string;
}

/**
 * The settings patch a valid config message asks for. Calibration and thresholds are replaced
 * per sensor (a sensor not named keeps its entry); a calibration entry's missing half takes
 * its neutral value (offset 0, scale 1).
 */
export function patchFor(config: ConfigMessage["config"], current: Readonly<DeseSettings>): Partial<DeseSettings> {
  const patch: Partial<DeseSettings> = {};
  if (config.telemetry_interval !== undefined) patch.telemetry_interval = config.telemetry_interval;
  if (config.mqtt_keepalive !== undefined) patch.mqtt_keepalive = config.mqtt_keepalive;
  if (config.sensor_calibration) {
    const table: CalibrationTable = { ...current.sensor_calibration };
    for (const sensor of SENSORS) {
      const c = config.sensor_calibration[sensor];
      if (c) table[sensor] = { offset: c.offset ?? 0, scale: c.scale ?? 1 };
    }
    patch.sensor_calibration = table;
  }
  if (config.alert_thresholds) {
    const table: ThresholdTable = { ...current.alert_thresholds };
    for (const sensor of SENSORS) {
      const t = config.alert_thresholds[sensor];
      if (t) table[sensor] = { ...t };
    }
    patch.alert_thresholds = table;
  }
  return patch;
}

/** The reference value a calibration may aim at: inside the sensor's range. */
export function calibrationTargetError(sensor: SensorName, value: number): string | undefined {
  const spec = SENSOR_SPECS[sensor];
  return value < spec.min || value > spec.max
    ? `parameters.value: ${value} is outside the ${sensor} sensor's range ${spec.min} to ${spec.max}`
    : undefined;
}
