// Device settings in one JSON file per device: the desktop stand-in for Preference/NVS.
// Each set replaces the file through a temp file and a rename, so a crash leaves either the
// old or the new contents, never a torn file; the write happens behind the event loop (see
// file-writer.ts), and sets made while one is under way collapse into one. Nothing is read
// or made until first use, and a host that knows there is no file says so: booting
// thousands of new devices then does no file I/O per device.

import * as fs from "node:fs";
import type { SettingsStore } from "../../modules/device/settings.js";
import { FileWriter } from "./file-writer.js";

export interface FileSettingsOptions {
  /** The host knows there is no file (it listed the folder): the defaults apply unread. */
  absent?: boolean;
}

export class FileSettings implements SettingsStore {
  readonly path: string;
  readonly #writer: FileWriter;
  #values: Record<string, unknown> | undefined;

  constructor(filePath: string, options: FileSettingsOptions = {}) {
    this.#writer = FileWriter.for(filePath);
    this.path = this.#writer.path;
    if (options.absent && !this.#writer.busy) this.#values = {};
  }

  /** Failed writes (the values stay in memory). */
  set onError(report: (error: unknown) => void) {
    this.#writer.onError = report;
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

  /** Resolves once every set so far is on disk. */
  flushed(): Promise<void> {
    return this.#writer.flushed();
  }

  #read(): Record<string, unknown> {
    if (this.#values === undefined) {
      // Another instance's write may still be on its way: its contents are the truth.
      let text = this.#writer.pendingContents ?? "";
      if (!this.#writer.busy) {
        try {
          text = fs.readFileSync(this.path, "utf8");
        } catch {
          // missing or unreadable: the product's defaults apply
        }
      }
      this.#values = parse(text);
    }
    return this.#values;
  }

  #write(values: Record<string, unknown>): void {
    this.#writer.replace(JSON.stringify(values, null, 1));
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
