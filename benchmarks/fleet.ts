// The fleet: N product devices of all five products in one process, built the way `npm start`
// builds them (nodePlatform + Device + simulate(definition, device), file stores in a state
// folder, per-device roots), against a broker in its own process (aedes in a child Node
// process, or mosquitto), beside N bare clients of ours and of mqtt.js.
//
//   npm run bench:fleet                      (10,000 devices: 2,000 per product; 5 runs)
//   node --expose-gc build/benchmarks/fleet.js --devices 1000 --runs 5 --brokers aedes,mosquitto
//
// Each (run, broker) is a fresh worker process (so one run's heap cannot leak into the next):
//   heap   process.memoryUsage().heapUsed after global.gc(), minus the same before the fleet;
//          the products boot one after another so each product's share is measured alone.
//   boot   from the first device created to the last one connected: wall time, busy time
//          (event-loop utilisation) and how much of it is synchronous file I/O (every fs.*Sync
//          call is timed).
//   restart the broker stops (SIGTERM) and starts again on the same port; the time from its
//          start until all N devices are connected again, the most connects in any 1 s, the
//          max event-loop stall (perf_hooks.monitorEventLoopDelay, from the stop until all are
//          back) and the first retry delays the clients chose (full jitter from the first one).
// The bare clients (our MqttClient and mqtt.js, connected and idle) run in their own workers.

import { spawn } from "node:child_process";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import * as v8 from "node:v8";

const SELF = fileURLToPath(import.meta.url);

// A node that sleeps between wakes, and after failed connects skips wakes by its reconnect
// strategy (battery first): when it is back is its schedule's doing, not the broker's. The
// restart's "all back" leaves it out; how many of them were back is printed beside it.
const SLEEPS = new Set(["esp-sensors"]);

interface Args {
  devices: number;
  runs: number;
  brokers: string[];
  bare: boolean;
  snapshot: boolean;
  worker?: string;
  /** Another build's fleet.js, run alternately with this one in the same run, for ratios. */
  baseline?: string;
  /** Only these products (for heap analysis); default all five. */
  products?: string[];
  broker: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { devices: 10_000, runs: 5, brokers: ["aedes", "mosquitto"], bare: true, snapshot: false, broker: "aedes" };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => argv[++i] ?? "";
    if (flag === "--devices") args.devices = Number(value());
    else if (flag === "--runs") args.runs = Number(value());
    else if (flag === "--brokers") args.brokers = value().split(",");
    else if (flag === "--no-bare") args.bare = false;
    else if (flag === "--snapshot") args.snapshot = true;
    else if (flag === "--products") args.products = value().split(",");
    else if (flag === "--baseline") args.baseline = path.resolve(value());
    else if (flag === "--worker") args.worker = value();
    else if (flag === "--broker") args.broker = value();
    else throw new RangeError(`unknown option ${flag}; options: --devices N --runs R --brokers aedes,mosquitto --no-bare --snapshot --products a,b --baseline other/build/benchmarks/fleet.js`);
  }
  if (!Number.isInteger(args.devices) || args.devices < 5) throw new RangeError("--devices must be an integer >= 5");
  if (!Number.isInteger(args.runs) || args.runs < 1) throw new RangeError("--runs must be a positive integer");
  return args;
}

// ---- the broker, in its own process ----

interface BrokerHandle {
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

/** aedes in a child Node process on a fixed port (restartable on the same port). */
async function aedesBroker(): Promise<BrokerHandle> {
  let child: ReturnType<typeof spawn> | undefined;
  let port = 0;
  const launch = async (): Promise<void> => {
    // Its stdin is ours: it ends when we do, even if we are killed.
    const c = spawn(process.execPath, [SELF, "--worker", "aedes-broker", "--broker", String(port)], { stdio: ["pipe", "pipe", "inherit"] });
    child = c;
    port = await new Promise<number>((resolve, reject) => {
      c.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
      c.once("exit", (code) => reject(new Error(`aedes child exited (${code})`)));
    });
  };
  const stop = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    child = undefined;
    await new Promise<void>((resolve) => { c.once("exit", () => resolve()); c.kill("SIGTERM"); });
  };
  await launch();
  return { get port() { return port; }, stop, start: launch, dispose: stop };
}

async function mosquittoBroker(): Promise<BrokerHandle> {
  const { Mosquitto } = await import("../tests/harness/mosquitto.js");
  // 10,000 clients: no connection cap, and no log line per connect to slow it down.
  const m = await Mosquitto.start({ extra: ["max_connections -1", "connection_messages false"] });
  return { port: m.port, stop: () => m.stop(), start: () => m.restart().then(() => {}), dispose: () => m.dispose() };
}

/** The aedes child: a fresh in-memory aedes on the port given (0: any), printed when listening. */
async function runAedesChild(port: number): Promise<void> {
  const { Aedes } = await import("aedes");
  const aedes = await Aedes.createBroker();
  const server = net.createServer((socket) => aedes.handle(socket));
  server.listen(port, "127.0.0.1", () => process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`));
  process.on("SIGTERM", () => process.exit(0));
  process.stdin.on("end", () => process.exit(0)).resume();
}

// ---- measuring ----

/** Times every synchronous fs call (the stores' I/O) from now on. */
function timeSyncFs(): { ms: number; calls: number; byName: Record<string, number> } {
  const total = { ms: 0, calls: 0, byName: {} as Record<string, number> };
  const target = fs as unknown as Record<string, unknown>;
  for (const name of Object.keys(target)) {
    const f = target[name];
    if (!name.endsWith("Sync") || typeof f !== "function") continue;
    target[name] = function (this: unknown, ...a: unknown[]) {
      const t = performance.now();
      try {
        return (f as (...x: unknown[]) => unknown).apply(this, a);
      } finally {
        total.ms += performance.now() - t;
        total.calls++;
        total.byName[name] = (total.byName[name] ?? 0) + 1;
      }
    };
  }
  syncBuiltinESMExports(); // the `import * as fs` namespaces see the wrappers too
  return total;
}

function heap(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc");
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const start = Date.now();
    const poll = setInterval(() => {
      if (check()) { clearInterval(poll); resolve(true); }
      else if (Date.now() - start > timeoutMs) { clearInterval(poll); resolve(false); }
    }, 20);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---- workers ----

interface FleetResult {
  broker: string;
  devices: number;
  perProduct: Record<string, number>;
  perDevice: number;
  bootWallMs: number;
  bootBusyMs: number;
  bootFsMs: number;
  bootFsCalls: number;
  /** Devices that had connected by the end of boot (each product is given 120 s). */
  booted: number;
  /** Synchronous fs calls during boot, by function (appendFileSync also counts as a writeFileSync). */
  fsCalls: Record<string, number>;
  backMs: number | undefined;
  back: number;
  /** Devices not back after the restart, by product. */
  missing: Record<string, number>;
  stallMs: number;
  /** The largest event-loop delay in the 11 s before the restart: the fleet's own, for comparison. */
  steadyStallMs: number;
  peakConnectsPerS: number;
  firstRetryMs: { min: number; median: number; max: number };
}

async function fleetWorker(args: Args): Promise<FleetResult> {
  const syncFs = timeSyncFs();
  const all = (await import("../modules/products/index.js")).products;
  const products = all.filter((d) => !args.products || args.products.includes(d.name));
  const { Device } = await import("../modules/device/device.js");
  const { simulate } = await import("../modules/device/product.js");
  const { nodePlatform } = await import("../hosts/node/platform.js");
  const { configFor } = await import("../hosts/node/session.js");
  const broker = args.broker === "mosquitto" ? await mosquittoBroker() : await aedesBroker();
  const state = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-"));
  const count = Math.floor(args.devices / products.length);
  const fleet: { product: string; device: InstanceType<typeof Device>; connected: boolean; connects: number; firstRetry?: number }[] = [];
  let connectedNow = 0;
  try {
    const base = heap();
    let before = base;
    const perProduct: Record<string, number> = {};
    const elu0 = performance.eventLoopUtilization();
    const bootStart = performance.now();
    const fs0 = { ms: syncFs.ms, calls: syncFs.calls, byName: { ...syncFs.byName } };
    let gcMs = 0; // the measuring GCs between products, not the fleet's
    for (const [p, definition] of products.entries()) {
      const first = fleet.length;
      for (let i = 0; i < count; i++) {
        const deviceId = definition.deviceId(i);
        const config = configFor(definition, {}, deviceId, count);
        const platform = nodePlatform({
          product: definition.name, deviceId, config, stateDir: state, seed: p * count + i,
          broker: { host: "127.0.0.1", port: broker.port }, log: () => {},
        });
        const device = new Device(platform);
        const entry: (typeof fleet)[number] = { product: definition.name, device, connected: false, connects: 0 };
        device.on("connected", () => { entry.connected = true; entry.connects++; connectedNow++; });
        device.on("disconnected", ({ reconnectInMs }) => {
          if (entry.connected) connectedNow--;
          entry.connected = false;
          if (entry.firstRetry === undefined && reconnectInMs !== undefined) entry.firstRetry = reconnectInMs;
        });
        simulate(definition, device).product.start();
        fleet.push(entry);
      }
      const mine = fleet.slice(first);
      // Each once (a sleeping node is connected only while awake); a straggler is counted, not fatal.
      if (!await until(() => mine.every((e) => e.connects > 0), 120_000)) {
        process.stderr.write(`${definition.name}: ${mine.filter((e) => e.connects > 0).length}/${count} connected within 120 s\n`);
      }
      const g = performance.now();
      const h = heap();
      gcMs += performance.now() - g;
      perProduct[definition.name] = (h - before) / count;
      before = h;
    }
    const bootWallMs = performance.now() - bootStart - gcMs;
    const elu = performance.eventLoopUtilization(elu0);
    const bootFsMs = syncFs.ms - fs0.ms;
    const bootFsCalls = syncFs.calls - fs0.calls;
    const fsCalls: Record<string, number> = {};
    for (const [name, n] of Object.entries(syncFs.byName)) if (n > (fs0.byName[name] ?? 0)) fsCalls[name] = n - (fs0.byName[name] ?? 0);
    const perDevice = (before - base) / fleet.length;
    if (args.snapshot) process.stderr.write(`heap snapshot: ${v8.writeHeapSnapshot()}\n`);

    // Mass reconnect: the broker restarts; everyone comes back. Connections older than the
    // client's stableMs (10 s) start their backoff afresh, as in a fleet that has been up a while.
    const steady = monitorEventLoopDelay({ resolution: 10 });
    steady.enable();
    await delay(11_000);
    steady.disable();
    const stall = monitorEventLoopDelay({ resolution: 10 });
    stall.enable();
    for (const e of fleet) e.firstRetry = undefined;
    await broker.stop();
    await until(() => connectedNow === 0, 30_000);
    const booted = fleet.filter((e) => e.connects > 0).length;
    for (const e of fleet) e.connects = 0;
    await broker.start();
    const up = performance.now();
    const perSecond: number[] = [];
    const sampler = setInterval(() => perSecond.push(fleet.reduce((n, e) => n + e.connects, 0)), 1_000);
    const allBack = await until(() => fleet.every((e) => e.connects > 0 || SLEEPS.has(e.product)), 120_000);
    const backMs = allBack ? performance.now() - up : undefined;
    clearInterval(sampler);
    stall.disable();
    perSecond.push(fleet.reduce((n, e) => n + e.connects, 0));
    const rates = perSecond.map((n, i) => n - (perSecond[i - 1] ?? 0));
    const missing: Record<string, number> = {};
    for (const e of fleet) if (e.connects === 0) missing[e.product] = (missing[e.product] ?? 0) + 1;
    const retries = fleet.map((e) => e.firstRetry ?? NaN).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
    return {
      broker: args.broker, devices: fleet.length, perProduct, perDevice,
      bootWallMs, bootBusyMs: elu.active - gcMs, bootFsMs, bootFsCalls, booted, fsCalls,
      backMs, back: fleet.filter((e) => e.connects > 0).length, missing,
      stallMs: stall.max / 1e6, steadyStallMs: steady.max / 1e6, peakConnectsPerS: Math.max(0, ...rates),
      firstRetryMs: { min: retries[0] ?? NaN, median: retries[retries.length >> 1] ?? NaN, max: retries[retries.length - 1] ?? NaN },
    };
  } finally {
    for (const e of fleet) e.device.abort();
    await broker.dispose();
    await (await import("../hosts/node/file-writer.js")).flushAll(); // the stores write behind; then the folder goes
    fs.rmSync(state, { recursive: true, force: true });
  }
}

/** N bare clients, connected and idle: heap per client. */
async function bareWorker(args: Args, kind: "ours" | "mqtt.js"): Promise<{ perClient: number; connectMs: number }> {
  const broker = args.broker === "mosquitto" ? await mosquittoBroker() : await aedesBroker();
  const closers: (() => void)[] = [];
  try {
    const base = heap();
    const start = performance.now();
    let connected = 0;
    if (kind === "ours") {
      const { createNodeClient } = await import("../hosts/node/client.js");
      for (let i = 0; i < args.devices; i++) {
        const c = createNodeClient({ host: "127.0.0.1", port: broker.port, clientId: `bare-${i}`, reconnect: { initialMs: 500, maxMs: 10_000 } });
        c.on("error", () => {});
        c.connect().then(() => { connected++; }, () => {});
        closers.push(() => c.abort());
      }
    } else {
      const mqtt = (await import("mqtt")).default;
      for (let i = 0; i < args.devices; i++) {
        const c = mqtt.connect({ host: "127.0.0.1", port: broker.port, clientId: `bare-${i}`, reconnectPeriod: 1_000 });
        c.on("error", () => {});
        c.once("connect", () => { connected++; });
        closers.push(() => c.end(true));
      }
    }
    if (!await until(() => connected === args.devices, 120_000)) throw new Error(`${kind}: ${connected}/${args.devices} connected within 120 s`);
    const connectMs = performance.now() - start;
    return { perClient: (heap() - base) / args.devices, connectMs };
  } finally {
    for (const close of closers) close();
    await broker.dispose();
  }
}

// ---- the parent: runs the workers and prints median (min..max) ----

function runWorker(args: string[], script = SELF): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", script, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => { out += d.toString(); });
    child.once("exit", (code) => {
      const last = out.trim().split("\n").pop() ?? "";
      if (code === 0) resolve(JSON.parse(last));
      else reject(new Error(`worker ${args.join(" ")} exited ${code}: ${out}`));
    });
  });
}

function stats(xs: number[], digits = 1): string {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return "n/a";
  const m = s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return `${m.toFixed(digits)} (${s[0].toFixed(digits)}..${s[s.length - 1].toFixed(digits)})`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.worker === "aedes-broker") return runAedesChild(Number(args.broker));
  if (args.worker) {
    const result = args.worker === "fleet" ? await fleetWorker(args) : await bareWorker(args, args.worker as "ours" | "mqtt.js");
    process.stdout.write(JSON.stringify(result) + "\n");
    process.exit(0);
  }
  const { which } = await import("../tests/harness/mosquitto.js");
  const brokers = args.brokers.filter((b) => b !== "mosquitto" || which("mosquitto"));
  console.log(`Fleet: ${args.devices} devices (${args.devices / 5} per product), ${args.runs} runs, brokers ${brokers.join(", ")} (each in its own process); ` +
    `machine: ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} at start; ` +
    `fd limit ${(await import("node:child_process")).execSync("ulimit -n", { shell: "/bin/sh" }).toString().trim()}; node ${process.version}`);
  const fleet: Record<string, FleetResult[]> = {};
  const bare: Record<string, { perClient: number; connectMs: number }[]> = { ours: [], "mqtt.js": [] };
  const common = ["--devices", String(args.devices), ...(args.products ? ["--products", args.products.join(",")] : []), ...(args.snapshot ? ["--snapshot"] : [])];
  const builds = args.baseline ? [["this build", SELF], ["baseline", args.baseline]] : [["this build", SELF]];
  for (let r = 0; r < args.runs; r++) {
    for (const b of brokers) {
      // With a baseline, the two builds alternate, and which goes first alternates by run.
      for (const [label, script] of r % 2 ? [...builds].reverse() : builds) {
        const result = await runWorker(["--worker", "fleet", "--broker", b, ...common], script) as FleetResult;
        const key = label === "baseline" ? `${b} (baseline)` : b;
        (fleet[key] ??= []).push(result);
        console.error(`run ${r + 1} ${key}: ${(result.perDevice / 1024).toFixed(2)} KB/device, back in ${result.backMs?.toFixed(0) ?? `never (${result.back} back; missing ${JSON.stringify(result.missing)})`} ms, stall ${result.stallMs.toFixed(0)} ms`);
      }
    }
    if (args.bare) {
      // Alternate which goes first.
      for (const kind of r % 2 ? ["mqtt.js", "ours"] : ["ours", "mqtt.js"]) {
        bare[kind].push(await runWorker(["--worker", kind, "--broker", brokers.includes("mosquitto") ? "mosquitto" : "aedes", ...common]) as { perClient: number; connectMs: number });
      }
    }
  }
  const kb = (xs: number[]): string => stats(xs.map((x) => x / 1024), 2);
  const keys = Object.keys(fleet);
  console.log(`\nJS heap per device after GC, KB: median (min..max) of ${args.runs} runs`);
  for (const b of keys) {
    const rs = fleet[b];
    const names = Object.keys(rs[0].perProduct);
    console.log(`  ${b}: all ${kb(rs.map((x) => x.perDevice))}; ` + names.map((n) => `${n} ${kb(rs.map((x) => x.perProduct[n]))}`).join("; "));
  }
  if (args.bare) {
    console.log(`  bare clients, connected and idle: ours ${kb(bare.ours.map((x) => x.perClient))}; mqtt.js ${kb(bare["mqtt.js"].map((x) => x.perClient))}; ` +
      `ratio ours/mqtt.js ${stats(bare.ours.map((x, i) => x.perClient / bare["mqtt.js"][i].perClient), 2)}`);
  }
  console.log(`\nBoot (create, start, all connected), ms: median (min..max)`);
  for (const b of keys) {
    const rs = fleet[b];
    console.log(`  ${b}: connected ${stats(rs.map((x) => x.booted), 0)} of ${rs[0].devices}; wall ${stats(rs.map((x) => x.bootWallMs), 0)}; busy ${stats(rs.map((x) => x.bootBusyMs), 0)}; ` +
      `synchronous file I/O ${stats(rs.map((x) => x.bootFsMs), 0)} in ${stats(rs.map((x) => x.bootFsCalls), 0)} calls ` +
      `= ${stats(rs.map((x) => 100 * x.bootFsMs / x.bootBusyMs), 1)}% of busy; calls per device during boot (first run): ` +
      Object.entries(rs[0].fsCalls).map(([k, v]) => `${k} ${(v / rs[0].devices).toFixed(1)}`).join(", "));
  }
  console.log(`\nBroker restart (SIGTERM, start again on the same port), median (min..max)`);
  for (const b of keys) {
    const rs = fleet[b];
    const sleepers = rs[0].devices * SLEEPS.size / 5;
    console.log(`  ${b}: all ${rs[0].devices - sleepers} always-connected devices back in ${stats(rs.map((x) => x.backMs ?? NaN), 0)} ms ` +
      `(runs where they were not all back within 120 s: ${rs.filter((x) => x.backMs === undefined).length}; ` +
      `sleeping nodes back by then: ${stats(rs.map((x) => sleepers - Object.entries(x.missing).filter(([p]) => SLEEPS.has(p)).reduce((n, [, m]) => n + m, 0)), 0)} of ${sleepers}); ` +
      `max event-loop stall ${stats(rs.map((x) => x.stallMs), 0)} ms (in the 11 s before the restart: ${stats(rs.map((x) => x.steadyStallMs ?? NaN), 0)} ms); peak ${stats(rs.map((x) => x.peakConnectsPerS), 0)} connects/s; ` +
      `first retry delay min/median/max ${stats(rs.map((x) => x.firstRetryMs.min), 0)} / ${stats(rs.map((x) => x.firstRetryMs.median), 0)} / ${stats(rs.map((x) => x.firstRetryMs.max), 0)} ms`);
  }
  if (args.baseline) {
    console.log(`\nSame-run ratios, this build / baseline (${args.baseline}): median (min..max) over the runs`);
    for (const b of brokers) {
      const mine = fleet[b];
      const base = fleet[`${b} (baseline)`];
      const ratio = (f: (x: FleetResult) => number | undefined): string => stats(mine.map((x, i) => (f(x) ?? NaN) / (f(base[i]) ?? NaN)), 2);
      console.log(`  ${b}: heap per device ${ratio((x) => x.perDevice)}; boot busy ${ratio((x) => x.bootBusyMs)}; ` +
        `boot sync file I/O ${ratio((x) => x.bootFsMs)}; back after restart ${ratio((x) => x.backMs)}; max stall ${ratio((x) => x.stallMs)}`);
    }
  }
  console.log(`\nTargets: <= 5 KB heap per product device; no stall over 100 ms; all back within 30 s on both brokers. ` +
    `Load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
