// Device configuration from the manifest's "config" and mcconfig key=value arguments
// (which arrive as strings), checked once at boot.

import config from "mc/config";

export interface BrokerAddress {
  host: string;
  port: number;
  tls: boolean;
}

/** Parses mqtt://host[:port] and mqtts://host[:port]. */
export function parseBrokerUrl(url: string): BrokerAddress {
  const match = /^(mqtts?):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(url);
  if (!match) throw new RangeError(`broker must be mqtt://host[:port] or mqtts://host[:port], not "${url}"`);
  const tls = match[1] === "mqtts";
  const port = match[3] ? Number(match[3]) : tls ? 8883 : 1883;
  if (port < 1 || port > 65535) throw new RangeError(`broker port out of range: ${port}`);
  return { host: match[2], port, tls };
}

/** A config value as a string ("" when absent). */
export function text(key: string): string {
  const value = (config as Record<string, unknown>)[key];
  return value === undefined || value === null ? "" : String(value);
}

/** A config value as a number, or the default when absent; throws when not a number. */
export function number(key: string, fallback: number): number {
  const raw = text(key);
  if (raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new RangeError(`config ${key} must be a number, not "${raw}"`);
  return value;
}
