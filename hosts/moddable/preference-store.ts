// Flash-backed stores over Moddable's Preference (NVS on ESP32, a file in the simulator).
// NVS limits keys and domains to 15 characters and values to about 4 KB, so a message
// is split across numbered keys.

import Preference from "preference";
import { fnv1aHex } from "../../modules/device/hash.js";
import type { OutboxStore, StoredMessage } from "../../modules/mqtt/io.js";
import { encodeUtf8, decodeUtf8 } from "../../modules/mqtt/utf8.js";
import { concatBytes } from "../../modules/mqtt/bytes.js";

/** Bytes per Preference value: below ESP32 NVS's blob limit with room to spare. */
const CHUNK = 3_900;
const HEADER = 9;

/** Serializes a stored message: flags, id, seq, topic length, topic, payload. */
export function packMessage(m: StoredMessage): Uint8Array {
  const topic = encodeUtf8(m.topic);
  const out = new Uint8Array(HEADER + topic.length + m.payload.length);
  const view = new DataView(out.buffer);
  out[0] = m.qos | (m.retain ? 4 : 0) | (m.released ? 8 : 0) | (m.id !== undefined ? 16 : 0);
  view.setUint16(1, m.id ?? 0);
  view.setUint32(3, m.seq);
  view.setUint16(7, topic.length);
  out.set(topic, HEADER);
  out.set(m.payload, HEADER + topic.length);
  return out;
}

export function unpackMessage(bytes: Uint8Array): StoredMessage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = bytes[0];
  const topicLength = view.getUint16(7);
  const message: StoredMessage = {
    seq: view.getUint32(3),
    qos: (flags & 3) as 1 | 2,
    retain: (flags & 4) !== 0,
    topic: decodeUtf8(bytes, HEADER, HEADER + topicLength),
    payload: bytes.slice(HEADER + topicLength),
  };
  if (flags & 8) message.released = true;
  if (flags & 16) message.id = view.getUint16(1);
  return message;
}

/** The outbox in Preference: key `<seq>` holds the chunk count, `<seq>.<i>` the chunks. */
export class PreferenceOutbox implements OutboxStore {
  readonly domain: string;

  constructor(domain = "outbox") {
    if (domain.length > 15) throw new RangeError("Preference domains are at most 15 characters");
    this.domain = domain;
  }

  load(): StoredMessage[] {
    const messages: StoredMessage[] = [];
    for (const key of Preference.keys(this.domain)) {
      if (key.includes(".")) continue;
      const count = Preference.get(this.domain, key);
      if (typeof count !== "number") continue;
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        const chunk = Preference.get(this.domain, `${key}.${i}`);
        if (!(chunk instanceof ArrayBuffer)) break;
        chunks.push(new Uint8Array(chunk));
      }
      if (chunks.length !== count) continue; // torn write: the message never completed storing
      messages.push(unpackMessage(chunks.length === 1 ? chunks[0] : concatBytes(chunks)));
    }
    return messages.sort((a, b) => a.seq - b.seq);
  }

  put(message: StoredMessage): void {
    const bytes = packMessage(message);
    const key = String(message.seq);
    const count = Math.max(1, Math.ceil(bytes.length / CHUNK));
    // Chunks first, count last: a message is visible only once all of it is written.
    for (let i = 0; i < count; i++) {
      Preference.set(this.domain, `${key}.${i}`, bytes.slice(i * CHUNK, (i + 1) * CHUNK).buffer);
    }
    Preference.set(this.domain, key, count);
  }

  delete(seq: number): void {
    const key = String(seq);
    const count = Preference.get(this.domain, key);
    Preference.delete(this.domain, key);
    if (typeof count === "number") for (let i = 0; i < count; i++) Preference.delete(this.domain, `${key}.${i}`);
  }
}

/**
 * JSON values by key in one Preference domain: settings, backoff state, counters. Keys longer
 * than NVS allows are shortened with a hash; values above a chunk are split across keys
 * `<key>.<i>` with the chunk count at `<key>`, written chunks first.
 */
export class PreferenceSettings {
  readonly domain: string;

  constructor(domain = "settings") {
    if (domain.length > 15) throw new RangeError("Preference domains are at most 15 characters");
    this.domain = domain;
  }

  get<T>(key: string): T | undefined {
    const k = nvsKey(key);
    let value = Preference.get(this.domain, k);
    if (typeof value === "number") {
      let text = "";
      for (let i = 0; i < value; i++) {
        const chunk = Preference.get(this.domain, `${k}.${i}`);
        if (typeof chunk !== "string") return undefined; // torn write
        text += chunk;
      }
      value = text;
    }
    if (typeof value !== "string") return undefined;
    try {
      return JSON.parse(value) as T;
    } catch {
      return undefined; // a corrupt value reads as absent; the caller's default applies
    }
  }

  set(key: string, value: unknown): void {
    const k = nvsKey(key);
    const text = JSON.stringify(value);
    if (text.length <= CHUNK) {
      this.#deleteChunks(k);
      Preference.set(this.domain, k, text);
      return;
    }
    const count = Math.ceil(text.length / CHUNK);
    if (count > 99) throw new RangeError(`setting ${key} is too large for flash (${text.length} characters)`);
    for (let i = 0; i < count; i++) Preference.set(this.domain, `${k}.${i}`, text.slice(i * CHUNK, (i + 1) * CHUNK));
    Preference.set(this.domain, k, count);
  }

  delete(key: string): void {
    const k = nvsKey(key);
    this.#deleteChunks(k);
    Preference.delete(this.domain, k);
  }

  #deleteChunks(k: string): void {
    const count = Preference.get(this.domain, k);
    if (typeof count === "number") for (let i = 0; i < count; i++) Preference.delete(this.domain, `${k}.${i}`);
  }
}

/** At most 12 characters, leaving room for a chunk suffix within NVS's 15: long keys get a hash. */
export function nvsKey(key: string): string {
  if (key.length <= 12 && !key.includes(".")) return key;
  return key.replace(/\./g, "_").slice(0, 4) + "~" + fnv1aHex(key).slice(0, 7);
}
