// The controller's configurable values (bess/control/config), their specified defaults,
// and how they map onto the MQTT client. Validated by the same schema as the config message.

import type { Validator } from "../../device/commands.js";
import type { BackoffOptions } from "../../mqtt/backoff.js";
import { LogLevel } from "../../device/logs.js";

export interface BessSettings extends Record<string, unknown> {
  /** Telemetry period, ms: every 5 s as specified. */
  telemetry_interval_ms: number;
  /** Most verbose level published to bess/logs/* (0 none ... 5 verbose). */
  log_level: number;
  /** Delay between reconnect attempts, ms (specified default 10 s). */
  reconnect_interval_ms: number;
  /** 0 = retry forever (the specified default). */
  max_reconnect_attempts: number;
}

export const SETTINGS_KEY = "bess.settings";

export const DEFAULT_SETTINGS: BessSettings = {
  telemetry_interval_ms: 5000,
  log_level: LogLevel.info,
  reconnect_interval_ms: 10_000,
  max_reconnect_attempts: 0,
};

export const SETTING_NAMES = Object.keys(DEFAULT_SETTINGS) as (keyof BessSettings & string)[];

/** Checks a whole settings object with the config message's validator (which requires a request_id). */
export function settingsValidator(validateConfig: Validator): Validator {
  return (value) => {
    if (typeof value !== "object" || value === null) return "settings must be an object";
    return validateConfig({ request_id: "settings", ...(value as object) });
  };
}

/** The settings' fields of a validated config message. */
export function settingsPatch(config: Record<string, unknown>): Partial<BessSettings> {
  const patch: Partial<BessSettings> = {};
  for (const name of SETTING_NAMES) if (config[name] !== undefined) (patch as Record<string, unknown>)[name] = config[name];
  return patch;
}

/**
 * The specified fixed retry interval on the client's backoff: a ceiling that never grows, with
 * the client's full jitter spreading attempts of a fleet over [0, interval).
 */
export function reconnectOptions(s: BessSettings): BackoffOptions {
  return { initialMs: s.reconnect_interval_ms, maxMs: s.reconnect_interval_ms, factor: 1, maxAttempts: s.max_reconnect_attempts };
}
