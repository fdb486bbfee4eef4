// Runs our MQTT client on the real XS engine: an xsnap worker (from @agoric/xsnap, built
// by its postinstall) driven over its own pipe protocol, without @agoric/xsnap's
// JavaScript API (which needs SES lockdown of the whole Node process).
//
// Protocol (node_modules/@agoric/xsnap/src/xsnap.js): netstrings `<len>:<bytes>,` to the
// worker on fd 3 and from it on fd 4. To the worker: `e<code>` evaluates a script,
// `?<bytes>` calls globalThis.handleCommand(ArrayBuffer). From it: `.<meter JSON>\x01<reply>`
// ends a crank, `!<text>` ends one with an uncaught error, `?<bytes>` is a synchronous
// issueCommand() from XS, answered with `/<bytes>` while the crank goes on. One crank at
// a time: deliveries to XS are queued.
//
// The XS side (hosts/xsnap/, bundled here with esbuild) has no I/O: its sockets and timers
// call the driver, which bridges them to node:net sockets on loopback and to setTimeout
// ("real" clock) or to a clock the test advances ("virtual").

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { frame, unframe } from "../../hosts/xsnap/frame.js";
import type { Call } from "../../hosts/xsnap/frame.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export const XSNAP_WORKER = path.join(root, "node_modules/@agoric/xsnap/xsnap-native/xsnap/build/bin/lin/release/xsnap-worker");

/** What xsnap reports at the end of a crank. */
export interface Meter {
  /** Computrons: XS's count of bytecodes run plus a share for native work (the crank's). */
  compute: number;
  /** Bytes XS has allocated for chunks and slots (the machine's, not the crank's). */
  allocate: number;
  /** Heap slots in use at the end of the crank. */
  currentHeapCount: number;
}

export interface Crank extends Meter {
  /** What the crank delivered: "job client.connect", "readable 1", "timer 4", ... */
  what: string;
}

export interface XsWorkerOptions {
  /** "real": timers are setTimeout and `now` is Date.now(); "virtual": the test advances time. */
  clock?: "real" | "virtual";
  /** Start of the virtual clock (ms). */
  virtualStart?: number;
  /** Computrons one crank may use before xsnap aborts the worker. */
  meteringLimit?: number;
  /** Sees every byte the XS sockets send ("out") and receive ("in"). */
  tap?: (socket: number, direction: "in" | "out", bytes: Uint8Array) => void;
  /**
   * The script to evaluate instead of hosts/xsnap/main.ts's bundle (benchmarks bundle their
   * own entry on hosts/xsnap's bridge, socket and timer).
   */
  bundle?: string;
  /** Sees every call XS makes to the host (socket open/write/close, timer set/clear, done, log). */
  onCall?: (call: Call) => void;
}

export interface JobResult<T = Record<string, unknown>> {
  result: T;
  /** The job's binary result (e.g. a message payload). */
  bytes: Uint8Array;
}

/**
 * `entry` (a path from the repository root) and everything it imports, as one script for XS
 * to evaluate; `plugins` resolve what esbuild cannot. Shared by xsBundle() and
 * benchmarks/xs-moddable.ts (which bundles its own entry with shims for Moddable's modules).
 */
export async function bundleForXs(entry: string, plugins: esbuild.Plugin[] = []): Promise<string> {
  const result = await esbuild.build({
    entryPoints: [path.join(root, entry)],
    absWorkingDir: root,
    bundle: true,
    format: "iife",
    target: "es2022",
    platform: "neutral",
    write: false,
    logLevel: "silent",
    plugins,
  });
  return result.outputFiles[0]!.text;
}

let bundled: Promise<string> | undefined;

/** hosts/xsnap/main.ts and everything it imports, as one script for XS. Built once per process. */
export function xsBundle(): Promise<string> {
  bundled ??= bundleForXs("hosts/xsnap/main.ts");
  return bundled;
}

interface Delivery {
  what: string;
  /** Socket events are coalesced: one queued delivery per key. */
  key?: string;
  /** The netstring body, built when its turn comes; undefined skips it. */
  build(): Uint8Array | undefined;
  /** Called when the crank ends; with the error text when it threw. */
  settle?(error?: string): void;
}

interface PendingJob {
  name: string;
  resolve(r: JobResult<never>): void;
  reject(e: Error): void;
  /** The "done" call, kept until its crank ends so the crank's meter is recorded first. */
  done?: { header: Extract<Call, { op: "done" }>; bytes: Uint8Array };
}

const encoder = new TextEncoder();

export class XsWorker {
  /** Every crank's meter, in order (the bundle's evaluation first). */
  readonly cranks: Crank[] = [];
  /** Uncaught errors XS reported, with what was being delivered. */
  readonly errors: string[] = [];
  /** Lines the XS side logged (products' diagnostics). */
  readonly logs: string[] = [];

  readonly #child: ChildProcess;
  readonly #toXs: Writable;
  readonly #virtual: boolean;
  readonly #tap: XsWorkerOptions["tap"];
  readonly #onCall: XsWorkerOptions["onCall"];
  #virtualNow: number;
  #rx: Buffer = Buffer.alloc(0);
  #queue: Delivery[] = [];
  #busy: Delivery | undefined;
  #jobs = new Map<number, PendingJob>();
  #finishedJobs: PendingJob[] = [];
  #nextJob = 0;
  #sockets = new Map<number, HostSocket>();
  #realTimers = new Map<number, NodeJS.Timeout>();
  #virtualTimers = new Map<number, { due: number; seq: number }>();
  #timerSeq = 0;
  #waiters: { test: () => boolean; resolve(): void; reject(e: Error): void }[] = [];
  #failure: Error | undefined;
  #exited: Promise<void>;
  #output = "";

  private constructor(options: XsWorkerOptions) {
    this.#virtual = options.clock === "virtual";
    this.#virtualNow = options.virtualStart ?? 1_000_000;
    this.#tap = options.tap;
    this.#onCall = options.onCall;
    const limit = options.meteringLimit ?? 100_000_000;
    // fds: 0 stdin, 1 stdout (print), 2 stderr, 3 to the worker, 4 from it, 5 XSBug,
    // 6 profiler, 7/8 snapshots (unused).
    this.#child = spawn(XSNAP_WORKER, ["mqtt-xs", "-l", String(limit)], {
      stdio: ["ignore", "pipe", "pipe", "pipe", "pipe", "ignore", "ignore", "ignore", "ignore"],
    });
    const stdio = this.#child.stdio as unknown as [null, Readable, Readable, Writable, Readable];
    this.#toXs = stdio[3];
    const keep = (d: Buffer): void => {
      this.#output = (this.#output + d.toString()).slice(-20_000);
      if (process.env.XSNAP_VERBOSE) process.stderr.write(`[xs] ${d.toString()}`);
    };
    stdio[1].on("data", keep);
    stdio[2].on("data", keep);
    this.#toXs.on("error", () => {}); // EPIPE after the worker died; reported by 'exit'
    stdio[4].on("data", (d: Buffer) => this.#received(d));
    stdio[4].on("error", () => {});
    this.#exited = new Promise((resolve) => {
      this.#child.once("exit", (code, signal) => {
        this.#fail(new Error(`xsnap worker exited (${signal ?? code})${this.#output ? `:\n${this.#output}` : ""}`));
        resolve();
      });
      this.#child.once("error", (error) => {
        this.#fail(error);
        resolve();
      });
    });
  }

  /** Spawns a worker and evaluates the bundled XS side in it. */
  static async start(options: XsWorkerOptions = {}): Promise<XsWorker> {
    if (!fs.existsSync(XSNAP_WORKER)) {
      throw new Error(`${XSNAP_WORKER} is missing: @agoric/xsnap's postinstall did not build it (run \`npm rebuild @agoric/xsnap\`)`);
    }
    const code = options.bundle ?? await xsBundle();
    const worker = new XsWorker(options);
    try {
      await new Promise<void>((resolve, reject) => {
        worker.#enqueue({
          what: "evaluate bundle",
          build: () => encoder.encode("e" + code),
          settle: (error) => (error ? reject(new Error(`the XS bundle threw: ${error}`)) : resolve()),
        });
      });
    } catch (e) {
      await worker.dispose();
      throw e;
    }
    return worker;
  }

  /** The clock XS sees: Date.now(), or the virtual time. */
  now(): number {
    return this.#virtual ? this.#virtualNow : Date.now();
  }

  /** Runs a job of hosts/xsnap/main.ts; resolves with its result, rejects with its error. */
  job<T = Record<string, unknown>>(name: string, args: Record<string, unknown> = {}, payload?: Uint8Array): Promise<JobResult<T>> {
    if (this.#failure) return Promise.reject(this.#failure);
    const job = ++this.#nextJob;
    return new Promise<JobResult<T>>((resolve, reject) => {
      this.#jobs.set(job, { name, resolve: resolve as (r: JobResult<never>) => void, reject });
      this.#enqueue({
        what: `job ${name}`,
        build: () => event({ ev: "job", job, name, args, now: this.now() }, payload),
      });
    });
  }

  /** Resolves once nothing is queued, no crank runs, no socket write is unflushed, and `test()` holds. */
  until(test: () => boolean = () => true): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiters.push({ test, resolve, reject });
      this.#check();
    });
  }

  /**
   * Virtual clock: moves time forward by `ms`, firing each due timer at its own time, in
   * order, and letting XS settle (crank, socket writes) after each.
   */
  async advance(ms: number): Promise<void> {
    if (!this.#virtual) throw new Error("advance() needs the virtual clock");
    const target = this.#virtualNow + ms;
    for (;;) {
      await this.until();
      let next: [number, { due: number; seq: number }] | undefined;
      for (const t of this.#virtualTimers) {
        if (t[1].due <= target && (!next || t[1].due < next[1].due || (t[1].due === next[1].due && t[1].seq < next[1].seq))) next = t;
      }
      if (!next) break;
      const [id, { due }] = next;
      this.#virtualTimers.delete(id);
      this.#virtualNow = Math.max(this.#virtualNow, due);
      this.#enqueue({ what: `timer ${id}`, build: () => event({ ev: "timer", id, now: this.now() }) });
    }
    this.#virtualNow = target;
  }

  /**
   * Over the cranks from index `from`: their number, the sum of their compute, the
   * allocate/heap figures after the last, and how much the heap grew over them.
   */
  meterSince(from: number): Meter & { cranks: number; heapGrowth: number } {
    const cranks = this.cranks.slice(from);
    const last = cranks[cranks.length - 1];
    const currentHeapCount = last?.currentHeapCount ?? 0;
    return {
      cranks: cranks.length,
      compute: cranks.reduce((sum, c) => sum + c.compute, 0),
      allocate: last?.allocate ?? 0,
      currentHeapCount,
      heapGrowth: currentHeapCount - (this.cranks[from - 1]?.currentHeapCount ?? 0),
    };
  }

  /** The worker's stdout and stderr so far (the tail). */
  output(): string {
    return this.#output;
  }

  /** Kills the worker (by its own handle) and closes its sockets and timers. */
  async dispose(): Promise<void> {
    for (const s of this.#sockets.values()) s.destroy();
    this.#sockets.clear();
    for (const t of this.#realTimers.values()) clearTimeout(t);
    this.#realTimers.clear();
    this.#virtualTimers.clear();
    this.#fail(new Error("worker disposed"));
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill("SIGKILL");
    await this.#exited;
  }

  // ---- deliveries to XS ----

  #enqueue(d: Delivery): void {
    if (this.#failure) {
      d.settle?.(this.#failure.message);
      return;
    }
    if (d.key !== undefined && this.#queue.some((q) => q.key === d.key)) return;
    this.#queue.push(d);
    this.#pump();
  }

  #pump(): void {
    while (!this.#busy && this.#queue.length && !this.#failure) {
      const d = this.#queue.shift()!;
      const body = d.build();
      if (!body) continue;
      this.#busy = d;
      this.#send(body);
    }
    this.#check();
  }

  #send(body: Uint8Array): void {
    this.#toXs.write(Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(",")]));
  }

  /** Wakes the until() waiters whose condition now holds. */
  #check(): void {
    if (!this.#waiters.length || !this.#quiet()) return;
    const ready = this.#waiters.filter((w) => w.test());
    if (!ready.length) return;
    this.#waiters = this.#waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }

  #quiet(): boolean {
    if (this.#busy || this.#queue.length) return false;
    for (const s of this.#sockets.values()) if (s.unflushed) return false;
    return true;
  }

  // ---- messages from XS ----

  #received(data: Buffer): void {
    this.#rx = this.#rx.length ? Buffer.concat([this.#rx, data]) : data;
    for (;;) {
      const colon = this.#rx.indexOf(0x3a);
      if (colon < 0) return;
      const length = Number(this.#rx.subarray(0, colon).toString("latin1"));
      if (!Number.isInteger(length)) {
        this.#protocolError(`bad netstring length ${JSON.stringify(this.#rx.subarray(0, colon).toString("latin1"))}`);
        return;
      }
      const end = colon + 1 + length;
      if (this.#rx.length < end + 1) return;
      if (this.#rx[end] !== 0x2c) {
        this.#protocolError("netstring without its trailing comma");
        return;
      }
      const message = this.#rx.subarray(colon + 1, end);
      this.#rx = this.#rx.subarray(end + 1);
      this.#message(message);
      if (this.#failure) return;
    }
  }

  #message(message: Buffer): void {
    const kind = message[0];
    if (kind === 0x3f /* ? */) {
      let reply: Uint8Array;
      try {
        const { header, payload } = unframe<Call>(message.subarray(1));
        this.#onCall?.(header);
        reply = frame(this.#call(header, payload));
      } catch (e) {
        reply = frame({ error: e instanceof Error ? e.message : String(e), code: (e as { code?: unknown }).code });
      }
      this.#send(Buffer.concat([Buffer.from("/"), reply]));
    } else if (kind === 0x2e /* . */) {
      const separator = message.indexOf(1);
      const meter = separator > 0 ? JSON.parse(message.subarray(1, separator).toString("latin1")) as Meter : undefined;
      this.#crankEnded(meter);
    } else if (kind === 0x21 /* ! */) {
      this.#crankEnded(undefined, message.subarray(1).toString());
    } else {
      this.#protocolError(`unexpected message ${JSON.stringify(message.subarray(0, 40).toString("latin1"))}`);
    }
  }

  #crankEnded(meter: Meter | undefined, error?: string): void {
    const d = this.#busy;
    this.#busy = undefined;
    const what = d?.what ?? "?";
    if (meter) this.cranks.push({ what, compute: meter.compute, allocate: meter.allocate, currentHeapCount: meter.currentHeapCount });
    for (const job of this.#finishedJobs.splice(0)) {
      const done = job.done!;
      if (done.header.ok) job.resolve({ result: (done.header.result ?? {}) as never, bytes: done.bytes });
      else job.reject(Object.assign(new Error(`${job.name}: ${done.header.error}`), { code: done.header.code }));
    }
    if (error !== undefined) {
      const text = `uncaught in XS during ${what}: ${error}`;
      this.errors.push(text);
      // A job never answered after such an error: fail them all rather than time out.
      for (const [id, job] of this.#jobs) {
        this.#jobs.delete(id);
        job.reject(new Error(text));
      }
    }
    d?.settle?.(error);
    this.#pump();
  }

  /** Carries out an issueCommand() from XS and returns the reply's header. */
  #call(header: Call, payload: Uint8Array): object {
    switch (header.op) {
      case "open": {
        if (this.#sockets.has(header.id)) throw new Error(`socket ${header.id} is open`);
        this.#sockets.set(header.id, new HostSocket(this, header.id, header.host, header.port));
        return {};
      }
      case "write": {
        const socket = this.#sockets.get(header.id);
        if (!socket) throw new Error("socket closed");
        return { w: socket.write(payload) };
      }
      case "close":
        this.#sockets.get(header.id)?.destroy();
        this.#sockets.delete(header.id);
        return {};
      case "timer":
        if (this.#virtual) {
          this.#virtualTimers.set(header.id, { due: this.#virtualNow + header.ms, seq: ++this.#timerSeq });
        } else {
          const id = header.id;
          this.#realTimers.set(id, setTimeout(() => {
            this.#realTimers.delete(id);
            this.#enqueue({ what: `timer ${id}`, build: () => event({ ev: "timer", id, now: this.now() }) });
          }, header.ms));
        }
        return {};
      case "clear": {
        const t = this.#realTimers.get(header.id);
        if (t) clearTimeout(t);
        this.#realTimers.delete(header.id);
        this.#virtualTimers.delete(header.id);
        return {};
      }
      case "log":
        this.logs.push(header.line);
        return {};
      case "done": {
        const job = this.#jobs.get(header.job);
        if (!job) throw new Error(`no job ${header.job}`);
        this.#jobs.delete(header.job);
        job.done = { header, bytes: Buffer.from(payload) };
        this.#finishedJobs.push(job);
        return {};
      }
    }
    throw new Error(`unknown call ${JSON.stringify(header)}`);
  }

  #protocolError(message: string): void {
    this.#fail(new Error(`xsnap protocol error: ${message}`));
    this.#child.kill("SIGKILL");
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    for (const job of this.#jobs.values()) job.reject(error);
    this.#jobs.clear();
    for (const w of this.#waiters.splice(0)) w.reject(error);
    this.#busy?.settle?.(error.message);
    this.#busy = undefined;
    for (const d of this.#queue.splice(0)) d.settle?.(error.message);
    for (const s of this.#sockets.values()) s.destroy();
  }

  // ---- for HostSocket ----

  /** @internal */
  socketEvent(key: string, what: string, build: () => Uint8Array | undefined): void {
    this.#enqueue({ key, what, build });
  }

  /** @internal */
  tapped(id: number, direction: "in" | "out", bytes: Uint8Array): void {
    this.#tap?.(id, direction, bytes);
  }

  /** @internal */
  wake(): void {
    this.#pump();
  }
}

function event(header: object, payload?: Uint8Array): Uint8Array {
  const f = frame(header, payload);
  const out = new Uint8Array(1 + f.length);
  out[0] = 0x3f; // ?
  out.set(f, 1);
  return out;
}

/**
 * The node:net end of an XS socket, with hosts/node/tcp.ts's budget: XS may write a
 * window (the socket's writableHighWaterMark) minus what node has not flushed yet, and
 * learns of freed budget through "writable" events.
 */
class HostSocket {
  readonly #worker: XsWorker;
  readonly #id: number;
  readonly #socket: net.Socket;
  #chunks: Buffer[] = [];
  #window = 0;
  #writable = 0;
  #connected = false;
  #done = false;
  /** Bytes handed to node whose write callback has not come yet. */
  unflushed = 0;

  constructor(worker: XsWorker, id: number, host: string, port: number) {
    this.#worker = worker;
    this.#id = id;
    const socket = net.connect({ host, port });
    this.#socket = socket;
    socket.once("connect", () => {
      if (this.#done) return;
      socket.setNoDelay(true);
      this.#connected = true;
      this.#window = socket.writableHighWaterMark;
      this.#writable = this.#window;
      this.#notifyWritable();
    });
    socket.on("data", (chunk: Buffer) => {
      if (this.#done || chunk.length === 0) return;
      this.#worker.tapped(id, "in", chunk);
      this.#chunks.push(chunk);
      this.#worker.socketEvent(`r${id}`, `readable ${id}`, () => {
        if (!this.#chunks.length) return undefined;
        const data = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
        this.#chunks = [];
        return event({ ev: "readable", id, now: this.#worker.now() }, data);
      });
    });
    socket.on("error", (error: Error) => this.#fail(error));
    socket.on("end", () => this.#fail(new Error("connection closed by peer")));
    socket.on("close", () => this.#fail(new Error("connection closed by peer")));
  }

  write(bytes: Uint8Array): number {
    if (this.#done) throw new Error("socket closed");
    if (!this.#connected) throw new Error("socket not connected");
    const size = bytes.length;
    if (size > this.#writable) throw new RangeError(`write of ${size} bytes exceeds writable ${this.#writable}`);
    this.#writable -= size;
    this.unflushed += size;
    this.#worker.tapped(this.#id, "out", bytes);
    this.#socket.write(bytes, (error) => {
      if (this.#done) return;
      this.unflushed -= size;
      if (error) return; // failures arrive through 'error'
      this.#writable = Math.min(this.#window, this.#writable + size);
      this.#notifyWritable();
      this.#worker.wake();
    });
    return this.#writable;
  }

  destroy(): void {
    this.#done = true;
    this.#chunks = [];
    this.unflushed = 0;
    this.#socket.destroy();
  }

  // The count is read when the event's turn comes, so XS never hears of budget it has
  // since spent.
  #notifyWritable(): void {
    this.#worker.socketEvent(`w${this.#id}`, `writable ${this.#id}`, () => {
      if (this.#done || this.#writable === 0) return undefined;
      return event({ ev: "writable", id: this.#id, count: this.#writable, now: this.#worker.now() });
    });
  }

  #fail(error: Error & { code?: string }): void {
    if (this.#done) return;
    this.#done = true;
    this.unflushed = 0;
    this.#socket.destroy();
    // After any data already queued for XS: keys differ, order is kept.
    this.#worker.socketEvent(`e${this.#id}`, `error ${this.#id}`, () =>
      event({ ev: "error", id: this.#id, message: error.message, ...(error.code ? { code: error.code } : {}), now: this.#worker.now() }));
    this.#worker.wake();
  }
}
