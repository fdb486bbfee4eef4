// Seeded random VALID MQTT 3.1.1 packets for the codec tests: every type, multibyte and
// astral UTF-8, boundary ids and remaining lengths.

import * as P from "../../modules/mqtt/packets.js";
import type { Packet, QoS } from "../../modules/mqtt/packets.js";

export interface GenOptions {
  /** Probability of a large PUBLISH payload (20 KB .. bigMax). */
  bigChance: number;
  /** Largest large payload. Default 300 KB. */
  bigMax?: number;
  /** Largest small payload. */
  smallPayload: number;
}

export function makeGen(rnd: () => number, opts: GenOptions) {
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  // ASCII, 2-, 3- and 4-byte UTF-8 (astral = surrogate pairs in JS), U+FEFF, U+FFFF, U+10FFFF, '$'
  const CHARS = ["a", "b", "c", "x", "0", "9", "_", "-", " ", ".", "$", "é", "ß", "ü", "€", "中", "ह", "😀", "𝄞", "\u{10ffff}", "\ufeff", "\uffff", "\u0080", "\u07ff", "\u0800"];
  const str = (max: number): string => {
    let s = "";
    const n = int(0, max);
    for (let i = 0; i < n; i++) s += pick(CHARS);
    return s;
  };
  const topicName = (): string => {
    if (rnd() < 0.005) return "long/" + "ü".repeat(int(100, 3000)); // 2- and 3-byte string lengths
    const levels: string[] = [];
    const n = int(1, 5);
    for (let i = 0; i < n; i++) levels.push(str(6));
    const t = levels.join("/");
    return t.length === 0 ? "t" : t;
  };
  const topicFilter = (): string => {
    const levels: string[] = [];
    const n = int(1, 5);
    for (let i = 0; i < n; i++) levels.push(rnd() < 0.25 ? "+" : str(5));
    if (rnd() < 0.25) levels.push("#");
    const f = levels.join("/");
    return f.length === 0 ? "#" : f;
  };
  const bytes = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (rnd() * 256) | 0;
    return b;
  };
  const id = (): number => (rnd() < 0.05 ? pick([1, 2, 127, 128, 255, 256, 32767, 32768, 65534, 65535]) : int(1, 65535));
  const qos = (): QoS => int(0, 2) as QoS;
  const payloadSize = (): number => {
    const r = rnd();
    if (r < opts.bigChance) return int(20_000, opts.bigMax ?? 300_000);
    if (r < 0.1) return int(100, 20_000);
    return int(0, opts.smallPayload);
  };

  function packet(type: number): Packet {
    switch (type) {
      case P.CONNECT: {
        const clean = rnd() < 0.6;
        // an empty client id only with a clean session [MQTT-3.1.3-7]
        const clientId = clean && rnd() < 0.2 ? "" : str(23) || "id";
        const p: P.ConnectPacket = { type: P.CONNECT, clientId, clean, keepalive: rnd() < 0.1 ? pick([0, 65535]) : int(0, 65535) };
        if (rnd() < 0.5) p.will = { topic: topicName(), payload: bytes(rnd() < 0.05 ? int(1000, 65535) : int(0, 50)), qos: qos(), retain: rnd() < 0.5 };
        const r = rnd();
        if (r < 0.3) p.username = str(12);
        else if (r < 0.6) {
          p.username = str(12);
          p.password = bytes(int(0, 40));
        }
        return p;
      }
      case P.CONNACK: {
        const returnCode = rnd() < 0.5 ? 0 : int(1, 5);
        return { type: P.CONNACK, sessionPresent: returnCode === 0 && rnd() < 0.5, returnCode };
      }
      case P.PUBLISH: {
        const q = qos();
        const p: P.PublishPacket = {
          type: P.PUBLISH, topic: topicName(), payload: bytes(payloadSize()), qos: q, retain: rnd() < 0.3,
          dup: q > 0 && rnd() < 0.3, // DUP only with QoS > 0 [MQTT-3.3.1-2]
        };
        if (q > 0) p.id = id();
        return p;
      }
      case P.PUBACK: case P.PUBREC: case P.PUBREL: case P.PUBCOMP: case P.UNSUBACK:
        return { type, id: id() } as Packet;
      case P.SUBSCRIBE: {
        const subscriptions: P.Subscription[] = [];
        const n = rnd() < 0.02 ? int(50, 300) : int(1, 6);
        for (let i = 0; i < n; i++) subscriptions.push({ topic: topicFilter(), qos: qos() });
        return { type: P.SUBSCRIBE, id: id(), subscriptions };
      }
      case P.SUBACK: {
        const granted: number[] = [];
        const n = rnd() < 0.02 ? int(100, 500) : int(1, 8);
        for (let i = 0; i < n; i++) granted.push(pick([0, 1, 2, 0x80]));
        return { type: P.SUBACK, id: id(), granted };
      }
      case P.UNSUBSCRIBE: {
        const topics: string[] = [];
        const n = int(1, 6);
        for (let i = 0; i < n; i++) topics.push(topicFilter());
        return { type: P.UNSUBSCRIBE, id: id(), topics };
      }
      default:
        return { type } as Packet;
    }
  }
  return { packet, int, pick };
}
