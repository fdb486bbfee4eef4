// `npm start` as a user runs it: the built simulator process with its embedded aedes broker.
// Within 10 s of launch every product must be connected and have published, and the
// companion (`npm run cmd`) must get a response from a device of each product.

import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { products } from "../../modules/products/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.resolve(here, "../../hosts/node/main.js");
const CMD = path.resolve(here, "../../hosts/node/cmd.js");

/** The simulator's output, line by line, with a way to await a line. */
class Output {
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

function run(file: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { cwd, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe("npm start: the desktop simulator", function () {
  this.timeout(60_000);
  let child: ChildProcess;
  let output: Output;
  let cwd: string;
  let started: number;

  before(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), "sim-"));
    started = Date.now();
    child = spawn(process.execPath, [MAIN, "--port", "0", "--duration", "120"], { cwd, stdio: ["ignore", "pipe", "inherit"] });
    output = new Output(child);
  });

  after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      await exited;
    }
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it("shows every product connected and publishing within 10 s", async () => {
    await Promise.all(products.map(async (p) => {
      const label = `${p.name}/${p.deviceId(0)}`;
      await output.waitFor((l) => l.includes(` ${label} connected`), 10_000 - (Date.now() - started), `${label} connected`);
      await output.waitFor((l) => l.includes(` ${label} > `), 10_000 - (Date.now() - started), `a message published by ${label}`);
    }));
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });

  for (const p of products) {
    it(`the companion gets a response from ${p.name}`, async () => {
      const { command, params } = p.example;
      const pairs = Object.entries(params).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
      const result = await run(CMD, [p.name, p.deviceId(0), command, ...pairs], cwd);
      assert.equal(result.code, 0, `cmd ${p.name} ${command} exited ${result.code}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, /^< /m, result.stdout);
      // The simulator saw the command reach the device.
      assert.ok(output.lines.some((l) => l.includes(`${p.name}/${p.deviceId(0)} < `)), `no command shown for ${p.name}`);
    });
  }

  it("the companion explains a bad command without sending it", async () => {
    const result = await run(CMD, ["dese", "esp32-001", "no_such_command"], cwd);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /no_such_command|unknown/i);
  });
});
