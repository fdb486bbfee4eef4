// Outbox persistence in a file: an append-only log of JSON lines, one per put or delete,
// so each operation is a single small append. load() replays the log and compacts it.

import * as fs from "node:fs";
import * as path from "node:path";
import type { OutboxStore, StoredMessage } from "../../modules/mqtt/io.js";

type PutRecord = {
  op: "put"; seq: number; topic: string; payload: string; qos: 1 | 2; retain: boolean;
  id?: number; released?: boolean;
};
type DeleteRecord = { op: "del"; seq: number };

export class FileStore implements OutboxStore {
  readonly path: string;
  // Set once the file is known to end on a line boundary, so an append never glues itself
  // onto a line a crash left truncated.
  #clean = false;

  constructor(filePath: string) {
    this.path = path.resolve(filePath);
    fs.mkdirSync(path.dirname(this.path), { recursive: true });
  }

  load(): StoredMessage[] {
    const live = new Map<number, StoredMessage>();
    for (const record of this.#records()) {
      if (record.op === "del") live.delete(record.seq);
      else live.set(record.seq, toMessage(record));
    }
    const messages = [...live.values()].sort((a, b) => a.seq - b.seq);
    this.#compact(messages);
    return messages;
  }

  /** Also updates: a later put with the same seq (e.g. now released) replaces the earlier one. */
  put(message: StoredMessage): void {
    this.#append(toRecord(message));
  }

  delete(seq: number): void {
    this.#append({ op: "del", seq });
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

  // Rewrite with only live puts; temp + rename keeps the old log intact if we crash here.
  #compact(messages: StoredMessage[]): void {
    const text = messages.map((m) => JSON.stringify(toRecord(m)) + "\n").join("");
    if (text === "" && !fs.existsSync(this.path)) {
      this.#clean = true;
      return;
    }
    const temp = `${this.path}.tmp`;
    fs.writeFileSync(temp, text);
    fs.renameSync(temp, this.path);
    this.#clean = true;
  }

  #append(record: PutRecord | DeleteRecord): void {
    let line = JSON.stringify(record) + "\n";
    if (!this.#clean) {
      if (!endsWithNewline(this.path)) line = "\n" + line;
      this.#clean = true;
    }
    fs.appendFileSync(this.path, line);
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

/** True for a missing or empty file too: nothing to separate from. */
function endsWithNewline(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw error;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return true;
    const last = Buffer.alloc(1);
    fs.readSync(fd, last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } finally {
    fs.closeSync(fd);
  }
}
