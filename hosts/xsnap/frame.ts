// The messages between the Node test driver (tests/harness/xsnap.ts) and the XS side
// (hosts/xsnap/main.ts). xsnap carries opaque byte strings both ways; each of ours is a
// frame: a 2-byte big-endian header length, the header as UTF-8 JSON, then raw bytes
// (socket data, a payload), so large data is never re-encoded.
//
// Portable: no Node or XS APIs, so both sides share this file.

import { decodeUtf8, encodeUtf8 } from "../../modules/mqtt/utf8.js";

/** XS -> host, through the synchronous `issueCommand`. The reply is a frame too. */
export type Call =
  /** Connect a TCP socket; reply `{}` or `{error}`. */
  | { op: "open"; id: number; host: string; port: number }
  /** Write the frame's bytes; reply `{w}`, the bytes still writable, or `{error}`. */
  | { op: "write"; id: number }
  | { op: "close"; id: number }
  /** Fire timer `id` after `ms` (the host's clock, real or virtual). */
  | { op: "timer"; id: number; ms: number }
  | { op: "clear"; id: number }
  /** Job `job` settled; the frame's bytes are its binary result, if any. */
  | { op: "done"; job: number; ok: boolean; error?: string; code?: string; result?: unknown }
  /** A diagnostic line (a product's log). */
  | { op: "log"; line: string };

/** Host -> XS, through `handleCommand`. Every event carries the host's clock. */
export type Event =
  /** Bytes arrived on socket `id` (the frame's bytes). */
  | { ev: "readable"; id: number; now: number }
  /** Socket `id` may take `count` more bytes; the first one means "connected". */
  | { ev: "writable"; id: number; count: number; now: number }
  | { ev: "error"; id: number; message: string; code?: string; now: number }
  | { ev: "timer"; id: number; now: number }
  /** Run job `name` with `args` (and the frame's bytes); answered by a "done" call. */
  | { ev: "job"; job: number; name: string; args: Record<string, unknown>; now: number };

// TextEncoder/TextDecoder are native in xsnap and Node, and cost XS's meter a fraction of
// a loop over the characters; builds without them fall back on our MQTT UTF-8 code
// (strict, but JSON never holds what MQTT forbids: U+0000 and lone surrogates are escaped).
const globals = globalThis as {
  TextEncoder?: new () => { encode(s: string): Uint8Array };
  TextDecoder?: new () => { decode(b: Uint8Array): string };
};
const encoder = globals.TextEncoder ? new globals.TextEncoder() : undefined;
const decoder = globals.TextDecoder ? new globals.TextDecoder() : undefined;

/** Builds a frame; the header must be JSON-serialisable. */
export function frame(header: object, payload?: Uint8Array): Uint8Array {
  const json = JSON.stringify(header);
  const head = encoder ? encoder.encode(json) : encodeUtf8(json);
  const h = head.length;
  if (h > 0xffff) throw new RangeError(`frame header of ${h} bytes`);
  const n = payload ? payload.length : 0;
  const out = new Uint8Array(2 + h + n);
  out[0] = h >> 8;
  out[1] = h & 0xff;
  out.set(head, 2);
  if (payload && n) out.set(payload, 2 + h);
  return out;
}

/** Splits a frame. `payload` is a view into `bytes`. */
export function unframe<T = Record<string, unknown>>(bytes: Uint8Array): { header: T; payload: Uint8Array } {
  if (bytes.length < 2) throw new RangeError("short frame");
  const h = (bytes[0] << 8) | bytes[1];
  if (bytes.length < 2 + h) throw new RangeError("truncated frame header");
  const head = bytes.subarray(2, 2 + h);
  const json = decoder ? decoder.decode(head) : decodeUtf8(head, 0, h);
  return { header: JSON.parse(json) as T, payload: bytes.subarray(2 + h) };
}
