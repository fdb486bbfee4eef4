// Readings not yet published, persisted so they survive deep sleep and an unreachable broker.
// Data goes out at QoS 0, which the client does not queue while offline, so the node keeps
// its own queue: every reading enters here first (persisted before any publish), and leaves
// only once the client has written it to the broker's socket. Bounded: when full, the oldest
// reading is dropped (the newest say most about now) and the drop is reported.
// Stored compactly ([temperature, humidity, uptime, unit, config_version] per reading) so
// 64 readings stay well inside one ~4 KB Preference value on the ESP32.

import type { SettingsStore } from "../../device/settings.js";
import type { SensorData } from "./messages.js";

/** Where the backlog persists (Preference keys are at most 15 characters). */
export const BACKLOG_KEY = "espbacklog";

type Packed = [number, number, number, "C" | "F", number];

export const MAX_BACKLOG = 64;

export class Backlog {
  readonly limit: number;
  readonly #store: SettingsStore;
  readonly #key: string;
  #items: SensorData[];

  constructor(store: SettingsStore, key: string, limit: number) {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_BACKLOG) throw new RangeError(`backlog limit must be 1..${MAX_BACKLOG}, not ${limit}`);
    this.#store = store;
    this.#key = key;
    this.limit = limit;
    this.#items = load(store, key).slice(-limit);
  }

  get items(): readonly SensorData[] {
    return this.#items;
  }

  /** Adds a reading, persisted; returns the readings dropped to make room (oldest first). */
  push(reading: SensorData): SensorData[] {
    this.#items.push(reading);
    const dropped = this.#items.splice(0, Math.max(0, this.#items.length - this.limit));
    this.#save();
    return dropped;
  }

  /** Removes the given readings (those published), persisted. */
  remove(published: readonly SensorData[]): void {
    if (published.length === 0) return;
    const gone = new Set(published);
    this.#items = this.#items.filter((r) => !gone.has(r));
    this.#save();
  }

  #save(): void {
    this.#store.set(this.#key, this.#items.map((r): Packed => [r.temperature, r.humidity, r.uptime, r.unit, r.config_version]));
  }
}

function load(store: SettingsStore, key: string): SensorData[] {
  let stored: unknown;
  try {
    stored = store.get(key);
  } catch {
    return [];
  }
  if (!Array.isArray(stored)) return [];
  const out: SensorData[] = [];
  for (const p of stored) {
    // A malformed entry (corruption, older firmware) is skipped, not fatal.
    if (!Array.isArray(p) || p.length !== 5) continue;
    const [temperature, humidity, uptime, unit, config_version] = p as unknown[];
    if (typeof temperature !== "number" || typeof humidity !== "number" || typeof uptime !== "number" ||
      (unit !== "C" && unit !== "F") || typeof config_version !== "number") continue;
    out.push({ temperature, humidity, uptime, unit, config_version });
  }
  return out;
}
