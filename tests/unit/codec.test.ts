// Table-driven tests of the MQTT 3.1.1 codec: hand-written byte fixtures for all 14
// packet types checked both ways (decode(bytes) deep-equals the object and
// encode(object) equals the bytes), must-reject tables for the decoder and the
// encoder (error code AND specification clause), topic matching and validation, and
// the strict UTF-8 coder against Node's TextEncoder/TextDecoder.
//
// Fixture bytes are written out by hand from the MQTT 3.1.1 specification. ASCII text
// inside a fixture is spelled with asc("..."), which only maps characters to their
// codes; every length prefix, flag byte and multibyte UTF-8 sequence is a literal.

import * as assert from "node:assert/strict";
import * as P from "../../modules/mqtt/packets.js";
import type { Packet, PublishPacket } from "../../modules/mqtt/packets.js";
import { MqttError } from "../../modules/mqtt/errors.js";
import { encode, encodePublishHeader } from "../../modules/mqtt/encode.js";
import { Decoder } from "../../modules/mqtt/decode.js";
import { NOT_PLAIN_TOPIC_NAME, topicMatches, topicFilterError, topicNameError } from "../../modules/mqtt/topic.js";
import { decodeUtf8, encodeUtf8, utf8Length } from "../../modules/mqtt/utf8.js";
import { prng as mulberry32, ok, same, withoutStacks } from "./fakes.js";

// ---------------------------------------------------------------------------------------
// helpers

type ByteSpec = number | number[] | Uint8Array;

/** Concatenates literal bytes, byte lists and byte arrays. */
function bytes(...parts: ByteSpec[]): Uint8Array {
  const flat: number[] = [];
  for (const part of parts) {
    if (typeof part === "number") flat.push(part);
    else for (const b of part) flat.push(b);
  }
  for (const b of flat) assert.ok(Number.isInteger(b) && b >= 0 && b <= 255, `fixture byte ${b}`);
  return Uint8Array.from(flat);
}

/** The character codes of an ASCII string (no UTF-8 logic on purpose). */
function asc(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) throw new Error(`asc() is for ASCII only: ${JSON.stringify(s)}`);
    out.push(c);
  }
  return out;
}

/** A deterministic payload of n bytes. */
function fill(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

const u8 = (...b: number[]): Uint8Array => Uint8Array.from(b);


function decodeAll(input: Uint8Array, maxPacketSize = 4 * 1024 * 1024): Packet[] {
  const d = new Decoder({ maxPacketSize });
  const out = d.push(input);
  assert.equal(d.buffered, 0, "nothing left buffered");
  return out;
}

function expectMqttError(fn: () => unknown, code: string, clause: string | undefined, what: string): MqttError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `${what}: expected ${code} ${clause ?? "(no clause)"}, but nothing was thrown`);
  assert.ok(caught instanceof MqttError, `${what}: expected an MqttError, got ${String(caught)}`);
  assert.equal(caught.code, code, `${what}: code (message: ${caught.message})`);
  assert.equal(caught.clause, clause, `${what}: clause (message: ${caught.message})`);
  return caught;
}


const hex = (b: Uint8Array): string => Array.from(b.subarray(0, 64), (x) => x.toString(16).padStart(2, "0")).join(" ") + (b.length > 64 ? ` ... (${b.length} bytes)` : "");

// ---------------------------------------------------------------------------------------
// valid fixtures: [name, object, bytes]

interface Fixture {
  name: string;
  packet: Packet;
  bytes: Uint8Array;
}

// PUBLISH with topic "t" (variable header 00 01 74, 3 bytes) and n payload bytes:
// remaining length = n + 3, fixed header bytes written by hand.
function bigPublish(payloadLength: number, header: number[]): Fixture {
  const payload = fill(payloadLength);
  return {
    name: `PUBLISH qos0, ${payloadLength}-byte payload, remaining length ${payloadLength + 3} (${header.length - 1}-byte length field)`,
    packet: { type: P.PUBLISH, topic: "t", payload, qos: 0, retain: false, dup: false },
    bytes: bytes(header, [0x00, 0x01, 0x74], payload),
  };
}

const MQTT = [0x00, 0x04, ...asc("MQTT"), 0x04]; // protocol name and level 4 [MQTT-3.1.2-1/2]

const FIXTURES: Fixture[] = [
  // ---- CONNECT (type 1, flags 0) ----
  {
    name: "CONNECT minimal, clean session, keepalive 60",
    packet: { type: P.CONNECT, clientId: "test", clean: true, keepalive: 60 },
    bytes: bytes(0x10, 16, MQTT, 0x02, 0x00, 60, 0x00, 0x04, asc("test")),
  },
  {
    name: "CONNECT with empty client id and clean session [MQTT-3.1.3-7]",
    packet: { type: P.CONNECT, clientId: "", clean: true, keepalive: 0 },
    bytes: bytes(0x10, 12, MQTT, 0x02, 0x00, 0x00, 0x00, 0x00),
  },
  {
    name: "CONNECT persistent session, keepalive 65535",
    packet: { type: P.CONNECT, clientId: "c", clean: false, keepalive: 65535 },
    bytes: bytes(0x10, 13, MQTT, 0x00, 0xff, 0xff, 0x00, 0x01, asc("c")),
  },
  {
    name: "CONNECT with will (qos 1, retain), username and password",
    packet: {
      type: P.CONNECT, clientId: "id", clean: true, keepalive: 30,
      will: { topic: "w/t", payload: u8(1, 2, 3), qos: 1, retain: true },
      username: "user", password: u8(0x70, 0x77),
    },
    bytes: bytes(0x10, 34, MQTT, 0xee, 0x00, 30,
      0x00, 0x02, asc("id"),
      0x00, 0x03, asc("w/t"),
      0x00, 0x03, 1, 2, 3,
      0x00, 0x04, asc("user"),
      0x00, 0x02, 0x70, 0x77),
  },
  {
    name: "CONNECT with will qos 2, empty will payload, multibyte will topic 'é/😀'",
    packet: {
      type: P.CONNECT, clientId: "x", clean: true, keepalive: 10,
      will: { topic: "é/😀", payload: u8(), qos: 2, retain: false },
    },
    bytes: bytes(0x10, 24, MQTT, 0x16, 0x00, 10,
      0x00, 0x01, asc("x"),
      0x00, 0x07, 0xc3, 0xa9, 0x2f, 0xf0, 0x9f, 0x98, 0x80,
      0x00, 0x00),
  },
  {
    name: "CONNECT with will qos 0, no retain",
    packet: {
      type: P.CONNECT, clientId: "ab", clean: false, keepalive: 1,
      will: { topic: "lwt", payload: u8(0x6f, 0x66, 0x66), qos: 0, retain: false },
    },
    bytes: bytes(0x10, 24, MQTT, 0x04, 0x00, 0x01,
      0x00, 0x02, asc("ab"),
      0x00, 0x03, asc("lwt"),
      0x00, 0x03, 0x6f, 0x66, 0x66),
  },
  {
    name: "CONNECT with empty username only, 2-byte UTF-8 client id 'ü'",
    packet: { type: P.CONNECT, clientId: "ü", clean: true, keepalive: 60, username: "" },
    bytes: bytes(0x10, 16, MQTT, 0x82, 0x00, 60, 0x00, 0x02, 0xc3, 0xbc, 0x00, 0x00),
  },
  {
    name: "CONNECT with username and empty password, empty client id",
    packet: { type: P.CONNECT, clientId: "", clean: true, keepalive: 5, username: "u", password: u8() },
    bytes: bytes(0x10, 17, MQTT, 0xc2, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, asc("u"), 0x00, 0x00),
  },
  {
    name: "CONNECT with a 4-byte UTF-8 username '𝄞' and binary password",
    packet: { type: P.CONNECT, clientId: "k", clean: true, keepalive: 60, username: "𝄞", password: u8(0, 255, 0) },
    bytes: bytes(0x10, 24, MQTT, 0xc2, 0x00, 60, 0x00, 0x01, asc("k"),
      0x00, 0x04, 0xf0, 0x9d, 0x84, 0x9e,
      0x00, 0x03, 0x00, 0xff, 0x00),
  },
  (() => {
    // a 200-character client id: remaining length 212 needs two bytes (0xd4 0x01)
    const id = "c".repeat(200);
    return {
      name: "CONNECT with a 200-byte client id (2-byte remaining length)",
      packet: { type: P.CONNECT, clientId: id, clean: true, keepalive: 60 } as Packet,
      bytes: bytes(0x10, 0xd4, 0x01, MQTT, 0x02, 0x00, 60, 0x00, 200, asc(id)),
    };
  })(),

  // ---- CONNACK (type 2, flags 0) ----
  { name: "CONNACK accepted", packet: { type: P.CONNACK, sessionPresent: false, returnCode: 0 }, bytes: bytes(0x20, 2, 0, 0) },
  { name: "CONNACK accepted, session present", packet: { type: P.CONNACK, sessionPresent: true, returnCode: 0 }, bytes: bytes(0x20, 2, 1, 0) },
  { name: "CONNACK bad protocol (1)", packet: { type: P.CONNACK, sessionPresent: false, returnCode: 1 }, bytes: bytes(0x20, 2, 0, 1) },
  { name: "CONNACK identifier rejected (2)", packet: { type: P.CONNACK, sessionPresent: false, returnCode: 2 }, bytes: bytes(0x20, 2, 0, 2) },
  { name: "CONNACK server unavailable (3)", packet: { type: P.CONNACK, sessionPresent: false, returnCode: 3 }, bytes: bytes(0x20, 2, 0, 3) },
  { name: "CONNACK bad credentials (4)", packet: { type: P.CONNACK, sessionPresent: false, returnCode: 4 }, bytes: bytes(0x20, 2, 0, 4) },
  { name: "CONNACK not authorized (5)", packet: { type: P.CONNACK, sessionPresent: false, returnCode: 5 }, bytes: bytes(0x20, 2, 0, 5) },

  // ---- PUBLISH (type 3, flags DUP QoS QoS RETAIN) ----
  {
    name: "PUBLISH qos0 'a/b' payload 'hi'",
    packet: { type: P.PUBLISH, topic: "a/b", payload: u8(0x68, 0x69), qos: 0, retain: false, dup: false },
    bytes: bytes(0x30, 7, 0x00, 0x03, asc("a/b"), 0x68, 0x69),
  },
  {
    name: "PUBLISH qos0 retain, empty payload",
    packet: { type: P.PUBLISH, topic: "r", payload: u8(), qos: 0, retain: true, dup: false },
    bytes: bytes(0x31, 3, 0x00, 0x01, asc("r")),
  },
  {
    name: "PUBLISH qos1 id 1",
    packet: { type: P.PUBLISH, topic: "q1", payload: u8(9), qos: 1, retain: false, dup: false, id: 1 },
    bytes: bytes(0x32, 7, 0x00, 0x02, asc("q1"), 0x00, 0x01, 9),
  },
  {
    name: "PUBLISH qos1 retain, empty payload, id 0x1234",
    packet: { type: P.PUBLISH, topic: "e", payload: u8(), qos: 1, retain: true, dup: false, id: 0x1234 },
    bytes: bytes(0x33, 5, 0x00, 0x01, asc("e"), 0x12, 0x34),
  },
  {
    name: "PUBLISH qos2 dup retain id 65535",
    packet: { type: P.PUBLISH, topic: "x/y", payload: u8(1, 2), qos: 2, retain: true, dup: true, id: 65535 },
    bytes: bytes(0x3d, 9, 0x00, 0x03, asc("x/y"), 0xff, 0xff, 1, 2),
  },
  {
    name: "PUBLISH qos1 dup",
    packet: { type: P.PUBLISH, topic: "d", payload: u8(0), qos: 1, retain: false, dup: true, id: 7 },
    bytes: bytes(0x3a, 6, 0x00, 0x01, asc("d"), 0x00, 0x07, 0),
  },
  {
    name: "PUBLISH with 3-byte UTF-8 topic '€/中'",
    packet: { type: P.PUBLISH, topic: "€/中", payload: u8(0x21), qos: 0, retain: false, dup: false },
    bytes: bytes(0x30, 10, 0x00, 0x07, 0xe2, 0x82, 0xac, 0x2f, 0xe4, 0xb8, 0xad, 0x21),
  },
  {
    name: "PUBLISH with 4-byte UTF-8 topic '😀' (surrogate pair in JS) and U+10FFFF",
    packet: { type: P.PUBLISH, topic: "😀\u{10ffff}", payload: u8(), qos: 2, retain: false, dup: false, id: 2 },
    bytes: bytes(0x34, 12, 0x00, 0x08, 0xf0, 0x9f, 0x98, 0x80, 0xf4, 0x8f, 0xbf, 0xbf, 0x00, 0x02),
  },
  {
    name: "PUBLISH with boundary code points U+007F U+0080 U+07FF U+0800 U+FFFF",
    packet: { type: P.PUBLISH, topic: "\u007f\u0080\u07ff\u0800\uffff", payload: u8(), qos: 0, retain: false, dup: false },
    bytes: bytes(0x30, 13, 0x00, 11, 0x7f, 0xc2, 0x80, 0xdf, 0xbf, 0xe0, 0xa0, 0x80, 0xef, 0xbf, 0xbf),
  },
  {
    name: "PUBLISH topic starting with U+FEFF keeps it [MQTT-1.5.3-3]",
    packet: { type: P.PUBLISH, topic: "\ufeffa", payload: u8(), qos: 0, retain: false, dup: false },
    bytes: bytes(0x30, 6, 0x00, 0x04, 0xef, 0xbb, 0xbf, 0x61),
  },
  {
    name: "PUBLISH topic '/' and '$SYS/x'-style topics are names",
    packet: { type: P.PUBLISH, topic: "$SYS/x", payload: u8(), qos: 0, retain: false, dup: false },
    bytes: bytes(0x30, 8, 0x00, 0x06, asc("$SYS/x")),
  },
  {
    name: "PUBLISH topic '/'",
    packet: { type: P.PUBLISH, topic: "/", payload: u8(0xff), qos: 0, retain: false, dup: false },
    bytes: bytes(0x30, 4, 0x00, 0x01, 0x2f, 0xff),
  },
  // remaining lengths of 1, 2, 3 and 4 bytes at and around each boundary [MQTT-2.2.3]
  bigPublish(0, [0x30, 0x03]),
  bigPublish(124, [0x30, 0x7f]), // rl 127: the largest 1-byte length
  bigPublish(125, [0x30, 0x80, 0x01]), // rl 128: the smallest 2-byte length
  bigPublish(127, [0x30, 0x82, 0x01]), // 127-byte payload, rl 130
  bigPublish(128, [0x30, 0x83, 0x01]), // 128-byte payload, rl 131
  bigPublish(16380, [0x30, 0xff, 0x7f]), // rl 16383: the largest 2-byte length
  bigPublish(16381, [0x30, 0x80, 0x80, 0x01]), // rl 16384: the smallest 3-byte length
  bigPublish(16383, [0x30, 0x82, 0x80, 0x01]), // 16383-byte payload, rl 16386
  bigPublish(16384, [0x30, 0x83, 0x80, 0x01]), // 16384-byte payload, rl 16387
  bigPublish(2097148, [0x30, 0xff, 0xff, 0x7f]), // rl 2097151: the largest 3-byte length
  bigPublish(2097149, [0x30, 0x80, 0x80, 0x80, 0x01]), // rl 2097152: the smallest 4-byte length
  bigPublish(2097152, [0x30, 0x83, 0x80, 0x80, 0x01]), // 2 MiB payload, rl 2097155

  // ---- PUBACK / PUBREC / PUBREL / PUBCOMP / UNSUBACK (remaining length 2) ----
  { name: "PUBACK id 1", packet: { type: P.PUBACK, id: 1 }, bytes: bytes(0x40, 2, 0x00, 0x01) },
  { name: "PUBACK id 0x1234", packet: { type: P.PUBACK, id: 0x1234 }, bytes: bytes(0x40, 2, 0x12, 0x34) },
  { name: "PUBACK id 65535", packet: { type: P.PUBACK, id: 65535 }, bytes: bytes(0x40, 2, 0xff, 0xff) },
  { name: "PUBREC id 1", packet: { type: P.PUBREC, id: 1 }, bytes: bytes(0x50, 2, 0x00, 0x01) },
  { name: "PUBREC id 256", packet: { type: P.PUBREC, id: 256 }, bytes: bytes(0x50, 2, 0x01, 0x00) },
  { name: "PUBREC id 65535", packet: { type: P.PUBREC, id: 65535 }, bytes: bytes(0x50, 2, 0xff, 0xff) },
  { name: "PUBREL id 1 (flags 0010) [MQTT-3.6.1-1]", packet: { type: P.PUBREL, id: 1 }, bytes: bytes(0x62, 2, 0x00, 0x01) },
  { name: "PUBREL id 0xabcd", packet: { type: P.PUBREL, id: 0xabcd }, bytes: bytes(0x62, 2, 0xab, 0xcd) },
  { name: "PUBREL id 65535", packet: { type: P.PUBREL, id: 65535 }, bytes: bytes(0x62, 2, 0xff, 0xff) },
  { name: "PUBCOMP id 1", packet: { type: P.PUBCOMP, id: 1 }, bytes: bytes(0x70, 2, 0x00, 0x01) },
  { name: "PUBCOMP id 255", packet: { type: P.PUBCOMP, id: 255 }, bytes: bytes(0x70, 2, 0x00, 0xff) },
  { name: "PUBCOMP id 65535", packet: { type: P.PUBCOMP, id: 65535 }, bytes: bytes(0x70, 2, 0xff, 0xff) },
  { name: "UNSUBACK id 1", packet: { type: P.UNSUBACK, id: 1 }, bytes: bytes(0xb0, 2, 0x00, 0x01) },
  { name: "UNSUBACK id 0x0102", packet: { type: P.UNSUBACK, id: 0x0102 }, bytes: bytes(0xb0, 2, 0x01, 0x02) },
  { name: "UNSUBACK id 65535", packet: { type: P.UNSUBACK, id: 65535 }, bytes: bytes(0xb0, 2, 0xff, 0xff) },

  // ---- SUBSCRIBE (type 8, flags 0010) ----
  {
    name: "SUBSCRIBE one filter 'a/b' qos 0",
    packet: { type: P.SUBSCRIBE, id: 1, subscriptions: [{ topic: "a/b", qos: 0 }] },
    bytes: bytes(0x82, 8, 0x00, 0x01, 0x00, 0x03, asc("a/b"), 0x00),
  },
  {
    name: "SUBSCRIBE three filters with wildcards and a multibyte level, qos 0/1/2",
    packet: {
      type: P.SUBSCRIBE, id: 0x0a0b,
      subscriptions: [{ topic: "#", qos: 2 }, { topic: "+/é/+", qos: 1 }, { topic: "$SYS/#", qos: 0 }],
    },
    bytes: bytes(0x82, 24, 0x0a, 0x0b,
      0x00, 0x01, 0x23, 0x02,
      0x00, 0x06, 0x2b, 0x2f, 0xc3, 0xa9, 0x2f, 0x2b, 0x01,
      0x00, 0x06, asc("$SYS/#"), 0x00),
  },
  {
    name: "SUBSCRIBE filters '+', '/', 'a//b' and '+/#'",
    packet: {
      type: P.SUBSCRIBE, id: 65535,
      subscriptions: [{ topic: "+", qos: 1 }, { topic: "/", qos: 1 }, { topic: "a//b", qos: 2 }, { topic: "+/#", qos: 0 }],
    },
    bytes: bytes(0x82, 23, 0xff, 0xff,
      0x00, 0x01, 0x2b, 0x01,
      0x00, 0x01, 0x2f, 0x01,
      0x00, 0x04, asc("a//b"), 0x02,
      0x00, 0x03, asc("+/#"), 0x00),
  },
  (() => {
    const filter = "f/".repeat(99) + "ff"; // 200 bytes: rl 2 + 2 + 200 + 1 = 205 = 0xcd 0x01
    return {
      name: "SUBSCRIBE with a 200-byte filter (2-byte remaining length)",
      packet: { type: P.SUBSCRIBE, id: 3, subscriptions: [{ topic: filter, qos: 1 }] } as Packet,
      bytes: bytes(0x82, 0xcd, 0x01, 0x00, 0x03, 0x00, 200, asc(filter), 0x01),
    };
  })(),

  // ---- SUBACK (type 9) ----
  { name: "SUBACK one code 0", packet: { type: P.SUBACK, id: 1, granted: [0] }, bytes: bytes(0x90, 3, 0x00, 0x01, 0x00) },
  {
    name: "SUBACK codes 0, 1, 2, 0x80 (failure)",
    packet: { type: P.SUBACK, id: 0x0203, granted: [0, 1, 2, 0x80] },
    bytes: bytes(0x90, 6, 0x02, 0x03, 0x00, 0x01, 0x02, 0x80),
  },
  { name: "SUBACK id 65535, failure only", packet: { type: P.SUBACK, id: 65535, granted: [0x80] }, bytes: bytes(0x90, 3, 0xff, 0xff, 0x80) },

  // ---- UNSUBSCRIBE (type 10, flags 0010) ----
  {
    name: "UNSUBSCRIBE one filter 'a'",
    packet: { type: P.UNSUBSCRIBE, id: 1, topics: ["a"] },
    bytes: bytes(0xa2, 5, 0x00, 0x01, 0x00, 0x01, 0x61),
  },
  {
    name: "UNSUBSCRIBE two filters, wildcards and a 4-byte character",
    packet: { type: P.UNSUBSCRIBE, id: 0x7fff, topics: ["a/+/#", "😀"] },
    bytes: bytes(0xa2, 15, 0x7f, 0xff, 0x00, 0x05, asc("a/+/#"), 0x00, 0x04, 0xf0, 0x9f, 0x98, 0x80),
  },
  {
    name: "UNSUBSCRIBE '#' id 65535",
    packet: { type: P.UNSUBSCRIBE, id: 65535, topics: ["#"] },
    bytes: bytes(0xa2, 5, 0xff, 0xff, 0x00, 0x01, 0x23),
  },

  // ---- PINGREQ / PINGRESP / DISCONNECT (remaining length 0) ----
  { name: "PINGREQ", packet: { type: P.PINGREQ }, bytes: bytes(0xc0, 0x00) },
  { name: "PINGRESP", packet: { type: P.PINGRESP }, bytes: bytes(0xd0, 0x00) },
  { name: "DISCONNECT", packet: { type: P.DISCONNECT }, bytes: bytes(0xe0, 0x00) },
];

describe("codec: valid fixtures, both ways", () => {
  it("covers all 14 packet types with several fixtures each", () => {
    const counts = new Map<number, number>();
    for (const f of FIXTURES) counts.set(f.packet.type, (counts.get(f.packet.type) ?? 0) + 1);
    for (let t = P.CONNECT; t <= P.DISCONNECT; t++) {
      assert.ok((counts.get(t) ?? 0) >= (t >= P.PINGREQ ? 1 : 3), `${P.PACKET_NAMES[t]} has ${counts.get(t) ?? 0} fixtures`);
    }
  });

  for (const f of FIXTURES) {
    it(`decode: ${f.name}`, () => {
      const got = decodeAll(f.bytes);
      assert.equal(got.length, 1, `one packet from ${hex(f.bytes)}`);
      assert.deepStrictEqual(got[0], f.packet);
    });
    it(`encode: ${f.name}`, () => {
      const got = encode(f.packet);
      assert.ok(got.length === f.bytes.length && Buffer.compare(got, f.bytes) === 0, `encoded ${hex(got)}\nexpected ${hex(f.bytes)}`);
      if (f.packet.type === P.PUBLISH) {
        // the header-only path: header + payload view reproduces the same bytes
        const header = encodePublishHeader(f.packet);
        assert.equal(header.length + f.packet.payload.length, f.bytes.length);
        assert.equal(Buffer.compare(header, f.bytes.subarray(0, header.length)), 0);
      }
    });
  }

  it("decodes all fixtures from one concatenated chunk, and byte by byte", () => {
    const small = FIXTURES.filter((f) => f.bytes.length < 20000);
    const all = bytes(...small.map((f) => f.bytes));
    assert.deepStrictEqual(decodeAll(all), small.map((f) => f.packet));
    const d = new Decoder();
    const out: Packet[] = [];
    for (let i = 0; i < all.length; i++) d.push(all.subarray(i, i + 1), out);
    assert.deepStrictEqual(out, small.map((f) => f.packet));
    assert.equal(d.buffered, 0);
  });

  it("encodePublishHeader writes the largest remaining length, FF FF FF 7F [MQTT-2.2.3]", () => {
    // A fake payload that only has a length: the header path never reads the bytes.
    const fake = { length: 268_435_455 - 3 } as unknown as Uint8Array;
    const header = encodePublishHeader({ type: P.PUBLISH, topic: "t", payload: fake, qos: 0, retain: false, dup: false });
    assert.deepStrictEqual(header, u8(0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 0x74));
    const tooBig = { length: 268_435_455 - 2 } as unknown as Uint8Array;
    expectMqttError(() => encodePublishHeader({ type: P.PUBLISH, topic: "t", payload: tooBig, qos: 0, retain: false, dup: false }),
      "INVALID_ARGUMENT", "MQTT-2.2.3", "remaining length 268435456");
  });

  it("accepts a 65535-byte topic and rejects 65536 bytes on encode [MQTT-1.5.3]", () => {
    const topic = "a".repeat(65535);
    const p: PublishPacket = { type: P.PUBLISH, topic, payload: u8(), qos: 0, retain: false, dup: false };
    const wire = encode(p);
    assert.deepStrictEqual(Array.from(wire.subarray(0, 6)), [0x30, 0x81, 0x80, 0x04, 0xff, 0xff]); // rl 65537
    assert.deepStrictEqual(decodeAll(wire), [p]);
    expectMqttError(() => encode({ ...p, topic: topic + "a" }), "INVALID_ARGUMENT", "MQTT-1.5.3", "65536-byte topic");
    // 21846 three-byte characters = 65538 bytes although only 21846 UTF-16 units
    expectMqttError(() => encode({ ...p, topic: "€".repeat(21846) }), "INVALID_ARGUMENT", "MQTT-1.5.3", "65538-byte UTF-8 topic");
  });
});

// ---------------------------------------------------------------------------------------
// decoder must-reject tables

interface Reject {
  name: string;
  bytes: Uint8Array;
  code?: "MALFORMED_PACKET" | "PACKET_TOO_LARGE";
  clause: string | undefined;
}

const TYPE_NAMES = P.PACKET_NAMES;
/** A well-formed body for each type with fixed flags, so only the flags are wrong. */
const FIXED_FLAG_BODIES: Record<number, number[]> = {
  [P.CONNECT]: [12, ...MQTT, 0x02, 0x00, 0x3c, 0x00, 0x00],
  [P.CONNACK]: [2, 0, 0],
  [P.PUBACK]: [2, 0, 1],
  [P.PUBREC]: [2, 0, 1],
  [P.PUBREL]: [2, 0, 1],
  [P.PUBCOMP]: [2, 0, 1],
  [P.SUBSCRIBE]: [6, 0, 1, 0, 1, 0x61, 0],
  [P.SUBACK]: [3, 0, 1, 0],
  [P.UNSUBSCRIBE]: [5, 0, 1, 0, 1, 0x61],
  [P.UNSUBACK]: [2, 0, 1],
  [P.PINGREQ]: [0],
  [P.PINGRESP]: [0],
  [P.DISCONNECT]: [0],
};
const REQUIRED_FLAGS: Record<number, number> = { [P.PUBREL]: 2, [P.SUBSCRIBE]: 2, [P.UNSUBSCRIBE]: 2 };
const FLAG_CLAUSE: Record<number, string> = { [P.PUBREL]: "MQTT-3.6.1-1", [P.SUBSCRIBE]: "MQTT-3.8.1-1", [P.UNSUBSCRIBE]: "MQTT-3.10.1-1" };

function reservedFlagRejects(): Reject[] {
  const out: Reject[] = [];
  for (const type of Object.keys(FIXED_FLAG_BODIES).map(Number)) {
    const required = REQUIRED_FLAGS[type] ?? 0;
    for (let flags = 0; flags < 16; flags++) {
      if (flags === required) continue;
      out.push({
        name: `${TYPE_NAMES[type]} with header flags ${flags.toString(2).padStart(4, "0")}`,
        bytes: bytes((type << 4) | flags, FIXED_FLAG_BODIES[type]),
        clause: FLAG_CLAUSE[type] ?? "MQTT-2.2.2-1",
      });
    }
  }
  return out;
}

/** A PUBLISH qos 0 whose topic is the given raw bytes. */
function publishWithTopicBytes(topic: number[]): Uint8Array {
  return bytes(0x30, 2 + topic.length, 0x00, topic.length, topic);
}

const BAD_UTF8: [string, number[], string][] = [
  ["overlong NUL C0 80", [0x61, 0xc0, 0x80], "MQTT-1.5.3-1"],
  ["overlong C1 BF", [0xc1, 0xbf], "MQTT-1.5.3-1"],
  ["overlong 3-byte E0 80 AF", [0xe0, 0x80, 0xaf], "MQTT-1.5.3-1"],
  ["overlong 4-byte F0 80 80 AF", [0xf0, 0x80, 0x80, 0xaf], "MQTT-1.5.3-1"],
  ["lone continuation byte 80", [0x61, 0x80, 0x62], "MQTT-1.5.3-1"],
  ["lone continuation byte BF", [0xbf], "MQTT-1.5.3-1"],
  ["truncated 2-byte sequence C3", [0x61, 0xc3], "MQTT-1.5.3-1"],
  ["truncated 3-byte sequence E2 82", [0xe2, 0x82], "MQTT-1.5.3-1"],
  ["truncated 4-byte sequence F0 9F 98", [0xf0, 0x9f, 0x98], "MQTT-1.5.3-1"],
  ["lead byte followed by ASCII C3 41", [0xc3, 0x41], "MQTT-1.5.3-1"],
  ["encoded high surrogate ED A0 80 (U+D800)", [0xed, 0xa0, 0x80], "MQTT-1.5.3-1"],
  ["encoded low surrogate ED BF BF (U+DFFF)", [0xed, 0xbf, 0xbf], "MQTT-1.5.3-1"],
  ["encoded surrogate pair ED A0 BD ED B8 80 (CESU-8)", [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80], "MQTT-1.5.3-1"],
  ["code point above U+10FFFF F4 90 80 80", [0xf4, 0x90, 0x80, 0x80], "MQTT-1.5.3-1"],
  ["invalid lead byte F5", [0xf5, 0x80, 0x80, 0x80], "MQTT-1.5.3-1"],
  ["invalid byte FF", [0xff], "MQTT-1.5.3-1"],
  ["invalid byte FE", [0x61, 0xfe], "MQTT-1.5.3-1"],
  ["U+0000 in the middle", [0x61, 0x00, 0x62], "MQTT-1.5.3-2"],
  ["U+0000 alone", [0x00], "MQTT-1.5.3-2"],
];

const DECODE_REJECTS: Reject[] = [
  ...reservedFlagRejects(),

  // reserved packet types [MQTT-2.2.1]
  { name: "reserved packet type 0", bytes: bytes(0x00, 0x00), clause: "MQTT-2.2.1" },
  { name: "reserved packet type 0 with a body", bytes: bytes(0x00, 0x01, 0x00), clause: "MQTT-2.2.1" },
  { name: "reserved packet type 15", bytes: bytes(0xf0, 0x00), clause: "MQTT-2.2.1" },
  { name: "reserved packet type 15 with flags", bytes: bytes(0xff, 0x02, 0x00, 0x00), clause: "MQTT-2.2.1" },

  // remaining length [MQTT-2.2.3]
  { name: "remaining length of 5 bytes (80 80 80 80 01)", bytes: bytes(0x30, 0x80, 0x80, 0x80, 0x80, 0x01), clause: "MQTT-2.2.3" },
  { name: "remaining length of 5 bytes (FF FF FF FF 7F)", bytes: bytes(0xc0, 0xff, 0xff, 0xff, 0xff, 0x7f), clause: "MQTT-2.2.3" },
  { name: "remaining length whose 4th byte has the continuation bit", bytes: bytes(0xe0, 0xff, 0xff, 0xff, 0x80), clause: "MQTT-2.2.3" },

  // PUBLISH flags
  { name: "PUBLISH QoS 3", bytes: bytes(0x36, 5, 0x00, 0x01, 0x74, 0x00, 0x01), clause: "MQTT-3.3.1-4" },
  { name: "PUBLISH QoS 3 with DUP and RETAIN", bytes: bytes(0x3f, 5, 0x00, 0x01, 0x74, 0x00, 0x01), clause: "MQTT-3.3.1-4" },
  { name: "PUBLISH DUP on QoS 0", bytes: bytes(0x38, 3, 0x00, 0x01, 0x74), clause: "MQTT-3.3.1-2" },
  { name: "PUBLISH DUP + RETAIN on QoS 0", bytes: bytes(0x39, 3, 0x00, 0x01, 0x74), clause: "MQTT-3.3.1-2" },

  // packet identifier 0 [MQTT-2.3.1-1]
  { name: "PUBLISH qos1 with packet id 0", bytes: bytes(0x32, 5, 0x00, 0x01, 0x74, 0x00, 0x00), clause: "MQTT-2.3.1-1" },
  { name: "PUBLISH qos2 with packet id 0", bytes: bytes(0x34, 6, 0x00, 0x01, 0x74, 0x00, 0x00, 0x01), clause: "MQTT-2.3.1-1" },
  { name: "PUBACK with packet id 0", bytes: bytes(0x40, 2, 0x00, 0x00), clause: "MQTT-2.3.1-1" },
  { name: "PUBREC with packet id 0", bytes: bytes(0x50, 2, 0x00, 0x00), clause: "MQTT-2.3.1-1" },
  { name: "PUBREL with packet id 0", bytes: bytes(0x62, 2, 0x00, 0x00), clause: "MQTT-2.3.1-1" },
  { name: "PUBCOMP with packet id 0", bytes: bytes(0x70, 2, 0x00, 0x00), clause: "MQTT-2.3.1-1" },
  { name: "SUBSCRIBE with packet id 0", bytes: bytes(0x82, 6, 0x00, 0x00, 0x00, 0x01, 0x61, 0x00), clause: "MQTT-2.3.1-1" },
  { name: "SUBACK with packet id 0", bytes: bytes(0x90, 3, 0x00, 0x00, 0x00), clause: "MQTT-2.3.1-1" },
  { name: "UNSUBSCRIBE with packet id 0", bytes: bytes(0xa2, 5, 0x00, 0x00, 0x00, 0x01, 0x61), clause: "MQTT-2.3.1-1" },
  { name: "UNSUBACK with packet id 0", bytes: bytes(0xb0, 2, 0x00, 0x00), clause: "MQTT-2.3.1-1" },

  // topic names [MQTT-3.3.2-2], [MQTT-4.7.3-1]
  { name: "PUBLISH topic 'a/+'", bytes: publishWithTopicBytes(asc("a/+")), clause: "MQTT-3.3.2-2" },
  { name: "PUBLISH topic 'a/#'", bytes: publishWithTopicBytes(asc("a/#")), clause: "MQTT-3.3.2-2" },
  { name: "PUBLISH topic '#'", bytes: publishWithTopicBytes(asc("#")), clause: "MQTT-3.3.2-2" },
  { name: "PUBLISH topic '+'", bytes: publishWithTopicBytes(asc("+")), clause: "MQTT-3.3.2-2" },
  { name: "PUBLISH topic 'a+b' (wildcard character inside a level)", bytes: publishWithTopicBytes(asc("a+b")), clause: "MQTT-3.3.2-2" },
  { name: "PUBLISH empty topic", bytes: bytes(0x30, 3, 0x00, 0x00, 0x99), clause: "MQTT-4.7.3-1" },

  // UTF-8 in a topic [MQTT-1.5.3-1], [MQTT-1.5.3-2]
  ...BAD_UTF8.map(([name, topic, clause]): Reject => ({ name: `PUBLISH topic with ${name}`, bytes: publishWithTopicBytes(topic), clause })),
  // ... and in the other string fields
  { name: "CONNECT client id with overlong C0 80", bytes: bytes(0x10, 14, MQTT, 0x02, 0x00, 0x3c, 0x00, 0x02, 0xc0, 0x80), clause: "MQTT-1.5.3-1" },
  { name: "CONNECT client id with U+0000", bytes: bytes(0x10, 13, MQTT, 0x02, 0x00, 0x3c, 0x00, 0x01, 0x00), clause: "MQTT-1.5.3-2" },
  {
    name: "CONNECT username with encoded surrogate ED A0 80",
    bytes: bytes(0x10, 17, MQTT, 0x82, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x03, 0xed, 0xa0, 0x80),
    clause: "MQTT-1.5.3-1",
  },
  {
    name: "CONNECT will topic with lone continuation byte",
    bytes: bytes(0x10, 17, MQTT, 0x06, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0x00),
    clause: "MQTT-1.5.3-1",
  },
  {
    name: "CONNECT will topic with a wildcard",
    bytes: bytes(0x10, 17, MQTT, 0x06, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x01, 0x23, 0x00, 0x00),
    clause: "MQTT-3.3.2-2",
  },
  { name: "SUBSCRIBE filter with truncated E2 82", bytes: bytes(0x82, 7, 0x00, 0x01, 0x00, 0x02, 0xe2, 0x82, 0x00), clause: "MQTT-1.5.3-1" },
  { name: "UNSUBSCRIBE filter with U+0000", bytes: bytes(0xa2, 6, 0x00, 0x01, 0x00, 0x02, 0x61, 0x00), clause: "MQTT-1.5.3-2" },

  // strings running past the packet
  { name: "PUBLISH topic length past the end", bytes: bytes(0x30, 3, 0x00, 0x05, 0x61), clause: "MQTT-1.5.3" },
  { name: "PUBLISH qos1 without room for the packet id", bytes: bytes(0x32, 3, 0x00, 0x01, 0x61), clause: undefined },
  { name: "PUBLISH with remaining length 1", bytes: bytes(0x30, 1, 0x00), clause: undefined },
  { name: "PUBLISH with remaining length 0", bytes: bytes(0x30, 0), clause: undefined },

  // SUBACK return codes [MQTT-3.9.3-2]
  { name: "SUBACK return code 3", bytes: bytes(0x90, 3, 0x00, 0x01, 0x03), clause: "MQTT-3.9.3-2" },
  { name: "SUBACK return code 0x81", bytes: bytes(0x90, 3, 0x00, 0x01, 0x81), clause: "MQTT-3.9.3-2" },
  { name: "SUBACK return code 0xFF after valid ones", bytes: bytes(0x90, 5, 0x00, 0x01, 0x00, 0x80, 0xff), clause: "MQTT-3.9.3-2" },
  { name: "SUBACK without return codes", bytes: bytes(0x90, 2, 0x00, 0x01), clause: "MQTT-3.9.3-1" },

  // CONNACK
  { name: "CONNACK reserved bit 1 set", bytes: bytes(0x20, 2, 0x02, 0x00), clause: "MQTT-3.2.2-1" },
  { name: "CONNACK reserved bit 7 set", bytes: bytes(0x20, 2, 0x80, 0x00), clause: "MQTT-3.2.2-1" },
  { name: "CONNACK all acknowledge flags set", bytes: bytes(0x20, 2, 0xff, 0x00), clause: "MQTT-3.2.2-1" },
  { name: "CONNACK reserved return code 6", bytes: bytes(0x20, 2, 0x00, 0x06), clause: "MQTT-3.2.2.3" },
  { name: "CONNACK reserved return code 255", bytes: bytes(0x20, 2, 0x00, 0xff), clause: "MQTT-3.2.2.3" },
  { name: "CONNACK session present with a refusal", bytes: bytes(0x20, 2, 0x01, 0x05), clause: "MQTT-3.2.2-4" },
  { name: "CONNACK remaining length 3", bytes: bytes(0x20, 3, 0x00, 0x00, 0x00), clause: undefined },

  // CONNECT
  { name: "CONNECT reserved connect flag bit 0", bytes: bytes(0x10, 12, MQTT, 0x03, 0x00, 0x3c, 0x00, 0x00), clause: "MQTT-3.1.2-3" },
  { name: "CONNECT protocol level 3", bytes: bytes(0x10, 12, 0x00, 0x04, asc("MQTT"), 0x03, 0x02, 0x00, 0x3c, 0x00, 0x00), clause: "MQTT-3.1.2-2" },
  { name: "CONNECT protocol level 5", bytes: bytes(0x10, 12, 0x00, 0x04, asc("MQTT"), 0x05, 0x02, 0x00, 0x3c, 0x00, 0x00), clause: "MQTT-3.1.2-2" },
  {
    name: "CONNECT protocol name 'MQIsdp' (3.1)",
    bytes: bytes(0x10, 14, 0x00, 0x06, asc("MQIsdp"), 0x03, 0x02, 0x00, 0x3c, 0x00, 0x00),
    clause: "MQTT-3.1.2-1",
  },
  { name: "CONNECT protocol name 'mqtt'", bytes: bytes(0x10, 12, 0x00, 0x04, asc("mqtt"), 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00), clause: "MQTT-3.1.2-1" },
  {
    name: "CONNECT will QoS 3",
    bytes: bytes(0x10, 18, MQTT, 0x1e, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x01, 0x77, 0x00, 0x01, 0x78),
    clause: "MQTT-3.1.2-14",
  },
  { name: "CONNECT will QoS 1 without the will flag", bytes: bytes(0x10, 12, MQTT, 0x0a, 0x00, 0x3c, 0x00, 0x00), clause: "MQTT-3.1.2-13" },
  { name: "CONNECT will QoS 2 without the will flag", bytes: bytes(0x10, 12, MQTT, 0x12, 0x00, 0x3c, 0x00, 0x00), clause: "MQTT-3.1.2-13" },
  { name: "CONNECT will retain without the will flag", bytes: bytes(0x10, 12, MQTT, 0x22, 0x00, 0x3c, 0x00, 0x00), clause: "MQTT-3.1.2-15" },
  {
    name: "CONNECT password without username",
    bytes: bytes(0x10, 15, MQTT, 0x42, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x01, 0x70),
    clause: "MQTT-3.1.2-22",
  },
  { name: "CONNECT truncated inside the variable header", bytes: bytes(0x10, 9, MQTT, 0x02, 0x00, 0x3c), clause: undefined },
  { name: "CONNECT missing the client id", bytes: bytes(0x10, 10, MQTT, 0x02, 0x00, 0x3c), clause: undefined },
  {
    name: "CONNECT will flag but no will payload",
    bytes: bytes(0x10, 15, MQTT, 0x06, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x01, 0x77),
    clause: undefined,
  },
  { name: "CONNECT username flag but no username", bytes: bytes(0x10, 12, MQTT, 0x82, 0x00, 0x3c, 0x00, 0x00), clause: undefined },
  { name: "CONNECT with trailing bytes", bytes: bytes(0x10, 13, MQTT, 0x02, 0x00, 0x3c, 0x00, 0x00, 0x99), clause: undefined },

  // SUBSCRIBE / UNSUBSCRIBE payloads
  { name: "SUBSCRIBE requested QoS byte 3", bytes: bytes(0x82, 6, 0x00, 0x01, 0x00, 0x01, 0x61, 0x03), clause: "MQTT-3.8.3-4" },
  { name: "SUBSCRIBE QoS byte with reserved bit 2 set", bytes: bytes(0x82, 6, 0x00, 0x01, 0x00, 0x01, 0x61, 0x04), clause: "MQTT-3.8.3-4" },
  { name: "SUBSCRIBE QoS byte with reserved bit 7 set", bytes: bytes(0x82, 6, 0x00, 0x01, 0x00, 0x01, 0x61, 0x81), clause: "MQTT-3.8.3-4" },
  { name: "SUBSCRIBE with an empty payload", bytes: bytes(0x82, 2, 0x00, 0x01), clause: "MQTT-3.8.3-3" },
  { name: "SUBSCRIBE filter without a QoS byte", bytes: bytes(0x82, 5, 0x00, 0x01, 0x00, 0x01, 0x61), clause: undefined },
  { name: "SUBSCRIBE filter 'a/#/b'", bytes: bytes(0x82, 10, 0x00, 0x01, 0x00, 0x05, asc("a/#/b"), 0x00), clause: "MQTT-4.7.1-2" },
  { name: "SUBSCRIBE filter 'a#'", bytes: bytes(0x82, 7, 0x00, 0x01, 0x00, 0x02, asc("a#"), 0x00), clause: "MQTT-4.7.1-2" },
  { name: "SUBSCRIBE filter 'a+'", bytes: bytes(0x82, 7, 0x00, 0x01, 0x00, 0x02, asc("a+"), 0x00), clause: "MQTT-4.7.1-3" },
  { name: "SUBSCRIBE empty filter", bytes: bytes(0x82, 5, 0x00, 0x01, 0x00, 0x00, 0x00), clause: "MQTT-4.7.3-1" },
  { name: "SUBSCRIBE with no packet id", bytes: bytes(0x82, 0), clause: undefined },
  { name: "UNSUBSCRIBE with an empty payload", bytes: bytes(0xa2, 2, 0x00, 0x01), clause: "MQTT-3.10.3-2" },
  { name: "UNSUBSCRIBE filter 'a/#/b'", bytes: bytes(0xa2, 9, 0x00, 0x01, 0x00, 0x05, asc("a/#/b")), clause: "MQTT-4.7.1-2" },
  { name: "UNSUBSCRIBE filter '+a'", bytes: bytes(0xa2, 6, 0x00, 0x01, 0x00, 0x02, asc("+a")), clause: "MQTT-4.7.1-3" },
  { name: "UNSUBSCRIBE string past the end", bytes: bytes(0xa2, 5, 0x00, 0x01, 0x00, 0x09, 0x61), clause: "MQTT-1.5.3" },

  // wrong remaining length for fixed-size packets
  { name: "PUBACK remaining length 3", bytes: bytes(0x40, 3, 0x00, 0x01, 0x00), clause: undefined },
  { name: "PUBACK remaining length 1", bytes: bytes(0x40, 1, 0x01), clause: undefined },
  { name: "PUBACK remaining length 0", bytes: bytes(0x40, 0), clause: undefined },
  { name: "PUBREL remaining length 4", bytes: bytes(0x62, 4, 0x00, 0x01, 0x00, 0x00), clause: undefined },
  { name: "UNSUBACK remaining length 1", bytes: bytes(0xb0, 1, 0x01), clause: undefined },
  { name: "PINGRESP remaining length 1", bytes: bytes(0xd0, 1, 0x00), clause: undefined },
  { name: "PINGREQ remaining length 2", bytes: bytes(0xc0, 2, 0x00, 0x00), clause: undefined },
  { name: "DISCONNECT remaining length 1", bytes: bytes(0xe0, 1, 0x00), clause: undefined },
];

describe("codec: decoder must-reject table", () => {
  for (const r of DECODE_REJECTS) {
    it(`rejects ${r.name}`, () => {
      const what = `${r.name}: ${hex(r.bytes)}`;
      expectMqttError(() => new Decoder().push(r.bytes), r.code ?? "MALFORMED_PACKET", r.clause, what);
      // the same verdict when the bytes arrive one at a time
      const d = new Decoder();
      expectMqttError(() => { for (let i = 0; i < r.bytes.length; i++) d.push(r.bytes.subarray(i, i + 1)); },
        r.code ?? "MALFORMED_PACKET", r.clause, `${what} (byte by byte)`);
    });
  }

  it("rejects a PUBLISH after valid packets in the same chunk, having returned those packets in `out`", () => {
    const out: Packet[] = [];
    const chunk = bytes(0xc0, 0x00, 0x40, 0x02, 0x00, 0x05, 0x36, 0x05, 0x00, 0x01, 0x74, 0x00, 0x01);
    expectMqttError(() => new Decoder().push(chunk, out), "MALFORMED_PACKET", "MQTT-3.3.1-4", "third packet QoS 3");
    assert.deepStrictEqual(out, [{ type: P.PINGREQ }, { type: P.PUBACK, id: 5 }]);
  });
});

describe("codec: accepted on decode, refused on encode", () => {
  it("CONNECT with an empty client id and CleanSession 0: a server must answer CONNACK 0x02 [MQTT-3.1.3-8], so it is not malformed", () => {
    const wire = bytes(0x10, 12, MQTT, 0x00, 0x00, 0x3c, 0x00, 0x00);
    const p: Packet = { type: P.CONNECT, clientId: "", clean: false, keepalive: 60 };
    assert.deepStrictEqual(decodeAll(wire), [p]);
    expectMqttError(() => encode(p), "INVALID_ARGUMENT", "MQTT-3.1.3-7", "a client must not send it");
  });

  it("a non-minimal remaining length (80 00 for 0) is accepted: 3.1.1 does not require the shortest encoding", () => {
    assert.deepStrictEqual(decodeAll(bytes(0xc0, 0x80, 0x00)), [{ type: P.PINGREQ }]);
    assert.deepStrictEqual(decodeAll(bytes(0x40, 0x82, 0x80, 0x00, 0x00, 0x07)), [{ type: P.PUBACK, id: 7 }]);
  });
});

describe("codec: maxPacketSize", () => {
  it("throws PACKET_TOO_LARGE from the 3 header bytes of a 2000-byte packet, buffering nothing of it", () => {
    // 2000 bytes in all: fixed header 30 CD 0F (remaining length 1997) + 1997
    const d = new Decoder({ maxPacketSize: 1024 });
    assert.deepStrictEqual(d.push(u8(0x30)), []);
    assert.ok(d.buffered <= 1, `buffered ${d.buffered}`);
    assert.deepStrictEqual(d.push(u8(0xcd)), []);
    assert.ok(d.buffered <= 2, `buffered ${d.buffered}`);
    expectMqttError(() => d.push(u8(0x0f)), "PACKET_TOO_LARGE", undefined, "third header byte");
    assert.ok(d.buffered <= 3, `buffered ${d.buffered} after the rejection`);

    // the same with the three bytes in one chunk
    const d2 = new Decoder({ maxPacketSize: 1024 });
    expectMqttError(() => d2.push(u8(0x30, 0xcd, 0x0f)), "PACKET_TOO_LARGE", undefined, "one chunk");
    assert.ok(d2.buffered <= 3, `buffered ${d2.buffered}`);

    // and with the header at the end of a chunk that completes another packet first
    const d3 = new Decoder({ maxPacketSize: 1024 });
    const out: Packet[] = [];
    expectMqttError(() => d3.push(u8(0xd0, 0x00, 0x30, 0xcd, 0x0f), out), "PACKET_TOO_LARGE", undefined, "after a PINGRESP");
    assert.deepStrictEqual(out, [{ type: P.PINGRESP }]);
  });

  it("throws PACKET_TOO_LARGE for the largest remaining length (FF FF FF 7F) from the header alone", () => {
    const d = new Decoder();
    expectMqttError(() => d.push(u8(0x30, 0xff, 0xff, 0xff, 0x7f)), "PACKET_TOO_LARGE", undefined, "268435455");
    assert.ok(d.buffered <= 5);
  });

  it("accepts a packet of exactly maxPacketSize bytes and rejects one byte more", () => {
    const max = 1024;
    const ok = encode({ type: P.PUBLISH, topic: "t", payload: fill(max - 3 - 3), qos: 0, retain: false, dup: false });
    assert.equal(ok.length, max);
    assert.equal(new Decoder({ maxPacketSize: max }).push(ok).length, 1);
    const d = new Decoder({ maxPacketSize: max });
    d.push(ok.subarray(0, 500));
    assert.equal(d.buffered, 500);
    assert.equal(d.push(ok.subarray(500)).length, 1);
    const tooBig = encode({ type: P.PUBLISH, topic: "t", payload: fill(max - 3 - 3 + 1), qos: 0, retain: false, dup: false });
    expectMqttError(() => new Decoder({ maxPacketSize: max }).push(tooBig), "PACKET_TOO_LARGE", undefined, "max + 1");
  });

  it("uses a 256 KiB default", () => {
    const d = new Decoder();
    assert.equal(d.maxPacketSize, 256 * 1024);
    // 256 KiB + 1: remaining length 262141 = FD FF 0F
    expectMqttError(() => d.push(u8(0x30, 0xfd, 0xff, 0x0f)), "PACKET_TOO_LARGE", undefined, "262145 bytes");
  });
});

// ---------------------------------------------------------------------------------------
// encoder must-reject table

const pub = (over: Partial<PublishPacket>): Packet => ({ type: P.PUBLISH, topic: "t", payload: u8(), qos: 0, retain: false, dup: false, ...over }) as Packet;

const ENCODE_REJECTS: { name: string; packet: Packet; clause: string | undefined }[] = [
  { name: "PUBLISH topic 'a/+'", packet: pub({ topic: "a/+" }), clause: "MQTT-3.3.2-2" },
  { name: "PUBLISH topic 'a/#'", packet: pub({ topic: "a/#" }), clause: "MQTT-3.3.2-2" },
  { name: "PUBLISH topic '#'", packet: pub({ topic: "#" }), clause: "MQTT-3.3.2-2" },
  { name: "PUBLISH empty topic", packet: pub({ topic: "" }), clause: "MQTT-4.7.3-1" },
  { name: "PUBLISH QoS 3", packet: pub({ qos: 3 as P.QoS, id: 1 }), clause: "MQTT-3.3.1-4" },
  { name: "PUBLISH QoS -1", packet: pub({ qos: -1 as P.QoS }), clause: "MQTT-3.3.1-4" },
  { name: "PUBLISH DUP on QoS 0", packet: pub({ dup: true }), clause: "MQTT-3.3.1-2" },
  { name: "PUBLISH qos1 id 0", packet: pub({ qos: 1, id: 0 }), clause: "MQTT-2.3.1-1" },
  { name: "PUBLISH qos2 id 65536", packet: pub({ qos: 2, id: 65536 }), clause: "MQTT-2.3.1-1" },
  { name: "PUBLISH qos1 without an id", packet: pub({ qos: 1 }), clause: "MQTT-2.3.1-1" },
  { name: "PUBLISH qos1 id 1.5", packet: pub({ qos: 1, id: 1.5 }), clause: "MQTT-2.3.1-1" },
  { name: "PUBLISH topic with a lone high surrogate", packet: pub({ topic: "a\ud800" }), clause: "MQTT-1.5.3-1" },
  { name: "PUBLISH topic with a lone high surrogate before ASCII", packet: pub({ topic: "\ud83db" }), clause: "MQTT-1.5.3-1" },
  { name: "PUBLISH topic with a lone low surrogate", packet: pub({ topic: "\udc00a" }), clause: "MQTT-1.5.3-1" },
  { name: "PUBLISH topic with reversed surrogates", packet: pub({ topic: "\ude00\ud83d" }), clause: "MQTT-1.5.3-1" },
  { name: "PUBLISH topic with U+0000", packet: pub({ topic: "a\u0000b" }), clause: "MQTT-1.5.3-2" },
  { name: "PUBACK id 0", packet: { type: P.PUBACK, id: 0 }, clause: "MQTT-2.3.1-1" },
  { name: "PUBACK id 65536", packet: { type: P.PUBACK, id: 65536 }, clause: "MQTT-2.3.1-1" },
  { name: "PUBREC id 0", packet: { type: P.PUBREC, id: 0 }, clause: "MQTT-2.3.1-1" },
  { name: "PUBREL id 65536", packet: { type: P.PUBREL, id: 65536 }, clause: "MQTT-2.3.1-1" },
  { name: "PUBCOMP id -1", packet: { type: P.PUBCOMP, id: -1 }, clause: "MQTT-2.3.1-1" },
  { name: "UNSUBACK id 0", packet: { type: P.UNSUBACK, id: 0 }, clause: "MQTT-2.3.1-1" },
  { name: "SUBSCRIBE id 0", packet: { type: P.SUBSCRIBE, id: 0, subscriptions: [{ topic: "a", qos: 0 }] }, clause: "MQTT-2.3.1-1" },
  { name: "SUBSCRIBE id 65536", packet: { type: P.SUBSCRIBE, id: 65536, subscriptions: [{ topic: "a", qos: 0 }] }, clause: "MQTT-2.3.1-1" },
  { name: "SUBSCRIBE filter 'a/#/b'", packet: { type: P.SUBSCRIBE, id: 1, subscriptions: [{ topic: "a/#/b", qos: 0 }] }, clause: "MQTT-4.7.1-2" },
  { name: "SUBSCRIBE filter 'a+'", packet: { type: P.SUBSCRIBE, id: 1, subscriptions: [{ topic: "a+", qos: 0 }] }, clause: "MQTT-4.7.1-3" },
  { name: "SUBSCRIBE empty filter", packet: { type: P.SUBSCRIBE, id: 1, subscriptions: [{ topic: "", qos: 0 }] }, clause: "MQTT-4.7.3-1" },
  { name: "SUBSCRIBE QoS 3", packet: { type: P.SUBSCRIBE, id: 1, subscriptions: [{ topic: "a", qos: 3 as P.QoS }] }, clause: "MQTT-3.8.3-4" },
  { name: "SUBSCRIBE empty subscription list", packet: { type: P.SUBSCRIBE, id: 1, subscriptions: [] }, clause: "MQTT-3.8.3-3" },
  { name: "SUBSCRIBE filter with U+0000", packet: { type: P.SUBSCRIBE, id: 1, subscriptions: [{ topic: "\u0000", qos: 0 }] }, clause: "MQTT-1.5.3-2" },
  { name: "SUBACK id 0", packet: { type: P.SUBACK, id: 0, granted: [0] }, clause: "MQTT-2.3.1-1" },
  { name: "SUBACK code 3", packet: { type: P.SUBACK, id: 1, granted: [0, 3] }, clause: "MQTT-3.9.3-2" },
  { name: "SUBACK code 0x81", packet: { type: P.SUBACK, id: 1, granted: [0x81] }, clause: "MQTT-3.9.3-2" },
  { name: "SUBACK with no codes", packet: { type: P.SUBACK, id: 1, granted: [] }, clause: "MQTT-3.9.3-1" },
  { name: "UNSUBSCRIBE id 0", packet: { type: P.UNSUBSCRIBE, id: 0, topics: ["a"] }, clause: "MQTT-2.3.1-1" },
  { name: "UNSUBSCRIBE empty list", packet: { type: P.UNSUBSCRIBE, id: 1, topics: [] }, clause: "MQTT-3.10.3-2" },
  { name: "UNSUBSCRIBE filter 'a/#/b'", packet: { type: P.UNSUBSCRIBE, id: 1, topics: ["a/#/b"] }, clause: "MQTT-4.7.1-2" },
  { name: "UNSUBSCRIBE filter with a lone surrogate", packet: { type: P.UNSUBSCRIBE, id: 1, topics: ["\udfff"] }, clause: "MQTT-1.5.3-1" },
  { name: "CONNECT password without username", packet: { type: P.CONNECT, clientId: "c", clean: true, keepalive: 0, password: u8(1) }, clause: "MQTT-3.1.2-22" },
  { name: "CONNECT empty client id without clean session", packet: { type: P.CONNECT, clientId: "", clean: false, keepalive: 0 }, clause: "MQTT-3.1.3-7" },
  { name: "CONNECT client id with a lone surrogate", packet: { type: P.CONNECT, clientId: "\ud800", clean: true, keepalive: 0 }, clause: "MQTT-1.5.3-1" },
  { name: "CONNECT username with U+0000", packet: { type: P.CONNECT, clientId: "c", clean: true, keepalive: 0, username: "\u0000" }, clause: "MQTT-1.5.3-2" },
  {
    name: "CONNECT will QoS 3",
    packet: { type: P.CONNECT, clientId: "c", clean: true, keepalive: 0, will: { topic: "w", payload: u8(), qos: 3 as P.QoS, retain: false } },
    clause: "MQTT-3.1.2-14",
  },
  {
    name: "CONNECT will topic with a wildcard",
    packet: { type: P.CONNECT, clientId: "c", clean: true, keepalive: 0, will: { topic: "w/#", payload: u8(), qos: 0, retain: false } },
    clause: "MQTT-3.3.2-2",
  },
  {
    name: "CONNECT empty will topic",
    packet: { type: P.CONNECT, clientId: "c", clean: true, keepalive: 0, will: { topic: "", payload: u8(), qos: 0, retain: false } },
    clause: "MQTT-4.7.3-1",
  },
  { name: "CONNECT keepalive 65536", packet: { type: P.CONNECT, clientId: "c", clean: true, keepalive: 65536 }, clause: undefined },
  { name: "CONNECT keepalive -1", packet: { type: P.CONNECT, clientId: "c", clean: true, keepalive: -1 }, clause: undefined },
  { name: "CONNECT keepalive 1.5 (not silently truncated)", packet: { type: P.CONNECT, clientId: "c", clean: true, keepalive: 1.5 }, clause: undefined },
  { name: "CONNECT keepalive NaN", packet: { type: P.CONNECT, clientId: "c", clean: true, keepalive: NaN }, clause: undefined },
  { name: "CONNACK return code 1.5 (not silently truncated)", packet: { type: P.CONNACK, sessionPresent: false, returnCode: 1.5 }, clause: "MQTT-3.2.2.3" },
  { name: "CONNACK return code 6", packet: { type: P.CONNACK, sessionPresent: false, returnCode: 6 }, clause: "MQTT-3.2.2.3" },
  { name: "CONNACK session present with a refusal", packet: { type: P.CONNACK, sessionPresent: true, returnCode: 1 }, clause: "MQTT-3.2.2-4" },
  { name: "unknown packet type 0", packet: { type: 0 } as unknown as Packet, clause: undefined },
  { name: "unknown packet type 15", packet: { type: 15 } as unknown as Packet, clause: undefined },
];

describe("codec: encoder must-reject table", () => {
  for (const r of ENCODE_REJECTS) {
    it(`rejects ${r.name}`, () => {
      expectMqttError(() => encode(r.packet), "INVALID_ARGUMENT", r.clause, r.name);
      if (r.packet.type === P.PUBLISH) expectMqttError(() => encodePublishHeader(r.packet as PublishPacket), "INVALID_ARGUMENT", r.clause, `${r.name} (header)`);
    });
  }
});

// ---------------------------------------------------------------------------------------
// topics

describe("topic: topicMatches", () => {
  const TABLE: [string, string, boolean][] = [
    // exact
    ["a/b", "a/b", true],
    ["a/b", "a/c", false],
    ["a/b", "a/bc", false],
    ["a/bc", "a/b", false],
    ["a", "a/b", false],
    ["a/b", "a", false],
    ["A", "a", false],
    // '+'
    ["+", "a", true],
    ["+", "a/b", false],
    ["+", "/a", false],
    ["/+", "/a", true],
    ["+/+", "/a", true],
    ["+/a", "/a", true],
    ["a/+", "a/b", true],
    ["a/+", "a/", true],
    ["a/+", "a", false],
    ["a/+", "a/b/c", false],
    ["a/+/c", "a/b/c", true],
    ["a/+/c", "a//c", true],
    ["a/+/c", "a/b/d", false],
    ["+/+/+", "a/b/c", true],
    ["+/+/+", "a/b", false],
    ["sport/tennis/+", "sport/tennis/player1", true],
    ["sport/tennis/+", "sport/tennis/player1/ranking", false],
    ["sport/+", "sport", false],
    ["sport/+", "sport/", true],
    // '#'
    ["#", "a", true],
    ["#", "a/b/c", true],
    ["#", "/", true],
    ["#", "/a", true],
    ["a/#", "a", true],
    ["a/#", "a/", true],
    ["a/#", "a/b", true],
    ["a/#", "a/b/c", true],
    ["a/#", "ab", false],
    ["a/#", "b/a", false],
    ["a/b/#", "a", false],
    ["a/+/#", "a/b", true],
    ["a/+/#", "a", false],
    ["+/#", "a", true],
    ["/#", "/", true],
    ["/#", "a", false],
    ["sport/tennis/player1/#", "sport/tennis/player1", true],
    ["sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true],
    ["sport/#", "sport", true],
    // empty levels
    ["a//b", "a//b", true],
    ["a/+/b", "a//b", true],
    ["a//b", "a/b", false],
    ["/", "/", true],
    ["//", "//", true],
    ["+/+", "/", true],
    ["+", "/", false],
    ["/+", "/", true],
    // '$' topics are not matched by a leading wildcard [MQTT-4.7.2-1]
    ["#", "$SYS", false],
    ["#", "$SYS/broker", false],
    ["+/broker", "$SYS/broker", false],
    ["+", "$", false],
    ["+/#", "$SYS/x", false],
    ["$SYS/#", "$SYS/broker/clients", true],
    ["$SYS/#", "$SYS", true],
    ["$SYS/+", "$SYS/broker", true],
    ["$SYS/broker", "$SYS/broker", true],
    ["a/#", "a/$b", true],
    ["a/+", "a/$b", true],
    // multibyte
    ["é/+", "é/😀", true],
    ["+/😀", "é/😀", true],
    ["😀", "😁", false],
  ];
  for (const [filter, topic, expected] of TABLE) {
    it(`${JSON.stringify(filter)} ${expected ? "matches" : "does not match"} ${JSON.stringify(topic)}`, () => {
      assert.equal(topicFilterError(filter), null, "the filter is valid");
      assert.equal(topicNameError(topic), null, "the topic is valid");
      assert.equal(topicMatches(filter, topic), expected);
    });
  }

  it("agrees with a split-by-level reference on 200,000 seeded random filter/topic pairs", () => {
    const seed = 0x7001c;
    const rnd = mulberry32(seed);
    const reference = (filter: string, topic: string): boolean => {
      const f = filter.split("/"), t = topic.split("/");
      if (topic.startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
      for (let i = 0; i < f.length; i++) {
        if (f[i] === "#") return true;
        if (i >= t.length) return false;
        if (f[i] !== "+" && f[i] !== t[i]) return false;
      }
      return f.length === t.length;
    };
    const gen = (pool: string[]): string => {
      let s = "";
      const n = 1 + Math.floor(rnd() * 7);
      for (let i = 0; i < n; i++) s += pool[Math.floor(rnd() * pool.length)];
      return s;
    };
    let checked = 0;
    for (let k = 0; k < 200_000; k++) {
      const filter = gen(["a", "b", "/", "/", "$", "+", "#", "é"]);
      const topic = gen(["a", "b", "/", "/", "$", "é"]);
      if (topicFilterError(filter) !== null) continue;
      checked++;
      same(topicMatches(filter, topic), reference(filter, topic), () => `seed ${seed} iteration ${k}: ${JSON.stringify(filter)} vs ${JSON.stringify(topic)}`);
    }
    assert.ok(checked > 50_000, `checked ${checked}`);
  });
});

describe("topic: topicFilterError and topicNameError", () => {
  const FILTERS: [string, string | null][] = [
    ["a", null], ["a/b", null], ["#", null], ["+", null], ["+/+", null], ["/#", null], ["a/#", null],
    ["a/+/b", null], ["+/#", null], ["/", null], ["//", null], ["a//b", null], ["$SYS/#", null], [" ", null],
    ["é/😀/+", null], ["+/+/#", null],
    ["", "MQTT-4.7.3-1"],
    ["a/#/b", "MQTT-4.7.1-2"], ["#/a", "MQTT-4.7.1-2"], ["a#", "MQTT-4.7.1-2"], ["a/b#", "MQTT-4.7.1-2"],
    ["##", "MQTT-4.7.1-2"], ["#+", "MQTT-4.7.1-2"], ["a/#/", "MQTT-4.7.1-2"], ["#/", "MQTT-4.7.1-2"],
    ["a+", "MQTT-4.7.1-3"], ["+a", "MQTT-4.7.1-3"], ["a/+b", "MQTT-4.7.1-3"], ["a/b+/c", "MQTT-4.7.1-3"],
    ["++", "MQTT-4.7.1-3"], ["+#", "MQTT-4.7.1-3"], ["/+x/", "MQTT-4.7.1-3"],
  ];
  for (const [filter, clause] of FILTERS) {
    it(`filter ${JSON.stringify(filter)} -> ${clause ?? "valid"}`, () => {
      const e = topicFilterError(filter);
      assert.equal(e === null ? null : e[1], clause, e ? e[0] : "valid");
    });
  }
  const NAMES: [string, string | null][] = [
    ["a", null], ["/", null], ["a/b", null], ["$SYS/x", null], ["é", null], [" ", null], ["a//b", null],
    ["", "MQTT-4.7.3-1"], ["#", "MQTT-3.3.2-2"], ["+", "MQTT-3.3.2-2"], ["a/+", "MQTT-3.3.2-2"], ["a#b", "MQTT-3.3.2-2"],
  ];
  for (const [name, clause] of NAMES) {
    it(`name ${JSON.stringify(name)} -> ${clause ?? "valid"}`, () => {
      const e = topicNameError(name);
      assert.equal(e === null ? null : e[1], clause);
    });
  }

  it("a name NOT_PLAIN_TOPIC_NAME passes is valid and one byte per character, for every UTF-16 code unit", () => {
    // The session's fast check must never let through what the full checks refuse.
    for (let c = 0; c <= 0xffff; c++) {
      const name = `a${String.fromCharCode(c)}`;
      if (NOT_PLAIN_TOPIC_NAME.test(name)) continue;
      assert.equal(topicNameError(name), null, `U+${c.toString(16)}`);
      assert.equal(utf8Length(name), name.length, `U+${c.toString(16)}`);
    }
    for (const c of ["#", "+", "\0", "é", "\ud800"]) assert.equal(NOT_PLAIN_TOPIC_NAME.test(`a/${c}`), true, c);
  });
});

// ---------------------------------------------------------------------------------------
// UTF-8

describe("utf8: strict coder", () => {
  const encoder = new TextEncoder();
  const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  function randomString(rnd: () => number): string {
    const n = Math.floor(rnd() * 40);
    let s = "";
    for (let i = 0; i < n; i++) {
      const r = rnd();
      let cp: number;
      if (r < 0.3) cp = 1 + Math.floor(rnd() * 0x7f); // ASCII without U+0000
      else if (r < 0.5) cp = 0x80 + Math.floor(rnd() * (0x800 - 0x80)); // 2 bytes
      else if (r < 0.75) {
        do cp = 0x800 + Math.floor(rnd() * (0x10000 - 0x800)); while (cp >= 0xd800 && cp <= 0xdfff); // 3 bytes
      } else if (r < 0.95) cp = 0x10000 + Math.floor(rnd() * (0x110000 - 0x10000)); // astral, 4 bytes
      else cp = [0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfeff, 0xfffd, 0xffff, 0x10000, 0x10ffff][Math.floor(rnd() * 11)];
      s += String.fromCodePoint(cp);
    }
    return s;
  }

  it("round-trips 20,000 seeded random strings (astral included) exactly as TextEncoder/TextDecoder do", () => {
    const seed = 0xc0dec;
    const rnd = mulberry32(seed);
    for (let k = 0; k < 20_000; k++) {
      const s = randomString(rnd);
      const ours = encodeUtf8(s);
      const theirs = encoder.encode(s);
      same(utf8Length(s), theirs.length, () => `seed ${seed} #${k}: length of ${JSON.stringify(s)}`);
      ok(Buffer.compare(ours, theirs) === 0, () => `seed ${seed} #${k}: bytes of ${JSON.stringify(s)}`);
      // decode with an offset, as the decoder does inside a packet
      const framed = new Uint8Array(theirs.length + 3);
      framed.set(theirs, 2);
      same(decodeUtf8(framed, 2, 2 + theirs.length), s, () => `seed ${seed} #${k}: decode ${JSON.stringify(s)}`);
      same(strict.decode(ours), s, () => `seed ${seed} #${k}: TextDecoder`);
    }
  });

  it("decodes long strings across its internal chunking", () => {
    for (const s of ["a".repeat(10000), "😀".repeat(5000), "é€😀".repeat(3000)]) {
      const b = encoder.encode(s);
      assert.equal(decodeUtf8(b, 0, b.length), s);
      assert.deepStrictEqual(encodeUtf8(s), b);
    }
  });

  it("accepts and rejects exactly what a fatal TextDecoder does (plus U+0000) on 100,000 seeded random byte strings", () => {
    const seed = 0xbadf00d;
    const rnd = mulberry32(seed);
    const interesting = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xee, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
    let accepted = 0;
    withoutStacks(() => {
      for (let k = 0; k < 100_000; k++) {
        const n = Math.floor(rnd() * 7);
        const b = new Uint8Array(n);
        for (let i = 0; i < n; i++) b[i] = rnd() < 0.6 ? interesting[Math.floor(rnd() * interesting.length)] : Math.floor(rnd() * 256);
        let expected: string | null;
        try {
          expected = strict.decode(b);
          if (expected.includes("\u0000")) expected = null;
        } catch {
          expected = null;
        }
        let got: string | null;
        try {
          got = decodeUtf8(b, 0, n);
        } catch (e) {
          ok(e instanceof MqttError && e.code === "MALFORMED_PACKET", () => `seed ${seed} #${k}: ${String(e)}`);
          ok(e.clause === "MQTT-1.5.3-1" || e.clause === "MQTT-1.5.3-2", () => `seed ${seed} #${k}: clause ${e.clause}`);
          got = null;
        }
        same(got, expected, () => `seed ${seed} #${k}: bytes ${hex(b)}`);
        if (got !== null) accepted++;
      }
    });
    assert.ok(accepted > 10_000, `accepted ${accepted}`);
  });

  it("rejects the table of malformed sequences with the right clause", () => {
    for (const [name, seq, clause] of BAD_UTF8) {
      expectMqttError(() => decodeUtf8(Uint8Array.from(seq), 0, seq.length), "MALFORMED_PACKET", clause, name);
    }
    // a sequence cut by the end of the field, though more bytes follow in the buffer
    expectMqttError(() => decodeUtf8(u8(0xe2, 0x82, 0xac), 0, 2), "MALFORMED_PACKET", "MQTT-1.5.3-1", "cut by the field end");
    expectMqttError(() => decodeUtf8(u8(0xf0, 0x9f, 0x98, 0x80), 0, 3), "MALFORMED_PACKET", "MQTT-1.5.3-1", "cut 4-byte");
    expectMqttError(() => decodeUtf8(u8(0xc3, 0xa9), 0, 1), "MALFORMED_PACKET", "MQTT-1.5.3-1", "cut 2-byte");
  });

  it("utf8Length rejects lone surrogates and U+0000 with INVALID_ARGUMENT", () => {
    expectMqttError(() => utf8Length("\ud800"), "INVALID_ARGUMENT", "MQTT-1.5.3-1", "lone high at end");
    expectMqttError(() => utf8Length("\ud800x"), "INVALID_ARGUMENT", "MQTT-1.5.3-1", "lone high");
    expectMqttError(() => utf8Length("x\udc00"), "INVALID_ARGUMENT", "MQTT-1.5.3-1", "lone low");
    expectMqttError(() => utf8Length("\ud800\ud800"), "INVALID_ARGUMENT", "MQTT-1.5.3-1", "two highs");
    expectMqttError(() => utf8Length("ab\u0000"), "INVALID_ARGUMENT", "MQTT-1.5.3-2", "NUL");
    assert.equal(utf8Length(""), 0);
    assert.equal(utf8Length("\ud83d\ude00"), 4);
  });
});
