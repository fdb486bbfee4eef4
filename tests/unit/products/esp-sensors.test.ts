// esp-sensors timing and state on a fake clock: the reconnect strategy across deep sleeps,
// readTopic's wait, the bounded backlog, config validation and merging, the duty cycle, the
// simulated hardware and the companion's command. No broker, no real timers: a fake link
// stands in for the MQTT client, and "deep sleep" is a new product instance on the same
// settings store, as on the ESP32 where the program restarts.

import assert from "node:assert/strict";
import type { Message, MessageHandler, MqttClient } from "../../../modules/mqtt/client.js";
import type { ProductClientOptions, ProductHost } from "../../../modules/device/product.js";
import { MemorySettingsStore } from "../../../modules/device/settings.js";
import { prng } from "../../../modules/device/prng.js";
import { createEspSensors, KEYS } from "../../../modules/products/esp-sensors/product.js";
import type { EspSensorsProduct } from "../../../modules/products/esp-sensors/product.js";
import { afterAttempt, backoffInterval, decide, loadReconnectState, retryNow } from "../../../modules/products/esp-sensors/reconnect.js";
import { SEED_RECONNECT, defaultConfig, mergeConfig, parseConfigMessage, validateConfig, MAX_CONFIG_BYTES } from "../../../modules/products/esp-sensors/config.js";
import type { EspConfig } from "../../../modules/products/esp-sensors/config.js";
import { Backlog } from "../../../modules/products/esp-sensors/backlog.js";
import type { SensorData } from "../../../modules/products/esp-sensors/backlog.js";
import { readTopic } from "../../../modules/products/esp-sensors/read-topic.js";
import type { TopicReader } from "../../../modules/products/esp-sensors/read-topic.js";
import { SimulatedClimateSensor, TimerSleeper } from "../../../modules/products/esp-sensors/simulation.js";
import type { ClimateReading, ClimateSensor, EspSensorsHardware } from "../../../modules/products/esp-sensors/hardware.js";
import { configTopic, dataTopic } from "../../../modules/products/esp-sensors/topics.js";
import { definition, configMessage } from "../../../modules/products/esp-sensors/index.js";
import { ProductSchemas } from "../../products/harness.js";
import { FakeClock, bytes, microtasks, td } from "../fakes.js";

const schemas = new ProductSchemas("esp-sensors");
/** 2024-04-13T12:00:00Z: host.now() is wall-clock time. */
const EPOCH = Date.UTC(2024, 3, 13, 12);
const SENSOR = "dht22-001";
const DATA = `/homecontrol/device/data/${SENSOR}/data`;
const CONFIG = "/homecontrol/device/config";

// ---- a fake link: the broker as the client sees it ----

interface Sent { topic: string; payload: string; qos: number; retain: boolean; at: number }

class FakeLink {
  up = true;
  /** Publishes fail once this many have been written (the link dies mid-flush). */
  writeLimit = Infinity;
  /** When true, connect() never settles (a broker that accepts TCP and never answers). */
  hang = false;
  readonly retained = new Map<string, string>();
  readonly sent: Sent[] = [];
  readonly options: ProductClientOptions[] = [];
  /** Clock times of every connect attempt. */
  readonly attempts: number[] = [];
  subscriptions = 0;
  unsubscriptions = 0;
  constructor(readonly clock: FakeClock) {}

  client(options: ProductClientOptions): MqttClient {
    this.options.push(options);
    const link = this;
    let connected = false;
    let pendingConnect: ((e: Error) => void) | undefined;
    const handlers: { filter: string; handler: MessageHandler }[] = [];
    const fake = {
      get connected() { return connected; },
      connect(): Promise<{ sessionPresent: boolean }> {
        link.attempts.push(link.clock.now);
        if (link.hang) return new Promise((_, reject) => { pendingConnect = reject; });
        if (!link.up) return Promise.reject(new Error("cannot connect to broker.local:1883: ECONNREFUSED"));
        connected = true;
        return Promise.resolve({ sessionPresent: false });
      },
      publish(topic: string, payload: string | Uint8Array, o: { qos?: number; retain?: boolean } = {}): Promise<void> {
        if (!connected || !link.up || link.sent.length >= link.writeLimit) return Promise.reject(new Error("connection lost before the message was written"));
        link.sent.push({ topic, payload: typeof payload === "string" ? payload : td.decode(payload), qos: o.qos ?? 0, retain: o.retain ?? false, at: link.clock.now });
        return Promise.resolve();
      },
      subscribe(filter: string, _o: unknown, handler: MessageHandler): Promise<number[]> {
        handlers.push({ filter, handler });
        if (!connected) return Promise.reject(new Error("not connected"));
        link.subscriptions++;
        const retained = link.retained.get(filter);
        // As a broker does: SUBACK first, then the retained message.
        if (retained !== undefined) {
          void Promise.resolve().then(() => {
            const m: Message = { topic: filter, payload: bytes(retained), qos: 0, retain: true, dup: false };
            for (const h of handlers.filter((x) => x.filter === filter)) h.handler(m);
          });
        }
        return Promise.resolve([0]);
      },
      unsubscribe(filter: string): Promise<void> {
        for (let i = handlers.length - 1; i >= 0; i--) if (handlers[i].filter === filter) handlers.splice(i, 1);
        link.unsubscriptions++;
        return connected ? Promise.resolve() : Promise.reject(new Error("not connected"));
      },
      disconnect(): Promise<void> {
        connected = false;
        return Promise.resolve();
      },
      once(): unknown { return fake; }, // the fake link is never lost mid-wake
      off(): unknown { return fake; },
      abort(): void {
        connected = false;
        pendingConnect?.(new Error("abort() called before the connection was made"));
        pendingConnect = undefined;
      },
    };
    return fake as unknown as MqttClient;
  }

  data(): SensorData[] {
    return this.sent.filter((s) => s.topic.endsWith("/data")).map((s) => JSON.parse(s.payload) as SensorData);
  }
}

/** A sensor that reads what the test says: a list of readings, or an error. */
class ScriptedSensor implements ClimateSensor {
  readings: (ClimateReading | Error)[] = [];
  fallback: ClimateReading = { celsius: 21.04, humidity: 48.96 };
  read(): ClimateReading {
    const r = this.readings.shift() ?? this.fallback;
    if (r instanceof Error) throw r;
    return r;
  }
}

/** Deep sleep: records the duration; the test "restarts the program" itself. */
class RecordingSleeper {
  readonly sleeps: { ms: number; at: number }[] = [];
  cancelled = 0;
  constructor(readonly clock: FakeClock) {}
  sleep(ms: number): void {
    this.sleeps.push({ ms, at: this.clock.now });
  }
  cancel(): void {
    this.cancelled++;
  }
}

interface Node {
  clock: FakeClock;
  link: FakeLink;
  store: MemorySettingsStore;
  logs: string[];
  sensor: ScriptedSensor;
  sleeper: RecordingSleeper;
  config: Record<string, string>;
  /** A fresh program on the same persistent store: what a wake from deep sleep is. */
  boot(): EspSensorsProduct;
}

function node(config: Record<string, string> = {}): Node {
  const clock = new FakeClock();
  const n: Node = {
    clock,
    link: new FakeLink(clock),
    store: new MemorySettingsStore(),
    logs: [],
    sensor: new ScriptedSensor(),
    sleeper: new RecordingSleeper(clock),
    config: { update_interval: "300", config_wait_time: "1", ...config },
    boot() {
      const host: ProductHost = {
        deviceId: SENSOR,
        config: n.config,
        createClient: (o) => n.link.client(o),
        timer: clock.timer,
        now: () => EPOCH + clock.now,
        settings: n.store,
        random: prng(7),
        log: (line) => n.logs.push(line),
      };
      const hardware: EspSensorsHardware = { sensor: n.sensor, sleeper: n.sleeper };
      return createEspSensors(host, hardware);
    },
  };
  return n;
}

/** Runs a wake to its end, moving the fake clock in small steps while it waits. */
async function runWake(n: Node, product = n.boot(), stepMs = 10): Promise<EspSensorsProduct> {
  let done = false;
  const wake = product.wake().finally(() => { done = true; });
  for (let waited = 0; !done; waited += stepMs) {
    assert.ok(waited < 700_000, "the wake never ended");
    await microtasks();
    if (!done) n.clock.advance(stepMs);
  }
  await wake;
  return product;
}

/** Sleeps as asked (the clock moves on) and wakes a new program instance. */
async function sleepAndWake(n: Node): Promise<EspSensorsProduct> {
  const last = n.sleeper.sleeps[n.sleeper.sleeps.length - 1];
  n.clock.advance(last.at + last.ms - n.clock.now);
  return runWake(n);
}

function assertContract(sent: Sent[]): void {
  for (const s of sent) {
    const problem = schemas.check({ topic: s.topic, payload: bytes(s.payload), qos: s.qos, retain: s.retain });
    assert.equal(problem, undefined, problem);
  }
}

// ---- reconnect strategy ----

describe("esp-sensors: reconnect strategy (pure)", () => {
  const p = SEED_RECONNECT;

  it("waits min_interval * backoff_factor^(attempt_count - max_attempts), capped at max_interval (seed 227-230)", () => {
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

  it("counts failures, resets on success (seed 236), leaves the state alone when disabled", () => {
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

class FakeReader implements TopicReader {
  handler: MessageHandler | undefined;
  subscribed: string[] = [];
  unsubscribed: string[] = [];
  refuse = false;
  subscribe(filter: string, _o: unknown, handler: MessageHandler): Promise<number[]> {
    this.subscribed.push(filter);
    this.handler = handler;
    return this.refuse ? Promise.reject(new Error("SUBACK refused")) : Promise.resolve([0]);
  }
  unsubscribe(filter: string): Promise<void> {
    this.unsubscribed.push(filter);
    this.handler = undefined;
    return Promise.resolve();
  }
  deliver(text: string): void {
    this.handler?.({ topic: "t", payload: bytes(text), qos: 0, retain: true, dup: false });
  }
}

describe("esp-sensors: readTopic (fake clock)", () => {
  it("resolves with the first message, ignores later ones, unsubscribes once and leaves no timer", async () => {
    const clock = new FakeClock();
    const reader = new FakeReader();
    const read = readTopic(reader, clock.timer, "t", 1000);
    clock.advance(400);
    const handler = reader.handler!;
    reader.deliver("first");
    handler({ topic: "t", payload: bytes("second"), qos: 0, retain: false, dup: false });
    const m = await read;
    assert.equal(td.decode(m!.payload), "first");
    assert.deepEqual(reader.subscribed, ["t"]);
    assert.deepEqual(reader.unsubscribed, ["t"]);
    assert.deepEqual(clock.pending, []);
  });

  it("resolves undefined exactly waitMs after the call, then unsubscribes", async () => {
    const clock = new FakeClock();
    const reader = new FakeReader();
    let result: Message | undefined | "pending" = "pending";
    void readTopic(reader, clock.timer, "t", 1000).then((m) => { result = m; });
    clock.advance(999);
    await microtasks();
    assert.equal(result, "pending");
    assert.deepEqual(reader.unsubscribed, []);
    clock.advance(1);
    await microtasks();
    assert.equal(result, undefined);
    assert.deepEqual(reader.unsubscribed, ["t"]);
    reader.deliver("late"); // after the wait: no handler any more, nothing happens
  });

  it("resolves undefined at once when the subscription is refused, and says why", async () => {
    const clock = new FakeClock();
    const reader = new FakeReader();
    reader.refuse = true;
    const problems: string[] = [];
    const m = await readTopic(reader, clock.timer, "t", 60_000, { report: (p) => problems.push(p) });
    assert.equal(m, undefined);
    assert.equal(clock.now, 0);
    assert.deepEqual(problems, ["subscribe t: SUBACK refused"]);
    assert.deepEqual(clock.pending, []);
  });
});

// ---- backlog ----

const reading = (uptime: number): SensorData => ({ temperature: 20, humidity: 50, uptime, unit: "C", config_version: 0 });

describe("esp-sensors: backlog", () => {
  it("keeps at most limit readings, dropping the oldest, and persists every change", () => {
    const store = new MemorySettingsStore();
    const b = new Backlog(store, KEYS.backlog, 3);
    assert.deepEqual(b.push(reading(1)), []);
    b.push(reading(2));
    b.push(reading(3));
    assert.deepEqual(b.push(reading(4)).map((r) => r.uptime), [1]);
    assert.deepEqual(new Backlog(store, KEYS.backlog, 3).items.map((r) => r.uptime), [2, 3, 4], "survives a restart");
    b.remove([b.items[0], b.items[2]]);
    assert.deepEqual(new Backlog(store, KEYS.backlog, 3).items.map((r) => r.uptime), [3]);
    assert.ok(store.values.get(KEYS.backlog)!.length < 40, "stored compactly");
  });

  it("skips corrupt stored entries and refuses a limit it could not store", () => {
    const store = new MemorySettingsStore();
    store.set(KEYS.backlog, [[20, 50, 1, "C", 0], "junk", [1, 2], [20, 50, 2, "K", 0], [21, 51, 3, "F", 2]]);
    assert.deepEqual(new Backlog(store, KEYS.backlog, 10).items.map((r) => r.uptime), [1, 3]);
    store.set(KEYS.backlog, { not: "a list" });
    assert.deepEqual(new Backlog(store, KEYS.backlog, 10).items, []);
    assert.throws(() => new Backlog(store, KEYS.backlog, 0), RangeError);
    assert.throws(() => new Backlog(store, KEYS.backlog, 65), RangeError);
  });
});

// ---- configuration ----

describe("esp-sensors: configuration", () => {
  const base = defaultConfig({});

  it("defaults follow the seed (lines 168-180) and the host's overrides", () => {
    assert.equal(base.version, 0);
    assert.equal(base.mqtt.topic_data_prefix, "/homecontrol/device/data");
    assert.equal(base.mqtt.topic_config, "/homecontrol/device/config");
    assert.equal(base.mqtt.config_wait_time, 1.0);
    assert.equal(base.mqtt.keepalive, 60);
    assert.deepEqual(base.mqtt.reconnect, { enabled: true, max_attempts: 3, backoff_factor: 2, min_interval: 3600, max_interval: 21600 });
    const host = defaultConfig({ update_interval: "5", config_wait_time: "0.25", topic_config: "cfg/{sensor_id}", load_config_from_mqtt: "false" });
    assert.equal(host.update_interval, 5);
    assert.equal(host.mqtt.config_wait_time, 0.25);
    assert.equal(host.mqtt.load_config_from_mqtt, false);
    assert.throws(() => defaultConfig({ update_interval: "soon" }), /update_interval must be a number/);
    assert.throws(() => defaultConfig({ update_interval: "0" }), /update_interval/);
    assert.throws(() => defaultConfig({ topic_data_prefix: "a/#" }), /topic_data_prefix/);
  });

  it("merges a partial message section by section and ignores the reconnect runtime state", () => {
    const parsed = parseConfigMessage(bytes(JSON.stringify({
      version: 3, update_interval: 120,
      mqtt: { config_wait_time: 2.5, reconnect: { max_interval: 7200, attempt_count: 9, last_attempt_time: 5 } },
    })));
    assert.ok(parsed.ok);
    const next = mergeConfig(base, parsed.message);
    assert.equal(next.version, 3);
    assert.equal(next.update_interval, 120);
    assert.equal(next.mqtt.config_wait_time, 2.5);
    assert.equal(next.mqtt.topic_data_prefix, base.mqtt.topic_data_prefix, "untouched keys stay");
    assert.deepEqual(next.mqtt.reconnect, { ...base.mqtt.reconnect, max_interval: 7200 });
    assert.equal(validateConfig(next), undefined);
    assert.equal(base.mqtt.reconnect.max_interval, 21600, "the current configuration is not mutated");
  });

  const rejected: [string, string | Uint8Array, RegExp][] = [
    ["an empty payload", "", /empty payload/],
    ["malformed JSON", "{version: 2", /malformed JSON/],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), /malformed JSON/],
    ["a JSON array", "[1]", /must be a JSON object/],
    ["no version", '{"update_interval":5}', /missing field "version"/],
    ["version as a string", '{"version":"2"}', /version: must be integer/],
    ["update_interval 0", '{"version":2,"update_interval":0}', /update_interval: must be >= 1/],
    ["config_wait_time above 60 s", '{"version":2,"mqtt":{"config_wait_time":61}}', /config_wait_time: must be <= 60/],
    ["a wildcard in the data prefix", '{"version":2,"mqtt":{"topic_data_prefix":"a/+/b"}}', /topic_data_prefix/],
    ["an unknown key", '{"version":2,"mqtt":{"keep_alive":5}}', /unknown field "keep_alive"/],
    ["mqtt.enabled false", '{"version":2,"mqtt":{"enabled":false}}', /refused over MQTT/],
    ["load_config_from_mqtt false", '{"version":2,"mqtt":{"load_config_from_mqtt":false}}', /refused over MQTT/],
    ["an oversized payload", JSON.stringify({ version: 2, sensors: { pad: "x".repeat(MAX_CONFIG_BYTES) } }), /exceeds 3072/],
  ];
  for (const [what, payload, why] of rejected) {
    it(`rejects ${what}`, () => {
      const r = parseConfigMessage(typeof payload === "string" ? bytes(payload) : payload);
      assert.equal(r.ok, false);
      assert.match((r as { error: string }).error, why);
    });
  }

  it("rejects a merged configuration whose min_interval exceeds max_interval", () => {
    const next: EspConfig = { ...base, mqtt: { ...base.mqtt, reconnect: { ...base.mqtt.reconnect, min_interval: 30_000 } } };
    assert.match(validateConfig(next)!, /min_interval 30000 is above max_interval 21600/);
  });
});

// ---- the duty cycle ----

describe("esp-sensors: duty cycle (fake clock and link)", () => {
  it("reads, publishes at QoS 0 without retain, waits config_wait_time for config, disconnects and sleeps update_interval", async () => {
    const n = node();
    await runWake(n);
    assert.deepEqual(n.link.sent.map((s) => [s.topic, s.qos, s.retain]), [[DATA, 0, false]]);
    assert.deepEqual(n.link.data(), [{ temperature: 21, humidity: 49, uptime: EPOCH / 1000, unit: "C", config_version: 0 }]);
    assertContract(n.link.sent);
    assert.deepEqual(n.sleeper.sleeps, [{ ms: 300_000, at: 1000 }], "slept update_interval after waiting config_wait_time");
    assert.equal(n.link.unsubscriptions, 1);
    assert.deepEqual(n.clock.pending, [], "no timer left behind when asleep");
    assert.deepEqual(n.link.options[0], {
      clientId: `esp-sensors-${SENSOR}`, clean: true, keepalive: 60, reconnect: false, connectTimeoutMs: 5000,
      outbox: { queueQos0: false, maxMessages: 72 },
    });
    assert.deepEqual(n.store.get(KEYS.backlog), [], "the published reading left the persisted backlog");
  });

  it("publishes Fahrenheit when the host says so", async () => {
    const n = node({ unit: "F" });
    n.sensor.readings = [{ celsius: 37, humidity: 30 }];
    await runWake(n);
    assert.deepEqual(n.link.data().map((d) => [d.temperature, d.unit]), [[98.6, "F"]]);
    assertContract(n.link.sent);
  });

  it("broker unreachable: max_attempts back to back in the first wake, then backoff across deep sleeps, at least 4 attempts a day", async () => {
    const n = node();
    n.link.up = false;
    await runWake(n);
    assert.deepEqual(n.link.attempts, [0, 0, 0], "3 attempts without delay (seed 225)");
    assert.deepEqual(n.store.get(KEYS.reconnect), { attempt_count: 3, last_attempt_time: EPOCH / 1000 }, "persisted before sleeping (seed 234)");
    assert.ok(n.logs.some((l) => /backing off: next attempt in 3600 s/.test(l)), n.logs.join("\n"));
    // One simulated day of 5-minute wakes, each a fresh program (deep sleep).
    while (n.clock.now < 86_400_000) await sleepAndWake(n);
    const wakes = n.sleeper.sleeps.length;
    const attemptWakes = [...new Set(n.link.attempts.slice(3))].map((t) => t / 1000);
    // Each later attempt at the first wake on or after its interval: 3600, then 7200, 14400, 21600, 21600 ... s later.
    const gaps = attemptWakes.map((t, i) => t - (i === 0 ? 0 : attemptWakes[i - 1]));
    assert.deepEqual(gaps.slice(0, 5), [3600, 7200, 14400, 21600, 21600]);
    assert.ok(n.link.attempts.length >= 4 + 3, `${n.link.attempts.length} attempts in a day (seed 232: at least 4)`);
    assert.ok(n.logs.filter((l) => /broker skipped/.test(l)).length > wakes - 12, "most wakes skip the broker (seed 261-263)");
    // The broker returns: the next allowed attempt succeeds and resets the count.
    n.link.up = true;
    while (n.link.sent.length === 0) await sleepAndWake(n);
    assert.deepEqual(n.store.get<{ attempt_count: number }>(KEYS.reconnect)!.attempt_count, 0, "reset on success (seed 236)");
  });

  it("with reconnect disabled, tries once every wake and keeps no count", async () => {
    const n = node();
    n.link.up = false;
    const p = n.boot();
    n.store.set("espcfg", { ...p.config, mqtt: { ...p.config.mqtt, reconnect: { ...p.config.mqtt.reconnect, enabled: false } } });
    await runWake(n);
    await sleepAndWake(n);
    assert.deepEqual(n.link.attempts, [0, 300_000], "a failed wake does not wait for config");
    assert.deepEqual(n.store.get(KEYS.reconnect), { attempt_count: 0, last_attempt_time: 0 }, "no count kept");
  });

  it("offline readings wait in a bounded, persisted backlog: oldest dropped when full, then published oldest first, once", async () => {
    const n = node({ backlog_limit: "4", update_interval: "60" });
    n.link.up = false;
    for (let i = 0; i < 6; i++) {
      n.sensor.readings.push({ celsius: 20 + i, humidity: 40 + i });
      if (i === 0) await runWake(n);
      else await sleepAndWake(n);
    }
    assert.equal(n.logs.filter((l) => /backlog full \(4\): dropped/.test(l)).length, 2);
    assert.deepEqual(n.link.sent, []);
    // Back online: make the backoff allow an attempt now.
    n.link.up = true;
    n.store.set(KEYS.reconnect, { attempt_count: 0, last_attempt_time: 0 });
    n.sensor.readings.push({ celsius: 30, humidity: 60 });
    await sleepAndWake(n);
    assert.deepEqual(n.link.data().map((d) => d.temperature), [23, 24, 25, 30], "the newest 4, oldest first");
    const times = n.link.data().map((d) => d.uptime);
    assert.deepEqual([...times].sort((a, b) => a - b), times, "each keeps the time it was read");
    assertContract(n.link.sent);
    await sleepAndWake(n);
    assert.equal(n.link.data().length, 5, "nothing published twice");
  });

  it("readings the client could not write (link lost mid-flush) stay in the backlog and go out next wake", async () => {
    const n = node({ update_interval: "60" });
    n.link.up = false;
    for (let i = 0; i < 3; i++) {
      n.sensor.readings.push({ celsius: 20 + i, humidity: 50 });
      if (i === 0) await runWake(n);
      else await sleepAndWake(n);
    }
    n.link.up = true;
    n.link.writeLimit = 2;
    n.store.set(KEYS.reconnect, { attempt_count: 0, last_attempt_time: 0 });
    n.sensor.readings.push({ celsius: 23, humidity: 50 });
    await sleepAndWake(n);
    assert.deepEqual(n.link.data().map((d) => d.temperature), [20, 21]);
    assert.ok(n.logs.some((l) => l.endsWith(`published 2 of 4 reading(s) to ${DATA}; 2 kept for the next wake`)), n.logs.join("\n"));
    n.link.writeLimit = Infinity;
    await sleepAndWake(n);
    assert.deepEqual(n.link.data().map((d) => d.temperature), [20, 21, 22, 23, 21], "the rest, in order, then the new reading");
  });

  it("a new config version is applied, persisted before sleeping, acknowledged by a reading, and takes effect", async () => {
    const n = node();
    n.link.retained.set(CONFIG, JSON.stringify({
      version: 7, update_interval: 120,
      mqtt: { topic_data_prefix: "home/sensors", topic_config: "home/config/{sensor_id}", config_wait_time: 2, keepalive: 30, client_id: "node-7",
        reconnect: { max_attempts: 2, min_interval: 60, max_interval: 600 } },
    }));
    const first = await runWake(n);
    assert.equal(first.config.version, 7);
    assert.equal(n.store.get<EspConfig>(KEYS.config)!.version, 7, "persisted");
    assert.deepEqual(n.sleeper.sleeps.map((s) => s.ms), [120_000], "the new update_interval is the very next sleep");
    assert.deepEqual(n.link.sent.map((s) => s.topic), [DATA, `home/sensors/${SENSOR}/data`], "acknowledged on the new data topic");
    assert.deepEqual(n.link.data().map((d) => d.config_version), [0, 7]);
    assert.ok(n.logs.some((l) => l.endsWith("config version 7 applied (version, update_interval, mqtt)")), n.logs.join("\n"));
    assertContract(n.link.sent);
    // After deep sleep: new client options and topics, the new wait (nothing retained there).
    await sleepAndWake(n);
    assert.equal(n.link.options[1].clientId, "node-7");
    assert.equal(n.link.options[1].keepalive, 30);
    assert.equal(n.sleeper.sleeps[1].at - (n.sleeper.sleeps[0].at + 120_000), 2000, "waited the new config_wait_time on the new topic");
    n.link.up = false;
    await sleepAndWake(n);
    assert.equal(n.link.attempts.length - 2, 2, "the new max_attempts");
  });

  it("the retained config already applied is read every wake and changes nothing", async () => {
    const n = node();
    n.link.retained.set(CONFIG, JSON.stringify({ version: 2, update_interval: 100 }));
    await runWake(n);
    const stored = n.store.values.get(KEYS.config);
    await sleepAndWake(n);
    assert.equal(n.store.values.get(KEYS.config), stored);
    assert.equal(n.link.data().length, 3, "two readings and one acknowledgement");
    assert.ok(!n.logs.some((l) => /rejected|ignored/.test(l)));
  });

  const invalid: [string, string, RegExp][] = [
    ["malformed JSON", "{oops", /config rejected: malformed JSON.*; keeping version 0/],
    ["an out-of-range value", '{"version":5,"update_interval":0}', /config rejected: update_interval: must be >= 1; keeping version 0/],
    ["a value of the wrong type", '{"version":5,"mqtt":{"config_wait_time":"2"}}', /config rejected: mqtt.config_wait_time: must be number/],
    ["a missing version", '{"update_interval":10}', /config rejected: message: missing field "version"/],
    ["min_interval above max_interval", '{"version":5,"mqtt":{"reconnect":{"min_interval":9000,"max_interval":600}}}', /config version 5 rejected: mqtt.reconnect: min_interval 9000 is above max_interval 600; keeping version 0/],
  ];
  for (const [what, payload, line] of invalid) {
    it(`${what} in the config: a log line, the configuration unchanged, the node keeps cycling`, async () => {
      const n = node();
      n.link.retained.set(CONFIG, payload);
      const p = await runWake(n);
      assert.ok(n.logs.some((l) => line.test(l)), n.logs.join("\n"));
      assert.equal(p.config.version, 0);
      assert.equal(n.store.get(KEYS.config), undefined, "nothing persisted");
      assert.deepEqual(n.sleeper.sleeps.map((s) => s.ms), [300_000]);
      await sleepAndWake(n);
      assert.equal(n.link.data().length, 2);
    });
  }

  it("an older version than the one applied is ignored with a log line", async () => {
    const n = node();
    n.link.retained.set(CONFIG, '{"version":9}');
    await runWake(n);
    n.link.retained.set(CONFIG, '{"version":4,"update_interval":10}');
    const p = await sleepAndWake(n);
    assert.equal(p.config.version, 9);
    assert.equal(p.config.update_interval, 300);
    assert.ok(n.logs.some((l) => l.endsWith("config version 4 ignored: version 9 is newer")));
  });

  it("a sensor that fails or reads out of range is logged; the wake still flushes, reads config and sleeps", async () => {
    const n = node();
    n.sensor.readings = [new Error("DHT22 checksum mismatch"), { celsius: 120, humidity: 50 }];
    await runWake(n);
    await sleepAndWake(n);
    assert.equal(n.link.data().length, 0);
    assert.ok(n.logs.some((l) => l.endsWith("sensor read failed: DHT22 checksum mismatch; no reading this wake")));
    assert.ok(n.logs.some((l) => l.endsWith("sensor reading out of range (120 C, 50 %): dropped")));
    assert.equal(n.link.subscriptions, 2);
    assert.equal(n.sleeper.sleeps.length, 2);
  });

  it("a broker that never answers: the awake limit ends the wake, counts the attempt, and the node sleeps", async () => {
    const n = node({ max_awake: "10" });
    n.link.hang = true;
    await runWake(n);
    assert.equal(n.clock.now, 10_000);
    assert.deepEqual(n.link.attempts, [0], "no immediate retry once the wake is over");
    assert.equal(n.store.get<{ attempt_count: number }>(KEYS.reconnect)!.attempt_count, 1);
    assert.ok(n.logs.some((l) => l.endsWith("awake for 10000 ms: giving up this wake")));
    assert.equal(n.sleeper.sleeps.length, 1);
    assert.equal(n.store.get<unknown[]>(KEYS.backlog)!.length, 1, "the reading is kept");
  });

  it("stop() ends a wake in progress, cancels the pending wake and does not sleep again", async () => {
    const n = node({ config_wait_time: "30" });
    const p = n.boot();
    const wake = p.wake();
    await microtasks();
    n.clock.advance(100);
    await p.stop();
    await wake;
    assert.equal(n.sleeper.sleeps.length, 0);
    assert.equal(n.sleeper.cancelled, 1);
    await p.wake();
    assert.equal(n.link.attempts.length, 1, "a stopped node does not wake");
  });

  it("bad host options are refused at creation", () => {
    const bad: Record<string, string>[] = [{ unit: "K" }, { backlog_limit: "0" }, { backlog_limit: "100" }, { max_awake: "0" }];
    for (const config of bad) {
      const n = node(config);
      assert.throws(() => n.boot(), RangeError, JSON.stringify(config));
    }
    const n = node();
    assert.throws(() => createEspSensors({ ...hostOf(n), deviceId: "a/b" }, { sensor: n.sensor, sleeper: n.sleeper }), RangeError);
  });
});

function hostOf(n: Node): ProductHost {
  return { deviceId: SENSOR, config: n.config, createClient: (o) => n.link.client(o), timer: n.clock.timer, now: () => n.clock.now, settings: n.store, random: Math.random, log: () => {} };
}

// ---- simulated hardware ----

describe("esp-sensors: simulated hardware", () => {
  it("temperature follows the day with bounded noise; humidity falls as it warms", () => {
    let now = Date.UTC(2024, 0, 1);
    const sensor = new SimulatedClimateSensor({ now: () => now, random: prng(3) });
    const at = (hour: number): ClimateReading => { now = Date.UTC(2024, 0, 1, hour); return sensor.read(); };
    const night = at(3);
    const afternoon = at(15);
    assert.ok(afternoon.celsius - night.celsius > 5, `${night.celsius} -> ${afternoon.celsius}`);
    assert.ok(afternoon.humidity < night.humidity);
    const temps: number[] = [];
    const hums: number[] = [];
    for (let m = 0; m < 24 * 60; m += 5) {
      now = Date.UTC(2024, 0, 1) + m * 60_000;
      const r = sensor.read();
      assert.ok(Math.abs(r.celsius - sensor.expectedCelsius(now)) <= 0.2 + 1e-9);
      assert.ok(r.humidity >= 0 && r.humidity <= 100);
      temps.push(r.celsius);
      hums.push(r.humidity);
    }
    assert.ok(correlation(temps, hums) < -0.9, "anti-correlated");
  });

  it("repeats exactly for the same seed", () => {
    const run = () => { const s = new SimulatedClimateSensor({ now: () => EPOCH, random: prng(11) }); return [s.read(), s.read()]; };
    assert.deepEqual(run(), run());
  });

  it("the timer sleeper wakes after the duration and can be cancelled", () => {
    const clock = new FakeClock();
    const sleeper = new TimerSleeper(clock.timer);
    let woken = 0;
    sleeper.sleep(5000, () => woken++);
    clock.advance(4999);
    assert.equal(woken, 0);
    clock.advance(1);
    assert.equal(woken, 1);
    sleeper.sleep(5000, () => woken++);
    sleeper.cancel();
    clock.advance(10_000);
    assert.equal(woken, 1);
    assert.deepEqual(sleeper.history, [5000, 5000]);
  });

  it("simulate() runs the duty cycle on a timer: wake, sleep update_interval, wake again", async () => {
    const n = node({ update_interval: "5" });
    const product = definition.simulate({ ...hostOf(n), config: n.config, now: () => EPOCH + n.clock.now });
    product.start();
    for (let i = 0; i < 700; i++) { await microtasks(); n.clock.advance(10); }
    assert.deepEqual(n.link.attempts, [0, 6000], "1 s awake reading config, 5 s asleep");
    await product.stop();
    assertContract(n.link.sent);
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
    assert.equal(dataTopic(definition.defaults.topic_data_prefix, definition.deviceId(41)), "/homecontrol/device/data/dht22-042/data");
    assert.equal(configTopic("a/{sensor_id}/cfg", SENSOR), `a/${SENSOR}/cfg`);
    assert.equal(definition.topicFilter(SENSOR, definition.defaults), "/homecontrol/device/#");
    assert.equal(definition.topicFilter(SENSOR, { topic_data_prefix: "d", topic_config: "c" }), "#");
    assert.ok(definition.commands.config.startsWith("config "));
    const example = definition.command(SENSOR, definition.defaults, definition.example.command, definition.example.params);
    schemas.assertValid("config", example.payload);
    assert.equal(configMessage({ version: 3 }, 0).version, 3);
  });
});
