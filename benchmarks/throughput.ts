// Publish throughput of our client against mqtt.js (and mosquitto_pub when installed), all
// against ONE mosquitto started by the test harness, in the same run; plus a codec
// micro-benchmark (our encoder/decoder against mqtt-packet).
//
//   npm run bench            (or: npx tsc -p tsconfig.json && node build/benchmarks/throughput.js)
//
// Environment:
//   BENCH_N       messages per measurement (default 20000 for QoS 0, 10000 for QoS 1/2)
//   BENCH_WINDOW  publishes outstanding at once, W (default 100); our inflightWindow = W,
//                 mosquitto_pub -M W
//   BENCH_RUNS    repetitions per (client, QoS), R; the median is reported (default 3)
//   BENCH_WARMUP  warm-up messages per client and QoS (default 300)
//   BENCH_CODEC_ITER  encode iterations per codec measurement (default 200000)
//   BENCH_BROKER_INFLIGHT  mosquitto max_inflight_messages (default max(W, 20)); see main()
//   BENCH_DEBUG   print progress to stderr
//
// Method, identical for our client and mqtt.js: one connected client each, warmed up; for
// each measurement W publish promises are started and each completion starts the next
// (a sliding window), timed from the first publish to the last completion (QoS 0: written
// to the socket, QoS 1: PUBACK, QoS 2: PUBCOMP). A separate mqtt.js subscriber, in a worker
// thread so its work does not run on the publishers' event loop, subscribes to bench/# at
// QoS 2 and counts what each measurement's topic received. The clients alternate within
// each run, and which goes first alternates between runs.
//
// mosquitto_pub is timed as a whole process (start, connect, publish N lines read from
// stdin, disconnect), so its figure includes process start-up; its start-up cost is
// measured separately with a 1-message run and printed.

import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import mqtt from "mqtt";
import * as mqttPacket from "mqtt-packet";

import { createNodeClient } from "../hosts/node/client.js";
import type { MqttClient } from "../modules/mqtt/client.js";
import { encode } from "../modules/mqtt/encode.js";
import { Decoder } from "../modules/mqtt/decode.js";
import * as P from "../modules/mqtt/packets.js";
import type { QoS } from "../modules/mqtt/packets.js";
import { Mosquitto, which } from "../tests/harness/mosquitto.js";

// ---------------------------------------------------------------------------------------
// Configuration

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

const N_ENV = process.env.BENCH_N ? envInt("BENCH_N", 1) : undefined;
const W = envInt("BENCH_WINDOW", 100);
const R = envInt("BENCH_RUNS", 3);
const WARMUP = envInt("BENCH_WARMUP", 300);
const CODEC_ITER = envInt("BENCH_CODEC_ITER", 200_000);
const BROKER_INFLIGHT = envInt("BENCH_BROKER_INFLIGHT", Math.max(W, 20));
/** Longest a single measurement may take before the benchmark gives up. */
const MEASURE_TIMEOUT_MS = 60_000;
const CODEC_STREAM = 10_000;
const CODEC_ROUNDS = Math.max(R, 5);
const QOS_LEVELS: QoS[] = [0, 1, 2];
const PAYLOAD_SIZE = 64;

const DEBUG = !!process.env.BENCH_DEBUG;
function debug(message: string): void {
  if (DEBUG) console.error(`[bench ${performance.now().toFixed(0)} ms] ${message}`);
}

function messagesFor(qos: QoS): number {
  return N_ENV ?? (qos === 0 ? 20_000 : 10_000);
}

// ---------------------------------------------------------------------------------------
// Subscriber worker: an mqtt.js client counting messages per topic.

type ToWorker =
  | { type: "wait"; topic: string; expect: number; idleMs: number }
  | { type: "stop" };
type FromWorker =
  | { type: "ready" }
  | { type: "count"; topic: string; count: number }
  | { type: "error"; message: string };

async function subscriberWorker(port: number): Promise<void> {
  const out = parentPort!;
  const counts = new Map<string, number>();
  let lastArrival = performance.now();
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: `bench-sub-${process.pid}`, clean: true, keepalive: 60, reconnectPeriod: 0,
  });
  client.on("error", (e) => out.postMessage({ type: "error", message: String(e) } satisfies FromWorker));
  client.on("message", (topic) => {
    counts.set(topic, (counts.get(topic) ?? 0) + 1);
    lastArrival = performance.now();
  });
  await client.subscribeAsync("bench/#", { qos: 2 });
  out.on("message", (msg: ToWorker) => {
    if (msg.type === "stop") {
      client.endAsync().finally(() => process.exit(0));
      return;
    }
    // Reply once everything arrived, or once nothing has arrived for idleMs.
    const check = () => {
      const count = counts.get(msg.topic) ?? 0;
      if (count >= msg.expect || performance.now() - lastArrival >= msg.idleMs) {
        counts.delete(msg.topic);
        out.postMessage({ type: "count", topic: msg.topic, count } satisfies FromWorker);
      } else {
        setTimeout(check, 10);
      }
    };
    check();
  });
  out.postMessage({ type: "ready" } satisfies FromWorker);
}

class Subscriber {
  #worker: Worker;
  #waiters = new Map<string, (count: number) => void>();
  #exited: Promise<void>;

  private constructor(worker: Worker) {
    this.#worker = worker;
    this.#exited = new Promise((resolve) => worker.once("exit", () => resolve()));
    worker.on("message", (msg: FromWorker) => {
      if (msg.type === "count") {
        this.#waiters.get(msg.topic)?.(msg.count);
        this.#waiters.delete(msg.topic);
      } else if (msg.type === "error") {
        console.error(`subscriber: ${msg.message}`);
      }
    });
  }

  static start(port: number): Promise<Subscriber> {
    const worker = new Worker(new URL(import.meta.url), { workerData: { role: "subscriber", port } });
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      worker.once("error", onError);
      worker.once("message", (msg: FromWorker) => {
        worker.off("error", onError);
        if (msg.type === "ready") resolve(new Subscriber(worker));
        else reject(new Error(`subscriber worker: unexpected first message ${JSON.stringify(msg)}`));
      });
    });
  }

  /** How many messages `topic` received: waits for `expect`, or until idle for idleMs. */
  received(topic: string, expect: number, idleMs: number): Promise<number> {
    return new Promise((resolve) => {
      this.#waiters.set(topic, resolve);
      this.#worker.postMessage({ type: "wait", topic, expect, idleMs } satisfies ToWorker);
    });
  }

  async stop(): Promise<void> {
    this.#worker.postMessage({ type: "stop" } satisfies ToWorker);
    const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 3000).unref());
    if ((await Promise.race([this.#exited, timeout])) === "timeout") await this.#worker.terminate();
  }
}

// ---------------------------------------------------------------------------------------
// The measured loop, shared by both clients.

type PublishFn = (topic: string, payload: Buffer, qos: QoS) => Promise<unknown>;

/**
 * Publishes n messages keeping at most w outstanding: w publishes start at once, each
 * completion starts the next. Returns milliseconds from the first publish to the last
 * completion.
 */
function slidingWindow(publish: PublishFn, topic: string, payload: Buffer, qos: QoS, n: number, w: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let started = 0;
    let completed = 0;
    let failed = false;
    const t0 = performance.now();
    const onDone = () => {
      completed++;
      if (completed === n) resolve(performance.now() - t0);
      else next();
    };
    const onFail = (e: unknown) => {
      if (!failed) {
        failed = true;
        reject(e);
      }
    };
    const next = () => {
      if (started >= n || failed) return;
      started++;
      publish(topic, payload, qos).then(onDone, onFail);
    };
    for (let i = 0; i < Math.min(w, n); i++) next();
  });
}

interface Contender {
  name: string;
  publish: PublishFn;
  close(): Promise<void>;
}

async function ours(port: number): Promise<Contender> {
  const client: MqttClient = createNodeClient({
    host: "127.0.0.1", port, clientId: `bench-ours-${process.pid}`, clean: true, keepalive: 60,
    inflightWindow: W, reconnect: false,
  });
  client.on("error", (e) => console.error(`ours: ${e.message}`));
  await within(client.connect(), 15_000, "ours: connect");
  return {
    name: "ours",
    publish: (topic, payload, qos) => client.publish(topic, payload, { qos }),
    close: () => client.disconnect(),
  };
}

async function mqttjs(port: number): Promise<Contender> {
  const client = await within(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: `bench-mqttjs-${process.pid}`, clean: true, keepalive: 60, reconnectPeriod: 0, connectTimeout: 15_000,
  }), 15_000, "mqtt.js: connect");
  client.on("error", (e) => console.error(`mqtt.js: ${String(e)}`));
  return {
    name: "mqtt.js",
    publish: (topic, payload, qos) => client.publishAsync(topic, payload, { qos }),
    close: () => client.endAsync(),
  };
}

interface Sample {
  rate: number; // msg/s
  received: number;
}

/** Rejects if `promise` has not settled within ms, so a stuck client cannot hang the run. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function measureClient(c: Contender, sub: Subscriber, qos: QoS, run: number, payload: Buffer): Promise<Sample> {
  const n = messagesFor(qos);
  const topic = `bench/${c.name}/q${qos}/r${run}`;
  const ms = await within(slidingWindow(c.publish, topic, payload, qos, n, W), MEASURE_TIMEOUT_MS, `${c.name} QoS ${qos} run ${run}`);
  const received = await sub.received(topic, n, qos === 0 ? 500 : 3000);
  return { rate: (n / ms) * 1000, received };
}

// ---------------------------------------------------------------------------------------
// mosquitto_pub


/** Runs mosquitto_pub to completion; returns the wall time of the whole process in ms. */
function runProcess(binary: string, args: string[], stdin: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(binary, args, { stdio: [stdin === undefined ? "ignore" : "pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      const ms = performance.now() - t0;
      if (code === 0) resolve(ms);
      else reject(new Error(`${path.basename(binary)} exited with ${code ?? signal}: ${stderr.trim()}`));
    });
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

async function measureMosquittoPub(binary: string, port: number, sub: Subscriber, qos: QoS, run: number, lines: string): Promise<Sample> {
  const n = messagesFor(qos);
  const topic = `bench/mosquitto_pub/q${qos}/r${run}`;
  const args = ["-h", "127.0.0.1", "-p", String(port), "-q", String(qos), "-t", topic, "-l",
    "-M", String(W), "-i", `bench-mpub-${process.pid}-${qos}-${run}`];
  const ms = await within(runProcess(binary, args, lines), MEASURE_TIMEOUT_MS, `mosquitto_pub QoS ${qos} run ${run}`);
  const received = await sub.received(topic, n, qos === 0 ? 500 : 3000);
  return { rate: (n / ms) * 1000, received };
}

// ---------------------------------------------------------------------------------------
// Codec micro-benchmark

interface CodecRow {
  label: string;
  ours: number;
  theirs: number;
}

function timeIt(f: () => void): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

let sink = 0; // keeps results alive

function codecBenchmark(): { rows: CodecRow[]; identical: boolean } {
  const payload = Buffer.alloc(PAYLOAD_SIZE, 0x61);
  const topic = "bench/x";

  const oursEncode = (qos: QoS) => () => {
    const p: P.PublishPacket = { type: P.PUBLISH, topic, payload, qos, retain: false, dup: false };
    for (let i = 0; i < CODEC_ITER; i++) {
      if (qos > 0) p.id = (i & 0xffff) || 1;
      sink += encode(p).length;
    }
  };
  const theirEncode = (qos: QoS) => () => {
    const p: mqttPacket.IPublishPacket = { cmd: "publish", topic, payload, qos, retain: false, dup: false };
    for (let i = 0; i < CODEC_ITER; i++) {
      if (qos > 0) p.messageId = (i & 0xffff) || 1;
      sink += mqttPacket.generate(p).length;
    }
  };

  // One stream of 10,000 QoS 1 PUBLISH packets, generated by mqtt-packet.
  const parts: Buffer[] = [];
  let identical = true;
  for (let i = 0; i < CODEC_STREAM; i++) {
    const id = (i % 0xffff) + 1;
    const theirs = mqttPacket.generate({ cmd: "publish", topic, payload, qos: 1, messageId: id, retain: false, dup: false });
    const mine = encode({ type: P.PUBLISH, topic, payload, qos: 1, retain: false, dup: false, id });
    if (identical && !Buffer.from(mine).equals(theirs)) identical = false;
    parts.push(theirs);
  }
  const stream = Buffer.concat(parts);
  const chunks: Buffer[] = [];
  for (let o = 0; o < stream.length; o += 1460) chunks.push(stream.subarray(o, Math.min(o + 1460, stream.length)));
  const PARSE_REPEAT = 20;

  const oursParse = (input: Buffer[]) => () => {
    for (let k = 0; k < PARSE_REPEAT; k++) {
      const decoder = new Decoder();
      let count = 0;
      for (const chunk of input) count += decoder.push(chunk).length;
      if (count !== CODEC_STREAM) throw new Error(`our decoder parsed ${count} packets`);
      sink += count;
    }
  };
  const theirParse = (input: Buffer[]) => () => {
    for (let k = 0; k < PARSE_REPEAT; k++) {
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      let count = 0;
      parser.on("packet", () => { count++; });
      parser.on("error", (e) => { throw e; });
      for (const chunk of input) parser.parse(chunk);
      if (count !== CODEC_STREAM) throw new Error(`mqtt-packet parsed ${count} packets`);
      sink += count;
    }
  };

  const cases: { label: string; ops: number; ours: () => void; theirs: () => void }[] = [
    { label: "encode PUBLISH QoS 0, 64 B", ops: CODEC_ITER, ours: oursEncode(0), theirs: theirEncode(0) },
    { label: "encode PUBLISH QoS 1, 64 B", ops: CODEC_ITER, ours: oursEncode(1), theirs: theirEncode(1) },
    { label: "parse 10k-packet stream, 1 buffer", ops: CODEC_STREAM * PARSE_REPEAT, ours: oursParse([stream]), theirs: theirParse([stream]) },
    { label: "parse 10k-packet stream, 1460 B chunks", ops: CODEC_STREAM * PARSE_REPEAT, ours: oursParse(chunks), theirs: theirParse(chunks) },
  ];
  const rows: CodecRow[] = [];
  for (const c of cases) {
    c.ours(); // warm up
    c.theirs();
    const mine: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < CODEC_ROUNDS; r++) {
      if (r % 2 === 0) {
        mine.push(c.ops / (timeIt(c.ours) / 1000));
        theirs.push(c.ops / (timeIt(c.theirs) / 1000));
      } else {
        theirs.push(c.ops / (timeIt(c.theirs) / 1000));
        mine.push(c.ops / (timeIt(c.ours) / 1000));
      }
    }
    rows.push({ label: c.label, ours: median(mine), theirs: median(theirs) });
  }
  return { rows, identical };
}

// ---------------------------------------------------------------------------------------
// Reporting

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmtRate(x: number | undefined): string {
  return x === undefined ? "n/a" : Math.round(x).toLocaleString("en-US");
}

function fmtRatio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined ? "n/a" : `${(a / b).toFixed(2)}x`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => "| " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") + " |";
  const rule = "|" + widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|";
  return [line(header), rule, ...rows.map(line)].join("\n");
}

function fmtReceived(samples: Sample[], n: number): string {
  const got = samples.map((s) => s.received);
  return got.every((g) => g === n) ? `all ${n}` : got.join("/");
}

// ---------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const started = performance.now();
  const payload = Buffer.alloc(PAYLOAD_SIZE, 0x61); // 64 × "a"
  const mosquittoPub = which("mosquitto_pub");

  // mosquitto 2.0.x admits at most max_inflight_messages (default 20) unacknowledged QoS 2
  // publishes per client: beyond that it still answers PUBREC/PUBCOMP but drops the message
  // (with W = 100, ~80% of QoS 2 messages never reach a subscriber). Raise the quota to W so
  // that the broker forwards everything each client sends; it applies to all clients alike.
  const brokerExtra = [`max_inflight_messages ${BROKER_INFLIGHT}`];
  const broker = await Mosquitto.start({ extra: brokerExtra });
  let subscriber: Subscriber | undefined;
  const contenders: Contender[] = [];
  const results = new Map<string, Sample[]>(); // `${name}/${qos}`
  const record = (name: string, qos: QoS, s: Sample) => {
    const key = `${name}/${qos}`;
    (results.get(key) ?? results.set(key, []).get(key)!).push(s);
  };
  let mpubStartupMs: number | undefined;
  let mpubError: string | undefined;

  try {
    debug(`broker on port ${broker.port}`);
    subscriber = await within(Subscriber.start(broker.port), 15_000, "subscriber start");
    debug("subscriber ready");
    contenders.push(await ours(broker.port));
    debug("ours connected");
    contenders.push(await mqttjs(broker.port));
    debug("mqtt.js connected");

    // Warm-up: every client, every QoS, through the same loop.
    for (const c of contenders) {
      for (const qos of QOS_LEVELS) {
        await within(slidingWindow(c.publish, `bench/warm/${c.name}`, payload, qos, WARMUP, W), MEASURE_TIMEOUT_MS, `${c.name} warm-up`);
        debug(`warm-up ${c.name} QoS ${qos} done`);
      }
    }

    // mosquitto_pub: its start-up + connect + 1 message, to put its figures in context.
    if (mosquittoPub) {
      try {
        const times: number[] = [];
        for (let i = 0; i < 3; i++) {
          times.push(await runProcess(mosquittoPub, ["-h", "127.0.0.1", "-p", String(broker.port), "-q", "0",
            "-t", "bench/warm/mosquitto_pub", "-m", "x", "-i", `bench-mpub-${process.pid}-warm${i}`], undefined));
        }
        mpubStartupMs = median(times);
      } catch (e) {
        mpubError = (e as Error).message;
      }
    }
    const lines = new Map<QoS, string>();
    for (const qos of QOS_LEVELS) lines.set(qos, (payload.toString("latin1") + "\n").repeat(messagesFor(qos)));

    for (let run = 0; run < R; run++) {
      const order = run % 2 === 0 ? contenders : [...contenders].reverse();
      for (const qos of QOS_LEVELS) {
        for (const c of order) {
          record(c.name, qos, await measureClient(c, subscriber, qos, run, payload));
          debug(`run ${run} QoS ${qos} ${c.name} done`);
        }
        if (mosquittoPub && mpubError === undefined) {
          try {
            record("mosquitto_pub", qos, await measureMosquittoPub(mosquittoPub, broker.port, subscriber, qos, run, lines.get(qos)!));
          } catch (e) {
            mpubError = (e as Error).message;
          }
        }
      }
    }
  } finally {
    for (const c of contenders) await c.close().catch((e) => console.error(`closing ${c.name}: ${String(e)}`));
    await subscriber?.stop().catch(() => {});
    await broker.dispose();
  }

  const codec = codecBenchmark();

  // ---- report ----
  const rate = (name: string, qos: QoS) => {
    const s = results.get(`${name}/${qos}`);
    return s && s.length ? median(s.map((x) => x.rate)) : undefined;
  };
  console.log("");
  console.log(`MQTT publish throughput, 64-byte payloads, one mosquitto ${mosquittoVersion()} broker (tests/harness) ` +
    `on 127.0.0.1, extra config: ${brokerExtra.join("; ")}`);
  console.log(`node ${process.version} (${process.platform}/${process.arch}), mqtt.js ${mqttVersion()}, ` +
    `mosquitto_pub: ${mosquittoPub ?? "not on PATH"}`);
  console.log(`N = ${QOS_LEVELS.map((q) => `${messagesFor(q)} (QoS ${q})`).join(", ")}; W = ${W} outstanding ` +
    `(ours inflightWindow = ${W}, mosquitto_pub -M ${W}); R = ${R} runs, median reported; warm-up ${WARMUP} msgs/QoS/client`);
  console.log("");
  const header = ["QoS", "ours msg/s", "mqtt.js msg/s", "ours/mqtt.js", "mosquitto_pub msg/s*", "ours/mosquitto_pub"];
  const rows = QOS_LEVELS.map((q) => {
    const a = rate("ours", q), b = rate("mqtt.js", q), m = rate("mosquitto_pub", q);
    return [String(q), fmtRate(a), fmtRate(b), fmtRatio(a, b), fmtRate(m), fmtRatio(a, m)];
  });
  console.log(table(header, rows));
  console.log("* mosquitto_pub is timed as a whole process (exec, connect, N lines from stdin, disconnect)" +
    (mpubStartupMs !== undefined ? `; a 1-message run takes ${mpubStartupMs.toFixed(1)} ms (median of 3)` : "") + ".");
  if (mpubError) console.log(`  mosquitto_pub failed: ${mpubError}`);
  console.log("");
  console.log("Received by the separate subscriber (mqtt.js in a worker thread, bench/# at QoS 2), per run:");
  const recvHeader = ["QoS", "N", "ours", "mqtt.js", "mosquitto_pub"];
  const recvRows = QOS_LEVELS.map((q) => {
    const n = messagesFor(q);
    const cell = (name: string) => {
      const s = results.get(`${name}/${q}`);
      return s && s.length ? fmtReceived(s, n) : "n/a";
    };
    return [String(q), String(n), cell("ours"), cell("mqtt.js"), cell("mosquitto_pub")];
  });
  console.log(table(recvHeader, recvRows));
  console.log("(QoS 0 may legitimately lose messages; QoS 1/2 should show \"all N\".)");
  console.log("");
  console.log("Per-run msg/s (run order alternates ours/mqtt.js first):");
  for (const q of QOS_LEVELS) {
    const per = (name: string) => (results.get(`${name}/${q}`) ?? []).map((s) => fmtRate(s.rate)).join(", ") || "n/a";
    console.log(`  QoS ${q}: ours [${per("ours")}]  mqtt.js [${per("mqtt.js")}]  mosquitto_pub [${per("mosquitto_pub")}]`);
  }
  console.log("");
  console.log(`Codec micro-benchmark (same process, after the broker stopped; median of ${CODEC_ROUNDS}, alternating; ops = packets):`);
  console.log(table(["operation", "ours ops/s", "mqtt-packet ops/s", "ours/mqtt-packet"],
    codec.rows.map((r) => [r.label, fmtRate(r.ours), fmtRate(r.theirs), fmtRatio(r.ours, r.theirs)])));
  console.log(`encode: ${CODEC_ITER} packets per measurement; parse: ${CODEC_STREAM} QoS 1 PUBLISH packets ` +
    `(${CODEC_STREAM * (PAYLOAD_SIZE + 13)} bytes) x20 per measurement. ` +
    `Our encoding is byte-identical to mqtt-packet's: ${codec.identical ? "yes" : "NO"}.`);
  console.log(`total time ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (sink === -1) console.log(""); // never true; uses sink
}

function mosquittoVersion(): string {
  for (const dir of [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/usr/local/sbin"]) {
    const candidate = dir && path.join(dir, "mosquitto");
    if (!candidate || !fs.existsSync(candidate)) continue;
    try {
      const r = spawnSync(candidate, ["-h"], { encoding: "utf8", timeout: 2000 });
      return /version (\S+)/.exec(r.stdout + r.stderr)?.[1] ?? "?";
    } catch {
      return "?";
    }
  }
  return "?";
}

function mqttVersion(): string {
  try {
    const pkg = new URL("../../node_modules/mqtt/package.json", import.meta.url);
    return (JSON.parse(fs.readFileSync(pkg, "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
}

if (isMainThread) {
  main().then(
    () => process.exit(0),
    (e) => {
      // No assertions on the figures; only a crash (e.g. mosquitto missing) exits non-zero.
      console.error(e);
      process.exit(1);
    },
  );
} else if ((workerData as { role?: string } | null)?.role === "subscriber") {
  subscriberWorker((workerData as { port: number }).port).catch((e) => {
    parentPort?.postMessage({ type: "error", message: String(e) } satisfies FromWorker);
    process.exit(1);
  });
}
