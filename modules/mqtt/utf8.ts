// UTF-8 for MQTT strings [MQTT-1.5.3]: well-formed, no surrogates, no U+0000.
// Written by hand because TextEncoder/TextDecoder are not globals on every XS build
// and neither reports the MQTT-specific faults.

import { MqttError, malformed } from "./errors.js";

/** Byte length of str in UTF-8; throws INVALID_ARGUMENT for what MQTT forbids. */
export function utf8Length(str: string): number {
  const n = str.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = str.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) throw new MqttError("INVALID_ARGUMENT", "string contains U+0000", "MQTT-1.5.3-2");
    } else if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = str.charCodeAt(i + 1);
      if (c > 0xdbff || !(d >= 0xdc00 && d <= 0xdfff)) {
        throw new MqttError("INVALID_ARGUMENT", "string contains a lone surrogate", "MQTT-1.5.3-1");
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
  const out = new Uint8Array(utf8Length(str));
  writeUtf8(str, out, 0);
  return out;
}

const CHUNK = 4096;

/** Decodes bytes[start, end) strictly; throws MALFORMED_PACKET citing the clause. */
export function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
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
