// esp-sensors timing and state on the test kit's fake clock and scripted broker: the reconnect
// strategy across deep sleeps, readTopic's wait, the bounded backlog, config validation and
// merging, the duty cycle, the product on its drivers over emulated buses (sensor faults,
// retained memory) and the companion's command. "Deep sleep" is a new Device and product on
// the same platform (settings store, retained memory, broker, clock), as on the ESP32 where
// the program restarts.

import assert from "node:assert/strict";
import type { Message } from "../../../modules/mqtt/client.js";
import { Device } from "../../../modules/device/device.js";
import type { ClientChoices, Platform } from "../../../modules/device/device.js";
import { readOptions } from "../../../modules/device/options.js";
import { MemorySettingsStore } from "../../../modules/device/settings.js";
import { prng } from "../../../modules/device/prng.js";
import { createEspSensors } from "../../../modules/products/esp-sensors/product.js";
import type { EspSensorsProduct } from "../../../modules/products/esp-sensors/product.js";
import { afterAttempt, backoffInterval, decide, loadReconnectState, RECONNECT_KEY, retryNow } from "../../../modules/products/esp-sensors/reconnect.js";
import {
  checkConfigMessage, configDispatcher, DEFAULT_SETTINGS, mergeConfig, SEED_RECONNECT, SETTINGS_KEY, settingsFor, validateSettings, MAX_CONFIG_BYTES,
} from "../../../modules/products/esp-sensors/settings.js";
import type { EspConfig, EspConfigMessage } from "../../../modules/products/esp-sensors/settings.js";
import { OPTIONS } from "../../../modules/products/esp-sensors/options.js";
import { Backlog, BACKLOG_KEY } from "../../../modules/products/esp-sensors/backlog.js";
import type { SensorData } from "../../../modules/products/esp-sensors/messages.js";
import { readTopic } from "../../../modules/products/esp-sensors/read-topic.js";
import { emulatedNode, Room } from "../../../modules/products/esp-sensors/simulation.js";
import type { EmulatedNode } from "../../../modules/products/esp-sensors/simulation.js";
import type { ClimateReading, ClimateSensor, EspSensorsHardware } from "../../../modules/products/esp-sensors/hardware.js";
import { RETAINED_AT } from "../../../modules/products/esp-sensors/reconnect.js";
import { simulate } from "../../../modules/device/product.js";
import type { Sleeper } from "../../../modules/drivers/sleep.js";
import { espTopics } from "../../../modules/products/esp-sensors/topics.js";
import { definition, configMessage } from "../../../modules/products/esp-sensors/index.js";
import { topicMatches } from "../../../modules/mqtt/topic.js";
import { ProductSchemas } from "../../products/harness.js";
import { Kit } from "../../kit/index.js";
import type { Published } from "../../kit/index.js";
import { FakeClock, bytes, td } from "../fakes.js";

const schemas = new ProductSchemas("esp-sensors");
/** 2024-04-13T12:00:00Z: the device's now() is wall-clock time. */
const EPOCH = Date.UTC(2024, 3, 13, 12);
const SENSOR = "dht22-001";
const DATA = `/homecontrol/device/data/${SENSOR}/data`;
const CONFIG = "/homecontrol/device/config";

/** A sensor that reads what the test says: a list of readings, or an error. */
class ScriptedSensor implements ClimateSensor {
  readings: (ClimateReading | Error)[] = [];
  fallback: ClimateReading = { celsius: 21.04, humidity: 48.96 };
  async read(): Promise<ClimateReading> {
    const r = this.readings.shift() ?? this.fallback;
    if (r instanceof Error) throw r;
    return r;
  }
}

/** Deep sleep: records the duration (and when, ms after EPOCH); the test "restarts the program" itself. Retained records outlive boots. */
class RecordingSleeper implements Sleeper {
  readonly sleeps: { ms: number; at: number }[] = [];
  readonly retained = new Map<number, number[]>();
  closed = 0;
  constructor(readonly clock: FakeClock) {}
  sleep(ms: number): void {
    this.sleeps.push({ ms, at: this.clock.now - EPOCH });
  }
  load(offset: number, count: number): number[] | undefined {
    const r = this.retained.get(offset);
    return r?.length === count ? [...r] : undefined;
  }
  save(offset: number, values: readonly number[]): void {
    this.retained.set(offset, [...values]);
  }
  close(): void {
    this.closed++;
  }
}

/** Flash that counts its writes per key. */
class CountingStore extends MemorySettingsStore {
  readonly writes = new Map<string, number>();
  override set(key: string, value: unknown): void {
    this.writes.set(key, (this.writes.get(key) ?? 0) + 1);
    super.set(key, value);
  }
}

interface Node {
  kit: Kit;
  sensor: ScriptedSensor;
  sleeper: RecordingSleeper;
  /** Ms after EPOCH of every connection attempt (one client each: the node never lets the client reconnect). */
  attempts: number[];
  /** What each attempt asked of its client. */
  options: ClientChoices[];
  /** The Device of the latest boot. */
  device: Device;
  /** A fresh program on the same flash, broker and clock: what a wake from deep sleep is. */
  boot(): EspSensorsProduct;
}

function node(config: Record<string, string> = {}): Node {
  const kit = new Kit({ deviceId: SENSOR, config: { update_interval: "300", config_wait_time: "1", ...config }, start: EPOCH, settings: new CountingStore() });
  const attempts: number[] = [];
  const options: ClientChoices[] = [];
  // The kit's own platform, watched: each client it makes is one attempt.
  const platform: Platform = {
    ...kit.platform,
    createClient: (o) => {
      attempts.push(kit.clock.now - EPOCH);
      options.push(o);
      return kit.platform.createClient(o);
    },
  };
  const n: Node = {
    kit,
    sensor: new ScriptedSensor(),
    sleeper: new RecordingSleeper(kit.clock),
    attempts,
    options,
    device: kit.device,
    boot() {
      n.device = new Device(platform);
      const hardware: EspSensorsHardware = { sensor: n.sensor, sleeper: n.sleeper };
      return createEspSensors(n.device, hardware);
    },
  };
  return n;
}

/** Runs a wake to its end, moving the fake clock in small steps while it waits. */
async function runWake(n: Node, product = n.boot(), stepMs = 10): Promise<EspSensorsProduct> {
  return finish(n, product, product.wake(), stepMs);
}

async function finish(n: Node, product: EspSensorsProduct, wake: Promise<void>, stepMs = 10): Promise<EspSensorsProduct> {
  let done = false;
  void wake.finally(() => { done = true; });
  for (let waited = 0; !done; waited += stepMs) {
    assert.ok(waited < 700_000, "the wake never ended");
    await n.kit.settle();
    if (!done) n.kit.clock.advance(stepMs);
  }
  await wake;
  return product;
}

/** Sleeps as asked (the clock moves on) and wakes a new program instance. */
async function sleepAndWake(n: Node): Promise<EspSensorsProduct> {
  const last = n.sleeper.sleeps[n.sleeper.sleeps.length - 1];
  n.kit.clock.advance(EPOCH + last.at + last.ms - n.kit.clock.now);
  return runWake(n);
}

function data(n: Node): SensorData[] {
  return n.kit.broker.published.filter((m) => m.topic.endsWith("/data")).map((m) => m.json as SensorData);
}

function assertContract(published: Published[]): void {
  for (const m of published) {
    const problem = schemas.check({ topic: m.topic, payload: bytes(m.text), qos: m.qos, retain: m.retain });
    assert.equal(problem, undefined, problem);
  }
}

// ---- reconnect strategy ----

describe("esp-sensors: reconnect strategy (pure)", () => {
  const p = SEED_RECONNECT;

  it("waits min_interval * backoff_factor^(attempt_count - max_attempts), capped at max_interval", () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 100].map((c) => backoffInterval(p, c)), [0, 0, 0, 3600, 7200, 14400, 21600, 21600, 21600]);
    assert.equal(backoffInterval({ ...p, backoff_factor: 10 }, 10_000), 21600, "an overflowing power is capped, not Infinity");
  });

  it("allows attempts while attempt_count < max_attempts, then only after the interval since the last attempt", () => {
    assert.deepEqual(decide(p, { attempt_count: 2, last_attempt_time: 1000 }, 1000), { attempt: true, waitS: 0 });
    assert.deepEqual(decide(p, { attempt_count: 3, last_attempt_time: 1000 }, 1000 + 3599), { attempt: false, waitS: 1 });
    assert.deepEqual(decide(p, { attempt_count: 3, last_attempt_time: 1000 }, 1000 + 3600), { attempt: true, waitS: 0 });
    assert.deepEqual(decide(p, { attempt_count: 4, last_attempt_time: 1000 }, 1000 + 3600), { attempt: false, waitS: 3600 });
  });

  it("treats a clock earlier than the last attempt as the wait being over, and a disabled strategy as always allowed", () => {
    assert.equal(decide(p, { attempt_count: 9, last_attempt_time: 5000 }, 10).attempt, true);
    assert.equal(decide({ ...p, enabled: false }, { attempt_count: 9, last_attempt_time: 5000 }, 5001).attempt, true);
  });

  it("counts failures, resets on success, leaves the state alone when disabled", () => {
    let s = { attempt_count: 0, last_attempt_time: 0 };
    s = afterAttempt(p, s, false, 10);
    s = afterAttempt(p, s, false, 11);
    assert.deepEqual(s, { attempt_count: 2, last_attempt_time: 11 });
    assert.equal(retryNow(p, s), true);
    s = afterAttempt(p, s, false, 12);
    assert.equal(retryNow(p, s), false);
    assert.deepEqual(afterAttempt(p, s, true, 20), { attempt_count: 0, last_attempt_time: 20 });
    assert.equal(afterAttempt({ ...p, enabled: false }, s, false, 30), s);
    let big = { attempt_count: 0, last_attempt_time: 0 };
    for (let i = 0; i < 1000; i++) big = afterAttempt(p, big, false, i);
    assert.equal(big.attempt_count, p.max_attempts + 64, "bounded");
  });

  it("reads a corrupt stored state as the initial one", () => {
    for (const bad of [undefined, null, "x", { attempt_count: -1, last_attempt_time: 0 }, { attempt_count: 1.5, last_attempt_time: 0 }, { attempt_count: 1 }]) {
      assert.deepEqual(loadReconnectState(bad), { attempt_count: 0, last_attempt_time: 0 }, JSON.stringify(bad));
    }
    assert.deepEqual(loadReconnectState({ attempt_count: 4, last_attempt_time: 99.5 }), { attempt_count: 4, last_attempt_time: 99.5 });
  });
});

// ---- readTopic ----

describe("esp-sensors: readTopic (kit)", () => {
  async function connected(): Promise<Kit> {
    const kit = new Kit({ deviceId: SENSOR });
    kit.device.connect({ clientId: "reader", clean: true });
    await kit.settle();
    assert.ok(kit.device.connected);
    return kit;
  }

  it("resolves with the first message, ignores later ones, unsubscribes once and leaves no timer", async () => {
    const kit = await connected();
    const read = readTopic(kit.device, "t", 1000);
    await kit.settle();
    assert.ok(kit.broker.subscriptions.has("t"));
    kit.clock.advance(400);
    kit.broker.deliver("t", "first", { qos: 0 });
    kit.broker.deliver("t", "second", { qos: 0 });
    await kit.settle();
    const m = await read;
    assert.equal(td.decode(m!.payload), "first");
    assert.ok(!kit.broker.subscriptions.has("t"), "unsubscribed");
    assert.ok(!kit.clock.pending.includes(600), "the wait's timer is cleared");
  });

  it("resolves undefined exactly waitMs after the call, then unsubscribes", async () => {
    const kit = await connected();
    let result: Message | undefined | "pending" = "pending";
    void readTopic(kit.device, "t", 1000).then((m) => { result = m; });
    await kit.settle();
    kit.clock.advance(999);
    await kit.settle();
    assert.equal(result, "pending");
    assert.ok(kit.broker.subscriptions.has("t"));
    kit.clock.advance(1);
    await kit.settle();
    assert.equal(result, undefined);
    assert.ok(!kit.broker.subscriptions.has("t"));
  });

  it("resolves undefined at once when the subscription is refused, and says why", async () => {
    const kit = await connected();
    kit.broker.refuse.add("t");
    const problems: string[] = [];
    const start = kit.clock.now;
    const read = readTopic(kit.device, "t", 60_000, { report: (p) => problems.push(p) });
    await kit.settle();
    assert.equal(await read, undefined);
    assert.equal(kit.clock.now, start);
    assert.deepEqual(problems, ["subscribe t: refused by the broker"]);
  });

  it("resolves undefined at once when the link is lost, or when `until` settles", async () => {
    const kit = await connected();
    const lost = readTopic(kit.device, "t", 60_000);
    await kit.settle();
    kit.broker.cut();
    await kit.settle();
    assert.equal(await lost, undefined);
    let end = (): void => {};
    const until = new Promise<void>((resolve) => { end = resolve; });
    const ended = readTopic(kit.device, "u", 60_000, { until });
    end();
    assert.equal(await ended, undefined);
  });
});

// ---- backlog ----

const reading = (uptime: number): SensorData => ({ temperature: 20, humidity: 50, uptime, unit: "C", config_version: 0 });

describe("esp-sensors: backlog", () => {
  it("keeps at most limit readings, dropping the oldest, and persists every change", () => {
    const store = new MemorySettingsStore();
    const b = new Backlog(store, BACKLOG_KEY, 3);
    assert.deepEqual(b.push(reading(1)), []);
    b.push(reading(2));
    b.push(reading(3));
    assert.deepEqual(b.push(reading(4)).map((r) => r.uptime), [1]);
    assert.deepEqual(new Backlog(store, BACKLOG_KEY, 3).items.map((r) => r.uptime), [2, 3, 4], "survives a restart");
    b.remove([b.items[0], b.items[2]]);
    assert.deepEqual(new Backlog(store, BACKLOG_KEY, 3).items.map((r) => r.uptime), [3]);
    assert.ok(store.values.get(BACKLOG_KEY)!.length < 40, "stored compactly");
  });

  it("skips corrupt stored entries and refuses a limit it could not store", () => {
    const store = new MemorySettingsStore();
    store.set(BACKLOG_KEY, [[20, 50, 1, "C", 0], "junk", [1, 2], [20, 50, 2, "K", 0], [21, 51, 3, "F", 2]]);
    assert.deepEqual(new Backlog(store, BACKLOG_KEY, 10).items.map((r) => r.uptime), [1, 3]);
    store.set(BACKLOG_KEY, { not: "a list" });
    assert.deepEqual(new Backlog(store, BACKLOG_KEY, 10).items, []);
    assert.throws(() => new Backlog(store, BACKLOG_KEY, 0), RangeError);
    assert.throws(() => new Backlog(store, BACKLOG_KEY, 65), RangeError);
  });
});

// ---- configuration ----

describe("esp-sensors: configuration", () => {
  const base = DEFAULT_SETTINGS;
  const dispatch = (payload: string | Uint8Array) =>
    configDispatcher(() => ({})).dispatchAs("config", typeof payload === "string" ? bytes(payload) : payload);

  it("defaults follow the specification and the host's options; bad options are refused", () => {
    assert.equal(base.version, 0);
    assert.equal(base.mqtt.topic_data_prefix, "/homecontrol/device/data");
    assert.equal(base.mqtt.topic_config, "/homecontrol/device/config");
    assert.equal(base.mqtt.config_wait_time, 1.0);
    assert.equal(base.mqtt.keepalive, 60);
    assert.deepEqual(base.mqtt.reconnect, { enabled: true, max_attempts: 3, backoff_factor: 2, min_interval: 3600, max_interval: 21600 });
    const host = settingsFor(readOptions(OPTIONS, { update_interval: "5", config_wait_time: "0.25", topic_config: "cfg/{sensor_id}", load_config_from_mqtt: "false" }));
    assert.equal(host.update_interval, 5);
    assert.equal(host.mqtt.config_wait_time, 0.25);
    assert.equal(host.mqtt.load_config_from_mqtt, false);
    assert.throws(() => readOptions(OPTIONS, { update_interval: "soon" }), /update_interval="soon": must be a number/);
    assert.throws(() => readOptions(OPTIONS, { update_interval: "0" }), /update_interval/);
    assert.throws(() => readOptions(OPTIONS, { topic_data_prefix: "a/#" }), /topic_data_prefix/);
    assert.throws(() => readOptions(OPTIONS, { root: "a//b" }), /root/);
    assert.throws(() => readOptions(OPTIONS, { colour: "red" }), /unknown option "colour"/);
  });

  it("merges a partial message section by section and ignores the reconnect runtime state", () => {
    const message = {
      version: 3, update_interval: 120,
      mqtt: { config_wait_time: 2.5, reconnect: { max_interval: 7200, attempt_count: 9, last_attempt_time: 5 } },
    };
    assert.equal(checkConfigMessage(message), undefined);
    const next = mergeConfig(base, message as EspConfigMessage);
    assert.equal(next.version, 3);
    assert.equal(next.update_interval, 120);
    assert.equal(next.mqtt.config_wait_time, 2.5);
    assert.equal(next.mqtt.topic_data_prefix, base.mqtt.topic_data_prefix, "untouched keys stay");
    assert.deepEqual(next.mqtt.reconnect, { ...base.mqtt.reconnect, max_interval: 7200 });
    assert.equal(validateSettings(next), undefined);
    assert.equal(base.mqtt.reconnect.max_interval, 21600, "the current configuration is not mutated");
  });

  const rejected: [string, string | Uint8Array, RegExp][] = [
    ["an empty payload", "", /payload is not JSON/],
    ["malformed JSON", "{version: 2", /payload is not JSON/],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), /payload is not JSON/],
    ["a JSON array", "[1]", /must be a JSON object/],
    ["no version", '{"update_interval":5}', /missing field "version"/],
    ["version as a string", '{"version":"2"}', /version: must be integer/],
    ["update_interval 0", '{"version":2,"update_interval":0}', /update_interval: must be >= 1/],
    ["config_wait_time above 60 s", '{"version":2,"mqtt":{"config_wait_time":61}}', /config_wait_time: must be <= 60/],
    ["a wildcard in the data prefix", '{"version":2,"mqtt":{"topic_data_prefix":"a/+/b"}}', /topic_data_prefix/],
    ["an unknown key", '{"version":2,"mqtt":{"keep_alive":5}}', /unknown field "keep_alive"/],
    ["mqtt.enabled false", '{"version":2,"mqtt":{"enabled":false}}', /refused over MQTT/],
    ["load_config_from_mqtt false", '{"version":2,"mqtt":{"load_config_from_mqtt":false}}', /refused over MQTT/],
  ];
  for (const [what, payload, why] of rejected) {
    it(`rejects ${what}`, async () => {
      const r = await dispatch(payload);
      assert.equal(r.ok, false);
      assert.match(r.error!.message, why);
    });
  }

  it("runs a valid message, with its version as the outcome's id", async () => {
    const r = await dispatch('{"version":4,"update_interval":30}');
    assert.equal(r.ok, true);
    assert.equal(r.id, "4");
  });

  it("rejects a merged configuration whose min_interval exceeds max_interval", () => {
    const next: EspConfig = { ...base, mqtt: { ...base.mqtt, reconnect: { ...base.mqtt.reconnect, min_interval: 30_000 } } };
    assert.match(validateSettings(next)!, /min_interval 30000 is above max_interval 21600/);
  });
});

// ---- the duty cycle ----

/** Bytes of a QoS 0 PUBLISH of `text` on `topic`. */
function publishSize(topic: string, text: string): number {
  const remaining = 2 + bytes(topic).length + bytes(text).length;
  return 1 + (remaining < 128 ? 1 : remaining < 16_384 ? 2 : 3) + remaining;
}

describe("esp-sensors: duty cycle (kit)", () => {
  it("connects, publishes at QoS 0 without retain, waits config_wait_time for config, disconnects and sleeps update_interval", async () => {
    const n = node();
    await runWake(n);
    assert.deepEqual(n.kit.broker.published.map((m) => [m.topic, m.qos, m.retain]), [[DATA, 0, false]]);
    assert.deepEqual(data(n), [{ temperature: 21, humidity: 49, uptime: EPOCH / 1000, unit: "C", config_version: 0 }]);
    assertContract(n.kit.broker.published);
    assert.deepEqual(n.sleeper.sleeps, [{ ms: 300_000, at: 1000 }], "slept update_interval after waiting config_wait_time");
    assert.equal(n.device.connected, false, "disconnected before sleeping");
    assert.ok(n.kit.net.sockets[0].closed);
    assert.deepEqual(n.kit.clock.pending, [], "no timer left behind when asleep");
    const o = n.options[0];
    assert.deepEqual([o.clientId, o.clean, o.keepalive, o.reconnect, o.connectTimeoutMs, o.outbox, o.will],
      [`esp-sensors-${SENSOR}`, true, 60, false, 5000, { queueQos0: false, maxMessages: 72 }, undefined], "no will: the node has no status");
    assert.deepEqual(n.kit.settings.get(BACKLOG_KEY), [], "the published reading left the persisted backlog");
  });

  it("publishes Fahrenheit when the host says so", async () => {
    const n = node({ unit: "F" });
    n.sensor.readings = [{ celsius: 37, humidity: 30 }];
    await runWake(n);
    assert.deepEqual(data(n).map((d) => [d.temperature, d.unit]), [[98.6, "F"]]);
    assertContract(n.kit.broker.published);
  });

  it("broker unreachable: max_attempts back to back in the first wake, then backoff across deep sleeps, at least 4 attempts a day", async () => {
    const n = node();
    n.kit.net.refuse = new Error("ECONNREFUSED");
    await runWake(n);
    assert.deepEqual(n.attempts, [0, 0, 0], "3 attempts without delay");
    assert.deepEqual(n.kit.settings.get(RECONNECT_KEY), { attempt_count: 3, last_attempt_time: EPOCH / 1000 }, "persisted before sleeping");
    assert.ok(n.kit.logs.some((l) => /backing off: next attempt in 3600 s/.test(l)), n.kit.logs.join("\n"));
    // One simulated day of 5-minute wakes, each a fresh program (deep sleep).
    while (n.kit.clock.now - EPOCH < 86_400_000) await sleepAndWake(n);
    const wakes = n.sleeper.sleeps.length;
    const attemptWakes = [...new Set(n.attempts.slice(3))].map((t) => t / 1000);
    // Each later attempt at the first wake on or after its interval: 3600, then 7200, 14400, 21600, 21600 ... s later.
    const gaps = attemptWakes.map((t, i) => t - (i === 0 ? 0 : attemptWakes[i - 1]));
    assert.deepEqual(gaps.slice(0, 5), [3600, 7200, 14400, 21600, 21600]);
    assert.ok(n.attempts.length >= 4 + 3, `${n.attempts.length} attempts in a day (at least 4)`);
    assert.ok(n.kit.logs.filter((l) => /broker skipped/.test(l)).length > wakes - 12, "most wakes skip the broker");
    // The broker returns: the next allowed attempt succeeds and resets the count.
    n.kit.net.refuse = undefined;
    while (n.kit.broker.published.length === 0) await sleepAndWake(n);
    assert.equal(n.kit.settings.get<{ attempt_count: number }>(RECONNECT_KEY)!.attempt_count, 0, "reset on success");
  });

  it("with reconnect disabled, tries once every wake and keeps no count", async () => {
    const n = node();
    n.kit.net.refuse = new Error("ECONNREFUSED");
    const p = n.boot();
    n.kit.settings.set(SETTINGS_KEY, { ...p.config, mqtt: { ...p.config.mqtt, reconnect: { ...p.config.mqtt.reconnect, enabled: false } } });
    await runWake(n);
    await sleepAndWake(n);
    assert.deepEqual(n.attempts, [0, 300_000], "a failed wake does not wait for config");
    assert.equal(n.kit.settings.get(RECONNECT_KEY), undefined, "no count kept, nothing written");
    assert.deepEqual(n.sleeper.retained.get(RETAINED_AT), [0, 0]);
  });

  it("offline readings wait in a bounded, persisted backlog: oldest dropped when full, then published oldest first, once", async () => {
    const n = node({ backlog_limit: "4", update_interval: "60" });
    n.kit.net.refuse = new Error("ECONNREFUSED");
    for (let i = 0; i < 6; i++) {
      n.sensor.readings.push({ celsius: 20 + i, humidity: 40 + i });
      if (i === 0) await runWake(n);
      else await sleepAndWake(n);
    }
    assert.equal(n.kit.logs.filter((l) => /backlog full \(4\): dropped/.test(l)).length, 2);
    assert.deepEqual(n.kit.broker.published, []);
    // Back online: make the backoff allow an attempt now.
    n.kit.net.refuse = undefined;
    n.kit.settings.set(RECONNECT_KEY, { attempt_count: 0, last_attempt_time: 0 });
    n.sleeper.save(RETAINED_AT, [0, 0]);
    n.sensor.readings.push({ celsius: 30, humidity: 60 });
    await sleepAndWake(n);
    assert.deepEqual(data(n).map((d) => d.temperature), [23, 24, 25, 30], "the newest 4, oldest first");
    const times = data(n).map((d) => d.uptime);
    assert.deepEqual([...times].sort((a, b) => a - b), times, "each keeps the time it was read");
    assertContract(n.kit.broker.published);
    await sleepAndWake(n);
    assert.equal(data(n).length, 5, "nothing published twice");
  });

  it("readings the client could not write (link lost mid-flush) stay in the backlog and go out next wake", async () => {
    const n = node({ update_interval: "60" });
    n.kit.net.refuse = new Error("ECONNREFUSED");
    for (let i = 0; i < 3; i++) {
      n.sensor.readings.push({ celsius: 20 + i, humidity: 50 });
      if (i === 0) await runWake(n);
      else await sleepAndWake(n);
    }
    n.kit.net.refuse = undefined;
    n.kit.settings.set(RECONNECT_KEY, { attempt_count: 0, last_attempt_time: 0 });
    n.sleeper.save(RETAINED_AT, [0, 0]);
    n.sensor.readings.push({ celsius: 23, humidity: 50 });
    const last = n.sleeper.sleeps[n.sleeper.sleeps.length - 1];
    n.kit.clock.advance(EPOCH + last.at + last.ms - n.kit.clock.now);
    const p = n.boot();
    // Once connected the socket takes exactly the first two readings, then the link dies.
    const [a, b] = p.backlog.items;
    n.device.on("connected", () => n.kit.broker.socket!.writable(publishSize(DATA, JSON.stringify(a)) + publishSize(DATA, JSON.stringify(b))));
    const wake = p.wake();
    await n.kit.settle();
    n.kit.broker.cut();
    await finish(n, p, wake);
    assert.deepEqual(data(n).map((d) => d.temperature), [20, 21]);
    assert.ok(n.kit.logs.some((l) => l.endsWith(`published 2 of 4 reading(s) to ${DATA}; 2 kept for the next wake`)), n.kit.logs.join("\n"));
    await sleepAndWake(n);
    assert.deepEqual(data(n).map((d) => d.temperature), [20, 21, 22, 23, 21], "the rest, in order, then the new reading");
  });

  it("a lost link ends the config wait, and the next wake connects again and delivers", async () => {
    const n = node({ config_wait_time: "10" });
    const p = n.boot();
    const wake = p.wake();
    await n.kit.settle();
    assert.equal(data(n).length, 1);
    n.kit.broker.cut();
    await finish(n, p, wake);
    assert.ok(n.kit.clock.now - EPOCH < 1000, "the 10 s wait ended with the link");
    assert.ok(n.kit.logs.some((l) => l.endsWith("connection lost while reading the config topic")), n.kit.logs.join("\n"));
    await sleepAndWake(n);
    assert.equal(data(n).length, 2);
    assert.equal(n.kit.broker.connects.length, 2);
  });

  it("a new config version is applied, persisted before sleeping, acknowledged by a reading, and takes effect", async () => {
    const n = node();
    n.kit.broker.deliver(CONFIG, {
      version: 7, update_interval: 120,
      mqtt: { topic_data_prefix: "home/sensors", topic_config: "home/config/{sensor_id}", config_wait_time: 2, keepalive: 30, client_id: "node-7",
        reconnect: { max_attempts: 2, min_interval: 60, max_interval: 600 } },
    }, { qos: 0, retain: true });
    const first = await runWake(n);
    assert.equal(first.config.version, 7);
    assert.equal(n.kit.settings.get<EspConfig>(SETTINGS_KEY)!.version, 7, "persisted");
    assert.deepEqual(n.sleeper.sleeps.map((s) => s.ms), [120_000], "the new update_interval is the very next sleep");
    assert.deepEqual(n.kit.broker.published.map((m) => m.topic), [DATA, `home/sensors/${SENSOR}/data`], "acknowledged on the new data topic");
    assert.deepEqual(data(n).map((d) => d.config_version), [0, 7]);
    assert.ok(n.kit.logs.some((l) => l.endsWith("config version 7 applied (version, update_interval, mqtt)")), n.kit.logs.join("\n"));
    assertContract(n.kit.broker.published);
    // After deep sleep: new client options and topics, the new wait (nothing retained there).
    await sleepAndWake(n);
    assert.equal(n.options[1].clientId, "node-7");
    assert.equal(n.options[1].keepalive, 30);
    assert.equal(n.kit.broker.connects[1].clientId, "node-7");
    assert.equal(n.sleeper.sleeps[1].at - (n.sleeper.sleeps[0].at + 120_000), 2000, "waited the new config_wait_time on the new topic");
    n.kit.net.refuse = new Error("ECONNREFUSED");
    await sleepAndWake(n);
    assert.equal(n.attempts.length - 2, 2, "the new max_attempts");
  });

  it("the retained config already applied is read every wake and changes nothing", async () => {
    const n = node();
    n.kit.broker.deliver(CONFIG, { version: 2, update_interval: 100 }, { qos: 0, retain: true });
    await runWake(n);
    const stored = JSON.stringify(n.kit.settings.get(SETTINGS_KEY));
    await sleepAndWake(n);
    assert.equal(JSON.stringify(n.kit.settings.get(SETTINGS_KEY)), stored);
    assert.equal(data(n).length, 3, "two readings and one acknowledgement");
    assert.ok(!n.kit.logs.some((l) => /rejected|ignored/.test(l)));
  });

  const invalid: [string, string, RegExp][] = [
    ["malformed JSON", "{oops", /config rejected: payload is not JSON.*; keeping version 0/],
    ["an out-of-range value", '{"version":5,"update_interval":0}', /config rejected: update_interval: must be >= 1; keeping version 0/],
    ["a value of the wrong type", '{"version":5,"mqtt":{"config_wait_time":"2"}}', /config rejected: mqtt.config_wait_time: must be number/],
    ["a missing version", '{"update_interval":10}', /config rejected: message: missing field "version"/],
    ["min_interval above max_interval", '{"version":5,"mqtt":{"reconnect":{"min_interval":9000,"max_interval":600}}}', /config version 5 rejected: mqtt.reconnect: min_interval 9000 is above max_interval 600; keeping version 0/],
    ["an oversized payload", JSON.stringify({ version: 2, sensors: { pad: "x".repeat(MAX_CONFIG_BYTES) } }), /config rejected: payload of \d+ bytes exceeds 3072; keeping version 0/],
  ];
  for (const [what, payload, line] of invalid) {
    it(`${what} in the config: a log line, the configuration unchanged, the node keeps cycling`, async () => {
      const n = node();
      n.kit.broker.deliver(CONFIG, payload, { qos: 0, retain: true });
      const p = await runWake(n);
      assert.ok(n.kit.logs.some((l) => line.test(l)), n.kit.logs.join("\n"));
      assert.equal(p.config.version, 0);
      assert.equal(n.kit.settings.get(SETTINGS_KEY), undefined, "nothing persisted");
      assert.deepEqual(n.sleeper.sleeps.map((s) => s.ms), [300_000]);
      await sleepAndWake(n);
      assert.equal(data(n).length, 2);
    });
  }

  it("an older version than the one applied is ignored with a log line", async () => {
    const n = node();
    n.kit.broker.deliver(CONFIG, '{"version":9}', { qos: 0, retain: true });
    await runWake(n);
    n.kit.broker.deliver(CONFIG, '{"version":4,"update_interval":10}', { qos: 0, retain: true });
    const p = await sleepAndWake(n);
    assert.equal(p.config.version, 9);
    assert.equal(p.config.update_interval, 300);
    assert.ok(n.kit.logs.some((l) => l.endsWith("config version 4 ignored: version 9 is newer")));
  });

  it("root: each node reads its own configuration and publishes under its root; the specified topics without one", async () => {
    const n = node({ root: SENSOR });
    n.kit.broker.deliver(CONFIG, '{"version":3,"update_interval":10}', { qos: 0, retain: true }); // the shared topic: not this node's
    n.kit.broker.deliver(`${SENSOR}/${CONFIG}`, '{"version":4,"update_interval":20}', { qos: 0, retain: true });
    const p = await runWake(n);
    assert.equal(p.config.version, 4);
    assert.deepEqual(n.kit.broker.published.map((m) => m.topic), [`${SENSOR}/${DATA}`, `${SENSOR}/${DATA}`]);
    assert.deepEqual(n.sleeper.sleeps.map((s) => s.ms), [20_000]);
    assertContract(n.kit.broker.published.map((m) => ({ ...m, topic: m.topic.slice(SENSOR.length + 1) })));
  });

  it("a sensor that fails or reads out of range is logged and read again, up to 3 times; then the wake goes on without a reading", async () => {
    const n = node();
    n.sensor.readings = [new Error("no answer"), { celsius: 120, humidity: 50 }, new Error("CRC mismatch"), new Error("no answer"), { celsius: 22, humidity: 45 }];
    await runWake(n);
    assert.equal(data(n).length, 0, "no reading invented");
    assert.deepEqual(n.kit.logs.filter((l) => / sensor /.test(l) || l.startsWith("sensor")).map((l) => l.slice(l.indexOf("sensor"))), [
      "sensor read failed: no answer; reading again",
      "sensor reading out of range (120 C, 50 %); reading again",
      "sensor read failed: CRC mismatch; no reading this wake (3 attempts)",
    ]);
    await sleepAndWake(n);
    assert.deepEqual(data(n).map((d) => d.temperature), [22], "the next wake read on its second attempt");
    assert.equal(n.kit.broker.connects.length, 2, "both wakes flushed and read config");
    assert.deepEqual(n.sleeper.sleeps.map((s) => s.at), [1000, 302_000], "each waited config_wait_time for config: the duty cycle holds");
  });

  it("a node that connects every wake keeps its reconnect state in retained memory and never writes it to flash", async () => {
    const n = node();
    await runWake(n);
    for (let i = 0; i < 5; i++) await sleepAndWake(n);
    const store = n.kit.settings as CountingStore;
    assert.equal(store.writes.get(RECONNECT_KEY), undefined, "no flash write for the reconnect state");
    assert.deepEqual(n.sleeper.retained.get(RETAINED_AT), [0, EPOCH / 1000 + 5 * 301], "the last attempt, in retained memory");
    // The broker goes away: each change of the count goes to flash as well.
    n.kit.net.refuse = new Error("ECONNREFUSED");
    await sleepAndWake(n);
    assert.equal(store.writes.get(RECONNECT_KEY), 3, "one write per failed attempt (the count changed)");
    assert.equal(n.kit.settings.get<{ attempt_count: number }>(RECONNECT_KEY)!.attempt_count, 3);
  });

  it("retained memory wins over flash; after a power loss the node goes by flash", async () => {
    const n = node();
    n.kit.net.refuse = new Error("ECONNREFUSED");
    await runWake(n);
    n.kit.net.refuse = undefined;
    // Flash lags behind (as if its write had failed); retained memory says back off.
    n.kit.settings.set(RECONNECT_KEY, { attempt_count: 0, last_attempt_time: 0 });
    await sleepAndWake(n);
    assert.equal(n.attempts.length, 3, "the retained count 3 kept the node off the broker");
    assert.ok(n.kit.logs.some((l) => /broker skipped \(attempt_count 3\)/.test(l)));
    n.sleeper.retained.clear(); // power lost: RTC memory gone
    await sleepAndWake(n);
    assert.equal(n.attempts.length, 4, "flash's count 0 let it try");
    assert.equal(data(n).length, 3, "and the three kept readings went out");
  });

  it("a broker that never answers: the awake limit ends the wake, counts the attempt, and the node sleeps", async () => {
    const n = node({ max_awake: "10", connect_timeout: "60" });
    n.kit.broker.down = true;
    await runWake(n);
    assert.equal(n.kit.clock.now - EPOCH, 10_000);
    assert.deepEqual(n.attempts, [0], "no immediate retry once the wake is over");
    assert.equal(n.kit.settings.get<{ attempt_count: number }>(RECONNECT_KEY)!.attempt_count, 1);
    assert.ok(n.kit.logs.some((l) => l.endsWith("awake for 10000 ms: giving up this wake")));
    assert.equal(n.sleeper.sleeps.length, 1);
    assert.equal(n.kit.settings.get<unknown[]>(BACKLOG_KEY)!.length, 1, "the reading is kept");
    assert.ok(n.kit.net.sockets[0].closed, "the attempt was aborted");
  });

  it("stop() ends a wake in progress, cancels the pending wake and does not sleep again", async () => {
    const n = node({ config_wait_time: "30" });
    const p = n.boot();
    const wake = p.wake();
    await n.kit.settle();
    n.kit.clock.advance(100);
    const stopped = p.stop();
    await n.kit.settle();
    await stopped;
    await wake;
    assert.equal(n.sleeper.sleeps.length, 0);
    assert.equal(n.sleeper.closed, 1, "an emulated sleep's pending wake is cancelled by closing it");
    assert.equal(n.device.connected, false);
    await p.wake();
    assert.equal(n.attempts.length, 1, "a stopped node does not wake");
  });

  it("bad host options are refused at creation", () => {
    const bad: Record<string, string>[] = [{ unit: "K" }, { backlog_limit: "0" }, { backlog_limit: "100" }, { max_awake: "0" }, { colour: "red" }];
    for (const config of bad) {
      const n = node(config);
      assert.throws(() => n.boot(), RangeError, JSON.stringify(config));
    }
    const kit = new Kit({ deviceId: "a/b" });
    assert.throws(() => createEspSensors(kit.device, { sensor: new ScriptedSensor(), sleeper: new RecordingSleeper(kit.clock) }), RangeError);
  });
});

// ---- the product on its drivers over emulated buses ----

describe("esp-sensors: emulated climate", () => {
  it("temperature follows the day with bounded noise; humidity falls as it warms", () => {
    let now = Date.UTC(2024, 0, 1);
    const room = new Room({ now: () => now, random: prng(3) });
    const at = (hour: number) => { now = Date.UTC(2024, 0, 1, hour); return room.climate(); };
    const night = at(3);
    const afternoon = at(15);
    assert.ok(afternoon.celsius - night.celsius > 5, `${night.celsius} -> ${afternoon.celsius}`);
    assert.ok(afternoon.humidity < night.humidity);
    const temps: number[] = [];
    const hums: number[] = [];
    for (let m = 0; m < 24 * 60; m += 5) {
      now = Date.UTC(2024, 0, 1) + m * 60_000;
      const r = room.climate();
      assert.ok(Math.abs(r.celsius - room.expectedCelsius(now)) <= 0.2 + 1e-9);
      assert.ok(r.humidity >= 0 && r.humidity <= 100);
      temps.push(r.celsius);
      hums.push(r.humidity);
    }
    assert.ok(correlation(temps, hums) < -0.9, "anti-correlated");
  });

  it("repeats exactly for the same seed", () => {
    const run = () => { const r = new Room({ now: () => EPOCH, random: prng(11) }); return [r.climate(), r.climate()]; };
    assert.deepEqual(run(), run());
  });
});

/** The product on definition.hardware over emulated buses; the sleep bus wakes it on the kit's clock. */
function emulated(config: Record<string, string> = {}): { kit: Kit; node: EmulatedNode; product: EspSensorsProduct; run(ms: number): Promise<void> } {
  const kit = new Kit({ deviceId: SENSOR, config: { update_interval: "60", ...config }, start: EPOCH });
  const node = emulatedNode(kit.device);
  const product = definition.create(kit.device, definition.hardware(node.buses, kit.device)) as EspSensorsProduct;
  const run = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 10) { await kit.settle(); kit.clock.advance(10); }
    await kit.settle();
  };
  return { kit, node, product, run };
}

describe("esp-sensors on its drivers over emulated buses (kit)", () => {
  it("simulate() runs the duty cycle on the sleep bus's timer: wake, measure over I2C, sleep update_interval, wake again, a new session each wake", async () => {
    const kit = new Kit({ deviceId: SENSOR, config: { update_interval: "5" }, start: EPOCH });
    const product = simulate(definition, kit.device).product;
    product.start();
    for (let i = 0; i < 700; i++) { await kit.settle(); kit.clock.advance(10); }
    // 20 ms per measurement (the SHT3x's 16 ms wait, on a 10 ms clock step), 1 s awake reading config, 5 s asleep.
    assert.deepEqual(kit.broker.on(DATA).map((m) => m.at - EPOCH), [20, 6040]);
    const readings = kit.broker.on(DATA).map((m) => m.json as SensorData);
    for (const r of readings) assert.ok(Math.abs(r.temperature - 21) < 3.5 && r.humidity > 30 && r.humidity < 70, JSON.stringify(r));
    assert.equal(kit.broker.connects.length, 2, "one CONNECT per wake");
    assert.equal(kit.net.sockets.length, 2, "each on its own socket");
    assert.ok(kit.net.sockets[0].closed);
    await product.stop();
    kit.clock.advance(60_000);
    await kit.settle();
    assert.equal(kit.broker.connects.length, 2, "stop() cancelled the pending wake");
    assertContract(kit.broker.published);
  });

  it("a CRC error on a word: logged, read again, and the wake publishes the good reading", async () => {
    const e = emulated();
    e.node.sht.faults.corrupt = { count: 1, byte: 4 };
    e.product.start();
    await e.run(2000);
    assert.equal(e.kit.broker.on(DATA).length, 1);
    assert.ok(e.kit.logs.some((l) => /sensor read failed: SHT3x humidity CRC mismatch: got 0x[0-9a-f]{2}, computed 0x[0-9a-f]{2}; reading again$/.test(l)), e.kit.logs.join("\n"));
    assert.equal(e.node.sht.measurements, 2);
    await e.product.stop();
  });

  it("CRC errors on every read: no reading this wake, none invented, and the node keeps its duty cycle", async () => {
    const e = emulated();
    e.node.sht.faults.corrupt = { count: 3, byte: 1 };
    e.product.start();
    await e.run(61_100 + 100);
    assert.ok(e.kit.logs.some((l) => /sensor read failed: SHT3x temperature CRC mismatch.*; no reading this wake \(3 attempts\)$/.test(l)), e.kit.logs.join("\n"));
    assert.deepEqual(e.node.sleep.sleeps, [60_000], "slept update_interval after the failed wake");
    assert.equal(e.kit.broker.connects.length, 2, "both wakes went to the broker (flush, config)");
    assert.equal(e.kit.broker.on(DATA).length, 1, "only the second wake's reading");
    await e.product.stop();
  });

  it("a sensor that stops answering (NACK) and returns: wakes without readings, logged, on schedule; readings resume", async () => {
    const e = emulated();
    e.node.i2c.detach(0x44);
    e.product.start();
    await e.run(150_000); // wakes at 0, 61 and 122 s
    assert.equal(e.kit.broker.on(DATA).length, 0, "no reading while it is away");
    assert.equal(e.kit.logs.filter((l) => /sensor read failed: SHT3x did not acknowledge the (measurement|soft reset) command: I2C address not acknowledged by 0x44; no reading this wake/.test(l)).length, 3);
    assert.equal(e.node.sleep.sleeps.length, 3, "the duty cycle holds");
    e.node.i2c.attach(0x44, e.node.sht);
    await e.run(61_100);
    assert.equal(e.kit.broker.on(DATA).length, 1, "back: the next wake publishes");
    await e.product.stop();
    assertContract(e.kit.broker.published);
  });

  it("values out of range (raw words stuck at 0xFFFF: 130 C, 100 %) are dropped, never published", async () => {
    const e = emulated();
    e.node.sht.faults.stuck = [0xffff, 0xffff];
    e.product.start();
    await e.run(2000);
    assert.equal(e.kit.broker.on(DATA).length, 0);
    assert.ok(e.kit.logs.some((l) => l.endsWith("sensor reading out of range (130 C, 100 %); no reading this wake (3 attempts)")), e.kit.logs.join("\n"));
    e.node.sht.faults.stuck = undefined;
    await e.run(61_000);
    assert.equal(e.kit.broker.on(DATA).length, 1);
    await e.product.stop();
  });

  it("the reconnect state lives in the sleep bus's retained memory across wakes; a power loss falls back to flash", async () => {
    const e = emulated();
    e.kit.net.refuse = new Error("ECONNREFUSED");
    e.product.start();
    await e.run(500);
    const sleep = new (e.node.sleep.io)({});
    assert.equal(sleep.getRetained(1), 3, "attempt_count 3 in retained memory");
    assert.equal(e.kit.settings.get<{ attempt_count: number }>(RECONNECT_KEY)!.attempt_count, 3, "and in flash, since it changed");
    await e.product.stop();
    // A new program after a power loss: retained memory is zeros, flash says back off.
    e.node.sleep.powerLoss();
    const next = definition.create(e.kit.device, definition.hardware(e.node.buses, e.kit.device)) as EspSensorsProduct;
    assert.equal(next.reconnectState.attempt_count, 3);
  });
});

function correlation(x: number[], y: number[]): number {
  const mx = x.reduce((a, b) => a + b) / x.length;
  const my = y.reduce((a, b) => a + b) / y.length;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

// ---- the companion's command ----

describe("esp-sensors: definition and the companion's config command", () => {
  it("builds a retained QoS 0 config on the config topic, answered by the first reading carrying its version", () => {
    const before = Math.floor(Date.now() / 1000);
    const r = definition.command(SENSOR, definition.defaults, "config", { update_interval: "60", max_attempts: 5, reconnect_enabled: "true" });
    const v = (r.payload as { version: number }).version;
    assert.ok(v >= before && v <= before + 2);
    assert.deepEqual(r.payload, { version: v, update_interval: 60, mqtt: { reconnect: { max_attempts: 5, enabled: true } } });
    assert.equal(r.topic, CONFIG);
    assert.equal(r.qos, 0);
    assert.equal(r.retain, true);
    assert.equal(r.responseTopic, DATA);
    assert.equal(r.isResponse({ temperature: 20, humidity: 50, uptime: 1, unit: "C", config_version: v }), true);
    assert.equal(r.isResponse({ temperature: 20, humidity: 50, uptime: 1, unit: "C", config_version: v - 1 }), false);
    assert.equal(r.isResponse({ temperature: 20, humidity: 50, uptime: 1, unit: "C" }), false);
    schemas.assertValid("config", r.payload);
  });

  it("answers on the new data topic when the command moves it, and publishes where the node reads now", () => {
    const r = definition.command(SENSOR, { ...definition.defaults, topic_config: "cfg/{sensor_id}" }, "config", { version: 12, topic_data_prefix: "x/y" });
    assert.equal(r.topic, `cfg/${SENSOR}`);
    assert.equal(r.responseTopic, `x/y/${SENSOR}/data`);
    assert.equal((r.payload as { version: number }).version, 12);
    const rooted = definition.command(SENSOR, { ...definition.defaults, root: SENSOR }, "config", { version: 13 });
    assert.equal(rooted.topic, `${SENSOR}/${CONFIG}`);
    assert.equal(rooted.responseTopic, `${SENSOR}/${DATA}`);
  });

  const bad: [string, string, Record<string, string | number>, RegExp][] = [
    ["an unknown command", "reboot", {}, /unknown command "reboot"/],
    ["an unknown key", "config", { interval: 5 }, /unknown key "interval"/],
    ["a non-number", "config", { update_interval: "soon" }, /update_interval must be a number/],
    ["an out-of-range value", "config", { update_interval: 0 }, /update_interval: must be >= 1/],
    ["min above max", "config", { min_interval: 900, max_interval: 60 }, /min_interval 900 is above max_interval 60/],
  ];
  for (const [what, name, params, why] of bad) {
    it(`throws a RangeError with the usage for ${what}`, () => {
      assert.throws(() => definition.command(SENSOR, definition.defaults, name, params), (e: unknown) =>
        e instanceof RangeError && why.test(e.message) && e.message.includes("usage: npm run cmd -- esp-sensors <sensor> config"));
    });
  }

  it("ids, topics, filter and example fit the contract", () => {
    assert.equal(definition.name, "esp-sensors");
    assert.equal(definition.deviceId(0), SENSOR);
    assert.equal(espTopics(definition.deviceId(41), DEFAULT_SETTINGS.mqtt, "").sensorData.topic, "/homecontrol/device/data/dht22-042/data");
    assert.equal(espTopics(SENSOR, { topic_data_prefix: "d", topic_config: "a/{sensor_id}/cfg" }, "").config.topic, `a/${SENSOR}/cfg`);
    assert.throws(() => espTopics("a/b", DEFAULT_SETTINGS.mqtt, ""), RangeError);
    assert.equal(definition.topicFilter(SENSOR, definition.defaults), "/homecontrol/device/#");
    assert.equal(definition.topicFilter(SENSOR, { topic_data_prefix: "d", topic_config: "c" }), "#");
    assert.ok(definition.commands.config.startsWith("config "));
    const example = definition.command(SENSOR, definition.defaults, definition.example.command, definition.example.params);
    schemas.assertValid("config", example.payload);
    assert.equal(configMessage({ version: 3 }, 0).version, 3);
  });

  it("with roots, each node's filter covers its own traffic and none of another's", () => {
    const [a, b] = [definition.deviceId(0), definition.deviceId(1)];
    const filterA = definition.topicFilter(a, { ...definition.defaults, root: a });
    assert.equal(filterA, `${a}//homecontrol/device/#`);
    const topics = (id: string) => espTopics(id, DEFAULT_SETTINGS.mqtt, id);
    assert.ok(topicMatches(filterA, topics(a).sensorData.topic) && topicMatches(filterA, topics(a).config.topic));
    assert.ok(!topicMatches(filterA, topics(b).sensorData.topic) && !topicMatches(filterA, topics(b).config.topic));
    assert.ok("root" in definition.defaults && definition.defaults.root === "", "the simulator may set root per device");
  });
});
