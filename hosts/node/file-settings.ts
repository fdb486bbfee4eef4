// Device settings in one JSON file per device: the desktop stand-in for Preference/NVS.
// Each set rewrites the file through a temp file and a rename, so a crash leaves either the
// old or the new contents, never a torn file. Nothing is read or made until first use, and a
// host that knows there is no file says so: booting thousands of new devices then does no
// file I/O per device.

import * as fs from "node:fs";
import * as path from "node:path";
import type { SettingsStore } from "../../modules/device/settings.js";

export interface FileSettingsOptions {
  /** The host knows there is no file (it listed the folder): the defaults apply unread. */
  absent?: boolean;
}

export class FileSettings implements SettingsStore {
  readonly path: string;
  #values: Record<string, unknown> | undefined;

  constructor(filePath: string, options: FileSettingsOptions = {}) {
    this.path = path.resolve(filePath);
    if (options.absent) this.#values = {};
  }

  get<T>(key: string): T | undefined {
    return this.#read()[key] as T | undefined;
  }

  set(key: string, value: unknown): void {
    this.#write({ ...this.#read(), [key]: JSON.parse(JSON.stringify(value)) });
  }

  delete(key: string): void {
    const values = this.#read();
    if (!(key in values)) return;
    const next = { ...values };
    delete next[key];
    this.#write(next);
  }

  #read(): Record<string, unknown> {
    if (this.#values === undefined) {
      let text = "";
      try {
        text = fs.readFileSync(this.path, "utf8");
      } catch {
        // missing or unreadable: the product's defaults apply
      }
      this.#values = parse(text);
    }
    return this.#values;
  }

  #write(values: Record<string, unknown>): void {
    const temp = `${this.path}.tmp`;
    const text = JSON.stringify(values, null, 1);
    try {
      fs.writeFileSync(temp, text);
    } catch (error) {
      // The folder is made at the first write, not at boot.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      fs.mkdirSync(path.dirname(this.path), { recursive: true });
      fs.writeFileSync(temp, text);
    }
    fs.renameSync(temp, this.path);
    this.#values = values;
  }
}

/** A missing or corrupt file reads as empty: the product's defaults apply. */
function parse(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {};
  } catch {
    return {};
  }
}
