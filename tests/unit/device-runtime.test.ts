// The Device every product runs on, on the product test kit (the real client, a scripted
// broker, a fake clock), and its shared parts: options from host text, the generated topic
// table, the token bucket, the serial queue and the bounded wait.

import { strict as assert } from "node:assert";
import { CommandDispatcher } from "../../modules/device/commands.js";
import type { StatusOptions } from "../../modules/device/device.js";
import { readOptions, optionDefaults } from "../../modules/device/options.js";
import { TokenBucket } from "../../modules/device/rate.js";
import { SerialQueue } from "../../modules/device/queue.js";
import { resolveTable } from "../../modules/device/topics.js";
import { within } from "../../modules/device/wait.js";
import { fnv1a, fnv1aHex } from "../../modules/device/hash.js";
import { FakeClock, Kit, microtasks } from "../kit/index.js";

const STATUS: StatusOptions = { topic: "d/1/status", qos: 1, online: () => ({ state: "online" }), offline: () => ({ state: "offline" }) };

function echoRoute(kit: Kit, gate?: Promise<void>) {
  const dispatcher = new CommandDispatcher({ idField: "id", nameField: "command" })
    .register("echo", { run: (r) => ({ said: r.text ?? null }) })
    .register("slow", { run: async () => { await gate; } })
    .register("boom", { run: () => { throw new Error("driver fault"); } });
  kit.device.route({
    topic: "d/1/cmd", qos: 1, dispatcher,
    respond: (o) => ({ topic: "d/1/response", qos: 1, retain: false, payload: { id: o.id, ok: o.ok, error: o.error?.code ?? null } }),
  });
}

describe("Device runtime on the kit", () => {
  it("publishes the retained status on every connect; the will is the offline status", async () => {
    const kit = new Kit({ deviceId: "1" });
    kit.device.connect({ clientId: "d1", clean: true, status: STATUS });
    await kit.settle();
    assert.deepEqual(kit.broker.retained.get("d/1/status")?.json, { state: "online" });
    assert.deepEqual(kit.broker.will?.json, { state: "offline" });
    kit.broker.cut();
    assert.deepEqual(kit.broker.retained.get("d/1/status")?.json, { state: "offline" });
    await kit.run(2_000);
    assert.equal(kit.broker.connects.length, 2);
    assert.deepEqual(kit.broker.retained.get("d/1/status")?.json, { state: "online" });
  });

  it("answers commands in order, bad ones with their error, and a failing handler does not stop the queue", async () => {
    const kit = new Kit({ deviceId: "1" });
    const reports: string[] = [];
    kit.device.on("report", (e) => reports.push(e.kind));
    echoRoute(kit);
    kit.device.connect({ clientId: "d1", clean: true });
    await kit.settle();
    for (const p of ['{"id":"a","command":"echo"}', "{nope", '{"id":"b","command":"boom"}', '{"id":"c","command":"fly"}', '{"id":"d","command":"echo"}']) kit.broker.deliver("d/1/cmd", p);
    await kit.settle();
    assert.deepEqual(kit.broker.payloads("d/1/response"), [
      { id: "a", ok: true, error: null }, { id: null, ok: false, error: "malformed_json" }, { id: "b", ok: false, error: "failed" },
      { id: "c", ok: false, error: "unknown_command" }, { id: "d", ok: true, error: null },
    ]);
    assert.equal(reports.filter((r) => r === "command_rejected").length, 3);
  });

  it("answers a flood behind a slow command 'busy' beyond its bound", async () => {
    const kit = new Kit({ deviceId: "1" });
    let open!: () => void;
    echoRoute(kit, new Promise<void>((resolve) => { open = resolve; }));
    kit.device.connect({ clientId: "d1", clean: true });
    await kit.settle();
    const limit = kit.device.queue.limit;
    for (let n = 0; n < limit + 3; n++) kit.broker.deliver("d/1/cmd", { id: `s${n}`, command: "slow" });
    await kit.settle();
    assert.deepEqual(kit.broker.payloads("d/1/response").map((r) => r.id), [limit, limit + 1, limit + 2].map((n) => `s${n}`));
    open();
    await kit.device.queue.idle();
    await kit.settle();
    assert.equal(kit.broker.payloads("d/1/response").length, limit + 3);
  });

  it("listens until told to stop, across reconnects", async () => {
    const kit = new Kit({ deviceId: "1" });
    const heard: string[] = [];
    const stop = kit.device.listen("d/1/config", 1, (m) => heard.push(new TextDecoder().decode(m.payload)));
    kit.device.connect({ clientId: "d1", clean: true });
    await kit.settle();
    kit.broker.deliver("d/1/config", "one");
    kit.broker.cut();
    await kit.run(2_000);
    kit.broker.deliver("d/1/config", "two");
    await kit.settle();
    stop();
    await kit.settle();
    kit.broker.deliver("d/1/config", "three");
    await kit.settle();
    assert.deepEqual(heard, ["one", "two"]);
    assert.equal(kit.broker.subscriptions.has("d/1/config"), false);
  });

  it("reports a refused subscription and its restoration", async () => {
    const kit = new Kit({ deviceId: "1" });
    const reports: string[] = [];
    kit.device.on("report", (e) => reports.push(e.kind));
    kit.broker.refuse.add("d/1/cmd");
    echoRoute(kit);
    kit.device.connect({ clientId: "d1", clean: true });
    await kit.settle();
    assert.deepEqual([...kit.device.refusedFilters], ["d/1/cmd"]);
    kit.broker.refuse.clear();
    await kit.run(5_000);
    assert.deepEqual(reports, ["subscribe_refused", "subscribe_restored"]);
    assert.equal(kit.device.refusedFilters.size, 0);
  });

  it("reports what the client reports with the link up (an oversize message skipped) as client_error, and stays connected", async () => {
    const kit = new Kit({ deviceId: "1" });
    const reports: { kind: string; code?: string }[] = [];
    kit.device.on("report", (e) => reports.push({ kind: e.kind, code: e.error?.code }));
    kit.device.listen("d/1/config", 1, () => {});
    kit.device.connect({ clientId: "d1", clean: true });
    await kit.settle();
    kit.broker.deliver("d/1/config", new Uint8Array(300 * 1024));
    await kit.settle();
    assert.deepEqual(reports, [{ kind: "client_error", code: "PACKET_TOO_LARGE" }]);
    assert.equal(kit.device.connected, true);
  });

  it("bounds the goodbye and the DISCONNECT on a dead link, and may connect again after", async () => {
    const kit = new Kit({ deviceId: "1" });
    kit.device.connect({ clientId: "d1", clean: true, status: STATUS });
    await kit.settle();
    let finished = false;
    const done = kit.device.disconnect(() => new Promise(() => {}), 1_000).then(() => { finished = true; });
    kit.clock.advance(999);
    await microtasks();
    assert.equal(finished, false);
    kit.clock.advance(1);
    await kit.settle();
    await done;
    assert.equal(finished, true);
    assert.equal(kit.device.connected, false);
    kit.device.connect({ clientId: "d1", clean: true, status: STATUS });
    await kit.settle();
    assert.equal(kit.device.connected, true);
    assert.equal(kit.broker.connects.length, 2);
  });

  it("refuses a second connect while connected, and a publish before any connect is reported, not thrown", async () => {
    const kit = new Kit({ deviceId: "1" });
    const reports: string[] = [];
    kit.device.on("report", (e) => reports.push(e.kind));
    assert.equal(await kit.device.publish({ topic: "d/1/x", payload: 1, qos: 1, retain: false }), false);
    assert.deepEqual(reports, ["publish_failed"]);
    kit.device.connect({ clientId: "d1", clean: true });
    assert.throws(() => kit.device.connect({ clientId: "d1", clean: true }), /already connected/);
  });
});

describe("device: options from host text", () => {
  const SPEC = {
    prefix: { type: "string", default: "hawk", pattern: /^[a-z]+$/, aliases: ["topic_prefix"], doc: "topic prefix" },
    interval: { type: "number", default: 30, min: 1, max: 3600, integer: true, doc: "seconds" },
    verbose: { type: "boolean", default: false, doc: "log more" },
  } as const;

  it("gives typed defaults, parses values and accepts a specification's own key names", () => {
    assert.deepEqual(readOptions(SPEC, {}), { prefix: "hawk", interval: 30, verbose: false });
    assert.deepEqual(readOptions(SPEC, { topic_prefix: "fleet", interval: "60", verbose: "true" }), { prefix: "fleet", interval: 60, verbose: true });
    assert.deepEqual(optionDefaults(SPEC), { prefix: "hawk", interval: "30", verbose: "false" });
  });

  it("refuses unknown keys and bad values, naming each and the known options", () => {
    assert.throws(() => readOptions(SPEC, { prefx: "a" }), /unknown option "prefx".*Options: prefix \(also topic_prefix\)/);
    assert.throws(() => readOptions(SPEC, { interval: "1.5", verbose: "yes" }), /interval="1.5": must be an integer; verbose="yes": must be true or false/);
    assert.throws(() => readOptions(SPEC, { interval: "0" }), /must be at least 1/);
    assert.throws(() => readOptions(SPEC, { prefix: "a", topic_prefix: "b" }), /disagree/);
    assert.throws(() => readOptions(SPEC, { prefix: "A/B" }), /must match/);
  });
});

describe("device: generated topic table", () => {
  const TABLE = {
    reading: { topic: "{prefix}/device/{mac}/reading", qos: 1, retain: false, direction: "publish" },
    status: { topic: "{prefix}/system/status", qos: 2, retain: true, direction: "publish" },
  } as const;
  const PLACEHOLDERS = { prefix: "^[A-Za-z0-9_/-]{1,64}$" };

  it("fills topics with QoS and retain, and puts a root in front when given", () => {
    const t = resolveTable(TABLE, PLACEHOLDERS, { prefix: "hawk", mac: "AA" });
    assert.deepEqual(t.reading, { topic: "hawk/device/AA/reading", qos: 1, retain: false });
    assert.deepEqual(resolveTable(TABLE, PLACEHOLDERS, { prefix: "hawk/x", mac: "AA" }, "site/gw-2").status, { topic: "site/gw-2/hawk/x/system/status", qos: 2, retain: true });
  });

  it("refuses values that break a placeholder's pattern or inject levels or wildcards, and bad roots", () => {
    assert.throws(() => resolveTable(TABLE, PLACEHOLDERS, { prefix: "h#", mac: "AA" }), /prefix must match/);
    assert.throws(() => resolveTable(TABLE, PLACEHOLDERS, { prefix: "hawk", mac: "A/A" }), /mac must be a non-empty topic level/);
    assert.throws(() => resolveTable(TABLE, PLACEHOLDERS, { prefix: "hawk" }), /no value for \{mac\}/);
    for (const root of ["a//b", "/a", "a/+", "#"]) assert.throws(() => resolveTable(TABLE, PLACEHOLDERS, { prefix: "hawk", mac: "AA" }, root), /root must be/);
  });
});

describe("device: token bucket, serial queue, bounded wait, FNV-1a", () => {
  it("token bucket: capacity back to back, then one per refill period; a clock set back restarts the period", () => {
    const b = new TokenBucket(3, 1000, 0);
    assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
    assert.equal(b.take(999), false);
    assert.equal(b.take(1000), true);
    assert.equal(b.take(500), false); // clock went back
    assert.equal(b.take(1500), true);
  });

  it("serial queue: one job at a time in order, bounded, and a rejected job does not skip the rest", async () => {
    const errors: unknown[] = [];
    const q = new SerialQueue(3, (e) => errors.push(e));
    const order: string[] = [];
    let release!: () => void;
    assert.equal(q.add(() => new Promise<void>((resolve) => { release = () => { order.push("a"); resolve(); }; })), true);
    assert.equal(q.add(() => { throw new Error("b failed"); }), true);
    assert.equal(q.add(() => { order.push("c"); }), true);
    assert.equal(q.add(() => { order.push("d"); }), false, "the fourth waits beyond the bound");
    await microtasks();
    assert.deepEqual(order, []);
    release();
    await q.idle();
    assert.deepEqual(order, ["a", "c"]);
    assert.equal(String(errors[0]), "Error: b failed");
    assert.equal(q.pending, 0);
  });

  it("within: true when the work settles in time (even rejected), false when the time runs out", async () => {
    const clock = new FakeClock();
    assert.equal(await within(clock.timer, Promise.reject(new Error("x")), 100), true);
    const late = within(clock.timer, new Promise(() => {}), 100);
    clock.advance(100);
    assert.equal(await late, false);
    assert.deepEqual(clock.pending, []);
  });

  it("FNV-1a matches the reference vectors", () => {
    assert.equal(fnv1a(""), 0x811c9dc5);
    assert.equal(fnv1aHex("a"), "e40c292c");
    assert.equal(fnv1aHex("foobar"), "bf9cf968");
  });
});
