// The meter's configuration, from the host's text options (ProductHost.config), checked
// once at start: a bad value is a deployment mistake, reported as a RangeError naming it.

export interface MeterConfig {
  /** Balance units deducted per kWh (1: the balance is in kWh, as the schemas describe it). */
  tariff: number;
  /** At or below this balance the status is low_balance (the seed's "low_balance", line 193). */
  lowBalance: number;
  /** Consumption report period (seed line 179: every 30 s, configurable). */
  reportIntervalMs: number;
  /** Integration step: how often current and voltage are sampled, and the ledger persisted. */
  sampleIntervalMs: number;
  /** Periodic status (seed line 215 "or periodically"); 0 turns it off. */
  statusIntervalMs: number;
  /** Most closed reports kept until acknowledged (persisted journal); see README "Backlog". */
  maxBacklog: number;
}

export const CONFIG_DEFAULTS: Readonly<Record<string, string>> = {
  tariff: "1",
  lowBalance: "1",
  reportIntervalS: "30",
  sampleIntervalS: "5",
  statusIntervalS: "300",
  maxBacklog: "40",
};

function number(config: Readonly<Record<string, string>>, key: string, min: number, max: number): number {
  const text = config[key] ?? CONFIG_DEFAULTS[key];
  const value = Number(text);
  if (text === undefined || text.trim() === "" || !Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`config ${key} must be a number from ${min} to ${max}, not "${text}"`);
  }
  return value;
}

export function parseConfig(config: Readonly<Record<string, string>>): MeterConfig {
  const statusS = number(config, "statusIntervalS", 0, 86_400);
  const parsed: MeterConfig = {
    tariff: number(config, "tariff", 0.000001, 1_000_000),
    lowBalance: number(config, "lowBalance", 0, 1_000_000_000),
    reportIntervalMs: Math.round(number(config, "reportIntervalS", 0.1, 86_400) * 1000),
    sampleIntervalMs: Math.round(number(config, "sampleIntervalS", 0.1, 3_600) * 1000),
    statusIntervalMs: statusS === 0 ? 0 : Math.round(Math.max(statusS, 0.1) * 1000),
    maxBacklog: Math.floor(number(config, "maxBacklog", 1, 1_000)),
  };
  if (parsed.sampleIntervalMs > parsed.reportIntervalMs) {
    throw new RangeError(`config sampleIntervalS (${parsed.sampleIntervalMs / 1000}) must not exceed reportIntervalS (${parsed.reportIntervalMs / 1000})`);
  }
  return parsed;
}
