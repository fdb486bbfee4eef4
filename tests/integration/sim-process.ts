// The built simulator and companion as processes, for the tests that run them as a user does.

import { execFile } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const MAIN = path.resolve(here, "../../hosts/node/main.js");
export const CMD = path.resolve(here, "../../hosts/node/cmd.js");

/** The simulator's output, line by line, with a way to await a line. */
export class Output {
  readonly lines: string[] = [];
  #waiters: { test: (line: string) => boolean; resolve: () => void }[] = [];
  #partial = "";

  constructor(child: ChildProcess) {
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      const parts = (this.#partial + chunk).split("\n");
      this.#partial = parts.pop()!;
      for (const line of parts) {
        this.lines.push(line);
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.test(line)) return true;
          w.resolve();
          return false;
        });
      }
    });
  }

  waitFor(test: (line: string) => boolean, ms: number, what: string): Promise<void> {
    if (this.lines.some(test)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms; output:\n${this.lines.slice(-40).join("\n")}`)), ms);
      this.#waiters.push({ test, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }
}

export function run(file: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { cwd, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

