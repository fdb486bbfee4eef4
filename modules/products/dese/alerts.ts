// Alerts without storms: a threshold alert is raised when a reading
// crosses a configured threshold and not again until the reading has come back inside by the
// sensor's hysteresis (an info alert says so). The product passes every alert through the
// shared TokenBucket as well, so nothing (a flapping probe, a flood of bad config messages)
// can make the device spam the broker.

import { SENSOR_SPECS } from "./sensors.js";
import type { SensorName } from "./sensors.js";
import type { Threshold } from "./settings.js";

export type Severity = "info" | "warning" | "critical";

/** An alert before its timestamp is added; fields as alert.schema.json. */
export interface Alert {
  severity: Severity;
  message: string;
  sensor?: SensorName;
  value?: number;
  threshold?: number;
}

type Band = "low" | "high";

/** Per-sensor threshold state with hysteresis. */
export class ThresholdMonitor {
  readonly #bands = new Map<SensorName, Band>();

  /** The alert this reading causes, if any: only on a change of band. */
  check(sensor: SensorName, value: number, threshold: Threshold | undefined): Alert | undefined {
    const band = this.#bands.get(sensor);
    const { label, hysteresis } = SENSOR_SPECS[sensor];
    if (!threshold) {
      this.#bands.delete(sensor);
      return undefined;
    }
    const { min, max } = threshold;
    if (band !== "high" && max !== undefined && value > max) {
      this.#bands.set(sensor, "high");
      return { severity: "warning", message: `${label} above threshold`, sensor, value, threshold: max };
    }
    if (band !== "low" && min !== undefined && value < min) {
      this.#bands.set(sensor, "low");
      return { severity: "warning", message: `${label} below threshold`, sensor, value, threshold: min };
    }
    if (band === "low" && (min === undefined || value >= min + hysteresis)) {
      this.#bands.delete(sensor);
      return min === undefined ? undefined : { severity: "info", message: `${label} back above threshold`, sensor, value, threshold: min };
    }
    if (band === "high" && (max === undefined || value <= max - hysteresis)) {
      this.#bands.delete(sensor);
      return max === undefined ? undefined : { severity: "info", message: `${label} back below threshold`, sensor, value, threshold: max };
    }
    return undefined;
  }

  /** Forgets a sensor's band (thresholds changed): a reading still outside alerts again. */
  reset(sensor?: SensorName): void {
    if (sensor === undefined) this.#bands.clear();
    else this.#bands.delete(sensor);
  }

  band(sensor: SensorName): Band | "normal" {
    return this.#bands.get(sensor) ?? "normal";
  }
}

/** Keeps a message within the schemas' 255 characters. */
export function clip(text: string, max = 255): string {
  return text.length <= max ? text : text.slice(0, max - 3) + "...";
}
