// CPU per message and throughput of three publishers against one mosquitto: our client
// (createNodeClient), mqtt.js and libmosquitto (benchmarks/libmosquitto-pub.c, compiled here).
//
//   npm run bench        (or: npx tsc -p tsconfig.json && node build/benchmarks/throughput.js)
//
// Environment:
//   BENCH_N       messages per measurement (default 50000 at QoS 0, 20000 at QoS 1, 10000 at QoS 2)
//   BENCH_WINDOW  W, publishes outstanding at once (default 100); also our inflightWindow,
//                 libmosquitto's max_inflight_messages and the broker's
//   BENCH_RUNS    R, interleaved runs (default and minimum 5)
//   BENCH_WARMUP  warm-up messages before each measurement (default: the measurement's N)
//
// Method (benchmarks/README.md says why):
// - Every measurement is a fresh child process for one publisher and one QoS. It connects,
//   publishes a warm-up pass on its own topic, then the measured pass: the same loop for all
//   three, W publishes outstanding and each completion (written at QoS 0, PUBACK at QoS 1,
//   PUBCOMP at QoS 2) starting the next. QoS 0 ends with one QoS 1 publish whose PUBACK proves
//   the broker has read every message (the socket buffer is not the finish line).
// - CPU µs per message: user + system CPU of the publishing process over the measured pass
//   (process.cpuUsage(), getrusage()), divided by N. Nobody subscribes to these topics, so the
//   broker does no delivery work and sets no one's pace beyond acknowledging.
// - msg/s at QoS 1 and 2: N over the measured pass's wall time (to the last acknowledgement).
//   At QoS 0 a separate run with a subscriber (our client, in its own process) counts
//   arrivals: msg/s from its first to its last arrival.
// - Runs interleave: each run measures every publisher at every QoS, the order rotating from
//   run to run; ratios are taken within a run, then their median (min..max) is reported.

import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";

import { createNodeClient } from "../hosts/node/client.js";
import type { QoS } from "../modules/mqtt/packets.js";
import { Mosquitto } from "../tests/harness/mosquitto.js";

const QOS_LEVELS: QoS[] = [0, 1, 2];
const PAYLOAD_SIZE = 64;
const CHILD_TIMEOUT_MS = 120_000;
const SELF = fileURLToPath(import.meta.url);
const C_SOURCE = path.resolve(path.dirname(SELF), "../../benchmarks/libmosquitto-pub.c");

type Publisher = "ours" | "mqtt.js" | "libmosquitto";
const PUBLISHERS: Publisher[] = ["ours", "mqtt.js", "libmosquitto"];

interface PubArgs { client: Publisher; port: number; qos: QoS; n: number; window: number; warmup: number; topic: string }
/** What a publisher child prints: CPU µs and wall ms of the measured pass. */
interface PubResult { cpuUs: number; ms: number; n: number }
interface SubResult { received: number; firstMs: number; lastMs: number }

function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

// ---------------------------------------------------------------------------------------
// Children: one publisher, or the QoS 0 subscriber.

/** n publishes with at most w outstanding; each completion starts the next. */
function slidingWindow(publish: () => Promise<unknown>, n: number, w: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let started = 0;
    let completed = 0;
    const onDone = () => {
      if (++completed === n) resolve();
      else if (started < n) next();
    };
    const next = () => {
      started++;
      publish().then(onDone, reject);
    };
    for (let i = 0; i < Math.min(w, n); i++) next();
  });
}

async function publisherChild(a: PubArgs): Promise<void> {
  const payload = Buffer.alloc(PAYLOAD_SIZE, 0x61);
  const clientId = `bench-${a.client}-${process.pid}`;
  let publish: (topic: string, qos: QoS) => Promise<unknown>;
  let close: () => Promise<void>;
  if (a.client === "ours") {
    const client = createNodeClient({ host: "127.0.0.1", port: a.port, clientId, clean: true, keepalive: 60, inflightWindow: a.window, reconnect: false });
    await client.connect();
    const opts = [{ qos: 0 as QoS }, { qos: 1 as QoS }, { qos: 2 as QoS }];
    publish = (topic, qos) => client.publish(topic, payload, opts[qos]);
    close = () => client.disconnect();
  } else {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${a.port}`, { clientId, clean: true, keepalive: 60, reconnectPeriod: 0 });
    const opts = [{ qos: 0 as QoS }, { qos: 1 as QoS }, { qos: 2 as QoS }];
    publish = (topic, qos) => client.publishAsync(topic, payload, opts[qos]);
    close = () => client.endAsync();
  }
  const warm = `${a.topic}/warm`;
  await slidingWindow(() => publish(warm, a.qos), a.warmup, a.window);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await slidingWindow(() => publish(a.topic, a.qos), a.n, a.window);
  if (a.qos === 0) await publish(a.topic, 1);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  process.stdout.write(JSON.stringify({ cpuUs: cpu.user + cpu.system, ms, n: a.n } satisfies PubResult) + "\n");
  await close();
}

/** Counts arrivals on one topic; prints "ready" once subscribed, then the result. */
async function subscriberChild(port: number, topic: string, n: number): Promise<void> {
  const client = createNodeClient({ host: "127.0.0.1", port, clientId: `bench-sub-${process.pid}`, clean: true, keepalive: 60, reconnect: false });
  await client.connect();
  let received = 0, firstMs = 0, lastMs = 0;
  let idle: NodeJS.Timeout | undefined;
  const finish = () => {
    process.stdout.write(JSON.stringify({ received, firstMs, lastMs } satisfies SubResult) + "\n");
    client.disconnect().finally(() => process.exit(0));
  };
  // QoS 0 may lose messages: once arrivals stop for 2 s, report what came.
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(finish, 2000);
  };
  client.on("message", () => {
    lastMs = performance.now();
    if (received++ === 0) firstMs = lastMs;
    if (received === n) {
      clearTimeout(idle);
      finish();
    } else if ((received & 1023) === 1) arm();
  });
  await client.subscribe(topic, { qos: 0 });
  setTimeout(finish, CHILD_TIMEOUT_MS).unref();
  process.stdout.write("ready\n");
}

// ---------------------------------------------------------------------------------------
// The parent: broker, children, statistics.

/** Runs a child to its end; resolves with its stdout lines. `onLine` sees them as they come. */
function runChild(command: string, args: string[], onLine?: (line: string) => void): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    let rest = "", stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), CHILD_TIMEOUT_MS);
    child.stdout!.on("data", (d: Buffer) => {
      const parts = (rest + d.toString()).split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        onLine?.(line);
      }
    });
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(lines);
      else reject(new Error(`${path.basename(command)} ${args.slice(0, 2).join(" ")} exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

function lastJson<T>(lines: string[]): T {
  const line = lines.filter((l) => l.startsWith("{")).pop();
  if (!line) throw new Error(`no result in ${JSON.stringify(lines)}`);
  return JSON.parse(line) as T;
}

function runPublisher(a: PubArgs, cBinary: string | undefined): Promise<PubResult> {
  const run = a.client === "libmosquitto"
    ? runChild(cBinary!, [a.port, a.qos, a.n, a.window, a.warmup, a.topic, `bench-libmosquitto-${process.pid}`].map(String))
    : runChild(process.execPath, [SELF, "pub", JSON.stringify(a)]);
  return run.then((lines) => lastJson<PubResult>(lines));
}

/** A QoS 0 run with a subscriber: msg/s between its first and last arrival. */
async function qos0Arrivals(a: PubArgs, cBinary: string | undefined): Promise<{ rate: number; received: number }> {
  let ready!: () => void;
  const subscribed = new Promise<void>((resolve) => { ready = resolve; });
  const sub = runChild(process.execPath, [SELF, "sub", String(a.port), a.topic, String(a.n)], (line) => { if (line === "ready") ready(); });
  await Promise.race([subscribed, sub]);
  await runPublisher(a, cBinary);
  const r = lastJson<SubResult>(await sub);
  return { rate: r.received > 1 ? ((r.received - 1) / (r.lastMs - r.firstMs)) * 1000 : 0, received: r.received };
}

/** Compiles the libmosquitto publisher; undefined and why when it cannot. */
function buildC(): { binary?: string; why?: string; version?: string } {
  if (!fs.existsSync(C_SOURCE)) return { why: `${C_SOURCE} is missing` };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-libmosquitto-"));
  const binary = path.join(dir, "libmosquitto-pub");
  const r = spawnSync("cc", ["-O2", "-o", binary, C_SOURCE, "-lmosquitto"], { encoding: "utf8" });
  if (r.error) return { why: `cc: ${r.error.message}` };
  if (r.status !== 0) {
    const first = (r.stderr || "").split("\n").find((l) => /error/.test(l)) ?? r.stderr.trim();
    return { why: `cc failed (install libmosquitto-dev?): ${first}` };
  }
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  const v = spawnSync("sh", ["-c", "dpkg-query -W -f '${Version}' libmosquitto1 2>/dev/null"], { encoding: "utf8" });
  return { binary, version: v.stdout.trim() || "?" };
}

interface Stat { median: number; min: number; max: number }
function stat(xs: number[]): Stat | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return { median: s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2, min: s[0], max: s[s.length - 1] };
}
function fmt(s: Stat | undefined, digits: number, unit = ""): string {
  if (!s) return "n/a";
  const f = (x: number) => digits === 0 ? Math.round(x).toLocaleString("en-US") : x.toFixed(digits);
  return `${f(s.median)}${unit} (${f(s.min)}..${f(s.max)})`;
}
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => "| " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") + " |";
  const rule = "|" + widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|";
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** Fraction of all CPUs busy since `from` (a /proc/stat snapshot), everyone's work included. */
function cpuTimes(): number[] {
  try {
    return fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  } catch {
    return [];
  }
}
function busy(from: number[], to: number[]): string {
  if (!from.length || !to.length) return "?";
  const d = to.map((x, i) => x - from[i]);
  const total = d.reduce((a, b) => a + b, 0);
  const idle = d[3] + (d[4] ?? 0);
  return `${(((total - idle) / total) * 100).toFixed(0)}%`;
}

function versionOf(pkg: string): string {
  try {
    return (JSON.parse(fs.readFileSync(new URL(`../../node_modules/${pkg}/package.json`, import.meta.url), "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
}

async function main(): Promise<void> {
  const W = envInt("BENCH_WINDOW", 100);
  const R = envInt("BENCH_RUNS", 5, 5);
  const nFor = (qos: QoS) => envInt("BENCH_N", [50_000, 20_000, 10_000][qos]);
  const warmFor = (qos: QoS) => envInt("BENCH_WARMUP", nFor(qos));
  const started = performance.now();
  const load0 = os.loadavg()[0];
  const cpu0 = cpuTimes();

  const c = buildC();
  const publishers = PUBLISHERS.filter((p) => p !== "libmosquitto" || c.binary);
  const broker = await Mosquitto.start({ extra: [`max_inflight_messages ${W}`] });
  const cpu = new Map<string, number[]>(); // `${publisher}/${qos}` -> µs/msg per run
  const rate = new Map<string, number[]>(); // msg/s per run
  const lost: string[] = [];
  const push = (m: Map<string, number[]>, key: string, x: number) => (m.get(key) ?? m.set(key, []).get(key)!).push(x);
  try {
    for (let run = 0; run < R; run++) {
      const order = publishers.map((_, i) => publishers[(i + run) % publishers.length]);
      for (const qos of QOS_LEVELS) {
        for (const p of order) {
          const a: PubArgs = { client: p, port: broker.port, qos, n: nFor(qos), window: W, warmup: warmFor(qos), topic: `bench/cpu/${p}/q${qos}/r${run}` };
          const r = await runPublisher(a, c.binary);
          push(cpu, `${p}/${qos}`, r.cpuUs / r.n);
          if (qos > 0) push(rate, `${p}/${qos}`, (r.n / r.ms) * 1000);
          if (process.env.BENCH_DEBUG) console.error(`run ${run} QoS ${qos} ${p}: ${(r.cpuUs / r.n).toFixed(2)} µs/msg, ${Math.round((r.n / r.ms) * 1000)} msg/s`);
        }
        if (qos !== 0) continue;
        for (const p of order) {
          const a: PubArgs = { client: p, port: broker.port, qos: 0, n: nFor(0), window: W, warmup: warmFor(0), topic: `bench/rate/${p}/r${run}` };
          const r = await qos0Arrivals(a, c.binary);
          push(rate, `${p}/0`, r.rate);
          if (r.received !== a.n) lost.push(`${p} run ${run}: ${r.received}/${a.n}`);
        }
      }
    }
  } finally {
    await broker.dispose();
  }

  const ratios = (m: Map<string, number[]>, qos: QoS, other: Publisher) => {
    const a = m.get(`ours/${qos}`) ?? [], b = m.get(`${other}/${qos}`) ?? [];
    return stat(a.length === b.length ? a.map((x, i) => x / b[i]) : []);
  };
  const cells = (m: Map<string, number[]>, digits: number) => (qos: QoS) => [
    String(qos),
    ...PUBLISHERS.map((p) => fmt(stat(m.get(`${p}/${qos}`) ?? []), digits)),
    fmt(ratios(m, qos, "mqtt.js"), 2, "x"),
    fmt(ratios(m, qos, "libmosquitto"), 2, "x"),
  ];
  const header = (what: string) => ["QoS", `ours ${what}`, `mqtt.js ${what}`, `libmosquitto ${what}`, "ours/mqtt.js", "ours/libmosquitto"];
  const cpus = os.cpus();
  const mosquittoVersion = /version (\S+)/.exec(spawnSync("/usr/sbin/mosquitto", ["-h"], { encoding: "utf8" }).stdout ?? "")?.[1] ?? "?";

  console.log(`machine: ${cpus.length} CPUs (${cpus[0]?.model ?? "?"}), load average ${load0.toFixed(2)} at start, ` +
    `${os.loadavg()[0].toFixed(2)} at end; all CPUs ${busy(cpu0, cpuTimes())} busy during the bench (everyone's work)`);
  console.log(`node ${process.version}, mqtt.js ${versionOf("mqtt")}, mosquitto ${mosquittoVersion}` +
    (c.binary ? `, libmosquitto ${c.version}` : ""));
  if (!c.binary) console.log(`libmosquitto: skipped (${c.why})`);
  console.log(`method: each publisher in its own process, 64-byte payloads, W = ${W} outstanding (QoS 1/2 windowed by acknowledgements), ` +
    `N = ${QOS_LEVELS.map((q) => `${nFor(q)}`).join("/")} at QoS 0/1/2 after a warm-up of ${QOS_LEVELS.map((q) => `${warmFor(q)}`).join("/")}; ` +
    `R = ${R} interleaved runs, median (min..max); ratios within each run. Details: benchmarks/README.md`);
  console.log("");
  console.log("CPU µs per message of the publishing process (user + system), no subscriber:");
  console.log(table(header("µs/msg"), QOS_LEVELS.map(cells(cpu, 2))));
  console.log("");
  console.log("msg/s: QoS 0 arrivals at a subscriber (first to last), QoS 1/2 to the last acknowledgement:");
  console.log(table(header("msg/s"), QOS_LEVELS.map(cells(rate, 0))));
  if (lost.length) console.log(`QoS 0 messages lost before the subscriber: ${lost.join(", ")}`);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

const [role, ...rest] = process.argv.slice(2);
const done = (p: Promise<void>) => p.then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
if (role === "pub") done(publisherChild(JSON.parse(rest[0]) as PubArgs));
else if (role === "sub") subscriberChild(Number(rest[0]), rest[1], Number(rest[2])).catch((e) => { console.error(e); process.exit(1); });
else done(main());
