// Device settings: typed values with defaults, persisted through the host's store, and
// updated atomically: a patch is merged, the whole result validated, persisted, and only
// then applied and announced. A rejected patch changes nothing.

import type { Validator } from "./commands.js";

/** Key/value persistence the host provides (Preference on Moddable, a file on Node). */
export interface SettingsStore {
  get<T>(key: string): T | undefined;
  set(key: string, value: unknown): void;
  delete(key: string): void;
}

export class MemorySettingsStore implements SettingsStore {
  readonly values = new Map<string, string>();
  get<T>(key: string): T | undefined {
    const v = this.values.get(key);
    return v === undefined ? undefined : JSON.parse(v) as T;
  }
  set(key: string, value: unknown): void {
    this.values.set(key, JSON.stringify(value));
  }
  delete(key: string): void {
    this.values.delete(key);
  }
}

export type UpdateResult<T> = { ok: true; value: T; changed: (keyof T)[] } | { ok: false; error: string };

export class Settings<T extends Record<string, unknown>> {
  readonly #store: SettingsStore;
  readonly #key: string;
  readonly #defaults: T;
  readonly #validate: Validator;
  #value: T;
  #listeners: ((value: T, changed: (keyof T)[]) => void)[] = [];

  /**
   * Loads the stored value over the defaults; a stored value that no longer validates
   * (corrupt, or from an older firmware) is dropped in favour of the defaults.
   */
  constructor(store: SettingsStore, key: string, defaults: T, validate: Validator) {
    this.#store = store;
    this.#key = key;
    this.#defaults = defaults;
    this.#validate = validate;
    const stored = safeGet<Partial<T>>(store, key);
    const merged = { ...defaults, ...(stored ?? {}) };
    this.#value = stored && !validate(merged) ? merged : { ...defaults };
  }

  get value(): Readonly<T> {
    return this.#value;
  }

  onChange(listener: (value: T, changed: (keyof T)[]) => void): void {
    this.#listeners.push(listener);
  }

  /** Validates and applies a partial update; persists before anyone sees the new value. */
  update(patch: Partial<T>): UpdateResult<T> {
    if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
      return { ok: false, error: "config update must be a JSON object" };
    }
    const next = { ...this.#value, ...patch };
    const error = this.#validate(next);
    if (error) return { ok: false, error };
    const changed = (Object.keys(patch) as (keyof T)[]).filter((k) => !same(this.#value[k], next[k]));
    if (changed.length === 0) return { ok: true, value: this.#value, changed };
    try {
      this.#store.set(this.#key, next);
    } catch (e) {
      return { ok: false, error: `could not persist settings: ${e instanceof Error ? e.message : String(e)}` };
    }
    this.#value = next;
    for (const l of this.#listeners) l(next, changed);
    return { ok: true, value: next, changed };
  }

  /** Back to the defaults, persisted. */
  reset(): T {
    this.#store.delete(this.#key);
    this.#value = { ...this.#defaults };
    for (const l of this.#listeners) l(this.#value, Object.keys(this.#defaults) as (keyof T)[]);
    return this.#value;
  }
}

function safeGet<V>(store: SettingsStore, key: string): V | undefined {
  try {
    return store.get<V>(key);
  } catch {
    return undefined;
  }
}

function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
