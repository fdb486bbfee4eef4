// Outbox persistence in a file: an append-only log of JSON lines, one per put or delete,
// so each operation is a single small append. The log is rewritten with only the live puts
// at load() and whenever it grows past max(compactAtBytes, 2 x live bytes), so after every
// operation the file is at most that size (during one, plus a line, and the live bytes
// again in the temp file). A rewrite of an N-byte log comes after at least N/2 bytes
// appended or deleted since the last one, so its cost is amortised O(1) per operation.
// Opening does no I/O, and a host that knows there is no log says so: a device that boots
// with nothing to resend then touches no file until it stores a message.

import * as fs from "node:fs";
import * as path from "node:path";
import type { OutboxStore, StoredMessage } from "../../modules/mqtt/io.js";

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
  // Byte length of each live seq's put line; undefined until the log has been read once.
  // Sizes only: the session holds the messages, and a rewrite re-reads them from the log.
  #live: Map<number, number> | undefined;
  #liveBytes = 0;
  #logBytes = 0;

  constructor(filePath: string, options: FileStoreOptions = {}) {
    this.path = path.resolve(filePath);
    this.compactAtBytes = options.compactAtBytes ?? 64 * 1024;
    // No log: nothing to rewrite before the first append.
    if (options.absent) this.#live = new Map();
  }

  load(): StoredMessage[] {
    // Known to have no log and nothing written since: nothing to read or rewrite.
    if (this.#live?.size === 0 && this.#logBytes === 0) return [];
    return this.#compact();
  }

  /** Also updates: a later put with the same seq (e.g. now released) replaces the earlier one. */
  put(message: StoredMessage): void {
    const bytes = this.#append(toRecord(message));
    this.#liveBytes += bytes - (this.#live!.get(message.seq) ?? 0);
    this.#live!.set(message.seq, bytes);
    this.#compactIfLarge();
  }

  delete(seq: number): void {
    this.#append({ op: "del", seq });
    this.#liveBytes -= this.#live!.get(seq) ?? 0;
    this.#live!.delete(seq);
    this.#compactIfLarge();
  }

  #compactIfLarge(): void {
    if (this.#logBytes > Math.max(this.compactAtBytes, 2 * this.#liveBytes)) this.#compact();
  }

  /** Replays the log, rewrites it with only the live puts and returns them in seq order. */
  #compact(): StoredMessage[] {
    const live = new Map<number, StoredMessage>();
    for (const record of this.#records()) {
      if (record.op === "del") live.delete(record.seq);
      else live.set(record.seq, toMessage(record));
    }
    const messages = [...live.values()].sort((a, b) => a.seq - b.seq);
    this.#live = new Map();
    let text = "";
    for (const message of messages) {
      const line = JSON.stringify(toRecord(message)) + "\n";
      this.#live.set(message.seq, Buffer.byteLength(line));
      text += line;
    }
    this.#liveBytes = this.#logBytes = Buffer.byteLength(text);
    if (text === "" && !fs.existsSync(this.path)) return messages;
    // Temp + rename keeps the old log intact if we crash here. The new file ends on a line
    // boundary, so later appends never glue onto a line a crash left truncated.
    const temp = `${this.path}.tmp`;
    fs.writeFileSync(temp, text);
    fs.renameSync(temp, this.path);
    return messages;
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

  /** Returns the line's length in bytes. The first write of a process compacts first, to
   * learn the live sizes and end the file on a line boundary. */
  #append(record: PutRecord | DeleteRecord): number {
    if (this.#live === undefined) this.#compact();
    const line = JSON.stringify(record) + "\n";
    try {
      fs.appendFileSync(this.path, line);
    } catch (error) {
      // The folder is made at the first write, not at boot.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      fs.mkdirSync(path.dirname(this.path), { recursive: true });
      fs.appendFileSync(this.path, line);
    }
    const bytes = Buffer.byteLength(line);
    this.#logBytes += bytes;
    return bytes;
  }
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
