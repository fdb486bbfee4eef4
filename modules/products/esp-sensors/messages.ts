// The sensor-data payload (schemas/sensor-data.schema.json): one reading in the configured
// unit, rounded to the sensor's resolution, with the time it was taken and the version of the
// configuration in effect.

import type { ClimateReading } from "./hardware.js";

export interface SensorData {
  [key: string]: number | string;
  temperature: number;
  humidity: number;
  /** Seconds since the epoch when read (host clock). */
  uptime: number;
  unit: "C" | "F";
  /** Version of the configuration in effect when read (0: host defaults). */
  config_version: number;
}

/**
 * Within what the message carries (-40..80 C, the sensor-data schema's) and what an SHT31
 * measures (-40..125 C, 0..100 %): anything else is a faulty read or a broken part, not weather.
 */
export function plausible(r: ClimateReading): boolean {
  return r.celsius >= -40 && r.celsius <= 80 && r.humidity >= 0 && r.humidity <= 100;
}

export function sensorData(r: ClimateReading, unit: "C" | "F", atMs: number, configVersion: number): SensorData {
  return {
    temperature: round1(unit === "F" ? r.celsius * 9 / 5 + 32 : r.celsius),
    humidity: round1(r.humidity),
    uptime: Math.round(atMs) / 1000,
    unit,
    config_version: configVersion,
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
