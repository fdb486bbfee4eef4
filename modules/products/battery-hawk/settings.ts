// Associations made by the associate command, persisted in the host's settings store so they
// survive a restart; they override the configured `associations` option.

import { isVehicleId, normalizeMac } from "./ids.js";

export type StoredAssociations = { associations: Record<string, string> };

export const SETTINGS_KEY = "battery-hawk.associations";
export const DEFAULT_SETTINGS: StoredAssociations = { associations: {} };

/** Why a stored value is unusable (then the defaults apply), or undefined. At most `max` entries. */
export function associationsError(value: unknown, max: number): string | undefined {
  const map = (value as StoredAssociations | undefined)?.associations;
  if (typeof map !== "object" || map === null || Array.isArray(map)) return "associations must be an object";
  const entries = Object.entries(map);
  if (entries.length > max) return `more than max_monitors (${max}) associations`;
  for (const [mac, vehicleId] of entries) {
    if (normalizeMac(mac) !== mac) return `association key ${JSON.stringify(mac).slice(0, 40)} is not an upper-case MAC`;
    if (!isVehicleId(vehicleId)) return `association ${mac}: invalid vehicle id`;
  }
  return undefined;
}
