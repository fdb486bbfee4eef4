// Codec benchmark: our MQTT 3.1.1 encoder and decoder against mqtt-packet, in one process,
// on the same packets and the same bytes. Method and environment: benchmarks/README.md.
//
//   encode   ours: encode(packet) -> one Uint8Array holding the whole packet
//            mqtt-packet: generate(packet) -> one Buffer holding the whole packet
//            (both are what a client hands its socket; the bytes are checked identical first)
//   decode   one whole packet per call: ours Decoder.push(bytes), mqtt-packet Parser.parse(bytes),
//            each reusing one decoder/parser, on the same Buffer
//   stream   STREAM copies of the packet concatenated, fed as one buffer / in 1460-byte chunks
//            (a TCP segment) to a fresh decoder/parser per pass; ops = packets
//
// Each row: a warm-up that also sizes a measurement to about BENCH_CODEC_MS of CPU time, then
// ROUNDS alternating rounds (ours, theirs, theirs, ours, ...). It prints the median ops per CPU
// second with min..max for each side, and the median (min..max) of the rounds' ours/theirs ratios.

import { createRequire } from "node:module";
import os from "node:os";
import mqttPacket from "mqtt-packet";
import * as P from "../modules/mqtt/packets.js";
import type { Packet, QoS } from "../modules/mqtt/packets.js";
import { encode } from "../modules/mqtt/encode.js";
import { Decoder } from "../modules/mqtt/decode.js";

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

const ROUNDS = Math.max(5, envInt("BENCH_CODEC_ROUNDS", 7));
const TARGET_MS = envInt("BENCH_CODEC_MS", 40);
const STREAM = 1000;
const CHUNK = 1460;
const FILTER = process.env.BENCH_CODEC_FILTER ?? "";

const TOPIC = "devices/bench-0001/telemetry";

// ---------------------------------------------------------------------------------------
// The packets, in our shape and in mqtt-packet's

interface Pair {
  name: string;
  ours: Packet;
  theirs: mqttPacket.Packet;
}

function publish(size: number, qos: QoS): Pair {
  const payload = Buffer.alloc(size, 0x61);
  const ours: P.PublishPacket = { type: P.PUBLISH, topic: TOPIC, payload, qos, retain: false, dup: false };
  const theirs: Record<string, unknown> = { cmd: "publish", topic: TOPIC, payload, qos, retain: false, dup: false };
  if (qos > 0) ours.id = theirs.messageId = 4242;
  return { name: `PUBLISH QoS ${qos}, ${size} B`, ours, theirs: theirs as unknown as mqttPacket.Packet };
}

function pairs(): Pair[] {
  const will = Buffer.from("offline");
  const password = Buffer.from("s3cret-token");
  const ack = (type: 4 | 5 | 6 | 7 | 11, cmd: string): Pair =>
    ({ name: cmd.toUpperCase(), ours: { type, id: 4242 } as Packet, theirs: { cmd, messageId: 4242 } as unknown as mqttPacket.Packet });
  const empty = (type: 12 | 13 | 14, cmd: string): Pair =>
    ({ name: cmd.toUpperCase(), ours: { type } as Packet, theirs: { cmd } as unknown as mqttPacket.Packet });
  return [
    publish(16, 0), publish(64, 0), publish(256, 0),
    publish(16, 1), publish(64, 1), publish(256, 1),
    {
      name: "CONNECT (will, username, password)",
      ours: {
        type: P.CONNECT, clientId: "bench-0001", clean: true, keepalive: 60, username: "device", password,
        will: { topic: "devices/bench-0001/status", payload: will, qos: 1, retain: true },
      },
      theirs: {
        cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: "bench-0001", clean: true, keepalive: 60,
        username: "device", password, will: { topic: "devices/bench-0001/status", payload: will, qos: 1, retain: true },
      } as unknown as mqttPacket.Packet,
    },
    {
      name: "CONNACK",
      ours: { type: P.CONNACK, sessionPresent: false, returnCode: 0 },
      theirs: { cmd: "connack", sessionPresent: false, returnCode: 0 } as unknown as mqttPacket.Packet,
    },
    ack(P.PUBACK, "puback"), ack(P.PUBREC, "pubrec"), ack(P.PUBREL, "pubrel"), ack(P.PUBCOMP, "pubcomp"),
    {
      name: "SUBSCRIBE (1 filter)",
      ours: { type: P.SUBSCRIBE, id: 4242, subscriptions: [{ topic: "devices/bench-0001/cmd/#", qos: 1 }] },
      theirs: { cmd: "subscribe", messageId: 4242, subscriptions: [{ topic: "devices/bench-0001/cmd/#", qos: 1 }] } as unknown as mqttPacket.Packet,
    },
    {
      name: "SUBACK",
      ours: { type: P.SUBACK, id: 4242, granted: [1] },
      theirs: { cmd: "suback", messageId: 4242, granted: [1] } as unknown as mqttPacket.Packet,
    },
    {
      name: "UNSUBSCRIBE (1 filter)",
      ours: { type: P.UNSUBSCRIBE, id: 4242, topics: ["devices/bench-0001/cmd/#"] },
      theirs: { cmd: "unsubscribe", messageId: 4242, unsubscriptions: ["devices/bench-0001/cmd/#"] } as unknown as mqttPacket.Packet,
    },
    ack(P.UNSUBACK, "unsuback"),
    empty(P.PINGREQ, "pingreq"), empty(P.PINGRESP, "pingresp"), empty(P.DISCONNECT, "disconnect"),
  ];
}

// ---------------------------------------------------------------------------------------
// The cases: each side runs n operations and returns something that depends on them

type Run = (n: number) => number;

interface Case {
  label: string;
  /** Operations per call of ours/theirs with n = 1. */
  opsPerRun: number;
  ours: Run;
  theirs: Run;
}

function theirParser(onPacket: () => void): mqttPacket.Parser {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on("packet", onPacket);
  parser.on("error", (e) => { throw e; });
  return parser;
}

function cases(pair: Pair, bytes: Buffer): Case[] {
  const { ours, theirs } = pair;
  const decoder = new Decoder();
  let count = 0;
  const parser = theirParser(() => { count++; });
  const stream = Buffer.concat(Array.from({ length: STREAM }, () => bytes));
  const chunks: Buffer[] = [];
  for (let o = 0; o < stream.length; o += CHUNK) chunks.push(stream.subarray(o, Math.min(o + CHUNK, stream.length)));
  const oursStream = (input: Buffer[]): Run => (n) => {
    let got = 0;
    for (let k = 0; k < n; k++) {
      const d = new Decoder();
      for (let i = 0; i < input.length; i++) got += d.push(input[i]).length;
    }
    if (got !== n * STREAM) throw new Error(`our decoder gave ${got} packets, not ${n * STREAM}`);
    return got;
  };
  const theirStream = (input: Buffer[]): Run => (n) => {
    count = 0;
    for (let k = 0; k < n; k++) {
      const p = theirParser(() => { count++; });
      for (let i = 0; i < input.length; i++) p.parse(input[i]);
    }
    if (count !== n * STREAM) throw new Error(`mqtt-packet gave ${count} packets, not ${n * STREAM}`);
    return count;
  };
  return [
    {
      label: `encode ${pair.name}`, opsPerRun: 1,
      ours: (n) => { let s = 0; for (let i = 0; i < n; i++) s += encode(ours).length; return s; },
      theirs: (n) => { let s = 0; for (let i = 0; i < n; i++) s += mqttPacket.generate(theirs).length; return s; },
    },
    {
      label: `decode ${pair.name}`, opsPerRun: 1,
      ours: (n) => { let s = 0; for (let i = 0; i < n; i++) s += decoder.push(bytes).length; if (s !== n) throw new Error("our decoder lost a packet"); return s; },
      theirs: (n) => { count = 0; for (let i = 0; i < n; i++) parser.parse(bytes); if (count !== n) throw new Error("mqtt-packet lost a packet"); return count; },
    },
    { label: `stream ${pair.name}, 1 buffer`, opsPerRun: STREAM, ours: oursStream([stream]), theirs: theirStream([stream]) },
    { label: `stream ${pair.name}, ${CHUNK} B chunks`, opsPerRun: STREAM, ours: oursStream(chunks), theirs: theirStream(chunks) },
  ];
}

// ---------------------------------------------------------------------------------------
// Checks, once, before timing

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Our encoding equals mqtt-packet's, and our decoder gives back the packet. */
function check(pair: Pair): Buffer {
  const mine = encode(pair.ours);
  const theirs = mqttPacket.generate(pair.theirs);
  if (!sameBytes(mine, theirs)) throw new Error(`${pair.name}: our encoding differs from mqtt-packet's`);
  const back = new Decoder().push(theirs);
  if (back.length !== 1 || !sameBytes(encode(back[0]), theirs)) throw new Error(`${pair.name}: our decoder does not give the packet back`);
  return theirs;
}

// ---------------------------------------------------------------------------------------
// Timing

let sink = 0; // keeps results alive

/**
 * The process's CPU time (user + system, all threads, GC included) for n operations, in ms:
 * on a shared machine wall time also counts the moments the scheduler gave the core away.
 */
function time(run: Run, n: number): number {
  const t0 = process.cpuUsage();
  sink += run(n);
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / 1000;
}

/** Warms run up and returns n for a measurement of about TARGET_MS. */
function calibrate(run: Run): number {
  let n = 1;
  let spent = 0;
  for (;;) {
    const ms = time(run, n);
    spent += ms;
    if (ms >= TARGET_MS / 4 && spent >= 2 * TARGET_MS) return Math.max(1, Math.round((n * TARGET_MS) / ms));
    n *= 2;
  }
}

interface Row {
  label: string;
  ours: number[];
  theirs: number[];
  ratios: number[];
}

function measure(c: Case): Row {
  const nOurs = calibrate(c.ours);
  const nTheirs = calibrate(c.theirs);
  const row: Row = { label: c.label, ours: [], theirs: [], ratios: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const first = r % 2 === 0;
    let a = 0, b = 0;
    if (first) a = (nOurs * c.opsPerRun) / time(c.ours, nOurs) * 1000;
    b = (nTheirs * c.opsPerRun) / time(c.theirs, nTheirs) * 1000;
    if (!first) a = (nOurs * c.opsPerRun) / time(c.ours, nOurs) * 1000;
    row.ours.push(a);
    row.theirs.push(b);
    row.ratios.push(a / b);
  }
  return row;
}

// ---------------------------------------------------------------------------------------
// Reporting

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const rate = (x: number): string => x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(0)}k`;
const spread = (xs: number[], f: (x: number) => string): string =>
  `${f(median(xs))} (${f(Math.min(...xs))}..${f(Math.max(...xs))})`;
const ratio = (x: number): string => `${x.toFixed(2)}x`;

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => "| " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") + " |";
  const rule = "|" + widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|";
  return [line(header), rule, ...rows.map(line)].join("\n");
}

function machine(): string {
  const cpus = os.cpus();
  const load = os.loadavg().map((l) => l.toFixed(2)).join(" ");
  return `${cpus.length} x ${cpus[0]?.model.trim() ?? "?"}, load average ${load}`;
}

function main(): void {
  const started = performance.now();
  const version = (createRequire(import.meta.url)("mqtt-packet/package.json") as { version: string }).version;
  console.log(`Codec benchmark: our encoder/decoder against mqtt-packet ${version} (protocol level 4), Node ${process.version}`);
  console.log(`Machine at start: ${machine()}`);
  console.log(`Method: per row a warm-up sizing one measurement to ~${TARGET_MS} ms, then ${ROUNDS} alternating rounds ` +
    `(ours first in even rounds, mqtt-packet first in odd ones); ops per second of process CPU time (user + system), median (min..max).`);
  console.log(`encode: ours encode() -> one Uint8Array of the whole packet; mqtt-packet generate() -> one Buffer of the whole packet. ` +
    `decode: one packet per push()/parse() on a reused decoder/parser. stream: ${STREAM} packets in one buffer or ${CHUNK} B chunks, a fresh decoder/parser per pass. ` +
    `Topic "${TOPIC}". Every encoding was checked byte-identical to mqtt-packet's, and decoded back.\n`);

  const all: Case[] = [];
  for (const pair of pairs()) all.push(...cases(pair, check(pair)));
  const selected = all.filter((c) => c.label.includes(FILTER));
  const rows: Row[] = [];
  for (const c of selected) {
    rows.push(measure(c));
    if (process.env.BENCH_DEBUG) console.error(c.label, ratio(median(rows[rows.length - 1].ratios)));
  }

  console.log(table(["operation", "ours ops/CPU-s", "mqtt-packet ops/CPU-s", "ours / mqtt-packet"],
    rows.map((r) => [r.label, spread(r.ours, rate), spread(r.theirs, rate), spread(r.ratios, ratio)])));
  const below = rows.filter((r) => median(r.ratios) < 2);
  const worst = rows.reduce((w, r) => (median(r.ratios) < median(w.ratios) ? r : w), rows[0]);
  console.log(`\nLowest median ratio: ${ratio(median(worst.ratios))} (${worst.label}). ` +
    (below.length ? `Under 2x: ${below.map((r) => `${r.label} ${ratio(median(r.ratios))}`).join("; ")}.` : "Every row is at least 2x."));
  console.log(`Machine at end: ${machine()}; ${((performance.now() - started) / 1000).toFixed(0)} s.`);
}

main();
