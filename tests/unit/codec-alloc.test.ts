// The encoder's engine-dependent fast paths (modules/mqtt/bytes.ts, utf8.ts): on Node, packets
// of 65 to 1,024 bytes are views into a shared slab and short ASCII strings are copied in a
// loop. Each packet a caller keeps must stay its own, whatever is encoded after it, and every
// path must give the same bytes.

import * as assert from "node:assert/strict";
import * as P from "../../modules/mqtt/packets.js";
import type { PublishPacket } from "../../modules/mqtt/packets.js";
import { JIT, allocate } from "../../modules/mqtt/bytes.js";
import { encode, writePublish } from "../../modules/mqtt/encode.js";
import { Decoder } from "../../modules/mqtt/decode.js";
import { encodeUtf8, writeAscii } from "../../modules/mqtt/utf8.js";

function publish(topic: string, size: number, fill: number, qos: 0 | 1 = 1): PublishPacket {
  const p: PublishPacket = { type: P.PUBLISH, topic, payload: new Uint8Array(size).fill(fill), qos, retain: false, dup: false };
  if (qos) p.id = fill + 1;
  return p;
}

describe("codec: allocation and ASCII fast paths", () => {
  it("Node counts as a JIT engine, so these tests take the slab and loop paths", () => {
    assert.equal(JIT, true);
  });

  it("allocate gives zeroed arrays of the asked size; 65..1024 bytes share slabs, others do not", () => {
    for (const n of [0, 1, 64, 65, 100, 1024, 1025, 9000]) {
      const a = allocate(n);
      assert.equal(a.length, n);
      assert.ok(a.every((b) => b === 0), `allocate(${n}) zeroed`);
      const shared = n > 64 && n <= 1024;
      assert.equal(a.buffer.byteLength > n, shared, `allocate(${n}) ${shared ? "is" : "is not"} a slab view`);
    }
  });

  it("2,000 kept packets of 65 to 1,000 bytes, across many slabs, each decode to their own content", () => {
    const kept: { packet: PublishPacket; bytes: Uint8Array }[] = [];
    for (let i = 0; i < 2000; i++) {
      const packet = publish(`t/${i}`, 50 + ((i * 37) % 940), i & 0xff);
      kept.push({ packet, bytes: encode(packet) });
    }
    assert.ok(new Set(kept.map((k) => k.bytes.buffer)).size > 10, "spans several slabs");
    const decoder = new Decoder();
    for (const { packet, bytes } of kept) {
      const [back] = decoder.push(bytes) as PublishPacket[];
      assert.equal(back.topic, packet.topic);
      assert.equal(back.id, packet.id);
      assert.deepEqual(back.payload, packet.payload);
    }
  });

  it("a kept packet is not touched by later writes into the same slab", () => {
    const first = writePublish("a/b", 3, new Uint8Array(80).fill(7), 0, false, false, 0, true);
    const copy = first.slice();
    for (let i = 0; i < 200; i++) writePublish("a/b", 3, new Uint8Array(80).fill(0xff), 1, true, true, 9, true);
    assert.deepEqual(first, copy);
  });

  it("writeAscii gives TextEncoder's bytes on both sides of the loop/native boundary", () => {
    for (const n of [0, 1, 31, 32, 33, 64, 300]) {
      const str = Array.from({ length: n }, (_, i) => String.fromCharCode(1 + ((i * 13) % 127))).join("");
      const out = new Uint8Array(n + 4).fill(0xee);
      assert.equal(writeAscii(str, out, 2), n + 2);
      assert.deepEqual(out.subarray(2, n + 2), new TextEncoder().encode(str), `length ${n}`);
      assert.deepEqual([out[0], out[1], out[n + 2], out[n + 3]], [0xee, 0xee, 0xee, 0xee], `length ${n}: nothing outside`);
      assert.deepEqual(encodeUtf8(str), new TextEncoder().encode(str));
    }
  });

  it("topics of 32 and 33 characters (the loop's limit) and a UTF-8 topic round-trip", () => {
    for (const topic of ["x".repeat(32), "y".repeat(33), "é/".repeat(20)]) {
      const bytes = encode(publish(topic, 70, 1));
      const [back] = new Decoder().push(bytes) as PublishPacket[];
      assert.equal(back.topic, topic);
    }
  });
});
