// The client against real brokers on loopback: aedes in-process and mosquitto.

import assert from "node:assert/strict";
import net from "node:net";
import { startAedes } from "../harness/aedes.js";
import { Mosquitto } from "../harness/mosquitto.js";
import { Proxy } from "../harness/proxy.js";
import { MqttError } from "../../modules/mqtt/errors.js";
import type { QoS } from "../../modules/mqtt/packets.js";
import { client, closeAll, next, Inbox, text } from "./util.js";

interface Broker {
  port: number;
  stop(): Promise<void>;
}

const brokers: [string, () => Promise<Broker>][] = [
  ["aedes", async () => { const a = await startAedes(); return { port: a.port, stop: () => a.close() }; }],
  ["mosquitto", async () => { const m = await Mosquitto.start(); return { port: m.port, stop: () => m.dispose() }; }],
];

for (const [name, start] of brokers) {
  describe(`client against ${name}`, function () {
    let broker: Broker;
    before(async () => { broker = await start(); });
    after(async () => { await broker.stop(); });
    afterEach(closeAll);

    for (const qos of [0, 1, 2] as QoS[]) {
      it(`publishes and receives at QoS ${qos}, in order`, async () => {
        const sub = client(broker.port);
        const pub = client(broker.port);
        await Promise.all([sub.connect(), pub.connect()]);
        const inbox = new Inbox(sub);
        const granted = await sub.subscribe(`q${qos}/+/x`, { qos });
        assert.deepEqual(granted, [qos]);
        const sent = Array.from({ length: 50 }, (_, i) => `m${i}`);
        await Promise.all(sent.map((m) => pub.publish(`q${qos}/a/x`, m, { qos })));
        await inbox.waitFor(50);
        assert.deepEqual(inbox.texts(), sent);
        assert.ok(inbox.messages.every((m) => m.qos === qos && m.topic === `q${qos}/a/x`));
      });
    }

    it("routes messages to handlers by filter with + and #", async () => {
      const c = client(broker.port);
      await c.connect();
      const plus: string[] = [], hash: string[] = [];
      await c.subscribe("r/+/t", { qos: 1 }, (m) => plus.push(m.topic));
      await c.subscribe("r/#", { qos: 1 }, (m) => hash.push(m.topic));
      const end = next(c, "message", (m) => m.topic === "r/end");
      await c.publish("r/1/t", "x", { qos: 1 });
      await c.publish("r/2/u", "y", { qos: 1 });
      await c.publish("r/end", "z", { qos: 1 });
      await end; // messages arrive in order, so the earlier ones are in
      // Overlapping subscriptions: a broker may send r/1/t once or twice; each handler sees its matches only.
      assert.ok(plus.length >= 1 && plus.every((t) => t === "r/1/t"), plus.join());
      assert.deepEqual([...new Set(hash)], ["r/1/t", "r/2/u", "r/end"]);
    });

    it("delivers a retained message to a later subscriber, and clears it", async () => {
      const pub = client(broker.port);
      await pub.connect();
      await pub.publish("ret/state", "on", { qos: 1, retain: true });
      const sub = client(broker.port);
      await sub.connect();
      const inbox = new Inbox(sub);
      await sub.subscribe("ret/state", { qos: 1 });
      await inbox.waitFor(1);
      assert.equal(text(inbox.messages[0].payload), "on");
      assert.equal(inbox.messages[0].retain, true);
      await pub.publish("ret/state", new Uint8Array(0), { qos: 1, retain: true });
    });

    it("publishes the will when the connection drops without DISCONNECT", async () => {
      const proxy = await Proxy.start(broker.port);
      try {
        const watcher = client(broker.port);
        await watcher.connect();
        const inbox = new Inbox(watcher);
        await watcher.subscribe("will/+", { qos: 1 });
        const dev = client(proxy.port, {
          reconnect: false,
          keepalive: 30,
          will: { topic: "will/dev", payload: "offline", qos: 1, retain: false },
        });
        await dev.connect();
        proxy.cutAll();
        await inbox.waitFor(1);
        assert.equal(inbox.messages[0].topic, "will/dev");
        assert.equal(text(inbox.messages[0].payload), "offline");
      } finally {
        await proxy.close();
      }
    });

    it("does not publish the will after a clean disconnect", async () => {
      const watcher = client(broker.port);
      await watcher.connect();
      const inbox = new Inbox(watcher);
      await watcher.subscribe("will2/+", { qos: 1 });
      const dev = client(broker.port, { will: { topic: "will2/dev", payload: "offline", qos: 1 } });
      await dev.connect();
      await dev.disconnect();
      await watcher.publish("will2/marker", "m", { qos: 1 });
      await inbox.waitFor(1);
      assert.deepEqual(inbox.messages.map((m) => m.topic), ["will2/marker"]);
    });

    it("carries a 100 KB payload both ways", async () => {
      const c = client(broker.port);
      await c.connect();
      const inbox = new Inbox(c);
      await c.subscribe("big/x", { qos: 1 });
      const payload = new Uint8Array(100_000).map((_, i) => (i * 31) & 0xff);
      await c.publish("big/x", payload, { qos: 1 });
      await inbox.waitFor(1);
      assert.deepEqual(inbox.messages[0].payload, payload);
    });

    it("rejects invalid requests with typed errors, and keeps working", async () => {
      const c = client(broker.port);
      await c.connect();
      await assert.rejects(c.publish("a/+", "x"), (e: MqttError) => e.code === "INVALID_ARGUMENT" && e.clause === "MQTT-3.3.2-2");
      await assert.rejects(c.subscribe("a/#/b"), (e: MqttError) => e.code === "INVALID_ARGUMENT" && e.clause === "MQTT-4.7.1-2");
      await assert.rejects(c.publish("a", "x", { qos: 3 as QoS }), (e: MqttError) => e.code === "INVALID_ARGUMENT");
      await c.publish("still/ok", "x", { qos: 1 });
    });
  });
}

describe("client against mosquitto: failures and recovery", function () {
  let mosquitto: Mosquitto;
  // queue_qos0_messages: QoS 0 publishes drained after a restart may reach the broker before the
  // persistent subscriber reconnects. max_inflight_messages 100: after a restart from its
  // persistence file, mosquitto 2.0.11 acknowledged yet dropped a few QoS 2 publishes from a
  // client whose window (16) is under its default limit of 20 (seen in 2 of 3 runs; its log
  // shows 100 received and 93 forwarded); with the higher limit, 0 of 20 runs lost any.
  beforeEach(async () => {
    mosquitto = await Mosquitto.start({ extra: ["queue_qos0_messages true", "max_inflight_messages 100"] });
  });
  afterEach(async () => {
    await closeAll();
    await mosquitto.dispose();
  });

  it("detects a dead link when PINGRESP stops coming, then reconnects", async () => {
    const proxy = await Proxy.start(mosquitto.port);
    try {
      const c = client(proxy.port, { keepalive: 1, pingTimeoutMs: 300 });
      await c.connect();
      proxy.blackhole();
      const down = await next(c, "disconnected");
      assert.equal(down.error?.code, "TIMEOUT");
      assert.match(down.error?.message ?? "", /PINGRESP/);
      proxy.resume();
      await next(c, "connected");
    } finally {
      await proxy.close();
    }
  });

  it("reconnects with backoff after mosquitto restarts, and resubscribes", async () => {
    const c = client(mosquitto.port, { reconnect: { initialMs: 50, maxMs: 400, factor: 2 } });
    await c.connect();
    const inbox = new Inbox(c);
    await c.subscribe("restart/t", { qos: 1 });
    const attempts: { attempt: number; delayMs: number }[] = [];
    c.on("reconnecting", (r) => attempts.push(r));
    const back = next(c, "connected");
    await mosquitto.restart();
    await back;
    assert.ok(attempts.length >= 1);
    attempts.forEach((r, i) => {
      assert.equal(r.attempt, i + 1);
      assert.ok(r.delayMs >= 0 && r.delayMs < Math.min(400, 50 * 2 ** i), `delay ${r.delayMs} within the ceiling`);
    });
    await c.publish("restart/t", "after", { qos: 1 });
    await inbox.waitFor(1);
    assert.equal(text(inbox.messages[0].payload), "after");
  });

  it("queues publishes while the broker is down and drains them in order", async () => {
    const sub = client(mosquitto.port, { clean: false, clientId: "drain-sub" });
    await sub.connect();
    const inbox = new Inbox(sub);
    await sub.subscribe("drain/t", { qos: 1 });
    const pub = client(mosquitto.port, { clean: false, clientId: "drain-pub" });
    await pub.connect();
    const down = next(pub, "disconnected");
    await mosquitto.stop();
    await down;
    const sent = Array.from({ length: 100 }, (_, i) => `n${i}`);
    const acks = sent.map((m, i) => pub.publish("drain/t", m, { qos: (i % 3) as QoS }));
    assert.equal(pub.session.queued, 100);
    await mosquitto.restart();
    await Promise.all(acks);
    await inbox.waitFor(100);
    // Order is guaranteed per QoS level [MQTT-4.6.0-6]; mosquitto forwards a QoS 2 message on PUBREL.
    const publishedQos = (m: string) => Number(m.slice(1)) % 3;
    assert.deepEqual([...inbox.texts()].sort(), [...sent].sort());
    for (const qos of [0, 1, 2]) {
      const got = inbox.texts().filter((m) => publishedQos(m) === qos);
      assert.deepEqual(got, sent.filter((m) => publishedQos(m) === qos), `QoS ${qos} order`);
    }
  });

  it("refuses bad credentials with AUTHENTICATION_FAILED and accepts good ones", async () => {
    const secured = await Mosquitto.start({ passwordFile: { username: "dev", password: "s3cret" } });
    try {
      const bad = client(secured.port, { username: "dev", password: "wrong", reconnect: false });
      await assert.rejects(bad.connect(), (e: MqttError) => e.code === "AUTHENTICATION_FAILED");
      const good = client(secured.port, { username: "dev", password: "s3cret" });
      await good.connect();
      await good.publish("auth/ok", "x", { qos: 1 });
    } finally {
      await closeAll();
      await secured.dispose();
    }
  });

  it("reports CONNECT_FAILED for a closed port and keeps retrying until maxAttempts", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const c = client(port, { reconnect: { initialMs: 5, maxMs: 10, maxAttempts: 3 } });
    const errors: MqttError[] = [];
    c.on("error", (e) => errors.push(e));
    await assert.rejects(c.connect(), (e: MqttError) => e.code === "CONNECT_FAILED");
    assert.equal(errors.length, 4); // the first try and three retries
  });
});

describe("client against a misbehaving broker", function () {
  afterEach(closeAll);

  it("closes on a malformed packet with MALFORMED_PACKET, reconnects, and keeps working", async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.once("data", () => {
        socket.write(Uint8Array.of(0x20, 2, 0, 0)); // CONNACK accepted
        // First connection: a PUBLISH with QoS 3 [MQTT-3.3.1-4]; later ones behave.
        if (connections === 1) socket.write(Uint8Array.of(0x36, 5, 0, 1, 0x61, 0, 1));
      });
      socket.on("error", () => {});
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const c = client((server.address() as net.AddressInfo).port);
      const error = next(c, "error");
      await c.connect();
      const e = (await error) as MqttError;
      assert.equal(e.code, "MALFORMED_PACKET");
      assert.equal(e.clause, "MQTT-3.3.1-4");
      await next(c, "connected");
      assert.equal(connections, 2);
    } finally {
      await closeAll();
      server.close();
    }
  });

  it("refuses an oversize packet other than PUBLISH from its fixed header alone", async () => {
    const server = net.createServer((socket) => {
      socket.once("data", () => {
        socket.write(Uint8Array.of(0x20, 2, 0, 0));
        // SUBACK announcing 1,000,000 bytes; only the header is ever sent.
        socket.write(Uint8Array.of(0x90, 0xc0, 0x84, 0x3d));
      });
      socket.on("error", () => {});
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const c = client((server.address() as net.AddressInfo).port, { maxPacketSize: 64 * 1024, reconnect: false });
      const error = next(c, "error");
      await c.connect();
      assert.equal(((await error) as MqttError).code, "PACKET_TOO_LARGE");
    } finally {
      await closeAll();
      server.close();
    }
  });

  it("skips an oversize PUBLISH as it streams in, acknowledges it and stays connected", async () => {
    const acks: number[] = [];
    let acked!: () => void;
    const bothAcked = new Promise<void>((resolve) => { acked = resolve; });
    const server = net.createServer((socket) => {
      socket.once("data", () => {
        socket.write(Uint8Array.of(0x20, 2, 0, 0));
        // A 1,000,000-byte QoS 1 PUBLISH to "big" (id 7), in 10 KB writes, then a small one (id 8).
        const rl = 1_000_000 - 4;
        socket.write(Uint8Array.of(0x32, 0xbc, 0x84, 0x3d, 0, 3, 0x62, 0x69, 0x67, 0, 7));
        for (let left = rl - 7; left > 0; left -= 10_000) socket.write(new Uint8Array(Math.min(10_000, left)));
        socket.write(Uint8Array.of(0x32, 9, 0, 5, 0x73, 0x6d, 0x61, 0x6c, 0x6c, 0, 8, 0x21));
        socket.on("data", (d: Buffer) => {
          for (let i = 0; i + 4 <= d.length; i += 4) if (d[i] === 0x40) acks.push(d.readUInt16BE(i + 2));
          if (acks.length === 2) acked();
        });
      });
      socket.on("error", () => {});
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const c = client((server.address() as net.AddressInfo).port, { maxPacketSize: 64 * 1024, reconnect: false });
      const error = next(c, "error");
      const small = next(c, "message", (m) => m.topic === "small");
      let disconnected = false;
      c.on("disconnected", () => { disconnected = true; });
      await c.connect();
      const e = (await error) as MqttError;
      assert.equal(e.code, "PACKET_TOO_LARGE");
      assert.equal(e.topic, "big");
      assert.equal(e.size, 1_000_000);
      await small;
      await bothAcked;
      assert.deepEqual(acks, [7, 8]);
      assert.equal(disconnected, false);
    } finally {
      await closeAll();
      server.close();
    }
  });

});
