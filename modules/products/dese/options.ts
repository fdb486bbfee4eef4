// Product options from the host's configuration (text values), with the defaults a device
// ships with. Timing knobs exist so tests and demos can run the same code faster.

import { DEFAULT_ORG } from "./topics.js";

/** Organisation and device ids as the schemas accept them: one topic level, no wildcards. */
export const ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function checkId(name: string, value: string): string {
  if (!ID_PATTERN.test(value)) throw new RangeError(`${name} must be 1 to 64 letters, digits, '.', '_' or '-': "${value}"`);
  return value;
}

export interface DeseOptions {
  /** Organisation id, the {org_id} topic level (seed line 41). */
  org: string;
  /** How often sensors are sampled for alerts and the dosing interlock, ms. */
  controlIntervalMs: number;
  /** Status period, ms (seed line 393: every 60 s). */
  statusIntervalMs: number;
  /** How long calibrate_sensor averages the probe, ms. */
  calibrationMs: number;
  /** Offline outbox bounds (drop-oldest when full). */
  outboxMaxMessages: number;
  outboxMaxBytes: number;
  /** Alert rate limit: a burst of this many, then one per alertRefillMs. */
  alertBurst: number;
  alertRefillMs: number;
}

export const DEFAULT_OPTIONS: Readonly<Omit<DeseOptions, "org">> = {
  controlIntervalMs: 5_000,
  statusIntervalMs: 60_000,
  calibrationMs: 5_000,
  // About 50 minutes of telemetry at the default 30 s, in ~48 KB of the ESP32's RAM.
  outboxMaxMessages: 100,
  outboxMaxBytes: 48 * 1024,
  alertBurst: 10,
  alertRefillMs: 6_000,
};

const KEYS: Record<Exclude<keyof DeseOptions, "org">, [string, number, number]> = {
  controlIntervalMs: ["control_interval_ms", 100, 3_600_000],
  statusIntervalMs: ["status_interval_ms", 100, 3_600_000],
  calibrationMs: ["calibration_ms", 0, 600_000],
  outboxMaxMessages: ["outbox_max_messages", 1, 10_000],
  outboxMaxBytes: ["outbox_max_bytes", 1024, 4 * 1024 * 1024],
  alertBurst: ["alert_burst", 1, 1000],
  alertRefillMs: ["alert_refill_ms", 1, 3_600_000],
};

/** Reads the options; throws RangeError naming the key for a value that is not a whole number in range. */
export function readOptions(config: Readonly<Record<string, string>>): DeseOptions {
  const options: DeseOptions = { org: checkId("org", config.org ?? DEFAULT_ORG), ...DEFAULT_OPTIONS };
  for (const [field, [key, min, max]] of Object.entries(KEYS) as [keyof typeof KEYS, [string, number, number]][]) {
    const text = config[key];
    if (text === undefined) continue;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`config ${key} must be a whole number from ${min} to ${max}, not "${text}"`);
    options[field] = n;
  }
  return options;
}
