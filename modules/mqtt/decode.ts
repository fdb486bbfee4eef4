// Incremental MQTT 3.1.1 decoder. Any split of the byte stream yields the same packets.
// A packet wholly inside one chunk is parsed in place (PUBLISH payloads are views into
// the chunk, so the caller must not reuse chunk memory); a packet spanning chunks is
// gathered into one buffer of its exact size, allocated once its fixed header is known
// and only if it is within maxPacketSize. After an error the stream is unusable.

import * as P from "./packets.js";
import type { Packet, QoS } from "./packets.js";
import { MqttError, malformed } from "./errors.js";
import { decodeUtf8 } from "./utf8.js";
import { topicNameError, topicFilterError } from "./topic.js";

export interface DecoderOptions {
  /** Largest whole packet (fixed header included) accepted, in bytes. Default 256 KiB. */
  maxPacketSize?: number;
  /**
   * A PUBLISH over maxPacketSize is skipped as it streams in (never buffered) and reported
   * as a SkippedPacket, so the session can acknowledge it and stay connected. Otherwise any
   * packet over the limit is an error. Default false.
   */
  skipOversize?: boolean;
}

/** Progress through a skipped PUBLISH: the variable header is read, the payload discarded. */
interface Skip {
  packet: P.SkippedPacket;
  /** Bytes of the packet still to consume. */
  remaining: number;
  /** -1 until both topic length bytes are read. */
  topicLength: number;
  /** Bytes read of the topic length, topic and id so far. */
  headerRead: number;
  /** Kept topic bytes; null when the topic alone exceeds maxPacketSize (reported as ""). */
  topic: Uint8Array | null;
  id: number;
}

/** A cursor over one packet's bytes. */
type Reader = { bytes: Uint8Array; pos: number; end: number };

export class Decoder {
  readonly maxPacketSize: number;
  /** Fixed-header bytes seen so far when a header spans chunks (at most 4), else null. */
  #head: number[] | null = null;
  /** Packet being gathered across chunks, and how many bytes of it are filled. */
  #gather: Uint8Array | null = null;
  #filled = 0;
  #headerLength = 0;
  #skipOversize: boolean;
  #skip: Skip | null = null;
  /** Whether a packet is part-read (#head, #skip or #gather): one test on XS instead of three. */
  #partial = false;
  /** Whether 4-byte packets are within maxPacketSize, so parseSmall may take them. */
  #small: boolean;

  constructor(options: DecoderOptions = {}) {
    this.maxPacketSize = options.maxPacketSize ?? 256 * 1024;
    this.#skipOversize = options.skipOversize ?? false;
    this.#small = this.maxPacketSize >= 4;
  }

  /**
   * Feeds a chunk; returns the packets it completes, in order. Throws MqttError on
   * malformed input, after appending to `out` the packets that preceded the fault.
   */
  push<T extends Packet | P.SkippedPacket = Packet>(chunk: Uint8Array, out: T[] = []): T[] {
    const sink = out as (Packet | P.SkippedPacket)[];
    let pos = 0;
    const end = chunk.length;

    if (this.#partial) {
      const head = this.#head;
      if (head) {
        // finish a fixed header split across chunks
        while (pos < end) {
          head.push(chunk[pos++]);
          const h = parseFixedHeader(head, 0, head.length);
          if (h === -1) continue;
          const headerLength = h[0], rl = h[1];
          this.#head = null;
          if (headerLength + rl > this.maxPacketSize) {
            this.#startSkip(head[0], headerLength, rl);
          } else {
            this.#startGather(headerLength, rl).set(head, 0);
            this.#filled = headerLength;
          }
          break;
        }
        if (this.#head) return out;
      }

      if (this.#skip) {
        pos = this.#skipBytes(chunk, pos, end, sink);
        if (this.#skip) return out;
      }

      if (this.#gather) {
        const gather = this.#gather;
        const n = Math.min(gather.length - this.#filled, end - pos);
        gather.set(chunk.subarray(pos, pos + n), this.#filled);
        this.#filled += n;
        pos += n;
        if (this.#filled < gather.length) return out;
        this.#gather = null;
        sink.push(parsePacket(gather, 0, this.#headerLength, gather.length));
      }
      this.#partial = false;
    }

    while (pos < end) {
      // A whole acknowledgement, CONNACK or PINGRESP (remaining length 2 or 0) is decoded
      // straight from the chunk: on XS the header tuple, Reader and parsePacket cost more than
      // the packet (a PUBACK: ~350 computrons less). Anything unusual, faults included, falls through.
      if (this.#small && pos + 1 < end && (chunk[pos + 1] & 0xfd) === 0) {
        const small = parseSmall(chunk, pos, end);
        if (small) {
          sink.push(small);
          pos += 2 + chunk[pos + 1];
          continue;
        }
      }
      const h = parseFixedHeader(chunk, pos, end);
      if (h === -1) {
        const head: number[] = (this.#head = []);
        for (let i = pos; i < end; i++) head.push(chunk[i]);
        this.#partial = true;
        break;
      }
      const headerLength = h[0], rl = h[1]; // not destructured: XS would run the array's iterator
      const total = headerLength + rl;
      if (total > this.maxPacketSize) {
        this.#startSkip(chunk[pos], headerLength, rl);
        pos = this.#skipBytes(chunk, pos + headerLength, end, sink);
        continue;
      }
      if (pos + total <= end) {
        sink.push(parsePacket(chunk, pos, headerLength, pos + total));
        pos += total;
      } else {
        this.#startGather(headerLength, rl).set(chunk.subarray(pos, end), 0);
        this.#filled = end - pos;
        break;
      }
    }
    return out;
  }

  /** Bytes of an incomplete packet currently held. */
  get buffered(): number {
    return (this.#head?.length ?? 0) + this.#filled * (this.#gather ? 1 : 0) + (this.#skip?.topic?.length ?? 0);
  }

  reset(): void {
    this.#partial = false;
    this.#head = null;
    this.#gather = null;
    this.#filled = 0;
    this.#skip = null;
  }

  /** An oversize packet begins: skip it if it is a PUBLISH and skipping is on, else fail. */
  #startSkip(first: number, headerLength: number, rl: number): void {
    const total = headerLength + rl;
    if (!this.#skipOversize || first >> 4 !== P.PUBLISH) throw tooLarge(total, this.maxPacketSize);
    const qos = (first >> 1) & 3;
    if (qos === 3) throw malformed("PUBLISH with QoS 3", "MQTT-3.3.1-4");
    const dup = (first & 8) !== 0;
    if (dup && qos === 0) throw malformed("DUP set on a QoS 0 PUBLISH", "MQTT-3.3.1-2");
    this.#partial = true;
    this.#skip = {
      packet: { type: P.SKIPPED, topic: "", qos: qos as QoS, dup, size: total },
      remaining: rl, topicLength: -1, headerRead: 0, topic: null, id: 0,
    };
  }

  /** Consumes bytes of the skipped PUBLISH from chunk[pos, end); returns the new position. */
  #skipBytes(chunk: Uint8Array, pos: number, end: number, out: (Packet | P.SkippedPacket)[]): number {
    const s = this.#skip as Skip;
    const idLength = s.packet.qos > 0 ? 2 : 0;
    // The variable header, byte by byte: it is small next to the payload being skipped.
    while (pos < end && s.remaining > 0 && (s.topicLength < 0 || s.headerRead < 2 + s.topicLength + idLength)) {
      const b = chunk[pos++];
      s.remaining--;
      const at = s.headerRead++;
      if (at < 2) {
        s.id = (s.id << 8) | b; // topic length accumulates here first
        if (at === 1) {
          s.topicLength = s.id;
          s.id = 0;
          if (2 + s.topicLength + idLength > s.remaining + 2) throw malformed("PUBLISH topic runs past the end of the packet", "MQTT-1.5.3");
          if (s.topicLength <= this.maxPacketSize) s.topic = new Uint8Array(s.topicLength);
        }
      } else if (at < 2 + s.topicLength) {
        if (s.topic) s.topic[at - 2] = b;
      } else {
        s.id = (s.id << 8) | b;
      }
    }
    const n = Math.min(s.remaining, end - pos);
    s.remaining -= n;
    pos += n;
    if (s.remaining > 0) return pos;
    this.#skip = null;
    const packet = s.packet;
    if (s.topic) {
      packet.topic = decodeUtf8(s.topic, 0, s.topic.length);
      const e = topicNameError(packet.topic);
      if (e) throw malformed(e[0], e[1]);
    }
    if (idLength) {
      if (s.id === 0) throw malformed("packet identifier 0", "MQTT-2.3.1-1");
      packet.id = s.id;
    }
    out.push(packet);
    return pos;
  }

  #startGather(headerLength: number, rl: number): Uint8Array {
    const total = headerLength + rl;
    if (total > this.maxPacketSize) throw tooLarge(total, this.maxPacketSize);
    this.#headerLength = headerLength;
    this.#partial = true;
    return (this.#gather = new Uint8Array(total));
  }
}

function tooLarge(total: number, max: number): MqttError {
  return new MqttError("PACKET_TOO_LARGE", `incoming packet of ${total} bytes exceeds maxPacketSize ${max}`);
}

/**
 * Fixed header at bytes[pos, end): [headerLength, remainingLength], or -1 if incomplete.
 * Throws for a remaining length longer than four bytes [MQTT-2.2.3].
 */
function parseFixedHeader(bytes: ArrayLike<number>, pos: number, end: number): [number, number] | -1 {
  let rl = 0;
  let multiplier = 1;
  for (let i = 1; i <= 4; i++) {
    if (pos + i >= end) return -1;
    const b = bytes[pos + i];
    rl += (b & 0x7f) * multiplier;
    if ((b & 0x80) === 0) return [1 + i, rl];
    multiplier *= 128;
  }
  throw malformed("remaining length uses more than four bytes", "MQTT-2.2.3");
}

/**
 * The valid fixed-size packets a client receives most, whole at bytes[pos, end): PUBACK,
 * PUBREC, PUBREL, PUBCOMP, UNSUBACK, CONNACK and PINGRESP. Null for anything else, so that
 * parsePacket decides it (and reports its faults): the same packets, a shorter path.
 */
function parseSmall(bytes: Uint8Array, pos: number, end: number): Packet | null {
  const first = bytes[pos];
  if (bytes[pos + 1] === 0) return first === 0xd0 ? { type: P.PINGRESP } : null;
  if (pos + 4 > end) return null;
  const a = bytes[pos + 2], b = bytes[pos + 3];
  switch (first) {
    case 0x40: case 0x50: case 0x62: case 0x70: case 0xb0: { // PUBREL's flags are 0010 [MQTT-3.6.1-1]
      const id = (a << 8) | b;
      return id === 0 ? null : { type: first >> 4, id } as Packet;
    }
    case 0x20:
      return a > 1 || b > 5 || (a === 1 && b !== 0) ? null : { type: P.CONNACK, sessionPresent: a === 1, returnCode: b };
  }
  return null;
}

function u16(r: Reader): number {
  if (r.pos + 2 > r.end) throw malformed("packet ends inside a two-byte field");
  const v = (r.bytes[r.pos] << 8) | r.bytes[r.pos + 1];
  r.pos += 2;
  return v;
}

function packetId(r: Reader): number {
  const id = u16(r);
  if (id === 0) throw malformed("packet identifier 0", "MQTT-2.3.1-1");
  return id;
}

function string(r: Reader): string {
  const n = u16(r);
  if (r.pos + n > r.end) throw malformed("string runs past the end of the packet", "MQTT-1.5.3");
  const s = decodeUtf8(r.bytes, r.pos, r.pos + n);
  r.pos += n;
  return s;
}

function binary(r: Reader): Uint8Array {
  const n = u16(r);
  if (r.pos + n > r.end) throw malformed("binary field runs past the end of the packet");
  const b = r.bytes.subarray(r.pos, r.pos + n);
  r.pos += n;
  return b;
}

function expectLength(r: Reader, name: string, n: number): void {
  if (r.end - r.pos !== n) throw malformed(`${name} remaining length must be ${n}, is ${r.end - r.pos}`);
}

function done(r: Reader, name: string): void {
  if (r.pos !== r.end) throw malformed(`${r.end - r.pos} unexpected bytes at the end of ${name}`);
}

const FLAGS_CLAUSE = ["", "MQTT-2.2.2-1", "MQTT-2.2.2-1", "", "MQTT-2.2.2-1", "MQTT-2.2.2-1", "MQTT-3.6.1-1", "MQTT-2.2.2-1",
  "MQTT-3.8.1-1", "MQTT-2.2.2-1", "MQTT-3.10.1-1", "MQTT-2.2.2-1", "MQTT-2.2.2-1", "MQTT-2.2.2-1", "MQTT-2.2.2-1"];

/** Parses the packet at bytes[start, end); its fixed header is headerLength bytes. */
export function parsePacket(bytes: Uint8Array, start: number, headerLength: number, end: number): Packet {
  const first = bytes[start];
  const type = first >> 4;
  const flags = first & 0x0f;
  const r: Reader = { bytes, pos: start + headerLength, end };

  if (type === P.PUBLISH) {
    const qos = (flags >> 1) & 3;
    if (qos === 3) throw malformed("PUBLISH with QoS 3", "MQTT-3.3.1-4");
    const dup = (flags & 8) !== 0;
    if (dup && qos === 0) throw malformed("DUP set on a QoS 0 PUBLISH", "MQTT-3.3.1-2");
    const topic = string(r);
    const e = topicNameError(topic);
    if (e) throw malformed(e[0], e[1]);
    const id = qos > 0 ? packetId(r) : undefined;
    const packet: P.PublishPacket = {
      type: P.PUBLISH, topic, payload: bytes.subarray(r.pos, end), qos: qos as QoS, retain: (flags & 1) !== 0, dup,
    };
    if (id !== undefined) packet.id = id;
    return packet;
  }
  if (type === 0 || type === 15) throw malformed(`reserved packet type ${type}`, "MQTT-2.2.1");
  const expected = type === P.PUBREL || type === P.SUBSCRIBE || type === P.UNSUBSCRIBE ? 2 : 0;
  if (flags !== expected) throw malformed(`${P.PACKET_NAMES[type]} with reserved flags ${flags}`, FLAGS_CLAUSE[type]);

  switch (type) {
    case P.PUBACK: case P.PUBREC: case P.PUBREL: case P.PUBCOMP: case P.UNSUBACK: {
      expectLength(r, P.PACKET_NAMES[type], 2);
      return { type, id: packetId(r) } as Packet;
    }
    case P.CONNACK: {
      expectLength(r, "CONNACK", 2);
      const ack = bytes[r.pos], returnCode = bytes[r.pos + 1];
      if (ack & 0xfe) throw malformed("CONNACK reserved bits set", "MQTT-3.2.2-1");
      if (returnCode > 5) throw malformed(`CONNACK return code ${returnCode} is reserved`, "MQTT-3.2.2.3");
      if (ack && returnCode !== 0) throw malformed("session present with a refusal", "MQTT-3.2.2-4");
      return { type: P.CONNACK, sessionPresent: ack === 1, returnCode };
    }
    case P.SUBACK: {
      const id = packetId(r);
      if (r.pos >= end) throw malformed("SUBACK without return codes", "MQTT-3.9.3-1");
      const granted: number[] = [];
      for (; r.pos < end; r.pos++) {
        const g = bytes[r.pos];
        if (g > 2 && g !== P.SUBACK_FAILURE) throw malformed(`SUBACK return code ${g} is reserved`, "MQTT-3.9.3-2");
        granted.push(g);
      }
      return { type: P.SUBACK, id, granted };
    }
    case P.PINGREQ: case P.PINGRESP: case P.DISCONNECT:
      expectLength(r, P.PACKET_NAMES[type], 0);
      return { type } as Packet;
    case P.SUBSCRIBE: {
      const id = packetId(r);
      const subscriptions: P.Subscription[] = [];
      while (r.pos < end) {
        const topic = string(r);
        const e = topicFilterError(topic);
        if (e) throw malformed(e[0], e[1]);
        if (r.pos >= end) throw malformed("SUBSCRIBE topic filter without QoS");
        const qos = bytes[r.pos++];
        if (qos > 2) throw malformed(`SUBSCRIBE requested QoS byte ${qos}`, "MQTT-3.8.3-4");
        subscriptions.push({ topic, qos: qos as QoS });
      }
      if (subscriptions.length === 0) throw malformed("SUBSCRIBE without topic filters", "MQTT-3.8.3-3");
      return { type: P.SUBSCRIBE, id, subscriptions };
    }
    case P.UNSUBSCRIBE: {
      const id = packetId(r);
      const topics: string[] = [];
      while (r.pos < end) {
        const topic = string(r);
        const e = topicFilterError(topic);
        if (e) throw malformed(e[0], e[1]);
        topics.push(topic);
      }
      if (topics.length === 0) throw malformed("UNSUBSCRIBE without topic filters", "MQTT-3.10.3-2");
      return { type: P.UNSUBSCRIBE, id, topics };
    }
    case P.CONNECT:
      return parseConnect(r);
  }
  throw malformed(`unknown packet type ${type}`);
}

function parseConnect(r: Reader): P.ConnectPacket {
  const name = string(r);
  if (name !== "MQTT") throw malformed(`protocol name ${JSON.stringify(name)} is not "MQTT"`, "MQTT-3.1.2-1");
  if (r.pos + 4 > r.end) throw malformed("CONNECT variable header truncated");
  const level = r.bytes[r.pos++];
  if (level !== 4) throw malformed(`protocol level ${level} is not 4`, "MQTT-3.1.2-2");
  const flags = r.bytes[r.pos++];
  if (flags & 1) throw malformed("CONNECT reserved flag set", "MQTT-3.1.2-3");
  const keepalive = u16(r);
  const hasWill = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 3;
  const willRetain = (flags & 0x20) !== 0;
  if (!hasWill && willQos !== 0) throw malformed("will QoS without a will", "MQTT-3.1.2-13");
  if (!hasWill && willRetain) throw malformed("will retain without a will", "MQTT-3.1.2-15");
  if (willQos === 3) throw malformed("will QoS 3", "MQTT-3.1.2-14");
  if ((flags & 0x40) && !(flags & 0x80)) throw malformed("password without username", "MQTT-3.1.2-22");
  const packet: P.ConnectPacket = { type: P.CONNECT, clientId: string(r), clean: (flags & 0x02) !== 0, keepalive };
  if (hasWill) {
    const topic = string(r);
    const e = topicNameError(topic);
    if (e) throw malformed(`will ${e[0]}`, e[1]);
    packet.will = { topic, payload: binary(r), qos: willQos as QoS, retain: willRetain };
  }
  if (flags & 0x80) packet.username = string(r);
  if (flags & 0x40) packet.password = binary(r);
  done(r, "CONNECT");
  return packet;
}
