// Our client on the XS engine (xsnap) against mosquitto: QoS 0/1/2 round trips through
// the broker, and 16 KB messages both ways, checked byte for byte by a Node client.

import assert from "node:assert/strict";
import net from "node:net";
import { Mosquitto } from "../harness/mosquitto.js";
import { XsWorker } from "../harness/xsnap.js";
import { client, closeAll, Inbox } from "../integration/util.js";

/** A payload whose every byte depends on its position and `salt`. */
function pattern(length: number, salt: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + salt + (i >> 8)) & 0xff;
  return out;
}

describe("client on XS (xsnap) against mosquitto", function () {
  let broker: Mosquitto;
  let xs: XsWorker;
  /** Sizes of the writes XS made, as the bridge saw them. */
  let writes: number[] = [];
  let n = 0;
  const id = (): string => `xs-${process.pid}-${++n}`;

  before(async () => {
    broker = await Mosquitto.start();
  });
  after(async () => {
    await broker?.dispose();
  });
  beforeEach(async () => {
    writes = [];
    xs = await XsWorker.start({ tap: (_socket, direction, bytes) => { if (direction === "out") writes.push(bytes.length); } });
  });
  afterEach(async () => {
    await closeAll();
    const errors = xs.errors.slice();
    await xs.dispose();
    assert.deepEqual(errors, []);
  });

  async function connect(name: string): Promise<void> {
    await xs.job("client.create", { client: name, options: { host: "127.0.0.1", port: broker.port, clientId: id(), reconnect: false } });
    const { result } = await xs.job("client.connect", { client: name });
    assert.deepEqual(result, { sessionPresent: false });
  }

  it("round-trips QoS 0, 1 and 2 through the broker", async () => {
    await connect("c");
    const topic = `xs/rt/${id()}`;
    const peer = client(broker.port);
    await peer.connect();
    const peerInbox = new Inbox(peer);
    await peer.subscribe(`${topic}/#`, { qos: 2 });
    const { result } = await xs.job("client.subscribe", { client: "c", filter: `${topic}/#`, qos: 2 });
    assert.deepEqual(result, { granted: [2] });
    for (const qos of [0, 1, 2]) {
      const body = new TextEncoder().encode(`qos ${qos} from XS`);
      await xs.job("client.publish", { client: "c", topic: `${topic}/${qos}`, qos }, body);
      const got = await xs.job<{ topic: string; qos: number; retain: boolean; dup: boolean }>("client.next", { client: "c" });
      assert.deepEqual(got.result, { topic: `${topic}/${qos}`, qos, retain: false, dup: false });
      assert.deepEqual(Buffer.from(got.bytes), Buffer.from(body));
    }
    await peerInbox.waitFor(3);
    assert.deepEqual(peerInbox.messages.map((m) => [m.topic, m.qos, Buffer.from(m.payload).toString()]),
      [0, 1, 2].map((qos) => [`${topic}/${qos}`, qos, `qos ${qos} from XS`]));
    const state = await xs.job("client.state", { client: "c" });
    assert.deepEqual(state.result, { state: "connected", connected: true, errors: [], queued: 0 });
    await xs.job("client.disconnect", { client: "c" });
  });

  it("publishes 16 KB and receives 16 KB", async () => {
    await connect("c");
    const topic = `xs/big/${id()}`;
    const peer = client(broker.port);
    await peer.connect();
    const peerInbox = new Inbox(peer);
    await peer.subscribe(`${topic}/up`, { qos: 1 });
    await xs.job("client.subscribe", { client: "c", filter: `${topic}/down`, qos: 1 });

    const up = pattern(16 * 1024, 7);
    writes = [];
    await xs.job("client.publish", { client: "c", topic: `${topic}/up`, qos: 1 }, up);
    // XS never wrote beyond the budget the bridge gave it (the socket's write window, as
    // in hosts/node/tcp.ts); a PUBLISH larger than the window went out in several writes.
    const window = new net.Socket().writableHighWaterMark;
    assert.ok(Math.max(...writes) <= window, `writes ${writes.join()} exceed the window ${window}`);
    // type byte, 3-byte remaining length, topic with its length, packet id, payload
    assert.equal(writes.reduce((a, b) => a + b, 0), 1 + 3 + 2 + `${topic}/up`.length + 2 + up.length);
    if (up.length > window) assert.ok(writes.length >= 2, `one write of ${writes.join()}`);
    await peerInbox.waitFor(1);
    assert.equal(peerInbox.messages[0]!.payload.length, up.length);
    assert.ok(Buffer.from(peerInbox.messages[0]!.payload).equals(Buffer.from(up)), "16 KB from XS arrived altered");

    const down = pattern(16 * 1024, 99);
    const receiving = xs.job("client.next", { client: "c" });
    await peer.publish(`${topic}/down`, down, { qos: 1 });
    const got = await receiving;
    assert.deepEqual(got.result, { topic: `${topic}/down`, qos: 1, retain: false, dup: false });
    assert.equal(got.bytes.length, down.length);
    assert.ok(Buffer.from(got.bytes).equals(Buffer.from(down)), "16 KB to XS arrived altered");
    await xs.job("client.disconnect", { client: "c" });
  });
});
