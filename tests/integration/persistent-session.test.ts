// Persistent sessions under a hostile network: both the publisher's and the subscriber's
// connections are cut over and over while 1,000 QoS 1 and 1,000 QoS 2 messages are in
// flight. Everything must arrive; QoS 2 exactly once; QoS 1 duplicates are counted.

import assert from "node:assert/strict";
import { Mosquitto } from "../harness/mosquitto.js";
import { Proxy } from "../harness/proxy.js";
import { client, closeAll, text } from "./util.js";

const PER_QOS = 1000;
const CUT_EVERY = 50; // completed publishes between cuts: 2,000 / 50 = 40 cuts

describe("persistent session across repeated connection cuts (mosquitto)", function () {
  this.timeout(120_000);
  let mosquitto: Mosquitto;
  let pubProxy: Proxy;
  let subProxy: Proxy;

  before(async () => {
    mosquitto = await Mosquitto.start();
    pubProxy = await Proxy.start(mosquitto.port);
    subProxy = await Proxy.start(mosquitto.port);
  });
  after(async () => {
    await closeAll();
    await pubProxy.close();
    await subProxy.close();
    await mosquitto.dispose();
  });

  it(`delivers ${PER_QOS} QoS 1 and ${PER_QOS} QoS 2 publishes through 20+ cuts, QoS 2 exactly once`, async () => {
    const fast = { initialMs: 5, maxMs: 40 };
    const sub = client(subProxy.port, { clientId: "stress-sub", clean: false, reconnect: fast, keepalive: 30 });
    await sub.connect();
    await sub.subscribe("stress/#", { qos: 2 });

    const counts = { 1: new Map<string, number>(), 2: new Map<string, number>() };
    let distinct = 0;
    let allArrived!: () => void;
    const arrived = new Promise<void>((resolve) => { allArrived = resolve; });
    const history: string[] = [];
    const ids = new Map<string, number[]>();
    sub.on("connected", ({ sessionPresent }) => history.push(`sub connected sp=${sessionPresent}`));
    sub.on("message", (m) => {
      const map = m.topic === "stress/q1" ? counts[1] : counts[2];
      const key = text(m.payload);
      if (m.qos === 2) ids.set(key, [...(ids.get(key) ?? []), m.id as number]);
      if (m.qos === 2 && map.has(key)) history.push(`duplicate ${key} dup=${m.dup} ids=${ids.get(key)}`);
      if (m.qos === 2 && m.dup) history.push(`dup-flagged ${key} id=${m.id}`);
      const n = map.get(key) ?? 0;
      map.set(key, n + 1);
      if (n === 0 && ++distinct === 2 * PER_QOS) allArrived();
    });

    const pub = client(pubProxy.port, {
      clientId: "stress-pub", clean: false, reconnect: fast, keepalive: 30,
      outbox: { maxMessages: 2 * PER_QOS },
    });
    await pub.connect();
    let reconnects = 0;
    pub.on("connected", () => reconnects++);

    let completed = 0;
    let cuts = 0;
    const done = (): void => {
      if (++completed % CUT_EVERY === 0 && completed < 2 * PER_QOS) {
        pubProxy.cutAll();
        subProxy.cutAll();
        cuts++;
      }
    };
    const acks: Promise<void>[] = [];
    for (let i = 0; i < PER_QOS; i++) {
      acks.push(pub.publish("stress/q1", `q1-${i}`, { qos: 1 }).then(done));
      acks.push(pub.publish("stress/q2", `q2-${i}`, { qos: 2 }).then(done));
    }
    await Promise.all(acks);
    await arrived;

    const duplicates = (map: Map<string, number>) => [...map.values()].reduce((s, n) => s + n - 1, 0);
    console.log(`      cuts: ${cuts}, publisher reconnects: ${reconnects}, ` +
      `QoS 1 duplicates: ${duplicates(counts[1])}, QoS 2 duplicates: ${duplicates(counts[2])}`);
    assert.ok(cuts >= 20, `only ${cuts} cuts`);
    assert.ok(reconnects >= 20, `only ${reconnects} reconnects`);
    for (let i = 0; i < PER_QOS; i++) {
      assert.ok((counts[1].get(`q1-${i}`) ?? 0) >= 1, `QoS 1 message ${i} lost`);
      assert.equal(counts[2].get(`q2-${i}`), 1,
        `QoS 2 message ${i} delivered ${counts[2].get(`q2-${i}`) ?? 0} times\n${history.slice(-60).join("\n")}`);
    }
    assert.equal(counts[2].size, PER_QOS);
    assert.equal(pub.session.inflight + pub.session.queued, 0);
  });
});
