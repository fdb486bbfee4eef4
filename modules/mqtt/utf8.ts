// UTF-8 for MQTT strings [MQTT-1.5.3]: well-formed, no surrogates, no U+0000.
// Written by hand because TextEncoder/TextDecoder are not globals on every XS build
// and neither reports the MQTT-specific faults.
//
// Fast paths for plain ASCII (U+0001..U+007F, one byte each, what topics and client ids
// almost always are): on XS every .length and charCodeAt of a JS loop is charged, so one
// native regex test decides "plain" and a native encoder copies the bytes (an 18-character
// topic: ~60 computrons each instead of ~650). Anything else takes the JS loops below. With a
// JIT (Node) a short ASCII string is copied in a compiled loop instead: see writeAscii.

import { MqttError, malformed } from "./errors.js";
import { JIT } from "./bytes.js";

/** Matches a string that is not plain ASCII: U+0000 or anything above U+007F. */
const NOT_PLAIN = /[^\x01-\x7f]/;

/** True when every code unit of str is U+0001..U+007F: its UTF-8 is its char codes. */
export function isPlainAscii(str: string): boolean {
  return !NOT_PLAIN.test(str); // a failed test allocates nothing; /^[\x01-\x7f]*$/ would build a match
}

// Native ASCII encoders, looked up once (Moddable preloads this module, so at build time):
// ArrayBuffer.fromString is XS's own on Moddable devices (xsnap, whose strings are CESU-8,
// lacks it); TextEncoder is global in xsnap and Node but not on Moddable devices.
const NativeArrayBuffer = ArrayBuffer as unknown as { fromString?: (str: string) => ArrayBuffer };
const FROM_STRING = typeof NativeArrayBuffer.fromString === "function";
const TextEncoderClass = (globalThis as unknown as {
  TextEncoder?: new () => { encode(str: string): Uint8Array; encodeInto(str: string, into: Uint8Array): unknown };
}).TextEncoder;
const ENCODER = !FROM_STRING && typeof TextEncoderClass === "function" ? new TextEncoderClass() : undefined;

/**
 * Longest string a JIT copies in a compiled loop rather than through encodeInto, whose call
 * and subarray cost V8 about as much as a 40-character loop.
 */
const LOOP_MAX = 32;

function writeAsciiNative(str: string, out: Uint8Array, offset: number): number {
  const n = str.length;
  if (FROM_STRING) out.set(new Uint8Array(NativeArrayBuffer.fromString!(str)), offset);
  else if (ENCODER) ENCODER.encodeInto(str, out.subarray(offset, offset + n));
  else for (let i = 0; i < n; i++) out[offset + i] = str.charCodeAt(i);
  return offset + n;
}

function writeAsciiJit(str: string, out: Uint8Array, offset: number): number {
  const n = str.length;
  if (n > LOOP_MAX) return writeAsciiNative(str, out, offset);
  for (let i = 0; i < n; i++) out[offset + i] = str.charCodeAt(i);
  return offset + n;
}

/** Writes a plain ASCII str (see isPlainAscii) at offset; returns the new offset. Chosen once: XS pays for every test. */
export const writeAscii = JIT ? writeAsciiJit : writeAsciiNative;

/** Byte length of str in UTF-8; throws INVALID_ARGUMENT for what MQTT forbids. */
export function utf8Length(str: string): number {
  const n = measureUtf8(str);
  if (typeof n !== "number") throw n;
  return n;
}

/** utf8Length without the throw (a try block costs on XS): the length, or why MQTT forbids str. */
export function measureUtf8(str: string): number | MqttError {
  if (!NOT_PLAIN.test(str)) return str.length; // plain ASCII: a byte per code unit, nothing to refuse
  const n = str.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = str.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) return new MqttError("INVALID_ARGUMENT", "string contains U+0000", "MQTT-1.5.3-2");
    } else if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = str.charCodeAt(i + 1);
      if (c > 0xdbff || !(d >= 0xdc00 && d <= 0xdfff)) {
        return new MqttError("INVALID_ARGUMENT", "string contains a lone surrogate", "MQTT-1.5.3-1");
      }
      bytes += 2; // 4 bytes for 2 code units
      i++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/** Writes str at offset (already validated by utf8Length); returns the new offset. */
export function writeUtf8(str: string, out: Uint8Array, offset: number): number {
  const n = str.length;
  for (let i = 0; i < n; i++) {
    let c = str.charCodeAt(i);
    if (c < 0x80) {
      out[offset++] = c;
    } else if (c < 0x800) {
      out[offset++] = 0xc0 | (c >> 6);
      out[offset++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdbff) {
      c = 0x10000 + ((c - 0xd800) << 10) + (str.charCodeAt(++i) - 0xdc00);
      out[offset++] = 0xf0 | (c >> 18);
      out[offset++] = 0x80 | ((c >> 12) & 0x3f);
      out[offset++] = 0x80 | ((c >> 6) & 0x3f);
      out[offset++] = 0x80 | (c & 0x3f);
    } else {
      out[offset++] = 0xe0 | (c >> 12);
      out[offset++] = 0x80 | ((c >> 6) & 0x3f);
      out[offset++] = 0x80 | (c & 0x3f);
    }
  }
  return offset;
}

export function encodeUtf8(str: string): Uint8Array {
  if (isPlainAscii(str)) {
    // the native encoders' own buffer is the result: no second copy
    if (FROM_STRING) return new Uint8Array(NativeArrayBuffer.fromString!(str));
    if (ENCODER) return ENCODER.encode(str);
  }
  const out = new Uint8Array(utf8Length(str));
  writeUtf8(str, out, 0);
  return out;
}

// Native decoders, looked up once like the encoders: String.fromArrayBuffer(buffer, offset,
// length) is XS's own on Moddable devices (not in xsnap), TextDecoder is global in xsnap and
// Node. The probe refuses a stand-in that ignores offset and length (the XS benchmark's does).
const NativeString = String as unknown as { fromArrayBuffer?: (buffer: ArrayBufferLike, offset: number, length: number) => string };
const FROM_ARRAY_BUFFER = typeof NativeString.fromArrayBuffer === "function" &&
  NativeString.fromArrayBuffer(Uint8Array.of(0x61, 0x62, 0x63).buffer, 1, 1) === "b";
const TextDecoderClass = (globalThis as unknown as { TextDecoder?: new () => { decode(bytes: Uint8Array): string } }).TextDecoder;
const DECODER = !FROM_ARRAY_BUFFER && typeof TextDecoderClass === "function" ? new TextDecoderClass() : undefined;

/** bytes[start, end) decoded natively, or undefined; whatever the bytes, exact when plain ASCII. */
function decodeNative(bytes: Uint8Array, start: number, end: number): string | undefined {
  if (FROM_ARRAY_BUFFER) {
    try {
      return NativeString.fromArrayBuffer!(bytes.buffer, bytes.byteOffset + start, end - start);
    } catch {
      return undefined; // it throws for malformed UTF-8: the JS decoder reports it
    }
  }
  return DECODER?.decode(bytes.subarray(start, end));
}

/**
 * Code units per String.fromCharCode.apply: each argument is a slot on the XS stack, and
 * overflowing it aborts the machine (4,096 killed xsnap; our devices' stack is 1,024 slots).
 */
const CHUNK = 256;

/** Decodes bytes[start, end) strictly; throws MALFORMED_PACKET citing the clause. */
export function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  // Plain ASCII decodes to as many code units as bytes, all U+0001..U+007F; then the native
  // decoder's string is exact (a lenient decoder's U+FFFD, a dropped BOM or U+0000 all fail
  // this test). Anything else is decoded, and its faults reported, by the loop below.
  const native = decodeNative(bytes, start, end);
  if (native !== undefined && native.length === end - start && !NOT_PLAIN.test(native)) return native;
  let result = "";
  const units: number[] = [];
  let i = start;
  while (i < end) {
    const b = bytes[i];
    let cp: number;
    if (b < 0x80) {
      if (b === 0) throw malformed("string contains U+0000", "MQTT-1.5.3-2");
      cp = b;
      i += 1;
    } else if (b >= 0xc2 && b <= 0xdf) {
      if (i + 1 >= end || (bytes[i + 1] & 0xc0) !== 0x80) throw badUtf8();
      cp = ((b & 0x1f) << 6) | (bytes[i + 1] & 0x3f);
      i += 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      if (i + 2 >= end) throw badUtf8();
      const b1 = bytes[i + 1], b2 = bytes[i + 2];
      if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80) throw badUtf8();
      cp = ((b & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f);
      if (cp < 0x800) throw badUtf8();
      if (cp >= 0xd800 && cp <= 0xdfff) throw malformed("string encodes a surrogate", "MQTT-1.5.3-1");
      i += 3;
    } else if (b >= 0xf0 && b <= 0xf4) {
      if (i + 3 >= end) throw badUtf8();
      const b1 = bytes[i + 1], b2 = bytes[i + 2], b3 = bytes[i + 3];
      if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80 || (b3 & 0xc0) !== 0x80) throw badUtf8();
      cp = ((b & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
      if (cp < 0x10000 || cp > 0x10ffff) throw badUtf8();
      i += 4;
    } else {
      throw badUtf8();
    }
    if (cp > 0xffff) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      units.push(cp);
    }
    if (units.length >= CHUNK) {
      result += String.fromCharCode.apply(null, units);
      units.length = 0;
    }
  }
  return units.length ? result + String.fromCharCode.apply(null, units) : result;
}

function badUtf8(): MqttError {
  return malformed("string is not well-formed UTF-8", "MQTT-1.5.3-1");
}
