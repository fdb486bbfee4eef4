// Incremental decoding: one stream of ~200 mixed packets (all 14 types, sizes up to
// 70 KB) must decode to the identical packet list however it is cut into chunks: one
// byte at a time, seeded random splits, one chunk, and splits that put a chunk boundary
// inside every fixed header.

import * as assert from "node:assert/strict";
import * as P from "../../modules/mqtt/packets.js";
import type { Packet } from "../../modules/mqtt/packets.js";
import { MqttError } from "../../modules/mqtt/errors.js";
import { encode } from "../../modules/mqtt/encode.js";
import { Decoder } from "../../modules/mqtt/decode.js";
import { prng as mulberry32, concat } from "./fakes.js";
import { makeGen } from "./random-packets.js";


const SEED = 0x5eed5;



// ---- the stream ---------------------------------------------------------------------

const gen = makeGen(mulberry32(SEED), { bigChance: 0.05, bigMax: 70_000, smallPayload: 300 });
const PACKETS: Packet[] = [];
for (let i = 0; i < 200; i++) PACKETS.push(gen.packet(i < 28 ? 1 + (i % 14) : gen.int(1, 14)));
// a few fixed large ones so the 70 KB and 4-byte-boundary cases are always present
PACKETS.splice(50, 0, { type: P.PUBLISH, topic: "big/😀", payload: new Uint8Array(70_000).fill(0xab), qos: 1, retain: false, dup: false, id: 4242 });
PACKETS.splice(120, 0, { type: P.PUBLISH, topic: "t", payload: new Uint8Array(16_381), qos: 0, retain: true, dup: false }); // rl exactly 16384
PACKETS.splice(121, 0, { type: P.PUBLISH, topic: "t", payload: new Uint8Array(125), qos: 0, retain: false, dup: false }); // rl exactly 128
const ENCODED = PACKETS.map((p) => encode(p));
const STREAM = concat(ENCODED);
/** Offset of each packet in STREAM, and of its end. */
const STARTS: number[] = [];
{
  let o = 0;
  for (const e of ENCODED) {
    STARTS.push(o);
    o += e.length;
  }
  STARTS.push(o);
}
/** Fixed-header length of each packet (1 + remaining-length bytes). */
const HEADER_LENGTHS = ENCODED.map((e) => {
  let i = 1;
  while (e[i] & 0x80) i++;
  return i + 1;
});

/** Feeds the stream cut at the given (sorted, distinct) offsets; checks the result. */
function feed(cuts: number[], label: string): { decoder: Decoder; maxBuffered: number } {
  const decoder = new Decoder();
  const out: Packet[] = [];
  let prev = 0;
  let maxBuffered = 0;
  for (const cut of [...cuts, STREAM.length]) {
    if (cut <= prev) continue;
    decoder.push(STREAM.subarray(prev, cut), out);
    // a push returns exactly the packets whose last byte it delivered, no later
    let complete = 0;
    while (complete < PACKETS.length && STARTS[complete + 1] <= cut) complete++;
    if (out.length !== complete) assert.equal(out.length, complete, `${label}: packets complete after chunk [${prev}, ${cut})`);
    maxBuffered = Math.max(maxBuffered, decoder.buffered);
    prev = cut;
  }
  assert.equal(out.length, PACKETS.length, `${label}: packet count`);
  for (let k = 0; k < PACKETS.length; k++) assert.deepStrictEqual(out[k], PACKETS[k], `${label}: packet ${k} (${P.PACKET_NAMES[PACKETS[k].type]})`);
  assert.equal(decoder.buffered, 0, `${label}: nothing left over`);
  return { decoder, maxBuffered };
}

describe("codec: incremental decoding of a mixed stream", () => {
  it("the stream has every packet type, up to 70 KB packets, and 1-, 2- and 3-byte remaining lengths", () => {
    const types = new Set<number>(PACKETS.map((p) => p.type));
    for (let t = 1; t <= 14; t++) assert.ok(types.has(t), `type ${P.PACKET_NAMES[t]} present`);
    assert.ok(PACKETS.length >= 200);
    const sizes = ENCODED.map((e) => e.length);
    assert.ok(Math.max(...sizes) >= 70_000 && Math.max(...sizes) < 71_000, `largest ${Math.max(...sizes)}`);
    const hl = new Set(HEADER_LENGTHS);
    assert.ok(hl.has(2) && hl.has(3) && hl.has(4), `header lengths ${[...hl]}`);
  });

  it("(c) all in one chunk", () => {
    feed([], "one chunk");
  });

  it("(a) one byte at a time", () => {
    const cuts: number[] = [];
    for (let i = 1; i < STREAM.length; i++) cuts.push(i);
    const { maxBuffered } = feed(cuts, "byte by byte");
    assert.ok(maxBuffered < 71_000, `never buffers more than one packet (max ${maxBuffered})`);
  });

  it("(b) seeded random splits, 40 different cuttings", () => {
    for (let round = 0; round < 40; round++) {
      const seed = SEED + 1000 + round;
      const rnd = mulberry32(seed);
      const cuts: number[] = [];
      // mix tiny chunks, mid-size and huge ones
      const scale = [3, 50, 1000, 30_000][round % 4];
      let o = 0;
      while (true) {
        o += 1 + Math.floor(rnd() * scale * 2);
        if (o >= STREAM.length) break;
        cuts.push(o);
      }
      feed(cuts, `random splits, seed ${seed}`);
    }
  });

  it("(d) a chunk boundary inside every fixed header, at every position inside it", () => {
    const maxHeader = Math.max(...HEADER_LENGTHS);
    // pass j cuts each packet's header after its byte j (when the header is longer than j)
    for (let j = 1; j < maxHeader; j++) {
      const cuts: number[] = [];
      for (let k = 0; k < PACKETS.length; k++) if (HEADER_LENGTHS[k] > j) cuts.push(STARTS[k] + j);
      feed(cuts, `cut after header byte ${j}`);
    }
    // every position inside every header at once, plus a cut right after each header
    const all: number[] = [];
    for (let k = 0; k < PACKETS.length; k++) for (let j = 1; j <= HEADER_LENGTHS[k]; j++) all.push(STARTS[k] + j);
    const uniq = [...new Set(all)].filter((c) => c < STREAM.length).sort((a, b) => a - b);
    // each packet has at least one boundary strictly inside its fixed header
    for (let k = 0; k < PACKETS.length; k++) assert.ok(uniq.some((c) => c > STARTS[k] && c < STARTS[k] + HEADER_LENGTHS[k]), `packet ${k}`);
    feed(uniq, "every header position");
    // and seeded random splits where each chunk ends inside the next packet's header
    const rnd = mulberry32(SEED + 7);
    const mixed: number[] = [];
    for (let k = 0; k < PACKETS.length; k++) {
      mixed.push(STARTS[k] + 1 + Math.floor(rnd() * (HEADER_LENGTHS[k] - 1)));
      if (rnd() < 0.5) mixed.push(STARTS[k] + HEADER_LENGTHS[k] + Math.floor(rnd() * (ENCODED[k].length - HEADER_LENGTHS[k])));
    }
    feed([...new Set(mixed)].filter((c) => c > 0 && c < STREAM.length).sort((a, b) => a - b), `header splits, seed ${SEED + 7}`);
  });

  it("two packets in one chunk followed by half a third", () => {
    const [a, b, c] = [ENCODED[2], ENCODED[5], PACKETS.findIndex((p) => p.type === P.PUBLISH && p.payload.length > 1000)];
    const third = ENCODED[c];
    const half = Math.floor(third.length / 2);
    const d = new Decoder();
    const first = d.push(concat([a, b, third.subarray(0, half)]));
    assert.deepStrictEqual(first, [PACKETS[2], PACKETS[5]]);
    assert.equal(d.buffered, half, "holds exactly the half packet");
    const second = d.push(third.subarray(half));
    assert.deepStrictEqual(second, [PACKETS[c]]);
    assert.equal(d.buffered, 0);

    // the same with the cut inside the third packet's fixed header, and then a fourth packet in the final chunk
    const d2 = new Decoder();
    assert.deepStrictEqual(d2.push(concat([a, b, third.subarray(0, 2)])), [PACKETS[2], PACKETS[5]]);
    assert.equal(d2.buffered, 2);
    assert.deepStrictEqual(d2.push(concat([third.subarray(2), a])), [PACKETS[c], PACKETS[2]]);
    assert.equal(d2.buffered, 0);
  });

  it("empty chunks change nothing", () => {
    const d = new Decoder();
    const out: Packet[] = [];
    const empty = new Uint8Array(0);
    for (let k = 0; k < 30; k++) {
      const e = ENCODED[k];
      d.push(empty, out);
      d.push(e.subarray(0, 1), out);
      d.push(empty, out);
      d.push(e.subarray(1, 2), out);
      d.push(empty, out);
      d.push(e.subarray(2), out);
    }
    assert.deepStrictEqual(out, PACKETS.slice(0, 30));
  });

  it("packets decoded from one chunk survive later pushes (payload views are not overwritten)", () => {
    const d = new Decoder();
    const firstHalf = STREAM.subarray(0, STARTS[100]);
    const out = d.push(firstHalf);
    d.push(STREAM.subarray(STARTS[100]));
    assert.deepStrictEqual(out, PACKETS.slice(0, 100));
  });

  it("reset() drops a partial packet", () => {
    const d = new Decoder();
    const big = ENCODED[50];
    d.push(big.subarray(0, 1000));
    assert.equal(d.buffered, 1000);
    d.reset();
    assert.equal(d.buffered, 0);
    assert.deepStrictEqual(d.push(concat([ENCODED[0], ENCODED[1]])), [PACKETS[0], PACKETS[1]]);
    d.push(ENCODED[3].subarray(0, 1));
    d.reset();
    assert.deepStrictEqual(d.push(ENCODED[4]), [PACKETS[4]]);
  });

  it("a malformed packet in the middle fails the same way however the stream is cut", () => {
    // PUBLISH QoS 3 spliced in after packet 60
    const bad = Uint8Array.of(0x36, 5, 0, 1, 0x74, 0, 1);
    const stream = concat([STREAM.subarray(0, STARTS[60]), bad, STREAM.subarray(STARTS[60])]);
    for (const step of [1, 7, 1000, stream.length]) {
      const d = new Decoder();
      const out: Packet[] = [];
      let err: unknown;
      try {
        for (let o = 0; o < stream.length; o += step) d.push(stream.subarray(o, o + step), out);
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof MqttError && err.code === "MALFORMED_PACKET" && err.clause === "MQTT-3.3.1-4", `step ${step}: ${String(err)}`);
      assert.deepStrictEqual(out, PACKETS.slice(0, 60), `step ${step}: the 60 packets before the fault`);
    }
  });
});
