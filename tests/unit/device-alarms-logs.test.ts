// The device layer's alarms (publish on change only, bounded table with a displacement
// policy) and logs (levels, link-up gating, token-bucket rate limit with a "N dropped" line).

import { strict as assert } from "node:assert";
import { Alarms } from "../../modules/device/alarms.js";
import type { AlarmChange } from "../../modules/device/alarms.js";
import { Logs } from "../../modules/device/logs.js";
import type { LogsOptions } from "../../modules/device/logs.js";
import type { Publication } from "../../modules/device/device.js";

function alarmRig(maxActive = 8) {
  let now = 1000;
  const out: string[] = [];
  const alarms = new Alarms<{ text: string }>({
    maxActive,
    now: () => now,
    format: (a, change: AlarmChange, previous) => ({ topic: `alarms/${a.severity}`, qos: 1, retain: false,
      payload: { code: a.code, change, severity: a.severity, previous: previous ?? null, text: a.detail.text } }),
    publish: (p: Publication) => out.push(`${p.topic} ${JSON.stringify(p.payload)}`),
  });
  return { alarms, out, tick: (ms: number) => { now += ms; } };
}

describe("device: alarms", () => {
  it("publishes a raise once, not again while the condition holds", () => {
    const { alarms, out } = alarmRig();
    assert.equal(alarms.raise("temp:1", 2, { text: "46 C" }), true);
    alarms.raise("temp:1", 2, { text: "47 C" });
    alarms.raise("temp:1", 2, { text: "48 C" });
    assert.deepEqual(out, ['alarms/2 {"code":"temp:1","change":"raised","severity":2,"previous":null,"text":"46 C"}']);
    assert.equal(alarms.get("temp:1")?.detail.text, "48 C", "the detail is kept current");
  });

  it("publishes a severity change both ways, and the clear", () => {
    const { alarms, out, tick } = alarmRig();
    alarms.raise("temp:1", 2, { text: "a" });
    tick(500);
    alarms.raise("temp:1", 4, { text: "b" });
    alarms.raise("temp:1", 2, { text: "c" });
    assert.equal(alarms.get("temp:1")?.since, 1000, "since stays the first raise");
    assert.equal(alarms.clear("temp:1", { text: "d" }), true);
    assert.deepEqual(out.map((l) => JSON.parse(l.slice(l.indexOf(" ") + 1)).change), ["raised", "severity_changed", "severity_changed", "cleared"]);
    assert.match(out[1], /"severity":4,"previous":2/);
    assert.match(out[3], /"text":"d"/);
    assert.equal(alarms.active.length, 0);
  });

  it("clearing an alarm that is not active publishes nothing", () => {
    const { alarms, out } = alarmRig();
    assert.equal(alarms.clear("nothing"), false);
    assert.deepEqual(out, []);
  });

  it("when full refuses an alarm no more severe than the weakest active one, and counts it", () => {
    const { alarms, out } = alarmRig(2);
    alarms.raise("a", 2, { text: "" });
    alarms.raise("b", 3, { text: "" });
    assert.equal(alarms.raise("c", 2, { text: "" }), false);
    assert.equal(alarms.dropped, 1);
    assert.deepEqual(alarms.active.map((a) => a.code), ["a", "b"]);
    assert.equal(out.length, 2);
  });

  it("when full lets a more severe alarm displace the weakest (oldest among equals), without a clear", () => {
    const { alarms, out } = alarmRig(3);
    alarms.raise("a", 2, { text: "" });
    alarms.raise("b", 1, { text: "" });
    alarms.raise("c", 1, { text: "" });
    assert.equal(alarms.raise("d", 4, { text: "" }), true);
    assert.deepEqual(alarms.active.map((a) => a.code).sort(), ["a", "c", "d"]);
    assert.equal(alarms.dropped, 1);
    assert.equal(out.filter((l) => l.includes("cleared")).length, 0);
    // A displaced alarm can be raised again later, as new.
    alarms.clear("c");
    assert.equal(alarms.raise("b", 1, { text: "" }), true);
    assert.match(out[out.length - 1], /"code":"b","change":"raised"/);
  });

  it("reset forgets everything without publishing; maxActive must be positive", () => {
    const { alarms, out } = alarmRig();
    alarms.raise("a", 1, { text: "" });
    alarms.reset();
    assert.equal(alarms.active.length, 0);
    assert.equal(out.length, 1);
    assert.throws(() => alarmRig(0), RangeError);
  });

  it("a formatter returning undefined publishes nothing for that change", () => {
    const out: Publication[] = [];
    const alarms = new Alarms<null>({ maxActive: 2, now: () => 0, format: (_a, change) => (change === "cleared" ? undefined : { topic: "t", qos: 0, retain: false, payload: 1 }), publish: (p) => out.push(p) });
    alarms.raise("x", 1, null);
    alarms.clear("x");
    assert.equal(out.length, 1);
  });
});

function logRig(options: Partial<LogsOptions> = {}) {
  const clock = { now: 1_700_000_000_000 };
  const published: { topic: string; level: number; message: string; at: number }[] = [];
  const local: string[] = [];
  let up = true;
  const logs = new Logs({
    now: () => clock.now,
    format: (e) => ({ topic: `logs/${e.level}`, qos: 0, retain: false, payload: { level: e.level, component: e.component, message: e.message, at: e.at } }),
    publish: (p) => { const x = p.payload as { level: number; message: string; at: number }; published.push({ topic: p.topic, ...x }); },
    local: (line) => local.push(line),
    connected: () => up,
    ...options,
  });
  return { logs, published, local, clock, setUp: (v: boolean) => { up = v; } };
}

describe("device: logs", () => {
  it("publishes levels at or above the minimum (ESP-IDF numbering) and writes every line locally", () => {
    const { logs, published, local } = logRig({ minLevel: 2 });
    logs.error("bms", "e");
    logs.warning("bms", "w");
    logs.info("bms", "i");
    logs.debug("bms", "d");
    assert.deepEqual(published.map((p) => p.message), ["e", "w"]);
    assert.deepEqual(local, ["E bms: e", "W bms: w", "I bms: i", "D bms: d"]);
    logs.minLevel = 0;
    logs.error("bms", "none");
    assert.equal(published.length, 2, "level 0 publishes nothing");
  });

  it("stamps lines with host.now() in ms", () => {
    const { logs, published, clock } = logRig();
    clock.now += 1234;
    logs.info("c", "x");
    assert.equal(published[0].at, 1_700_000_001_234);
  });

  it("does not publish (nor count as dropped) while the link is down, as the seed's macro", () => {
    const { logs, published, local, setUp } = logRig();
    setUp(false);
    logs.error("mqtt", "lost");
    assert.equal(published.length, 0);
    assert.equal(local.length, 1);
    assert.equal(logs.dropped, 0);
    setUp(true);
    logs.info("mqtt", "back");
    assert.deepEqual(published.map((p) => p.message), ["back"]);
  });

  it("rate-limits a storm: burst, then drops and counts, then a 'N dropped' warning before normal lines", () => {
    const { logs, published, clock } = logRig({ burst: 5, refillMs: 1000 });
    for (let i = 0; i < 100; i++) logs.info("storm", `line ${i}`);
    assert.equal(published.length, 5);
    assert.equal(logs.dropped, 95);
    clock.now += 1000; // one token
    logs.info("storm", "after");
    assert.deepEqual(published.slice(5).map((p) => `${p.level} ${p.message}`), ["2 95 log lines dropped (rate limit)"]);
    assert.equal(logs.dropped, 96, "the token went to the summary; this line is the next dropped one");
    clock.now += 2000;
    logs.info("storm", "calm");
    assert.deepEqual(published.slice(6).map((p) => p.message), ["1 log line dropped (rate limit)", "calm"]);
  });

  it("flush() announces dropped lines without waiting for the next log line", () => {
    const { logs, published, clock } = logRig({ burst: 1, refillMs: 1000 });
    logs.info("a", "1");
    logs.info("a", "2");
    logs.flush();
    assert.equal(published.length, 1, "no token yet");
    clock.now += 1000;
    logs.flush();
    assert.deepEqual(published.map((p) => p.message), ["1", "1 log line dropped (rate limit)"]);
    logs.flush();
    assert.equal(published.length, 2);
  });

  it("refills no faster than one line per refillMs, up to the burst", () => {
    const { logs, published, clock } = logRig({ burst: 3, refillMs: 100 });
    clock.now += 1_000_000; // a long quiet spell earns no more than the burst
    for (let i = 0; i < 10; i++) logs.info("a", String(i));
    assert.equal(published.length, 3);
    clock.now += 250; // two tokens: the summary and one line
    logs.info("a", "x");
    logs.info("a", "y");
    assert.deepEqual(published.slice(3).map((p) => p.message), ["7 log lines dropped (rate limit)", "x"]);
  });

  it("a throwing publisher or console does not escape", () => {
    const logs = new Logs({ now: () => 0, format: () => ({ topic: "t", qos: 0, retain: false, payload: 1 }), publish: () => { throw new Error("boom"); }, local: () => { throw new Error("boom"); } });
    assert.doesNotThrow(() => logs.error("x", "y"));
  });
});
