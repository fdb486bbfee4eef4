// MQTT 3.1.1 encoder: each packet into one exactly-sized Uint8Array, or for PUBLISH a
// header that the payload view follows, so large payloads are never copied.

import * as P from "./packets.js";
import type { Packet, PublishPacket, ConnectPacket, SubscribePacket, UnsubscribePacket } from "./packets.js";
import { MqttError } from "./errors.js";
import { utf8Length, writeAscii, writeUtf8 } from "./utf8.js";
import { JIT, allocate } from "./bytes.js";
import { topicNameError, topicFilterError } from "./topic.js";

/** Largest remaining length four bytes can express [MQTT-2.2.3]. */
export const MAX_REMAINING_LENGTH = 268_435_455;

function invalid(message: string, clause?: string): MqttError {
  return new MqttError("INVALID_ARGUMENT", message, clause);
}

function checkId(id: number): void {
  if (!(id >= 1 && id <= 0xffff && (id | 0) === id)) throw invalid(`packet identifier ${id} out of range 1..65535`, "MQTT-2.3.1-1");
}

function checkQos(qos: number, clause = "MQTT-3.3.1-4"): void {
  if (qos !== 0 && qos !== 1 && qos !== 2) throw invalid(`QoS ${qos} is not 0, 1 or 2`, clause);
}

function stringLength(str: string): number {
  const n = utf8Length(str);
  if (n > 0xffff) throw invalid("string longer than 65535 bytes", "MQTT-1.5.3");
  return n;
}

function lengthOfLength(rl: number): number {
  if (rl > MAX_REMAINING_LENGTH) throw invalid(`packet of ${rl} bytes exceeds the MQTT maximum`, "MQTT-2.2.3");
  return rl < 128 ? 1 : rl < 16_384 ? 2 : rl < 2_097_152 ? 3 : 4;
}

/** A remaining length of 128 or more, from out[1]; returns the offset after it. */
function writeLength(out: Uint8Array, rl: number): number {
  let o = 1;
  do {
    let digit = rl % 128;
    rl = Math.floor(rl / 128);
    if (rl > 0) digit |= 0x80;
    out[o++] = digit;
  } while (rl > 0);
  return o;
}

/**
 * A packet's buffer with its fixed header written: the rest starts at out.length - rl.
 * (Not an [out, start] tuple: XS destructures an array through its iterator, ~80 computrons.)
 */
function packet(first: number, rl: number): Uint8Array {
  const n = (rl < 128 ? 2 : 1 + lengthOfLength(rl)) + rl;
  const out = JIT ? allocate(n) : new Uint8Array(n); // XS: no call, see bytes.ts
  out[0] = first;
  if (rl < 128) out[1] = rl;
  else writeLength(out, rl);
  return out;
}

/** Writes str, whose UTF-8 length (from stringLength, so validated) is length, with its length prefix. */
function writeString(str: string, length: number, out: Uint8Array, o: number): number {
  out[o] = length >> 8;
  out[o + 1] = length & 0xff;
  // As many bytes as code units means plain ASCII (anything else takes 2 to 4 bytes per
  // character, and U+0000 was refused): writeAscii copies it fastest, see utf8.ts.
  return length === str.length ? writeAscii(str, out, o + 2) : writeUtf8(str, out, o + 2);
}

function writeBytes(bytes: Uint8Array, out: Uint8Array, o: number): number {
  out[o] = bytes.length >> 8;
  out[o + 1] = bytes.length & 0xff;
  out.set(bytes, o + 2);
  return o + 2 + bytes.length;
}

/** Checks a PUBLISH and returns the byte length of its topic. */
function checkPublish(p: PublishPacket): number {
  const e = topicNameError(p.topic);
  if (e) throw invalid(e[0], e[1]);
  checkQos(p.qos);
  if (p.qos > 0) checkId(p.id as number);
  else if (p.dup) throw invalid("DUP must be 0 for QoS 0", "MQTT-3.3.1-2");
  return stringLength(p.topic);
}

/** Fixed header, topic and packet id of a PUBLISH; the payload bytes follow it on the wire. */
export function encodePublishHeader(p: PublishPacket): Uint8Array {
  return writePublish(p.topic, checkPublish(p), p.payload, p.qos, p.retain, p.dup, p.id ?? 0, false);
}

/**
 * A PUBLISH from fields the caller has already validated (the session checks them once at
 * publish()), with the payload copied in when `whole`, else only its header: the payload
 * view follows it on the wire, so a large payload is never copied.
 */
export function writePublish(topic: string, topicLength: number, payload: Uint8Array, qos: number, retain: boolean, dup: boolean, id: number, whole: boolean): Uint8Array {
  const variable = 2 + topicLength + (qos > 0 ? 2 : 0);
  const rl = variable + payload.length;
  // The fixed header and topic are written inline: on XS each call costs more than its work.
  const headerLength = (rl < 128 ? 2 : 1 + lengthOfLength(rl)) + variable;
  const n = whole ? headerLength + payload.length : headerLength;
  const out = JIT ? allocate(n) : new Uint8Array(n);
  out[0] = (P.PUBLISH << 4) | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0);
  let o = 2;
  if (rl < 128) out[1] = rl;
  else o = writeLength(out, rl);
  out[o] = topicLength >> 8;
  out[o + 1] = topicLength & 0xff;
  o = topicLength === topic.length ? writeAscii(topic, out, o + 2) : writeUtf8(topic, out, o + 2);
  if (qos > 0) {
    out[o] = id >> 8;
    out[o + 1] = id & 0xff;
  }
  if (whole) out.set(payload, headerLength);
  return out;
}

function encodePublish(p: PublishPacket): Uint8Array {
  return writePublish(p.topic, checkPublish(p), p.payload, p.qos, p.retain, p.dup, p.id ?? 0, true);
}

// protocol name and level: "MQTT" 4 [MQTT-3.1.2-1], [MQTT-3.1.2-2]; MQTT 3.1: "MQIsdp" 3
const MQTT_4 = [0, 4, 0x4d, 0x51, 0x54, 0x54, 4];
const MQISDP_3 = [0, 6, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x70, 3];

function encodeConnect(p: ConnectPacket): Uint8Array {
  if (!(Number.isInteger(p.keepalive) && p.keepalive >= 0 && p.keepalive <= 0xffff)) throw invalid(`keepalive ${p.keepalive} out of range 0..65535`);
  if (p.clientId.length === 0 && !p.clean) throw invalid("an empty client id requires a clean session", "MQTT-3.1.3-7");
  if (p.password !== undefined && p.username === undefined) throw invalid("password without username", "MQTT-3.1.2-22");
  const v31 = p.protocolVersion === 3;
  if (!v31 && p.protocolVersion !== undefined && p.protocolVersion !== 4) throw invalid(`protocol version ${p.protocolVersion} is not 3 or 4`);
  // MQTT 3.1 requires a client id of 1 to 23 characters (3.1 section 3.1, "Client Identifier").
  if (v31 && !(p.clientId.length >= 1 && p.clientId.length <= 23)) throw invalid(`MQTT 3.1 needs a client id of 1 to 23 characters, not ${p.clientId.length}`);
  const idLength = stringLength(p.clientId);
  const nameLength = v31 ? 12 : 10;
  let rl = nameLength + 2 + idLength;
  let flags = p.clean ? 0x02 : 0;
  let willTopicLength = 0;
  if (p.will) {
    const e = topicNameError(p.will.topic);
    if (e) throw invalid(`will ${e[0]}`, e[1]);
    checkQos(p.will.qos, "MQTT-3.1.2-14");
    if (p.will.payload.length > 0xffff) throw invalid("will payload longer than 65535 bytes", "MQTT-3.1.3-10");
    willTopicLength = stringLength(p.will.topic);
    rl += 2 + willTopicLength + 2 + p.will.payload.length;
    flags |= 0x04 | (p.will.qos << 3) | (p.will.retain ? 0x20 : 0);
  }
  let usernameLength = 0;
  if (p.username !== undefined) {
    usernameLength = stringLength(p.username);
    rl += 2 + usernameLength;
    flags |= 0x80;
  }
  if (p.password !== undefined) {
    if (p.password.length > 0xffff) throw invalid("password longer than 65535 bytes", "MQTT-3.1.3-11");
    rl += 2 + p.password.length;
    flags |= 0x40;
  }
  const out = packet(P.CONNECT << 4, rl);
  const start = out.length - rl;
  out.set(v31 ? MQISDP_3 : MQTT_4, start);
  const o0 = start + nameLength - 3;
  out[o0] = flags;
  out[o0 + 1] = p.keepalive >> 8;
  out[o0 + 2] = p.keepalive & 0xff;
  let o = writeString(p.clientId, idLength, out, start + nameLength);
  if (p.will) {
    o = writeString(p.will.topic, willTopicLength, out, o);
    o = writeBytes(p.will.payload, out, o);
  }
  if (p.username !== undefined) o = writeString(p.username, usernameLength, out, o);
  if (p.password !== undefined) writeBytes(p.password, out, o);
  return out;
}

// Index loops, not for-of or forEach: on XS those run an iterator or a closure per element.
function encodeSubscribe(p: SubscribePacket): Uint8Array {
  checkId(p.id);
  const subs = p.subscriptions;
  if (subs.length === 0) throw invalid("SUBSCRIBE needs at least one topic filter", "MQTT-3.8.3-3");
  const lengths: number[] = [];
  let rl = 2;
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i];
    const e = topicFilterError(s.topic);
    if (e) throw invalid(e[0], e[1]);
    checkQos(s.qos, "MQTT-3.8.3-4");
    const n = stringLength(s.topic);
    lengths.push(n);
    rl += 2 + n + 1;
  }
  const out = packet((P.SUBSCRIBE << 4) | 2, rl);
  const start = out.length - rl;
  out[start] = p.id >> 8;
  out[start + 1] = p.id & 0xff;
  let o = start + 2;
  for (let i = 0; i < subs.length; i++) {
    o = writeString(subs[i].topic, lengths[i], out, o);
    out[o++] = subs[i].qos;
  }
  return out;
}

function encodeUnsubscribe(p: UnsubscribePacket): Uint8Array {
  checkId(p.id);
  const topics = p.topics;
  if (topics.length === 0) throw invalid("UNSUBSCRIBE needs at least one topic filter", "MQTT-3.10.3-2");
  const lengths: number[] = [];
  let rl = 2;
  for (let i = 0; i < topics.length; i++) {
    const e = topicFilterError(topics[i]);
    if (e) throw invalid(e[0], e[1]);
    const n = stringLength(topics[i]);
    lengths.push(n);
    rl += 2 + n;
  }
  const out = packet((P.UNSUBSCRIBE << 4) | 2, rl);
  const start = out.length - rl;
  out[start] = p.id >> 8;
  out[start + 1] = p.id & 0xff;
  let o = start + 2;
  for (let i = 0; i < topics.length; i++) o = writeString(topics[i], lengths[i], out, o);
  return out;
}

function encodeAck(first: number, id: number): Uint8Array {
  checkId(id);
  return Uint8Array.of(first, 2, id >> 8, id & 0xff);
}

/** Encodes any of the 14 packets; throws INVALID_ARGUMENT (with the clause) for what MQTT forbids. */
export function encode(p: Packet): Uint8Array {
  switch (p.type) {
    case P.PUBLISH: return encodePublish(p);
    case P.PUBACK: return encodeAck(P.PUBACK << 4, p.id);
    case P.PUBREC: return encodeAck(P.PUBREC << 4, p.id);
    case P.PUBREL: return encodeAck((P.PUBREL << 4) | 2, p.id); // [MQTT-3.6.1-1]
    case P.PUBCOMP: return encodeAck(P.PUBCOMP << 4, p.id);
    case P.CONNECT: return encodeConnect(p);
    case P.CONNACK: {
      if (!(Number.isInteger(p.returnCode) && p.returnCode >= 0 && p.returnCode <= 5)) throw invalid(`CONNACK return code ${p.returnCode} is reserved`, "MQTT-3.2.2.3");
      if (p.sessionPresent && p.returnCode !== 0) throw invalid("session present with a refusal", "MQTT-3.2.2-4");
      return Uint8Array.of(P.CONNACK << 4, 2, p.sessionPresent ? 1 : 0, p.returnCode);
    }
    case P.SUBSCRIBE: return encodeSubscribe(p);
    case P.SUBACK: {
      checkId(p.id);
      if (p.granted.length === 0) throw invalid("SUBACK needs at least one return code", "MQTT-3.9.3-1");
      const rl = 2 + p.granted.length;
      const out = packet(P.SUBACK << 4, rl);
      const start = out.length - rl;
      out[start] = p.id >> 8;
      out[start + 1] = p.id & 0xff;
      p.granted.forEach((g, i) => {
        if (g !== 0 && g !== 1 && g !== 2 && g !== P.SUBACK_FAILURE) throw invalid(`SUBACK return code ${g} is reserved`, "MQTT-3.9.3-2");
        out[start + 2 + i] = g;
      });
      return out;
    }
    case P.UNSUBSCRIBE: return encodeUnsubscribe(p);
    case P.UNSUBACK: return encodeAck(P.UNSUBACK << 4, p.id);
    case P.PINGREQ: return Uint8Array.of(P.PINGREQ << 4, 0);
    case P.PINGRESP: return Uint8Array.of(P.PINGRESP << 4, 0);
    case P.DISCONNECT: return Uint8Array.of(P.DISCONNECT << 4, 0);
    default:
      throw invalid(`unknown packet type ${(p as { type: unknown }).type}`);
  }
}
