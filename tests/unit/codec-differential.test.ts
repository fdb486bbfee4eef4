// Differential tests of the MQTT 3.1.1 codec against mqtt-packet 9 (protocolVersion 4)
// as an oracle:
//   (a) 10,000 seeded random valid packets of all 14 types, both ways;
//   (b) mqtt-packet-generated streams fed to our decoder one byte at a time;
//   (c) mqtt-packet's own must-reject fixtures (from node_modules/mqtt-packet/test.js);
//   (d) a seeded fuzz of random and bit-flipped inputs: our decoder returns packets or
//       throws MqttError, nothing else, and never accepts a packet that breaks a MUST.

import * as assert from "node:assert/strict";
import mqttPacket from "mqtt-packet";
import * as P from "../../modules/mqtt/packets.js";
import type { Packet, QoS } from "../../modules/mqtt/packets.js";
import { MqttError } from "../../modules/mqtt/errors.js";
import { encode } from "../../modules/mqtt/encode.js";
import { Decoder } from "../../modules/mqtt/decode.js";
import { prng as mulberry32, concat, ok, same, withoutStacks } from "./fakes.js";
import { makeGen } from "./random-packets.js";

// ---------------------------------------------------------------------------------------
// helpers


const hex = (b: Uint8Array): string =>
  Array.from(b.subarray(0, 48), (x) => x.toString(16).padStart(2, "0")).join(" ") + (b.length > 48 ? ` ... (${b.length} bytes)` : "");

/** A plain Uint8Array over a Buffer's bytes (our decoder returns views of what it is given). */
const plain = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);
const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.length);


const BIG = 1 << 20;



// ---------------------------------------------------------------------------------------
// mapping between our packet shape and mqtt-packet's

const CMD = ["", "connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp", "subscribe", "suback", "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect"] as const;

type Obj = Record<string, unknown>;

function toMqttPacketObj(p: Packet): mqttPacket.Packet {
  const cmd = CMD[p.type];
  let o: Obj;
  switch (p.type) {
    case P.CONNECT:
      o = { cmd, protocolId: "MQTT", protocolVersion: 4, clean: p.clean, keepalive: p.keepalive, clientId: p.clientId };
      if (p.will) o.will = { topic: p.will.topic, payload: Buffer.from(p.will.payload), qos: p.will.qos, retain: p.will.retain };
      if (p.username !== undefined) o.username = p.username;
      if (p.password !== undefined) o.password = Buffer.from(p.password);
      break;
    case P.CONNACK:
      o = { cmd, sessionPresent: p.sessionPresent, returnCode: p.returnCode };
      break;
    case P.PUBLISH:
      o = { cmd, topic: p.topic, payload: Buffer.from(p.payload), qos: p.qos, retain: p.retain, dup: p.dup };
      if (p.id !== undefined) o.messageId = p.id;
      break;
    case P.PUBACK: case P.PUBREC: case P.PUBREL: case P.PUBCOMP: case P.UNSUBACK:
      o = { cmd, messageId: p.id };
      break;
    case P.SUBSCRIBE:
      o = { cmd, messageId: p.id, subscriptions: p.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })) };
      break;
    case P.SUBACK:
      o = { cmd, messageId: p.id, granted: [...p.granted] };
      break;
    case P.UNSUBSCRIBE:
      o = { cmd, messageId: p.id, unsubscriptions: [...p.topics] };
      break;
    default:
      o = { cmd };
  }
  return o as unknown as mqttPacket.Packet;
}

/** mqtt-packet's parsed object in our shape; throws if it is not a 3.1.1 packet. */
function fromMqttPacket(m: Obj): Packet {
  const type = CMD.indexOf(m.cmd as (typeof CMD)[number]);
  assert.ok(type > 0, `unknown cmd ${String(m.cmd)}`);
  const id = m.messageId as number;
  switch (type) {
    case P.CONNECT: {
      assert.equal(m.protocolId, "MQTT");
      assert.equal(m.protocolVersion, 4);
      const p: P.ConnectPacket = { type: P.CONNECT, clientId: m.clientId as string, clean: m.clean as boolean, keepalive: m.keepalive as number };
      const will = m.will as Obj | undefined;
      if (will) p.will = { topic: will.topic as string, payload: plain(will.payload as Buffer), qos: will.qos as QoS, retain: will.retain as boolean };
      if (m.username !== undefined) p.username = m.username as string;
      if (m.password !== undefined) p.password = plain(m.password as Buffer);
      return p;
    }
    case P.CONNACK:
      return { type: P.CONNACK, sessionPresent: m.sessionPresent as boolean, returnCode: m.returnCode as number };
    case P.PUBLISH: {
      const p: P.PublishPacket = {
        type: P.PUBLISH, topic: m.topic as string, payload: plain(m.payload as Buffer), qos: m.qos as QoS, retain: m.retain as boolean, dup: m.dup as boolean,
      };
      if ((m.qos as number) > 0) p.id = id;
      return p;
    }
    case P.PUBACK: case P.PUBREC: case P.PUBREL: case P.PUBCOMP: case P.UNSUBACK:
      return { type, id } as Packet;
    case P.SUBSCRIBE:
      return { type: P.SUBSCRIBE, id, subscriptions: (m.subscriptions as Obj[]).map((s) => ({ topic: s.topic as string, qos: s.qos as QoS })) };
    case P.SUBACK:
      return { type: P.SUBACK, id, granted: [...(m.granted as number[])] };
    case P.UNSUBSCRIBE:
      return { type: P.UNSUBSCRIBE, id, topics: [...(m.unsubscriptions as string[])] };
    default:
      return { type } as Packet;
  }
}

interface TheirParse {
  packets: Obj[];
  error: string | null;
  remaining: number;
}

function parseWithMqttPacket(bytes: Uint8Array): TheirParse {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: Obj[] = [];
  let error: string | null = null;
  parser.on("packet", (pk) => packets.push(pk as unknown as Obj));
  parser.on("error", (e: unknown) => { error ??= e instanceof Error ? e.message : String(e); });
  let remaining = 0;
  try {
    remaining = parser.parse(asBuffer(bytes));
  } catch (e) {
    error ??= `threw: ${e instanceof Error ? e.message : String(e)}`;
  }
  return { packets, error, remaining };
}

interface OurParse {
  packets: Packet[];
  error: MqttError | null;
  buffered: number;
}

/** Our decoder over bytes cut at the given offsets; anything but MqttError is rethrown. */
function parseWithOurs(bytes: Uint8Array, cuts: number[] = [], maxPacketSize = BIG): OurParse {
  const d = new Decoder({ maxPacketSize });
  const packets: Packet[] = [];
  let prev = 0;
  try {
    for (const c of [...cuts, bytes.length]) {
      if (c < prev) continue;
      d.push(bytes.subarray(prev, c), packets);
      prev = c;
    }
  } catch (e) {
    if (!(e instanceof MqttError)) throw e;
    return { packets, error: e, buffered: d.buffered };
  }
  return { packets, error: null, buffered: d.buffered };
}

// ---------------------------------------------------------------------------------------
// (a) random valid packets, both ways

const SEED_A = 0xd1ff0001;
const CORPUS_SIZE = 10_000;

describe("codec vs mqtt-packet: differential", function () {
  this.timeout(60_000);

  const rnd = mulberry32(SEED_A);
  const gen = makeGen(rnd, { bigChance: 0.004, smallPayload: 120 });
  const corpus: { p: Packet; ours: Uint8Array; theirs: Uint8Array }[] = [];

  it(`(a) ${CORPUS_SIZE} seeded random valid packets: same bytes as mqtt-packet.generate, and each side parses the other's bytes`, () => {
    const perType = new Array<number>(15).fill(0);
    let big = 0;
    for (let i = 0; i < CORPUS_SIZE; i++) {
      const type = i < 14 * 20 ? 1 + (i % 14) : gen.int(1, 14);
      const p = gen.packet(type);
      const where = (): string => `seed ${SEED_A}, packet #${i} (${P.PACKET_NAMES[type]})`;
      perType[type]++;

      const ours = encode(p);
      const theirs = plain(mqttPacket.generate(toMqttPacketObj(p)));
      if (ours.length > 20_000) big++;
      ok(ours.length === theirs.length && Buffer.compare(ours, theirs) === 0, () => `${where()}: encode differs\n ours   ${hex(ours)}\n theirs ${hex(theirs)}`);

      // our decoder parses mqtt-packet's bytes to p
      const mine = parseWithOurs(theirs);
      ok(mine.error === null, () => `${where()}: our decoder rejected mqtt-packet's bytes ${hex(theirs)}: ${mine.error?.message}`);
      ok(mine.buffered === 0 && mine.packets.length === 1, where);
      same(mine.packets[0], p, where);

      // mqtt-packet's parser parses our bytes to the equivalent object
      const them = parseWithMqttPacket(ours);
      ok(them.error === null, () => `${where()}: mqtt-packet rejected our bytes ${hex(ours)}: ${them.error}`);
      ok(them.remaining === 0 && them.packets.length === 1, where);
      same(fromMqttPacket(them.packets[0]), p, where);

      corpus.push({ p, ours, theirs });
    }
    for (let t = 1; t <= 14; t++) assert.ok(perType[t] > 500, `${P.PACKET_NAMES[t]}: ${perType[t]}`);
    assert.ok(big >= 5, `large packets: ${big}`);
  });

  it("(b) mqtt-packet-generated streams fed to our decoder one byte at a time, and in seeded random splits", () => {
    assert.equal(corpus.length, CORPUS_SIZE, "runs after (a)");
    const small = corpus.filter((c) => c.theirs.length < 5000);
    // one byte at a time over the first 1500 small packets
    const subset = small.slice(0, 1500);
    const stream = concat(subset.map((c) => c.theirs));
    const d = new Decoder({ maxPacketSize: BIG });
    const out: Packet[] = [];
    for (let i = 0; i < stream.length; i++) d.push(stream.subarray(i, i + 1), out);
    assert.equal(d.buffered, 0);
    assert.equal(out.length, subset.length);
    for (let k = 0; k < subset.length; k++) assert.deepStrictEqual(out[k], subset[k].p, `byte by byte, packet ${k}`);

    // the whole corpus (large packets too) as one stream in seeded random splits
    const whole = concat(corpus.map((c) => c.theirs));
    const seed = SEED_A + 1;
    const r = mulberry32(seed);
    const cuts: number[] = [];
    for (let o = 0; ; ) {
      o += 1 + Math.floor(r() * (r() < 0.5 ? 8 : 4000));
      if (o >= whole.length) break;
      cuts.push(o);
    }
    const mine = parseWithOurs(whole, cuts);
    assert.equal(mine.error, null, `seed ${seed}`);
    assert.equal(mine.packets.length, corpus.length, `seed ${seed}`);
    for (let k = 0; k < corpus.length; k++) assert.deepStrictEqual(mine.packets[k], corpus[k].p, `seed ${seed}, packet ${k}`);
  });
});

// ---------------------------------------------------------------------------------------
// (c) mqtt-packet's own must-reject fixtures

interface TheirReject {
  /** Line of the testParseError(...) call in node_modules/mqtt-packet/test.js (9.0.2). */
  line: number;
  /** The error message mqtt-packet expects. */
  message: string;
  bytes: number[];
  /** Our verdict: code and clause. */
  code: "MALFORMED_PACKET" | "PACKET_TOO_LARGE";
  clause: string | undefined;
  note?: string;
}

const MQIsdp = [0, 6, 77, 81, 73, 115, 100, 112];
const MQTT4 = [0, 4, 0x4d, 0x51, 0x54, 0x54];

// Every testParseError(...) in node_modules/mqtt-packet/test.js whose bytes are a
// 3.1.1 must-reject (protocolVersion 4 or unspecified, plus the v5-option cases whose
// bytes are just as malformed under 3.1.1), and the "stops parsing after first error"
// stream. Fixtures written for MQTT 3.1 (protocol name "MQIsdp", or level 3) are kept:
// we reject them for their protocol name or level [MQTT-3.1.2-1/2], which is correct
// for a 3.1.1-only codec but hides the fault they were written for, so each has a 3.1.1
// counterpart in THEIR_REJECTS_ADAPTED below.
const THEIR_REJECTS: TheirReject[] = [
  { line: 231, message: "Not supported", bytes: [0, 1, 0], code: "MALFORMED_PACKET", clause: "MQTT-2.2.1" },
  { line: 234, message: "Invalid variable byte integer", bytes: [16, 255, 255, 255, 255], code: "MALFORMED_PACKET", clause: "MQTT-2.2.3" },
  { line: 237, message: "Invalid variable byte integer", bytes: [16, 255, 255, 255, 128], code: "MALFORMED_PACKET", clause: "MQTT-2.2.3" },
  { line: 240, message: "Invalid variable byte integer", bytes: [16, 255, 255, 255, 255, 1], code: "MALFORMED_PACKET", clause: "MQTT-2.2.3" },
  { line: 243, message: "Invalid variable byte integer", bytes: [16, 255, 255, 255, 255, 127], code: "MALFORMED_PACKET", clause: "MQTT-2.2.3" },
  { line: 246, message: "Invalid variable byte integer", bytes: [16, 255, 255, 255, 255, 128], code: "MALFORMED_PACKET", clause: "MQTT-2.2.3" },
  { line: 249, message: "Invalid variable byte integer", bytes: [16, 255, 255, 255, 255, 255, 1], code: "MALFORMED_PACKET", clause: "MQTT-2.2.3" },
  { line: 1150, message: "Cannot parse protocolId", bytes: [16, 4, 0, 6, 77, 81], code: "MALFORMED_PACKET", clause: "MQTT-1.5.3" },
  // missing protocol version (3.1 fixture)
  { line: 1157, message: "Packet too short", bytes: [16, 8, ...MQIsdp], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-1", note: "MQIsdp" },
  // missing keepalive (3.1 fixture)
  { line: 1164, message: "Packet too short", bytes: [16, 10, ...MQIsdp, 3, 246], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-1", note: "MQIsdp" },
  // missing client id (3.1 fixture; its remaining length is 10, so "0, 30" start a second packet)
  { line: 1173, message: "Packet too short", bytes: [16, 10, ...MQIsdp, 3, 246, 0, 30], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-1", note: "MQIsdp" },
  { line: 1183, message: "Cannot parse will topic", bytes: [16, 16, ...MQIsdp, 3, 246, 0, 30, 0, 2, 0, 0], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-1", note: "MQIsdp" },
  {
    line: 1195, message: "Cannot parse will payload",
    bytes: [16, 23, ...MQIsdp, 3, 246, 0, 30, 0, 5, 116, 111, 112, 105, 99, 0, 2, 0, 0],
    code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-1", note: "MQIsdp",
  },
  {
    line: 1209, message: "Cannot parse username",
    bytes: [16, 32, ...MQIsdp, 3, 246, 0, 30, 0, 5, 116, 111, 112, 105, 99, 0, 7, 112, 97, 121, 108, 111, 97, 100, 0, 2, 0, 0],
    code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-1", note: "MQIsdp",
  },
  {
    line: 1225, message: "Cannot parse password",
    bytes: [16, 42, ...MQIsdp, 3, 246, 0, 30, 0, 5, 116, 111, 112, 105, 99, 0, 7, 112, 97, 121, 108, 111, 97, 100, 0, 8, 117, 115, 101, 114, 110, 97, 109, 101, 0, 2, 0, 0],
    code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-1", note: "MQIsdp",
  },
  { line: 1243, message: "Invalid header flag bits, must be 0x0 for connect packet", bytes: [18, 10, ...MQTT4, 3, 2, 0, 30], code: "MALFORMED_PACKET", clause: "MQTT-2.2.2-1" },
  { line: 1253, message: "Connect flag bit 0 must be 0, but got 1", bytes: [16, 10, ...MQTT4, 3, 3, 0, 30], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-2", note: "level 3" },
  { line: 1263, message: "Will Retain Flag must be set to zero when Will Flag is set to 0", bytes: [16, 10, ...MQTT4, 3, 0x22, 0, 30], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-2", note: "level 3" },
  { line: 1273, message: "Will QoS must be set to zero when Will Flag is set to 0", bytes: [16, 10, ...MQTT4, 3, 0x12, 0, 30], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-2", note: "level 3" },
  { line: 1283, message: "Will QoS must be set to zero when Will Flag is set to 0", bytes: [16, 10, ...MQTT4, 3, 0xa, 0, 30], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-2", note: "level 3" },
  // v5 fixture (CONNECT level 5): its remaining length 8 ends before the keepalive, which we
  // report before looking at the level
  { line: 1294, message: "Packet too short", bytes: [16, 8, ...MQTT4, 5, 2, 0, 0, 0, 0, 0], code: "MALFORMED_PACKET", clause: undefined, note: "v5 opts" },
  // empty SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK: parsed with v5 options there, equally malformed in 3.1.1
  { line: 1307, message: "Malformed subscribe, no payload specified", bytes: [130, 0], code: "MALFORMED_PACKET", clause: undefined, note: "v5 opts" },
  { line: 1312, message: "Malformed suback, no payload specified", bytes: [144, 0], code: "MALFORMED_PACKET", clause: undefined, note: "v5 opts" },
  { line: 1317, message: "Malformed unsubscribe, no payload specified", bytes: [162, 0], code: "MALFORMED_PACKET", clause: undefined, note: "v5 opts" },
  { line: 1322, message: "Malformed unsuback, no payload specified", bytes: [176, 0], code: "MALFORMED_PACKET", clause: undefined, note: "v5 opts" },
  { line: 1327, message: "Malformed unsuback, payload length must be 2", bytes: [176, 1, 1], code: "MALFORMED_PACKET", clause: undefined },
  // (line 1333 is the same bytes with protocolVersion 3: a duplicate, left out)
  { line: 1479, message: "Invalid header flag bits, must be 0x0 for connack packet", bytes: [33, 2, 0, 5], code: "MALFORMED_PACKET", clause: "MQTT-2.2.2-1" },
  { line: 1486, message: "Invalid connack flags, bits 7-1 must be set to 0", bytes: [32, 2, 2, 5], code: "MALFORMED_PACKET", clause: "MQTT-3.2.2-1" },
  { line: 1739, message: "Packet must not have both QoS bits set to 1", bytes: [0x36, 6, 0, 4, 116, 101, 115, 116], code: "MALFORMED_PACKET", clause: "MQTT-3.3.1-4" },
  { line: 1882, message: "Invalid header flag bits, must be 0x0 for puback packet", bytes: [65, 2, 0, 2], code: "MALFORMED_PACKET", clause: "MQTT-2.2.2-1" },
  // v5 reason-code fixtures: in 3.1.1 the acks have remaining length 2, so 4 is malformed
  { line: 1938, message: "Invalid puback reason code", bytes: [64, 4, 0, 2, 0x11, 0], code: "MALFORMED_PACKET", clause: undefined, note: "v5 opts" },
  { line: 1958, message: "Invalid header flag bits, must be 0x0 for pubrec packet", bytes: [81, 2, 0, 2], code: "MALFORMED_PACKET", clause: "MQTT-2.2.2-1" },
  { line: 1998, message: "Invalid pubrel reason code", bytes: [98, 4, 0, 2, 0x11, 0], code: "MALFORMED_PACKET", clause: undefined, note: "v5 opts" },
  { line: 2006, message: "Invalid header flag bits, must be 0x2 for pubrel packet", bytes: [96, 2, 0, 2], code: "MALFORMED_PACKET", clause: "MQTT-3.6.1-1" },
  { line: 2034, message: "Invalid pubrel reason code", bytes: [98, 4, 0, 2, 16, 0], code: "MALFORMED_PACKET", clause: undefined, note: "v5 opts" },
  { line: 2054, message: "Invalid header flag bits, must be 0x0 for pubcomp packet", bytes: [113, 2, 0, 2], code: "MALFORMED_PACKET", clause: "MQTT-2.2.2-1" },
  { line: 2082, message: "Invalid pubcomp reason code", bytes: [112, 4, 0, 2, 16, 0], code: "MALFORMED_PACKET", clause: undefined, note: "v5 opts" },
  { line: 2089, message: "Invalid header flag bits, must be 0x2 for subscribe packet", bytes: [128, 9, 0, 6, 0, 4, 116, 101, 115, 116, 0], code: "MALFORMED_PACKET", clause: "MQTT-3.8.1-1" },
  { line: 2118, message: "Invalid subscribe QoS, must be <= 2", bytes: [130, 9, 0, 6, 0, 4, 116, 101, 115, 116, 3], code: "MALFORMED_PACKET", clause: "MQTT-3.8.3-4" },
  // v5 subscription-option fixtures: read as 3.1.1 the property-length byte makes the filter empty
  { line: 2126, message: "Invalid subscribe topic flag bits, bits 7-6 must be 0", bytes: [130, 10, 0, 6, 0, 0, 4, 116, 101, 115, 116, 0x80], code: "MALFORMED_PACKET", clause: "MQTT-4.7.3-1", note: "v5 opts" },
  { line: 2135, message: "Invalid retain handling, must be <= 2", bytes: [130, 10, 0, 6, 0, 0, 4, 116, 101, 115, 116, 0x30], code: "MALFORMED_PACKET", clause: "MQTT-4.7.3-1", note: "v5 opts" },
  { line: 2144, message: "Invalid subscribe topic flag bits, bits 7-2 must be 0", bytes: [130, 9, 0, 6, 0, 4, 116, 101, 115, 116, 0x08], code: "MALFORMED_PACKET", clause: "MQTT-3.8.3-4" },
  { line: 2299, message: "Invalid suback QoS, must be 0, 1, 2 or 128", bytes: [144, 6, 0, 6, 0, 1, 2, 3], code: "MALFORMED_PACKET", clause: "MQTT-3.9.3-2" },
  { line: 2305, message: "Invalid suback code", bytes: [144, 6, 0, 6, 0, 1, 2, 0x79], code: "MALFORMED_PACKET", clause: "MQTT-3.9.3-2", note: "v5 opts" },
  {
    line: 2355, message: "Invalid header flag bits, must be 0x2 for unsubscribe packet",
    bytes: [160, 14, 0, 7, 0, 4, 116, 102, 115, 116, 0, 4, 116, 101, 115, 116], code: "MALFORMED_PACKET", clause: "MQTT-3.10.1-1",
  },
  { line: 2424, message: "Invalid header flag bits, must be 0x0 for unsuback packet", bytes: [177, 2, 0, 8], code: "MALFORMED_PACKET", clause: "MQTT-2.2.2-1" },
  { line: 2452, message: "Invalid unsuback code", bytes: [176, 4, 0, 8, 0, 0x84], code: "MALFORMED_PACKET", clause: undefined, note: "v5 opts" },
  { line: 2470, message: "Invalid header flag bits, must be 0x0 for pingreq packet", bytes: [193, 0], code: "MALFORMED_PACKET", clause: "MQTT-2.2.2-1" },
  { line: 2485, message: "Invalid header flag bits, must be 0x0 for pingresp packet", bytes: [209, 0], code: "MALFORMED_PACKET", clause: "MQTT-2.2.2-1" },
  { line: 2500, message: "Invalid header flag bits, must be 0x0 for disconnect packet", bytes: [225, 0], code: "MALFORMED_PACKET", clause: "MQTT-2.2.2-1" },
  // v5 DISCONNECT with a reason code: remaining length 2 is malformed in 3.1.1
  { line: 2542, message: "Invalid disconnect reason code", bytes: [224, 2, 0x05, 0], code: "MALFORMED_PACKET", clause: undefined, note: "v5 opts" },
  // v5 AUTH (type 15): a reserved type in 3.1.1
  { line: 2573, message: "Invalid auth reason code", bytes: [240, 2, 0x17, 0], code: "MALFORMED_PACKET", clause: "MQTT-2.2.1", note: "v5 opts" },
  { line: 2912, message: "Packet too short", bytes: [16, 9, ...MQIsdp, 3], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-1", note: "MQIsdp" },
  {
    line: 2922, message: "Invalid protocolId",
    bytes: [16, 18, 0, 6, 65, 65, 65, 65, 65, 65, 3, 0, 0, 10, 0, 4, 116, 101, 115, 116], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-1",
  },
  {
    line: 2935, message: "Invalid protocol version",
    bytes: [16, 18, ...MQIsdp, 1, 0, 0, 10, 0, 4, 116, 101, 115, 116], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-1", note: "MQIsdp",
  },
  {
    line: 2953, message: "Cannot parse protocolId",
    bytes: [16, 8, 0, 15, ...[1, 2, 3, 4, 5, 6, 7, 8].flatMap(() => [77, 81, 73, 115, 100, 112])], code: "MALFORMED_PACKET", clause: "MQTT-1.5.3",
  },
  {
    line: 2983, message: "Not supported auth packet for this version MQTT",
    bytes: [240, 36, 0, 34, 21, 0, 4, 116, 101, 115, 116, 22, 0, 4, 0, 1, 2, 3, 31, 0, 4, 116, 101, 115, 116, 38, 0, 4, 116, 101, 115, 116, 0, 4, 116, 101, 115, 116],
    code: "MALFORMED_PACKET", clause: "MQTT-2.2.1",
  },
  // the filter's length (10) swallows the QoS byte, so our decoder sees U+0000 in the filter first
  {
    line: 2996, message: "Malformed Subscribe Payload",
    bytes: [130, 14, 0, 123, 0, 10, 104, 105, 106, 107, 108, 47, 109, 110, 111, 0], code: "MALFORMED_PACKET", clause: "MQTT-1.5.3-2",
  },
];

// Left out of THEIR_REJECTS, and why:
//   line 1333 'Malformed unsuback, payload length must be 2' with protocolVersion 3: same bytes as line 1327.
//   line 2966 'Unknown property' (v5 PUBLISH with an unknown property id): only about v5 properties; read
//     as 3.1.1 the bytes are a VALID PUBLISH (the property block is just payload), checked below.
//   test 'Cannot parse property code type' (line 3004): a v5 CONNECT (level 5) about v5 properties.
const LINE_2966_UNKNOWN_PROPERTY = [
  61, 60, 0, 4, 116, 101, 115, 116, 0, 10, 47, 126, 1, 2, 0, 0, 16, 225, 35, 0, 100, 8, 0, 5, 116, 111, 112, 105, 99,
  9, 0, 4, 1, 2, 3, 4, 38, 0, 4, 116, 101, 115, 116, 0, 4, 116, 101, 115, 116, 11, 120, 3, 0, 4, 116, 101, 115, 116, 116, 101, 115, 116,
];

// 3.1.1 counterparts of the fixtures above that were written for MQTT 3.1 or level 3:
// the same fault in a CONNECT with protocol name "MQTT" and level 4.
const THEIR_REJECTS_ADAPTED: TheirReject[] = [
  { line: 1157, message: "Packet too short (missing protocol level)", bytes: [16, 6, ...MQTT4], code: "MALFORMED_PACKET", clause: undefined },
  { line: 1164, message: "Packet too short (missing keepalive)", bytes: [16, 8, ...MQTT4, 4, 246], code: "MALFORMED_PACKET", clause: undefined },
  { line: 1173, message: "Packet too short (missing client id)", bytes: [16, 10, ...MQTT4, 4, 246, 0, 30], code: "MALFORMED_PACKET", clause: undefined },
  { line: 1183, message: "Cannot parse will topic", bytes: [16, 14, ...MQTT4, 4, 246, 0, 30, 0, 2, 97, 98], code: "MALFORMED_PACKET", clause: undefined },
  {
    line: 1195, message: "Cannot parse will payload",
    bytes: [16, 21, ...MQTT4, 4, 246, 0, 30, 0, 2, 97, 98, 0, 5, 116, 111, 112, 105, 99], code: "MALFORMED_PACKET", clause: undefined,
  },
  {
    line: 1209, message: "Cannot parse username",
    bytes: [16, 32, ...MQTT4, 4, 246, 0, 30, 0, 2, 97, 98, 0, 5, 116, 111, 112, 105, 99, 0, 7, 112, 97, 121, 108, 111, 97, 100, 0, 2],
    code: "MALFORMED_PACKET", clause: "MQTT-1.5.3",
  },
  {
    line: 1225, message: "Cannot parse password",
    bytes: [16, 42, ...MQTT4, 4, 246, 0, 30, 0, 2, 97, 98, 0, 5, 116, 111, 112, 105, 99, 0, 7, 112, 97, 121, 108, 111, 97, 100, 0, 8, 117, 115, 101, 114, 110, 97, 109, 101, 0, 2],
    code: "MALFORMED_PACKET", clause: undefined,
  },
  { line: 1253, message: "Connect flag bit 0 must be 0, but got 1", bytes: [16, 10, ...MQTT4, 4, 3, 0, 30], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-3" },
  { line: 1263, message: "Will Retain Flag must be set to zero when Will Flag is set to 0", bytes: [16, 10, ...MQTT4, 4, 0x22, 0, 30], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-15" },
  { line: 1273, message: "Will QoS must be set to zero when Will Flag is set to 0", bytes: [16, 10, ...MQTT4, 4, 0x12, 0, 30], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-13" },
  { line: 1283, message: "Will QoS must be set to zero when Will Flag is set to 0", bytes: [16, 10, ...MQTT4, 4, 0xa, 0, 30], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-13" },
  { line: 2912, message: "Packet too short", bytes: [16, 7, ...MQTT4, 4], code: "MALFORMED_PACKET", clause: undefined },
  {
    line: 2935, message: "Invalid protocol version",
    bytes: [16, 16, ...MQTT4, 1, 0, 0, 10, 0, 4, 116, 101, 115, 116], code: "MALFORMED_PACKET", clause: "MQTT-3.1.2-2",
  },
];

describe("codec vs mqtt-packet: mqtt-packet's must-reject fixtures", () => {
  for (const [table, label] of [[THEIR_REJECTS, "test.js"], [THEIR_REJECTS_ADAPTED, "3.1.1 counterpart of test.js"]] as const) {
    for (const f of table) {
      it(`${label} line ${f.line}: '${f.message}'${f.note ? ` (${f.note})` : ""} -> ${f.clause ?? "no clause"}`, () => {
        const bytes = Uint8Array.from(f.bytes);
        const what = `line ${f.line} ${hex(bytes)}`;
        for (const cuts of [[], Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)]) {
          const mine = parseWithOurs(bytes, cuts);
          assert.ok(mine.error, `${what}: accepted ${JSON.stringify(mine.packets)} (buffered ${mine.buffered})`);
          assert.equal(mine.error.code, f.code, `${what}: ${mine.error.message}`);
          assert.equal(mine.error.clause, f.clause, `${what}: ${mine.error.message}`);
          assert.equal(mine.packets.length, 0, what);
        }
        if (label === "test.js" && f.note !== "v5 opts") {
          // mqtt-packet (protocolVersion 4) rejects them too, with the message its test expects
          const them = parseWithMqttPacket(bytes);
          const expected = f.message.replace(/ \(.*\)$/, "");
          assert.equal(them.error, expected, `${what}: mqtt-packet said ${them.error}`);
        }
      });
    }
  }

  it("test.js line 2966 ('Unknown property', v5 only) is a valid 3.1.1 PUBLISH, so it is not a must-reject", () => {
    const bytes = Uint8Array.from(LINE_2966_UNKNOWN_PROPERTY);
    const mine = parseWithOurs(bytes);
    assert.equal(mine.error, null);
    assert.equal(mine.packets.length, 1);
    const p = mine.packets[0] as P.PublishPacket;
    assert.deepStrictEqual({ ...p, payload: undefined }, { type: P.PUBLISH, topic: "test", qos: 2, retain: true, dup: true, id: 10, payload: undefined });
    assert.equal(p.payload.length, 60 - 6 - 2);
    assert.equal(parseWithMqttPacket(bytes).error, null, "mqtt-packet agrees with protocolVersion 4");
  });

  it("test.js 'stops parsing after first error': the CONNECT before a SUBSCRIBE with flags 0 is delivered, then MQTT-3.8.1-1", () => {
    const stream = Uint8Array.from([
      16, 12, 0, 4, 77, 81, 84, 84, 4, 2, 0, 30, 0, 0,
      128, 9, 0, 6, 0, 4, 116, 101, 115, 116, 0,
      128, 9, 0, 6, 0, 4, 116, 101, 115, 116, 0,
      224, 0,
    ]);
    const mine = parseWithOurs(stream);
    assert.ok(mine.error && mine.error.code === "MALFORMED_PACKET" && mine.error.clause === "MQTT-3.8.1-1", String(mine.error));
    assert.deepStrictEqual(mine.packets, [{ type: P.CONNECT, clientId: "", clean: true, keepalive: 30 }]);
  });
});

// ---------------------------------------------------------------------------------------
// (d) fuzz

/**
 * Complete frames at the start of bytes, found independently of the decoder: [start,
 * headerLength, remainingLength] for each packet whose bytes are all present.
 */
function frames(bytes: Uint8Array): [number, number, number][] {
  const out: [number, number, number][] = [];
  let pos = 0;
  for (;;) {
    let rl = 0, mul = 1, i = 1, ok = false;
    for (; i <= 4 && pos + i < bytes.length; i++) {
      rl += (bytes[pos + i] & 0x7f) * mul;
      mul *= 128;
      if ((bytes[pos + i] & 0x80) === 0) { ok = true; break; }
    }
    if (!ok || pos + 1 + i + rl > bytes.length) return out;
    out.push([pos, 1 + i, rl]);
    pos += 1 + i + rl;
  }
}

const ID_TYPES = new Set<number>([P.PUBACK, P.PUBREC, P.PUBREL, P.PUBCOMP, P.SUBSCRIBE, P.SUBACK, P.UNSUBSCRIBE, P.UNSUBACK]);
/** Required header flags for the types with fixed flags (Table 2.2). */
const FIXED_FLAGS: Record<number, number> = { 1: 0, 2: 0, 4: 0, 5: 0, 6: 2, 7: 0, 8: 2, 9: 0, 10: 2, 11: 0, 12: 0, 13: 0, 14: 0 };

/**
 * The 3.1.1 MUSTs a packet the decoder ACCEPTED is checked against. Two independent
 * layers:
 *  1. raw-byte checks on the frame, written here without the codec:
 *     reserved types 0/15 [MQTT-2.2.1]; fixed header flags [MQTT-2.2.2-1, MQTT-3.6.1-1,
 *     MQTT-3.8.1-1, MQTT-3.10.1-1]; PUBLISH QoS 3 [MQTT-3.3.1-4]; DUP on QoS 0
 *     [MQTT-3.3.1-2]; non-zero packet identifiers [MQTT-2.3.1-1]; remaining length 2 for
 *     PUBACK/PUBREC/PUBREL/PUBCOMP/UNSUBACK/CONNACK and 0 for PINGREQ/PINGRESP/DISCONNECT;
 *     CONNACK reserved bits [MQTT-3.2.2-1]; CONNECT protocol name/level/reserved flag
 *     [MQTT-3.1.2-1/2/3].
 *  2. re-encoding: encode(packet) must succeed and reproduce the frame byte for byte
 *     (the remaining length compared by value, since 3.1.1 does not require its minimal
 *     encoding). The encoder enforces, independently of the decoder: well-formed UTF-8
 *     without surrogates or U+0000 [MQTT-1.5.3-1/2] (and any lenient decoding would change
 *     the bytes); topic names without wildcards and non-empty [MQTT-3.3.2-2, MQTT-4.7.3-1];
 *     filter wildcards [MQTT-4.7.1-2/3]; QoS 0..2 [MQTT-3.3.1-4, MQTT-3.8.3-4,
 *     MQTT-3.1.2-14]; packet ids 1..65535 [MQTT-2.3.1-1]; non-empty SUBSCRIBE/UNSUBSCRIBE/
 *     SUBACK payloads [MQTT-3.8.3-3, MQTT-3.10.3-2, MQTT-3.9.3-1]; SUBACK codes
 *     [MQTT-3.9.3-2]; CONNACK codes and session present [MQTT-3.2.2-4]; password only with
 *     a username [MQTT-3.1.2-22]; and byte equality covers the will flags
 *     [MQTT-3.1.2-11/13/15], the SUBSCRIBE QoS byte's reserved bits [MQTT-3.8.3-4] and
 *     trailing bytes.
 *  One exception: a CONNECT with an empty client id and CleanSession 0 is accepted by the
 *  decoder (the server must answer it with CONNACK 0x02 [MQTT-3.1.3-8], it is not
 *  malformed) but refused by the encoder (a client must not send it [MQTT-3.1.3-7]).
 */
function mustViolation(packet: Packet, frame: Uint8Array, headerLength: number, rl: number): string | null {
  const type = frame[0] >> 4, flags = frame[0] & 15;
  if (type === 0 || type === 15) return "MQTT-2.2.1 reserved type";
  if (type === P.PUBLISH) {
    if (((flags >> 1) & 3) === 3) return "MQTT-3.3.1-4";
    if ((flags & 8) && ((flags >> 1) & 3) === 0) return "MQTT-3.3.1-2";
    if (((flags >> 1) & 3) > 0) {
      const tl = (frame[headerLength] << 8) | frame[headerLength + 1];
      const at = headerLength + 2 + tl;
      if (((frame[at] << 8) | frame[at + 1]) === 0) return "MQTT-2.3.1-1 (PUBLISH)";
    }
  } else if (FIXED_FLAGS[type] !== flags) return "MQTT-2.2.2-1 flags";
  if (ID_TYPES.has(type) && ((frame[headerLength] << 8) | frame[headerLength + 1]) === 0) return "MQTT-2.3.1-1";
  if ([P.PUBACK, P.PUBREC, P.PUBREL, P.PUBCOMP, P.UNSUBACK, P.CONNACK].includes(type) && rl !== 2) return "remaining length must be 2";
  if ([P.PINGREQ, P.PINGRESP, P.DISCONNECT].includes(type) && rl !== 0) return "remaining length must be 0";
  if (type === P.CONNACK && frame[headerLength] > 1) return "MQTT-3.2.2-1";
  if (type === P.CONNECT) {
    const h = headerLength;
    const name = [0, 4, 0x4d, 0x51, 0x54, 0x54];
    if (!name.every((b, i) => frame[h + i] === b)) return "MQTT-3.1.2-1";
    if (frame[h + 6] !== 4) return "MQTT-3.1.2-2";
    if (frame[h + 7] & 1) return "MQTT-3.1.2-3";
  }
  // layer 2
  let again: Uint8Array;
  try {
    again = encode(packet);
  } catch (e) {
    if (packet.type === P.CONNECT && packet.clientId === "" && !packet.clean && e instanceof MqttError && e.clause === "MQTT-3.1.3-7") return null;
    return `encode refuses the decoded packet: ${e instanceof Error ? e.message : String(e)}`;
  }
  const againFrames = frames(again);
  if (againFrames.length !== 1) return "re-encoding is not one frame";
  const [, h2, rl2] = againFrames[0];
  if (again[0] !== frame[0]) return `re-encoded first byte ${again[0]} != ${frame[0]}`;
  if (rl2 !== rl) return `re-encoded remaining length ${rl2} != ${rl}`;
  if (Buffer.compare(again.subarray(h2), frame.subarray(headerLength)) !== 0) return "re-encoded body differs";
  return null;
}

describe("codec vs mqtt-packet: fuzz", function () {
  this.timeout(60_000);
  const SEED_D = 0xf022;
  const FUZZ_RANDOM = 20_000;
  const FUZZ_MUTATED = 20_000;

  type Verdict = "accept" | "reject" | "incomplete";
  const tally = {
    randomAccepted: 0, randomRejected: 0, randomIncomplete: 0,
    mutatedAccepted: 0, mutatedRejected: 0, mutatedIncomplete: 0,
    weRejectTheyAccept: 0, weAcceptTheyReject: 0, clientIdException: 0,
  };
  const weRejectByClause = new Map<string, number>();
  const weAcceptTheyRejectSamples: string[] = [];

  /** Runs one input through our decoder (whole and split), checks it, returns our verdict. */
  function check(input: Uint8Array, where: () => string, rnd: () => number): Verdict {
    let whole: OurParse;
    try {
      whole = parseWithOurs(input, [], 64 * 1024);
    } catch (e) {
      assert.fail(`${where()}: the decoder threw a non-MqttError ${String(e)} on ${hex(input)}`);
    }
    // the same result when the input is cut at a random point (and at 1)
    for (const cut of [1, 1 + Math.floor(rnd() * Math.max(1, input.length - 1))]) {
      let split: OurParse;
      try {
        split = parseWithOurs(input, [cut], 64 * 1024);
      } catch (e) {
        assert.fail(`${where()}: the decoder threw a non-MqttError ${String(e)} on ${hex(input)} cut at ${cut}`);
      }
      same(split.packets, whole.packets, () => `${where()}: cut at ${cut} changes the packets, ${hex(input)}`);
      same([split.error?.code, split.error?.clause], [whole.error?.code, whole.error?.clause], () => `${where()}: cut at ${cut} changes the error, ${hex(input)}`);
    }
    // every packet we accepted obeys the MUSTs
    const fr = frames(input);
    ok(whole.packets.length <= fr.length, () => `${where()}: more packets than frames`);
    for (let k = 0; k < whole.packets.length; k++) {
      const [start, hl, rl] = fr[k];
      const frame = input.subarray(start, start + hl + rl);
      const p = whole.packets[k];
      const v = mustViolation(p, frame, hl, rl);
      ok(v === null, () => `${where()}: accepted a packet that breaks a MUST (${v}): ${hex(frame)} -> ${JSON.stringify(p)}`);
      if (p.type === P.CONNECT && p.clientId === "" && !p.clean) tally.clientIdException++;
    }
    if (whole.error) {
      weRejectByClause.set(whole.error.clause ?? whole.error.code, (weRejectByClause.get(whole.error.clause ?? whole.error.code) ?? 0) + 1);
      return "reject";
    }
    return whole.packets.length > 0 && whole.buffered === 0 ? "accept" : "incomplete";
  }

  function theirVerdict(input: Uint8Array): Verdict {
    const t = parseWithMqttPacket(input);
    if (t.error) return "reject";
    return t.packets.length > 0 && t.remaining === 0 ? "accept" : "incomplete";
  }

  it(`${FUZZ_RANDOM} seeded random byte strings: packets or MqttError, never anything else`, () => {
    const rnd = mulberry32(SEED_D);
    withoutStacks(() => fuzzRandom(rnd));
    assert.ok(tally.randomAccepted > 100, `some random inputs are valid packets: ${tally.randomAccepted}`);
    assert.ok(tally.randomRejected > 5000, `rejected ${tally.randomRejected}`);
  });

  function fuzzRandom(rnd: () => number): void {
    const firsts = [0x10, 0x20, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x3a, 0x3b, 0x3c, 0x3d, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90, 0xa2, 0xb0, 0xc0, 0xd0, 0xe0];
    for (let k = 0; k < FUZZ_RANDOM; k++) {
      const n = Math.floor(rnd() * 48);
      const input = new Uint8Array(n);
      for (let i = 0; i < n; i++) input[i] = (rnd() * 256) | 0;
      // half of them look like a packet: a plausible first byte and a matching remaining length
      if (n >= 2 && rnd() < 0.5) {
        input[0] = firsts[Math.floor(rnd() * firsts.length)];
        input[1] = n - 2;
        // and often a plausible string length prefix at the start of the variable header
        if (n >= 4 && rnd() < 0.5) { input[2] = 0; input[3] = Math.floor(rnd() * (n - 3)); }
      }
      const v = check(input, () => `seed ${SEED_D}, random input #${k}`, rnd);
      if (v === "accept") tally.randomAccepted++;
      else if (v === "reject") tally.randomRejected++;
      else tally.randomIncomplete++;
    }
  }

  it(`${FUZZ_MUTATED} valid packets with one random bit flipped: packets or MqttError; disagreements with mqtt-packet counted`, () => {
    const rnd = mulberry32(SEED_D + 1);
    const gen = makeGen(rnd, { bigChance: 0, smallPayload: 12 });
    withoutStacks(() => fuzzMutated(rnd, gen));
    assert.ok(tally.mutatedRejected > 2000, `rejected ${tally.mutatedRejected}`);
  });

  function fuzzMutated(rnd: () => number, gen: ReturnType<typeof makeGen>): void {
    for (let k = 0; k < FUZZ_MUTATED; k++) {
      const p = gen.packet(1 + (k % 14));
      const input = encode(p).slice();
      const bit = Math.floor(rnd() * input.length * 8);
      input[bit >> 3] ^= 1 << (bit & 7);
      const where = (): string => `seed ${SEED_D + 1}, mutation #${k} (${P.PACKET_NAMES[p.type]}, bit ${bit})`;
      const ours = check(input, where, rnd);
      if (ours === "accept") tally.mutatedAccepted++;
      else if (ours === "reject") tally.mutatedRejected++;
      else tally.mutatedIncomplete++;
      const theirs = theirVerdict(input);
      if (ours === "reject" && theirs === "accept") tally.weRejectTheyAccept++;
      if (ours === "accept" && theirs === "reject") {
        tally.weAcceptTheyReject++;
        if (weAcceptTheyRejectSamples.length < 5) weAcceptTheyRejectSamples.push(`${where()}: ${hex(input)} (mqtt-packet: ${parseWithMqttPacket(input).error})`);
      }
    }
  }

  after(() => {
    const clauses = [...weRejectByClause.entries()].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c}: ${n}`).join(", ");
    console.log(
      `      fuzz (seed ${SEED_D}): random ${FUZZ_RANDOM} -> accepted ${tally.randomAccepted}, rejected ${tally.randomRejected}, incomplete ${tally.randomIncomplete}; ` +
      `bit-flipped ${FUZZ_MUTATED} -> accepted ${tally.mutatedAccepted}, rejected ${tally.mutatedRejected}, incomplete ${tally.mutatedIncomplete}\n` +
      `      disagreements with mqtt-packet on bit-flipped inputs: we reject / it accepts ${tally.weRejectTheyAccept}, we accept / it rejects ${tally.weAcceptTheyReject}` +
      (weAcceptTheyRejectSamples.length ? `\n        ${weAcceptTheyRejectSamples.join("\n        ")}` : "") +
      `\n      accepted CONNECTs with an empty client id and CleanSession 0 (MQTT-3.1.3-8 case): ${tally.clientIdException}` +
      `\n      our rejections by clause: ${clauses}`,
    );
  });
});
