// Outbox persistence in a file: an append-only log of JSON lines, one per put or delete,
// so each operation is a single small append, written behind the event loop (see
// file-writer.ts: queued in order, on disk within moments, and all of it at a normal exit).
// The log is rewritten with only the live puts at load() and whenever it grows past
// max(compactAtBytes, 2 x live bytes), so once written the file is at most that size (plus
// a line, and the live bytes again in the temp file during a rewrite). A rewrite of an
// N-byte log comes after at least N/2 bytes appended or deleted since the last one, so its
// cost is amortised O(1) per operation. The live messages are also kept in memory (the
// session holds the same objects), so a rewrite never reads the file back. Opening does no
// I/O, and a host that knows there is no log says so: a device that boots with nothing to
// resend then touches no file until it stores a message.

import * as fs from "node:fs";
import type { OutboxStore, StoredMessage } from "../../modules/mqtt/io.js";
import { FileWriter } from "./file-writer.js";

type PutRecord = {
  op: "put"; seq: number; topic: string; payload: string; qos: 1 | 2; retain: boolean;
  id?: number; released?: boolean;
};
type DeleteRecord = { op: "del"; seq: number };

export type FileStoreOptions = {
  /** The log is never compacted below this size in bytes (default 64 KiB), so a small
   * outbox is not rewritten every few messages. */
  compactAtBytes?: number;
  /** The host knows there is no log (it listed the folder): load() need not look. */
  absent?: boolean;
};

export class FileStore implements OutboxStore {
  readonly path: string;
  readonly compactAtBytes: number;
  readonly #writer: FileWriter;
  /**
   * Each live message (the session's own object) with its put line's size in bytes: a
   * rewrite makes the lines again, so memory holds no second, base64 copy of any payload.
   * Undefined until the log has been read once.
   */
  #live: Map<number, Live> | undefined;
  #liveBytes = 0;
  #logBytes = 0;

  constructor(filePath: string, options: FileStoreOptions = {}) {
    this.#writer = FileWriter.for(filePath);
    this.path = this.#writer.path;
    this.compactAtBytes = options.compactAtBytes ?? 64 * 1024;
    // No log: nothing to read before the first append.
    if (options.absent && !this.#writer.busy) this.#live = new Map();
  }

  /** Failed writes (the messages stay in memory, for this run). */
  set onError(report: (error: unknown) => void) {
    this.#writer.onError = report;
  }

  /** The log's size in bytes once what is queued is written. */
  get bytes(): number {
    return this.#logBytes;
  }

  /** Resolves once every operation so far is on disk. */
  flushed(): Promise<void> {
    return this.#writer.flushed();
  }

  load(): StoredMessage[] {
    return [...this.#open().values()].map((l) => l.message).sort((a, b) => a.seq - b.seq);
  }

  /** Also updates: a later put with the same seq (e.g. now released) replaces the earlier one. */
  put(message: StoredMessage): void {
    const live = this.#open();
    const bytes = this.#append(lineOf(message));
    this.#liveBytes += bytes - (live.get(message.seq)?.bytes ?? 0);
    live.set(message.seq, { message, bytes });
    this.#compactIfLarge();
  }

  delete(seq: number): void {
    const live = this.#open();
    this.#append(JSON.stringify({ op: "del", seq }) + "\n");
    this.#liveBytes -= live.get(seq)?.bytes ?? 0;
    live.delete(seq);
    this.#compactIfLarge();
  }

  #compactIfLarge(): void {
    if (this.#logBytes > Math.max(this.compactAtBytes, 2 * this.#liveBytes)) this.#compact();
  }

  /** Rewrites the log with only the live puts, in seq order. */
  #compact(): void {
    const live = [...(this.#live as Map<number, Live>).values()].sort((a, b) => a.message.seq - b.message.seq);
    const text = live.map((l) => lineOf(l.message)).join("");
    this.#liveBytes = this.#logBytes = Buffer.byteLength(text);
    // Nothing on disk and nothing to write: leave it so. The new file ends on a line
    // boundary, so later appends never glue onto a line a crash left truncated.
    if (text === "" && !this.#writer.busy && !fs.existsSync(this.path)) return;
    this.#writer.replace(text);
  }

  /** Returns the line's size in bytes. */
  #append(line: string): number {
    this.#writer.append(line);
    const bytes = Buffer.byteLength(line);
    this.#logBytes += bytes;
    return bytes;
  }

  /**
   * The live messages, reading the log the first time and rewriting it with only those (so
   * it ends on a line boundary). Once per process and file: a later instance sees what the
   * writer has queued only once it is written, so a host keeps one store per file.
   */
  #open(): Map<number, Live> {
    if (this.#live) return this.#live;
    if (this.#writer.busy) throw new Error(`${this.path}: another store's writes are still under way; share one store per file, or await flushed()`);
    const live = new Map<number, Live>();
    for (const record of this.#records()) {
      if (record.op === "del") live.delete(record.seq);
      else {
        const message = toMessage(record);
        live.set(record.seq, { message, bytes: Buffer.byteLength(lineOf(message)) });
      }
    }
    this.#live = live;
    this.#compact();
    return live;
  }

  #records(): Array<PutRecord | DeleteRecord> {
    let text: string;
    try {
      text = fs.readFileSync(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const records: Array<PutRecord | DeleteRecord> = [];
    for (const line of text.split("\n")) {
      if (line === "") continue;
      // A crash mid-append leaves a partial last line: skip what does not parse. Losing a
      // delete only means a duplicate resend, which QoS >= 1 allows.
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        continue;
      }
      if (isRecord(value)) records.push(value);
    }
    return records;
  }
}

type Live = { message: StoredMessage; bytes: number };

function lineOf(message: StoredMessage): string {
  return JSON.stringify(toRecord(message)) + "\n";
}

function toRecord(message: StoredMessage): PutRecord {
  const payload = Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength);
  const record: PutRecord = {
    op: "put",
    seq: message.seq,
    topic: message.topic,
    payload: payload.toString("base64"),
    qos: message.qos,
    retain: message.retain,
  };
  if (message.id !== undefined) record.id = message.id;
  if (message.released !== undefined) record.released = message.released;
  return record;
}

function toMessage(record: PutRecord): StoredMessage {
  // A plain Uint8Array, not a Buffer view into node's pool.
  const payload = new Uint8Array(Buffer.from(record.payload, "base64"));
  const message: StoredMessage = { seq: record.seq, topic: record.topic, payload, qos: record.qos, retain: record.retain };
  if (record.id !== undefined) message.id = record.id;
  if (record.released !== undefined) message.released = record.released;
  return message;
}

function isRecord(value: unknown): value is PutRecord | DeleteRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  if (typeof r.seq !== "number" || !Number.isFinite(r.seq)) return false;
  if (r.op === "del") return true;
  return r.op === "put" && typeof r.topic === "string" && typeof r.payload === "string" &&
    (r.qos === 1 || r.qos === 2) && typeof r.retain === "boolean" &&
    (r.id === undefined || typeof r.id === "number") &&
    (r.released === undefined || typeof r.released === "boolean");
}
