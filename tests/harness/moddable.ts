// Builds the firmware with the Moddable SDK's mcconfig for the lin simulator and runs it
// headless under Xvfb. Needs MODDABLE set to an SDK built by its Getting Started guide
// (tools in $MODDABLE/build/bin/lin/release) and Xvfb; available() says why not otherwise.

import { spawn, execFile } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { which } from "./mosquitto.js";

const run = promisify(execFile);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

function tools(): string | undefined {
  const sdk = process.env.MODDABLE;
  return sdk ? path.join(sdk, "build/bin/lin/release") : undefined;
}

/** Undefined when the lin tier can run here, else the reason it cannot. */
export function unavailable(): string | undefined {
  const bin = tools();
  if (!bin) return "MODDABLE is not set";
  for (const tool of ["mcconfig", "mcsim"]) {
    if (!fs.existsSync(path.join(bin, tool))) return `${tool} not found in ${bin}: build the SDK's lin tools first`;
  }
  if (!which("Xvfb")) return "Xvfb not installed (apt-get install xvfb)";
  return undefined;
}

/** How long one mcconfig build may take: 1-3 minutes alone, much longer on a loaded machine. */
export const BUILD_TIMEOUT_MS = 15 * 60_000;

export interface LinBuild {
  so: string;
  log: string;
  /** Where this build's Preference file (the device's outbox and settings) lives. */
  preferences: string;
  /** The build's intermediate folder: its makefile names every module in the image (imageModules()). */
  tmp: string;
}

/** A product's image manifest (one per product: that product, its drivers, the platform, and on lin its emulators). */
export function productManifest(product: string): string {
  return `hosts/moddable/products/${product}/manifest.json`;
}

/**
 * The modules a build holds, from the makefile mcconfig wrote: module name -> source file
 * (`$(MODULES_DIR)/modules/drivers/modbus.xsb: /repo/modules/drivers/modbus.js`, or the .ts
 * that tsc compiled for it).
 */
export function imageModules(makefile: string): Map<string, string> {
  const modules = new Map<string, string>();
  for (const m of makefile.matchAll(/^\$\(MODULES_DIR\)\/(\S+)\.xsb: (\S+)/gm)) modules.set(m[1], m[2]);
  return modules;
}

/**
 * The repository file a build's module came from, as a path without extension, or undefined
 * for the SDK's. tsc's output keeps the source's absolute path under $(TMP_DIR)/tsc/<module>/.
 */
export function repoSource(source: string): string | undefined {
  const at = source.indexOf(REPO + "/");
  return at < 0 ? undefined : path.relative(REPO, source.slice(at)).replace(/\.(ts|js)$/, "");
}

/**
 * The repository modules `entry` loads at run time, itself included, as paths without
 * extension ("modules/drivers/modbus"): relative imports and our modules imported by name
 * followed, `import type` and `export type` skipped (tsc erases them). What an image built from `entry` must hold.
 */
export function importClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const stack = [path.resolve(REPO, entry)];
  while (stack.length) {
    const file = stack.pop() as string;
    const id = path.relative(REPO, file).replace(/\.(ts|js)$/, "");
    if (seen.has(id)) continue;
    seen.add(id);
    const source = fs.readFileSync(file, "utf8");
    for (const m of source.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:[^;]*?\s+from\s+)?["']([^"']+)["']/gm)) {
      // Relative imports, and our modules imported by their manifest name ("hosts/moddable/esp32/deepsleep").
      if (m[1] || !/^(\.|hosts\/|modules\/)/.test(m[2])) continue;
      const target = (m[2].startsWith(".") ? path.resolve(path.dirname(file), m[2]) : path.join(REPO, m[2])).replace(/\.js$/, "");
      stack.push(fs.existsSync(`${target}.ts`) ? `${target}.ts` : `${target}.js`);
    }
  }
  return seen;
}

/**
 * Builds manifest.json (the platform apps: roundtrip, scenarios) for lin with mcconfig
 * key=value config; returns the path of mc.so. `manifest` builds another manifest instead: a
 * product's image (productManifest()), or one that includes ours and adds, say, resources.
 * Preference on lin is one JSON file under config.file.root, /tmp/ by default: shared by every
 * simulator on the machine, read once at start and rewritten whole on each change, so runs
 * would leak outboxes into each other and clobber each other's writes. Each build therefore
 * gets its own root, in its own output directory.
 */
export async function buildLin(name: string, config: Record<string, string | number>, manifest?: string): Promise<LinBuild> {
  const bin = tools() as string;
  const out = fs.mkdtempSync(path.join(os.tmpdir(), `lin-${name}-`));
  const root = path.join(out, "preferences");
  fs.mkdirSync(root);
  fs.mkdirSync(path.join(out, "build"));
  const wrapper = path.join(out, "manifest.json");
  fs.writeFileSync(wrapper, JSON.stringify({
    include: [path.resolve(REPO, manifest ?? "manifest.json")],
    config: { file: { root: `${root}/` } },
  }));
  const args = ["-m", "-p", "lin", "-o", path.join(out, "build"), wrapper, ...Object.entries(config).map(([k, v]) => `${k}=${v}`)];
  // mcconfig runs tsc from PATH: use this repo's TypeScript.
  const env = { ...process.env, PATH: `${path.join(REPO, "node_modules/.bin")}:${bin}:${process.env.PATH}` };
  try {
    const { stdout, stderr } = await run(path.join(bin, "mcconfig"), args, { cwd: REPO, env, maxBuffer: 64 << 20 });
    const log = stdout + stderr;
    // mcconfig names the build after the manifest's folder.
    const so = path.join(out, "build/bin/lin/mc/release", path.basename(out), "mc.so");
    if (!fs.existsSync(so)) throw new Error(`mcconfig produced no mc.so:\n${log}`);
    const configured = fs.readFileSync(path.join(out, "build/tmp/lin/mc/release", path.basename(out), "mc.config.js"), "utf8");
    if (!configured.includes(JSON.stringify(`${root}/`))) throw new Error(`the build did not take its own Preference root ${root}/:\n${configured}`);
    return { so, log, preferences: path.join(root, "modpreferences.json"), tmp: path.join(out, "build/tmp/lin/mc/release", path.basename(out)) };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`mcconfig failed: ${err.message}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
}

/** One simulator process under its own Xvfb display, with its trace output as lines. */
export class Simulator {
  readonly lines: string[] = [];
  #xvfb: ChildProcess;
  #sim: ChildProcess | undefined;
  #waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];

  private constructor(xvfb: ChildProcess) {
    this.#xvfb = xvfb;
  }

  static async start(so: string): Promise<Simulator> {
    const display = await freeDisplay();
    const xvfb = spawn(which("Xvfb") as string, [`:${display}`, "-nolisten", "tcp", "-screen", "0", "640x480x24"], { stdio: "ignore" });
    const sim = new Simulator(xvfb);
    // Xvfb creates its socket when ready.
    const socket = `/tmp/.X11-unix/X${display}`;
    for (let i = 0; i < 200 && !fs.existsSync(socket); i++) await new Promise((r) => setTimeout(r, 25));
    const mcsim = path.join(tools() as string, "mcsim");
    // stdbuf: mcsim's trace goes to stdout, which is block-buffered on a pipe.
    const child = spawn("stdbuf", ["-o0", "-e0", mcsim, so], { env: { ...process.env, DISPLAY: `:${display}` }, stdio: ["ignore", "pipe", "pipe"] });
    sim.#sim = child;
    let partial = "";
    const onData = (d: Buffer): void => {
      partial += d.toString();
      const parts = partial.split("\n");
      partial = parts.pop() as string;
      for (const line of parts) sim.#line(line);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    return sim;
  }

  #line(line: string): void {
    this.lines.push(line);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.test(line)) return true;
      w.resolve(line);
      return false;
    });
  }

  /** Resolves with the first line (already seen or future) that matches. */
  waitFor(pattern: RegExp, ms = 15_000): Promise<string> {
    const seen = this.lines.find((l) => pattern.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${ms} ms; output:\n${this.lines.join("\n")}`)), ms);
      this.#waiters.push({ test: (l) => pattern.test(l), resolve: (l) => { clearTimeout(timer); resolve(l); } });
    });
  }

  async stop(): Promise<void> {
    for (const child of [this.#sim, this.#xvfb]) {
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
  }
}

async function freeDisplay(): Promise<number> {
  for (let n = 90 + Math.floor(Math.random() * 400); ; n++) {
    if (!fs.existsSync(`/tmp/.X${n}-lock`) && !fs.existsSync(`/tmp/.X11-unix/X${n}`)) return n;
  }
}
