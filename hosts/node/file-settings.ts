// Device settings in one JSON file per device: the desktop stand-in for Preference/NVS.
// Each set rewrites the file through a temp file and a rename, so a crash leaves either the
// old or the new contents, never a torn file.

import * as fs from "node:fs";
import * as path from "node:path";
import type { SettingsStore } from "../../modules/device/settings.js";

export class FileSettings implements SettingsStore {
  readonly path: string;
  #values: Record<string, unknown>;

  constructor(filePath: string) {
    this.path = path.resolve(filePath);
    fs.mkdirSync(path.dirname(this.path), { recursive: true });
    this.#values = read(this.path);
  }

  get<T>(key: string): T | undefined {
    return this.#values[key] as T | undefined;
  }

  set(key: string, value: unknown): void {
    this.#write({ ...this.#values, [key]: JSON.parse(JSON.stringify(value)) });
  }

  delete(key: string): void {
    if (!(key in this.#values)) return;
    const next = { ...this.#values };
    delete next[key];
    this.#write(next);
  }

  #write(values: Record<string, unknown>): void {
    const temp = `${this.path}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(values, null, 1));
    fs.renameSync(temp, this.path);
    this.#values = values;
  }
}

/** A missing or corrupt file reads as empty: the product's defaults apply. */
function read(file: string): Record<string, unknown> {
  try {
    const value = JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {};
  } catch {
    return {};
  }
}
