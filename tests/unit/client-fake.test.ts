// MqttClient against a fake ECMA-419 socket class and a fake timer: the test is the broker
// and the clock. No real sockets, timers or sleeps; only microtasks are awaited.

import assert from "node:assert/strict";
import * as P from "../../modules/mqtt/packets.js";
import type { Packet, QoS } from "../../modules/mqtt/packets.js";
import { MqttClient } from "../../modules/mqtt/client.js";
import type { ClientOptions, DisconnectInfo, Message } from "../../modules/mqtt/client.js";
import { MqttError } from "../../modules/mqtt/errors.js";
import { encode } from "../../modules/mqtt/encode.js";
import { MemoryStore } from "../../modules/mqtt/io.js";
import type { OutboxStore, StoredMessage } from "../../modules/mqtt/io.js";
import { backoffDelay } from "../../modules/mqtt/backoff.js";
import { FakeClock, FakeNet, bytes, connack, decodeAll, microtasks, show, td } from "./fakes.js";

const publish = (topic: string, payload: string, qos: QoS = 0, id?: number): Packet => {
  const p: P.PublishPacket = { type: P.PUBLISH, topic, payload: bytes(payload), qos, retain: false, dup: false };
  if (id !== undefined) p.id = id;
  return p;
};

/** Settles to "resolved" / the error, without ever being an unhandled rejection. */
function outcome<T>(p: Promise<T>): { value?: T; error?: unknown; settled: boolean } {
  const o: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  p.then((v) => { o.value = v; o.settled = true; }, (e) => { o.error = e; o.settled = true; });
  return o;
}

function setup(options: Partial<ClientOptions> = {}) {
  const clock = new FakeClock();
  const net = new FakeNet();
  const client = new MqttClient({
    clientId: "dev", host: "broker.local", socket: { io: net.io }, timer: clock.timer,
    now: () => clock.now, random: () => 0.5, keepalive: 0, ...options,
  });
  const errors: MqttError[] = [];
  const disconnects: DisconnectInfo[] = [];
  const log: string[] = [];
  client.on("error", (e) => { errors.push(e); log.push(`error ${e.code}`); });
  client.on("disconnected", (d) => { disconnects.push(d); log.push(`disconnected ${d.error?.code ?? "-"} ${d.reconnectInMs ?? "-"}`); });
  client.on("connected", (c) => log.push(`connected sp=${c.sessionPresent ? 1 : 0}`));
  client.on("reconnecting", (r) => log.push(`reconnecting ${r.attempt} ${r.delayMs}`));
  return { clock, net, client, errors, disconnects, log };
}

/** A client connected over its first socket, the CONNECT already taken. */
async function connected(options: Partial<ClientOptions> = {}, writable = 65_536) {
  const t = setup(options);
  const done = t.client.connect();
  const s = t.net.last;
  s.writable(writable);
  assert.equal(s.take()[0].type, P.CONNECT);
  s.send(connack());
  await done;
  return { ...t, s };
}

describe("MqttClient with a fake socket and clock", () => {
  it("constructs the socket with host, port, format and the provider's extra options", () => {
    const net = new FakeNet();
    const c = new MqttClient({ clientId: "d", host: "h.example", port: 8883, socket: { io: net.io, secure: { ca: "pem" } }, timer: new FakeClock().timer, keepalive: 0 });
    void c.connect().catch(() => {});
    const o = net.last.options;
    assert.equal(o.host, "h.example");
    assert.equal(o.port, 8883);
    assert.equal(o.format, "buffer");
    assert.deepEqual(o.secure, { ca: "pem" });
    assert.equal(typeof o.onReadable, "function");
    assert.equal("io" in o, false, "io is not passed to the socket");
  });

  it("connect() resolves on CONNACK, not before", async () => {
    const { client, net, log } = setup({ clean: false, keepalive: 30 });
    const p = outcome(client.connect());
    const s = net.last;
    assert.equal(net.sockets.length, 1);
    assert.deepEqual(s.takeShown(), [], "nothing written before onWritable");
    s.writable(1000);
    assert.deepEqual(s.takeShown(), ["CONNECT dev clean=0 ka=30"]);
    await microtasks();
    assert.equal(p.settled, false);
    assert.equal(client.connected, false);
    s.send(connack(true));
    await microtasks();
    assert.deepEqual(p.value, { sessionPresent: true });
    assert.equal(client.connected, true);
    assert.deepEqual(log, ["connected sp=1"]);
  });

  for (const returnsRemaining of [false, true]) {
    it(`never writes more than the last onWritable count (write returns ${returnsRemaining ? "the bytes left" : "undefined"})`, async () => {
      const t = setup();
      const done = t.client.connect();
      const s = t.net.last;
      s.returnsRemaining = returnsRemaining;
      s.writable(100);
      const connectLength = s.bytes.length;
      s.send(connack());
      await done;
      const payload = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff);
      const p = outcome(t.client.publish("big/t", payload));
      await microtasks();
      // The PUBLISH header and its payload are separate parts, written as they are (no merge).
      assert.equal(s.writes.length, 3, "CONNECT, then as much of the PUBLISH as the remaining budget allows");
      assert.equal(s.writes[1].length + s.writes[2].length, 100 - connectLength);
      let grants = 0;
      while (s.bytes.length < connectLength + 5000 + 10) {
        const before: number = s.writes.length;
        s.writable(100);
        grants++;
        assert.equal(s.writes.length, before + 1, "one write per grant");
        assert.ok(s.writes[s.writes.length - 1].length <= 100);
        if (grants < 50) {
          await microtasks();
          assert.equal(p.settled, false, "a QoS 0 publish resolves only once its last byte is written");
        }
        assert.ok(grants < 100, "too many grants");
      }
      await microtasks();
      assert.equal(p.settled, true);
      assert.equal(p.error, undefined);
      assert.equal(s.overrun, 0, "no write exceeded the budget");
      const expected = encode({ type: P.PUBLISH, topic: "big/t", payload, qos: 0, retain: false, dup: false });
      assert.equal(s.bytes.length, connectLength + expected.length);
      assert.ok(s.writes.slice(3).every((w) => w.length === 100 || w === s.writes[s.writes.length - 1]));
      const packets = decodeAll(s.bytes);
      assert.deepEqual(packets.map((x) => x.type), [P.CONNECT, P.PUBLISH]);
      const got = packets[1] as P.PublishPacket;
      assert.equal(got.topic, "big/t");
      assert.deepEqual(got.payload, payload);
    });
  }

  it("writes each call's packets at once, and a batch's packets together, unmerged", async () => {
    const { client, s, net, clock } = await connected({ clean: false });
    const before = s.writes.length;
    const ps = Array.from({ length: 3 }, (_, i) => outcome(client.publish(`c/${i}`, `m${i}`, { qos: 1 })));
    assert.equal(s.writes.length, before + 3, "written synchronously, one write per call");
    // After a reconnect, the CONNACK's batch (three resends) is written within the read that
    // brought it, one part per packet (the host socket gathers them into one system call).
    s.fail(new Error("cut"));
    clock.advance(60_000);
    const s2 = net.last;
    s2.writable(65_536);
    s2.take();
    const writes = s2.writes.length;
    s2.send({ type: P.CONNACK, sessionPresent: true, returnCode: 0 });
    assert.equal(s2.writes.length, writes + 3, "one write per packet, no merge");
    assert.deepEqual(s2.writes.slice(writes).map((w) => show(decodeAll(w)[0])), [0, 1, 2].map((i) => `PUBLISH c/${i} q1 #${i + 1} dup 'm${i}'`));
    s2.send({ type: P.PUBACK, id: 1 }, { type: P.PUBACK, id: 2 }, { type: P.PUBACK, id: 3 });
    await microtasks();
    assert.ok(ps.every((p) => p.settled && p.error === undefined));
  });

  it("writes a read's acknowledgements after its last packet is handled", async () => {
    const { client, s } = await connected();
    s.take();
    const writesSeen: number[] = [];
    client.on("message", () => writesSeen.push(s.writes.length));
    const before = s.writes.length;
    s.send(publish("a/1", "1", 1, 1), publish("a/2", "2", 1, 2), publish("a/3", "3", 2, 3));
    assert.deepEqual(writesSeen, [before, before, before], "nothing written while the read is handled");
    assert.deepEqual(s.takeShown(), ["PUBACK #1", "PUBACK #2", "PUBREC #3"]);
  });

  it("writes a publish at once when nothing waits, and queues one behind what the socket cannot take yet", async () => {
    const { client, s } = await connected();
    s.take();
    s.writable(30);
    const first = outcome(client.publish("a", "1"));
    assert.deepEqual(s.log.slice(-1), ["write 6"], "written within publish(), no flush turn");
    await microtasks();
    assert.equal(first.settled, true, "a QoS 0 publish written whole resolves");
    const big = outcome(client.publish("b", "x".repeat(40)));
    const after = outcome(client.publish("c", "2"));
    await microtasks();
    assert.equal(after.settled, false, "a small publish does not pass the one still being written");
    s.writable(100);
    await microtasks();
    assert.deepEqual(s.takeShown(), ["PUBLISH a q0 '1'", `PUBLISH b q0 '${"x".repeat(40)}'`, "PUBLISH c q0 '2'"]);
    assert.equal(big.settled && after.settled, true);
    assert.equal(s.overrun, 0);
  });

  it("a socket write that throws closes the link with DISCONNECTED; the QoS 1 message is sent on the next connection", async () => {
    const { client, s, net, clock, log } = await connected({ reconnect: { initialMs: 1000, maxMs: 1000 } });
    s.take();
    log.length = 0;
    s.write = () => { throw new Error("EPIPE"); };
    const p = outcome(client.publish("q/1", "a", { qos: 1 }));
    assert.deepEqual(log, ["error DISCONNECTED", "disconnected DISCONNECTED 500", "reconnecting 1 500"]);
    clock.advance(500);
    const next = net.last;
    assert.notEqual(next, s);
    next.writable(65_536);
    next.send(connack());
    await microtasks();
    assert.deepEqual(next.takeShown().slice(1), ["PUBLISH q/1 q1 #2 'a'"], "a clean session sends it anew");
    next.send({ type: P.PUBACK, id: 2 });
    await microtasks();
    assert.equal(p.settled && p.error === undefined, true);
  });

  it("resolves QoS 1 on PUBACK and QoS 2 on PUBCOMP", async () => {
    const { client, s } = await connected();
    const p1 = outcome(client.publish("q/1", "a", { qos: 1 }));
    const p2 = outcome(client.publish("q/2", "b", { qos: 2, retain: true }));
    await microtasks();
    assert.deepEqual(s.takeShown(), ["PUBLISH q/1 q1 #1 'a'", "PUBLISH q/2 q2 #2 retain 'b'"]);
    assert.equal(p1.settled || p2.settled, false);
    s.send({ type: P.PUBACK, id: 1 }, { type: P.PUBREC, id: 2 });
    await microtasks();
    assert.equal(p1.settled, true);
    assert.equal(p2.settled, false);
    assert.deepEqual(s.takeShown(), ["PUBREL #2"]);
    s.send({ type: P.PUBCOMP, id: 2 });
    await microtasks();
    assert.equal(p2.settled, true);
  });

  it("on a socket error emits 'disconnected' with reconnectInMs = backoffDelay(attempt) and reconnects after that delay; attempts grow", async () => {
    const reconnect = { initialMs: 1000, maxMs: 60_000 };
    const { client, net, clock, s, log, disconnects } = await connected({ reconnect });
    log.length = 0;
    s.fail(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
    const d1 = backoffDelay(1, reconnect, () => 0.5);
    assert.equal(d1, 500);
    assert.deepEqual(log, ["error DISCONNECTED", "disconnected DISCONNECTED 500", "reconnecting 1 500"]);
    assert.equal(disconnects[0].reconnectInMs, d1);
    assert.equal(s.closed, true);
    assert.equal(client.connected, false);
    clock.advance(d1 - 1);
    assert.equal(net.sockets.length, 1);
    clock.advance(1);
    assert.equal(net.sockets.length, 2);

    // A connection that fails before onWritable: CONNECT_FAILED, next delay from attempt 2, then 3.
    log.length = 0;
    net.last.fail(new Error("connect ECONNREFUSED"));
    assert.deepEqual(log, ["error CONNECT_FAILED", `disconnected CONNECT_FAILED ${backoffDelay(2, reconnect, () => 0.5)}`, "reconnecting 2 1000"]);
    clock.advance(1000);
    assert.equal(net.sockets.length, 3);
    log.length = 0;
    net.last.fail();
    assert.deepEqual(log, ["error CONNECT_FAILED", "disconnected CONNECT_FAILED 2000", "reconnecting 3 2000"]);
    clock.advance(1999);
    assert.equal(net.sockets.length, 3);
    clock.advance(1);
    assert.equal(net.sockets.length, 4);

    // A CONNACK alone does not reset the attempt count: the connection must last stableMs.
    const s4 = net.last;
    s4.writable(1000);
    s4.send(connack());
    log.length = 0;
    s4.fail();
    assert.deepEqual(log, ["error DISCONNECTED", "disconnected DISCONNECTED 4000", "reconnecting 4 4000"]);
    clock.advance(4000);

    // One that lasted stableMs (default 10 s) does.
    const s5 = net.last;
    s5.writable(1000);
    s5.send(connack());
    clock.advance(10_000);
    log.length = 0;
    s5.fail();
    assert.deepEqual(log, ["error DISCONNECTED", "disconnected DISCONNECTED 500", "reconnecting 1 500"]);
  });

  it("reconnects when the socket constructor throws", async () => {
    const { client, net, clock, log } = setup({ reconnect: { initialMs: 100 } });
    net.refuse = new Error("no route to host");
    const p = outcome(client.connect());
    assert.equal(net.sockets.length, 0);
    assert.deepEqual(log, ["error CONNECT_FAILED", "disconnected CONNECT_FAILED 50", "reconnecting 1 50"]);
    net.refuse = undefined;
    clock.advance(50);
    assert.equal(net.sockets.length, 1);
    net.last.writable(100);
    net.last.send(connack());
    await microtasks();
    assert.deepEqual(p.value, { sessionPresent: false });
  });

  it("stops after maxAttempts retries: connect() rejects and no more sockets are made", async () => {
    const { client, net, clock, disconnects } = setup({ reconnect: { initialMs: 100, maxAttempts: 3 } });
    const p = outcome(client.connect());
    for (let i = 1; i <= 4; i++) {
      assert.equal(net.sockets.length, i);
      net.last.fail(new Error("ECONNREFUSED"));
      clock.advance(10_000);
    }
    await microtasks();
    assert.equal(net.sockets.length, 4, "the first try and three retries");
    assert.ok(p.error instanceof MqttError);
    assert.equal((p.error as MqttError).code, "CONNECT_FAILED");
    assert.deepEqual(disconnects.map((d) => d.reconnectInMs), [50, 100, 200, undefined]);
    clock.advance(1e9);
    assert.equal(net.sockets.length, 4);
    assert.deepEqual(clock.pending, [], "no timer left");
  });

  it("surfaces CONNACK code 5 as an AUTHENTICATION_FAILED error and keeps retrying", async () => {
    const { client, net, clock, log } = setup();
    void client.connect().catch(() => {});
    net.last.writable(1000);
    net.last.send(connack(false, 5));
    assert.deepEqual(log, ["error AUTHENTICATION_FAILED", "disconnected AUTHENTICATION_FAILED 500", "reconnecting 1 500"]);
    assert.equal(net.last.closed, true);
    clock.advance(500);
    assert.equal(net.sockets.length, 2);
    await client.disconnect();
  });

  it("with reconnect false, CONNACK code 4 rejects connect() with AUTHENTICATION_FAILED", async () => {
    const { client, net, clock } = setup({ reconnect: false, username: "u", password: "bad" });
    const p = outcome(client.connect());
    net.last.writable(1000);
    assert.deepEqual(net.last.takeShown(), ["CONNECT dev clean=1 ka=0 user=u pass=bad"]);
    net.last.send(connack(false, 4));
    await microtasks();
    assert.equal((p.error as MqttError).code, "AUTHENTICATION_FAILED");
    clock.advance(1e9);
    assert.equal(net.sockets.length, 1);
  });

  it("times out a socket that never becomes writable within connectTimeoutMs, then retries", () => {
    const { client, net, clock, log } = setup({ connectTimeoutMs: 2000 });
    void client.connect().catch(() => {});
    clock.advance(1999);
    assert.deepEqual(log, []);
    assert.equal(net.last.closed, false);
    clock.advance(1);
    assert.deepEqual(log, ["error TIMEOUT", "disconnected TIMEOUT 500", "reconnecting 1 500"]);
    assert.equal(net.last.closed, true);
    clock.advance(500);
    assert.equal(net.sockets.length, 2);
  });

  it("times out a connection whose CONNACK never comes", () => {
    const { client, net, clock, log } = setup({ connectTimeoutMs: 2000 });
    void client.connect().catch(() => {});
    clock.advance(700);
    net.last.writable(1000);
    clock.advance(1999);
    assert.deepEqual(log, []);
    clock.advance(1);
    assert.deepEqual(log, ["error TIMEOUT", "disconnected TIMEOUT 500", "reconnecting 1 500"]);
    assert.equal(net.last.closed, true);
  });

  it("pings on the fake clock and gives up on a missing PINGRESP", async () => {
    const { s, clock, log, net } = await connected({ keepalive: 10, pingTimeoutMs: 3000 });
    log.length = 0;
    clock.advance(9_999);
    await microtasks();
    assert.deepEqual(s.takeShown(), []);
    clock.advance(1);
    await microtasks();
    assert.deepEqual(s.takeShown(), ["PINGREQ"]);
    clock.advance(1000);
    s.send({ type: P.PINGRESP });
    clock.advance(8_999);
    await microtasks();
    assert.deepEqual(s.takeShown(), []);
    clock.advance(1);
    await microtasks();
    assert.deepEqual(s.takeShown(), ["PINGREQ"], "20 s: keepalive after the PINGREQ at 10 s");
    clock.advance(2_999);
    assert.deepEqual(log, []);
    clock.advance(1);
    assert.deepEqual(log, ["error TIMEOUT", "disconnected TIMEOUT 500", "reconnecting 1 500"]);
    assert.equal(s.closed, true);
    clock.advance(500);
    assert.equal(net.sockets.length, 2);
  });

  it("resends an unacknowledged QoS 1 publish with DUP on a new socket when the session is resumed", async () => {
    const store = new MemoryStore();
    const { client, net, clock, s } = await connected({ clean: false, store });
    const p = outcome(client.publish("r/1", "keep", { qos: 1 }));
    await microtasks();
    assert.deepEqual(s.takeShown(), ["PUBLISH r/1 q1 #1 'keep'"]);
    assert.deepEqual(store.load().map((m) => [m.seq, m.id]), [[1, 1]]);
    s.fail();
    clock.advance(500);
    const s2 = net.last;
    assert.notEqual(s2, s);
    s2.writable(1000);
    assert.deepEqual(s2.takeShown(), ["CONNECT dev clean=0 ka=0"]);
    s2.send(connack(true));
    await microtasks();
    assert.deepEqual(s2.takeShown(), ["PUBLISH r/1 q1 #1 dup 'keep'"]);
    assert.equal(p.settled, false);
    s2.send({ type: P.PUBACK, id: 1 });
    await microtasks();
    assert.equal(p.settled, true);
    assert.deepEqual(store.load(), []);
  });

  it("sends what a \"connected\" listener publishes after the messages queued while offline", async () => {
    const { client, net, clock, s } = await connected({ clean: false });
    s.fail();
    const queued = outcome(client.publish("q/1", "queued", { qos: 1 }));
    client.on("connected", () => { void client.publish("status", "online", { qos: 1 }).catch(() => {}); });
    clock.advance(500);
    const s2 = net.last;
    s2.writable(1000);
    assert.deepEqual(s2.takeShown(), ["CONNECT dev clean=0 ka=0"]);
    s2.send(connack(false));
    await microtasks();
    assert.deepEqual(s2.takeShown(), ["PUBLISH q/1 q1 #1 'queued'", "PUBLISH status q1 #2 'online'"]);
    assert.equal(queued.settled, false);
  });

  it("resumes messages from the store given at construction", async () => {
    const store = new MemoryStore();
    store.put({ seq: 4, topic: "old/t", payload: bytes("o"), qos: 2, retain: false, id: 9 });
    const { s } = await connected({ clean: false, store });
    await microtasks();
    assert.deepEqual(s.takeShown(), ["PUBLISH old/t q2 #1 'o'"], "sessionPresent=0: sent anew with a new id");
    assert.deepEqual(store.load().map((m) => [m.seq, m.id]), [[4, 1]]);
  });

  it("rejects a QoS 0 publish still unwritten when the connection drops with DISCONNECTED", async () => {
    const { client, s } = await connected({}, 20);
    const p = outcome(client.publish("t", new Uint8Array(200)));
    await microtasks();
    assert.ok(s.bytes.length <= 20);
    s.fail();
    await microtasks();
    assert.equal((p.error as MqttError).code, "DISCONNECTED");
  });

  it("a message handler that throws stops neither the other handlers nor the client", async () => {
    const { client, s, errors } = await connected();
    const got: string[] = [];
    const events: string[] = [];
    client.handle("a/+", () => { throw new Error("boom"); });
    client.handle("a/#", (m) => got.push(`${m.topic}=${td.decode(m.payload)}`));
    client.on("message", (m) => events.push(m.topic));
    s.send(publish("a/b", "1"), publish("a/c", "2", 1, 1));
    assert.deepEqual(got, ["a/b=1", "a/c=2"]);
    assert.deepEqual(events, ["a/b", "a/c"]);
    assert.equal(errors.length, 2);
    assert.ok(errors.every((e) => e instanceof MqttError && (e.cause as Error).message === "boom"));
    assert.equal(client.connected, true);
    assert.equal(s.closed, false);
    await microtasks();
    assert.deepEqual(s.takeShown(), ["PUBACK #1"], "the QoS 1 message is still acknowledged");
    client.on("message", () => { throw new Error("listener"); });
    s.send(publish("a/d", "3"));
    assert.deepEqual(got, ["a/b=1", "a/c=2", "a/d=3"]);
    assert.equal(errors.length, 4, "handler and 'message' listener errors both reported");
    assert.equal(client.connected, true);
  });

  it("routes messages to handlers by filter with + and #", async () => {
    const { client, s } = await connected();
    const seen: Record<string, string[]> = {};
    for (const f of ["s/+/t", "s/#", "x", "+/+", "#", "+"]) {
      seen[f] = [];
      client.handle(f, (m: Message) => seen[f].push(m.topic));
    }
    const remove = client.handle("s/1/t", () => assert.fail("removed handler called"));
    remove();
    for (const topic of ["s/1/t", "s/1/u", "s", "x", "$SYS/x", "a/b", "s/1/t/deeper"]) s.send(publish(topic, "p"));
    assert.deepEqual(seen, {
      "s/+/t": ["s/1/t"],
      "s/#": ["s/1/t", "s/1/u", "s", "s/1/t/deeper"],
      x: ["x"],
      "+/+": ["a/b"],
      "#": ["s/1/t", "s/1/u", "s", "x", "a/b", "s/1/t/deeper"],
      "+": ["s", "x"],
    });
  });

  it("subscribe() with a handler resolves with the granted QoS; unsubscribe() removes the handler", async () => {
    const { client, s } = await connected();
    const got: string[] = [];
    const sub = outcome(client.subscribe("sub/+", { qos: 1 }, (m) => got.push(m.topic)));
    await microtasks();
    assert.deepEqual(s.takeShown(), ["SUBSCRIBE #1 sub/+:1"]);
    s.send({ type: P.SUBACK, id: 1, granted: [1] });
    await microtasks();
    assert.deepEqual(sub.value, [1]);
    s.send(publish("sub/z", "1", 1, 7));
    assert.deepEqual(got, ["sub/z"]);
    const unsub = outcome(client.unsubscribe("sub/+"));
    await microtasks();
    assert.deepEqual(s.takeShown(), ["PUBACK #7", "UNSUBSCRIBE #2 sub/+"]);
    s.send({ type: P.UNSUBACK, id: 2 });
    await microtasks();
    assert.equal(unsub.settled, true);
    s.send(publish("sub/z", "2"));
    assert.deepEqual(got, ["sub/z"]);
    const bad = outcome(client.subscribe("sub/#/x"));
    await microtasks();
    assert.equal((bad.error as MqttError).code, "INVALID_ARGUMENT");
  });

  it("disconnect() writes DISCONNECT before closing and stops reconnecting", async () => {
    const { client, s, net, clock, log, disconnects } = await connected({ keepalive: 10 });
    log.length = 0;
    const before = s.log.length;
    await client.disconnect();
    assert.deepEqual(s.log.slice(before), ["write 2", "close"]);
    assert.deepEqual(s.takeShown(), ["DISCONNECT"]);
    assert.deepEqual(log, ["disconnected - -"]);
    assert.deepEqual(disconnects[disconnects.length - 1], {});
    assert.equal(client.connected, false);
    clock.advance(1e9);
    assert.equal(net.sockets.length, 1);
    assert.deepEqual(clock.pending, [], "no keepalive or retry timer left");
  });

  it("disconnect() during a retry wait cancels the retry and rejects connect()", async () => {
    const { client, net, clock } = setup();
    const p = outcome(client.connect());
    net.last.fail();
    await client.disconnect();
    await microtasks();
    assert.equal((p.error as MqttError).code, "CLOSED");
    clock.advance(1e9);
    assert.equal(net.sockets.length, 1);
  });

  it("a store that throws on put reports an error but the publish still completes", async () => {
    const store: OutboxStore = {
      load: (): StoredMessage[] => [],
      put: () => { throw new Error("flash full"); },
      delete: () => {},
    };
    const { client, s, errors } = await connected({ store });
    const p = outcome(client.publish("t", "x", { qos: 1 }));
    assert.equal(errors.length, 1);
    assert.equal(errors[0].code, "PUBLISH_FAILED");
    assert.equal((errors[0].cause as Error).message, "flash full");
    await microtasks();
    assert.deepEqual(s.takeShown(), ["PUBLISH t q1 #1 'x'"]);
    s.send({ type: P.PUBACK, id: 1 });
    await microtasks();
    assert.equal(p.settled, true);
    assert.equal(p.error, undefined);
  });

  it("closes and reconnects on malformed bytes from the broker", async () => {
    const { s, net, clock, log } = await connected();
    log.length = 0;
    s.deliver(Uint8Array.of(0x36, 5, 0, 1, 0x61, 0, 1)); // PUBLISH with QoS 3
    assert.deepEqual(log, ["error MALFORMED_PACKET", "disconnected MALFORMED_PACKET 500", "reconnecting 1 500"]);
    assert.equal(s.closed, true);
    clock.advance(500);
    const s2 = net.last;
    s2.writable(100);
    s2.send(connack());
    assert.deepEqual(log.slice(3), ["connected sp=0"]);
  });

  it("reads broker bytes split across onReadable calls", async () => {
    const { client, s } = await connected();
    const got: string[] = [];
    client.handle("#", (m) => got.push(td.decode(m.payload)));
    const data = encode(publish("split", "hello world"));
    for (const b of data) s.deliver(Uint8Array.of(b));
    assert.deepEqual(got, ["hello world"]);
  });
});

describe("MqttClient: the core's contract (issue 9)", () => {
  /** CONNECT of client "dev", keepalive 0: a socket allowing exactly this much is then stalled. */
  const CONNECT_SIZE = 17;

  it("bounds its write queue: on a link that never drains, QoS 0 goes through the outbox and its policy", async () => {
    const { client, s } = await connected({ outbox: { maxMessages: 10 }, maxUnwritten: 16 * 1024 }, CONNECT_SIZE);
    const payload = new Uint8Array(1024);
    const results = Array.from({ length: 5000 }, (_, i) => outcome(client.publish(`t/${i % 10}`, payload)));
    await microtasks();
    const rejected = results.filter((r) => (r.error as MqttError | undefined)?.code === "QUEUE_FULL").length;
    // At most maxUnwritten plus one packet handed to the socket layer, and 10 in the outbox.
    assert.ok(client.session.unwritten <= 16 * 1024 + 1024 + 16, `unwritten ${client.session.unwritten}`);
    assert.equal(client.session.queued, 10);
    assert.equal(rejected, 5000 - 10 - Math.ceil((16 * 1024) / (1024 + 7)));
    assert.equal(s.writes.length, 1, "only the CONNECT: the socket allowed nothing more");
    // The link drains: everything accepted is written and resolved, in order.
    for (let i = 0; i < 40; i++) {
      s.writable(64 * 1024);
      await microtasks();
    }
    assert.equal(results.filter((r) => r.settled && r.error === undefined).length, 10 + Math.ceil((16 * 1024) / (1024 + 7)));
    assert.equal(s.overrun, 0);
  });

  it("stops reading while writes are backed up, and reads on once they drain", async () => {
    const { client, s } = await connected({ maxUnwritten: 100 }, CONNECT_SIZE);
    void client.publish("t", new Uint8Array(200)).catch(() => {});
    await microtasks();
    const got: string[] = [];
    client.on("message", (m) => got.push(m.topic));
    s.send(publish("in/1", "a", 1, 1));
    assert.deepEqual(got, [], "not read: its PUBACK could not be sent");
    s.writable(1000);
    await microtasks();
    assert.deepEqual(got, ["in/1"]);
  });

  it("every operation settles when disconnect() is called with reconnect off", async () => {
    const { client, s } = await connected({ reconnect: false });
    s.fail(new Error("link lost"));
    const sub = outcome(client.subscribe("a/#", { qos: 1 }));
    const uns = outcome(client.unsubscribe("b"));
    const q1 = outcome(client.publish("t", "x", { qos: 1 }));
    const q2 = outcome(client.publish("t", "y", { qos: 2 }));
    const q0 = outcome(client.publish("t", "z"));
    await client.disconnect();
    await microtasks();
    for (const o of [sub, uns, q1, q2, q0]) assert.equal((o.error as MqttError)?.code, "CLOSED");
    assert.equal(client.session.queued, 2, "QoS 1/2 messages stay for the next connect");
  });

  it("connect() on a connected client resolves with the last CONNACK's session flag", async () => {
    const t = setup({ clean: false });
    const first = t.client.connect();
    t.net.last.writable(1000);
    t.net.last.send({ type: P.CONNACK, sessionPresent: true, returnCode: 0 });
    assert.deepEqual(await first, { sessionPresent: true });
    assert.deepEqual(await t.client.connect(), { sessionPresent: true });
  });

  it("refuses non-string topics and filters from plain JavaScript without touching the wire", async () => {
    const { client, s } = await connected();
    s.take();
    const code = async (p: Promise<unknown>) => (await p.then(() => undefined, (e: MqttError) => e)) ?.code;
    assert.equal(await code(client.publish(5 as never, "x")), "INVALID_ARGUMENT");
    assert.equal(await code(client.publish("t", 5 as never)), "INVALID_ARGUMENT");
    assert.equal(await code(client.publish("t", "x", { qos: "1" } as never)), "INVALID_ARGUMENT");
    assert.equal(await code(client.subscribe([7] as never)), "INVALID_ARGUMENT");
    assert.equal(await code(client.unsubscribe([1, 2] as never)), "INVALID_ARGUMENT");
    assert.equal(await code(client.subscribe("ok", {}, "not a function" as never)), "INVALID_ARGUMENT");
    await microtasks();
    assert.deepEqual(s.take(), []);
  });

  it("one owner for filters and handlers: a failed subscribe keeps no handler; unsubscribe is per handler", async () => {
    const { client, s } = await connected();
    s.take();
    const seen: string[] = [];
    await client.subscribe("bad/#/x", {}, () => seen.push("bad")).catch(() => {});
    assert.equal(client.session.subscriptions.size, 0);
    const h1 = (m: Message) => seen.push(`h1 ${m.topic}`);
    const h2 = (m: Message) => seen.push(`h2 ${m.topic}`);
    const a = client.subscribe("a/+", { qos: 0 }, h1);
    const b = client.subscribe("a/+", { qos: 0 }, h2);
    await microtasks();
    s.take();
    s.send({ type: P.SUBACK, id: 1, granted: [0] }, { type: P.SUBACK, id: 2, granted: [0] });
    await Promise.all([a, b]);
    await client.unsubscribe("a/+", h1);
    await microtasks();
    assert.deepEqual(s.take(), [], "h2 still holds a/+: no UNSUBSCRIBE");
    s.send(publish("a/1", "m"));
    assert.deepEqual(seen, ["h2 a/1"]);
    const last = client.unsubscribe("a/+", h2);
    await microtasks();
    assert.deepEqual(s.take().map((p) => p.type), [P.UNSUBSCRIBE]);
    s.send({ type: P.UNSUBACK, id: 3 });
    await last;
  });

  it("a refused subscription reaches the application as 'suback' events and recovers by itself", async () => {
    const { client, s, clock } = await connected({ resubscribe: { initialMs: 100 } });
    const events: string[] = [];
    client.on("suback", (e) => events.push(`${e.filter} ${e.code} ${e.retryInMs ?? "-"}`));
    const got: string[] = [];
    const sub = outcome(client.subscribe("g/#", { qos: 1 }, (m) => got.push(m.topic)));
    await microtasks();
    s.take();
    s.send({ type: P.SUBACK, id: 1, granted: [0x80] });
    await microtasks();
    assert.equal((sub.error as MqttError).code, "SUBSCRIBE_FAILED");
    clock.advance(100);
    await microtasks();
    assert.deepEqual(s.take().map((p) => p.type), [P.SUBSCRIBE]);
    s.send({ type: P.SUBACK, id: 2, granted: [1] }, publish("g/x", "hello"));
    assert.deepEqual(events, ["g/# 128 100", "g/# 1 -"]);
    assert.deepEqual(got, ["g/x"]);
  });
});
