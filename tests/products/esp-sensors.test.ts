// esp-sensors end to end against real brokers, on a Device over the Node platform. On aedes a
// SchemaTap checks every PUBLISH the node's clients send, at the broker, with its exact QoS and
// retain flag (afterEach). On mosquitto the broker goes away while the node keeps waking, and
// comes back. The node runs its drivers (SHT3x over I2C, deep sleep) over emulated buses.
// Each wake is awaited (product.wake()); "deep sleep" is a new Device and product on the same
// settings store and emulated parts (retained memory included). One test lets the sleep bus
// wake the node on the real timer, as `npm start` does (simulate()).

import assert from "node:assert/strict";
import { startAedes } from "../harness/aedes.js";
import type { AedesHandle } from "../harness/aedes.js";
import { Mosquitto } from "../harness/mosquitto.js";
import { client, closeAll, Inbox, text } from "../integration/util.js";
import { closeHostClients, productDevice, ProductSchemas, SchemaTap } from "./harness.js";
import type { Device } from "../../modules/device/device.js";
import { MemorySettingsStore } from "../../modules/device/settings.js";
import type { Json } from "../../modules/device/commands.js";
import type { EspSensorsProduct } from "../../modules/products/esp-sensors/product.js";
import { SETTINGS_KEY } from "../../modules/products/esp-sensors/settings.js";
import type { EspConfig } from "../../modules/products/esp-sensors/settings.js";
import { BACKLOG_KEY } from "../../modules/products/esp-sensors/backlog.js";
import { RECONNECT_KEY } from "../../modules/products/esp-sensors/reconnect.js";
import { emulatedNode } from "../../modules/products/esp-sensors/simulation.js";
import type { EmulatedNode } from "../../modules/products/esp-sensors/simulation.js";
import { simulate } from "../../modules/device/product.js";
import { definition } from "../../modules/products/esp-sensors/index.js";
import type { SensorData } from "../../modules/products/esp-sensors/messages.js";
import { readTopic } from "../../modules/products/esp-sensors/read-topic.js";

const schemas = new ProductSchemas("esp-sensors");
const PREFIX = "/homecontrol/device/data";

/**
 * The node's emulated parts: an SHT3x in air reading 20.0, 20.1, 20.2 ... C (so every reading
 * is told apart), and a sleep bus that only records: the test wakes the node itself.
 */
function countingParts(device: Device): EmulatedNode {
  let n = 0;
  return emulatedNode(device, { climate: () => ({ celsius: 20 + n++ / 10, humidity: 50 }), wakeOnTimer: false });
}

interface SensorNode {
  product: EspSensorsProduct;
  device: Device;
  logs: string[];
  /** What this program asked to sleep. */
  readonly sleeps: number[];
  settings: MemorySettingsStore;
  /** A new program on the same persistent state and parts: waking from deep sleep. */
  reboot(): SensorNode;
}

let ids = 0;
function sensorId(what: string): string {
  return `${what}-${process.pid}-${++ids}`;
}

function sensorNode(port: number, deviceId: string, options: { config?: Record<string, string>; settings?: MemorySettingsStore; now?: () => number; parts?: EmulatedNode } = {}): SensorNode {
  const settings = options.settings ?? new MemorySettingsStore();
  const logs: string[] = [];
  const config = { topic_config: "e2e/{sensor_id}/config", config_wait_time: "0.3", update_interval: "60", ...options.config };
  const device = productDevice({ port, deviceId, config, settings, now: options.now, logs });
  const parts = options.parts ?? countingParts(device);
  const from = parts.sleep.sleeps.length;
  const product = definition.create(device, definition.hardware(parts.buses, device)) as EspSensorsProduct;
  return {
    product, device, logs, settings,
    get sleeps() { return parts.sleep.sleeps.slice(from); },
    reboot: () => sensorNode(port, deviceId, { ...options, settings, parts }),
  };
}

const isNodeClient = (clientId: string): boolean => clientId.startsWith("esp-sensors-") || clientId.startsWith("node-");

function json(payload: Uint8Array): SensorData {
  return JSON.parse(text(payload)) as SensorData;
}

describe("esp-sensors on aedes (every published message checked at the broker)", function () {
  this.timeout(15_000);
  let broker: AedesHandle;
  let tap: SchemaTap;

  before(async () => {
    broker = await startAedes();
    tap = new SchemaTap(broker, schemas, isNodeClient);
  });
  afterEach(async () => {
    await closeHostClients();
    await closeAll();
    tap.assertAllValid();
  });
  after(async () => {
    await broker.close();
  });

  async function watcher(filter: string): Promise<Inbox> {
    const w = client(broker.port);
    await w.connect();
    const inbox = new Inbox(w);
    await w.subscribe(filter, { qos: 0 });
    return inbox;
  }

  it("a wake publishes one reading at QoS 0, not retained, on {prefix}/{sensor_id}/data, then sleeps update_interval", async () => {
    const id = sensorId("wake");
    const inbox = await watcher(`${PREFIX}/${id}/data`);
    const node = sensorNode(broker.port, id);
    const started = Date.now();
    await node.product.wake();
    await inbox.waitFor(1);
    const seen = tap.of("sensor-data").filter((m) => m.topic === `${PREFIX}/${id}/data`);
    assert.deepEqual(seen.map((m) => [m.qos, m.retain]), [[0, false]]);
    const reading = json(inbox.messages[0].payload);
    assert.deepEqual({ ...reading, uptime: 0 }, { temperature: 20, humidity: 50, uptime: 0, unit: "C", config_version: 0 });
    assert.ok(Math.abs(reading.uptime * 1000 - started) < 5000, "uptime is the host clock in seconds");
    assert.deepEqual(node.sleeps, [60_000]);
    assert.ok(Date.now() - started >= 300, "waited config_wait_time for a configuration");
    assert.equal(node.device.connected, false, "disconnected before sleeping");
    assert.deepEqual(node.settings.get(BACKLOG_KEY), []);
  });

  it("readTopic: the retained message at once, undefined after the wait, and unsubscribed afterwards", async () => {
    const id = sensorId("read");
    const unsubscribed: string[] = [];
    broker.broker.on("unsubscribe", (filters, c) => { if (c?.id === `reader-${id}`) unsubscribed.push(...filters); });
    const device = productDevice({ port: broker.port, deviceId: id });
    const up = new Promise<void>((resolve) => device.once("connected", () => resolve()));
    device.connect({ clientId: `reader-${id}`, clean: true });
    await up;
    const backend = client(broker.port);
    await backend.connect();
    await backend.publish(`e2e/${id}/retained`, "hello", { qos: 1, retain: true });

    let t = Date.now();
    const m = await readTopic(device, `e2e/${id}/retained`, 5000);
    assert.equal(text(m!.payload), "hello");
    assert.equal(m!.retain, true);
    assert.ok(Date.now() - t < 2000, "did not wait out the 5 s");

    t = Date.now();
    assert.equal(await readTopic(device, `e2e/${id}/empty`, 250), undefined);
    assert.ok(Date.now() - t >= 245, `waited ${Date.now() - t} ms`);

    // Both reads unsubscribed at the broker once done.
    const deadline = Date.now() + 2000;
    while (unsubscribed.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(unsubscribed, [`e2e/${id}/retained`, `e2e/${id}/empty`]);
    await device.disconnect();
    await backend.publish(`e2e/${id}/retained`, "", { qos: 1, retain: true });
  });

  it("the companion's config command round-trips: applied, persisted, acknowledged by a reading with its version, and in effect", async () => {
    const id = sensorId("cmd");
    const config = { topic_config: "e2e/{sensor_id}/config" };
    const request = definition.command(id, { ...definition.defaults, ...config }, "config",
      { update_interval: "120", topic_data_prefix: `e2e/moved`, config_wait_time: "0.2" });
    assert.equal(request.topic, `e2e/${id}/config`);
    const backend = client(broker.port);
    await backend.connect();
    const answers: Json[] = [];
    const answered = new Promise<void>((resolve) => {
      backend.on("message", (m) => {
        const payload = JSON.parse(text(m.payload)) as Json;
        if (m.topic === request.responseTopic && request.isResponse(payload)) {
          answers.push(payload);
          resolve();
        }
      });
    });
    await backend.subscribe(request.responseTopic, { qos: 0 });
    await backend.publish(request.topic, JSON.stringify(request.payload), { qos: request.qos, retain: request.retain });

    const node = sensorNode(broker.port, id, { config });
    await node.product.wake();
    await answered;
    const version = (request.payload as { version: number }).version;
    assert.equal((answers[0] as { config_version: number }).config_version, version);
    assert.deepEqual(node.sleeps, [120_000], "the new update_interval, at once");
    assert.equal(node.settings.get<EspConfig>(SETTINGS_KEY)!.version, version, "persisted before sleeping");
    assert.ok(node.logs.some((l) => l.includes(`config version ${version} applied`)), node.logs.join("\n"));
    await tap.waitFor((m) => m.topic === `e2e/moved/${id}/data`); // the broker's publish event can trail delivery
    assert.deepEqual(tap.of("sensor-data").filter((m) => m.topic.includes(id)).map((m) => m.topic),
      [`${PREFIX}/${id}/data`, `e2e/moved/${id}/data`], "the reading of the wake, then the acknowledgement on the new topic");

    // Deep sleep: the next program reads the persisted configuration and the same retained one, and changes nothing.
    const next = node.reboot();
    await next.product.wake();
    assert.equal(next.product.config.version, version);
    await tap.waitFor((m) => m.topic === `e2e/moved/${id}/data` && json(m.payload).temperature === 20.2);
    assert.deepEqual(next.sleeps, [120_000]);
    await backend.publish(request.topic, "", { qos: 0, retain: true });
  });

  it("simulate(): the sleep bus wakes the node on the timer and the SHT3x measures the emulated room", async () => {
    const id = sensorId("sim");
    const inbox = await watcher(`${PREFIX}/${id}/data`);
    const device = productDevice({ port: broker.port, deviceId: id, config: { update_interval: "1", config_wait_time: "0.2" }, settings: new MemorySettingsStore() });
    const product = simulate(definition, device).product;
    product.start();
    await inbox.waitFor(2);
    await product.stop();
    const readings = inbox.messages.map((m) => json(m.payload));
    for (const r of readings) {
      schemas.assertValid("sensor-data", r);
      assert.ok(r.temperature > 17 && r.temperature < 25 && r.humidity > 30 && r.humidity < 70, JSON.stringify(r));
    }
    assert.ok(readings[1].uptime - readings[0].uptime >= 1.2, "asleep update_interval after the config wait");
  });

  const malformed: [string, string, RegExp][] = [
    ["bad JSON", "{not json", /config rejected: payload is not JSON/],
    ["a JSON array", "[1,2]", /config rejected: payload must be a JSON object/],
    ["an unknown key", '{"version":5,"colour":"red"}', /config rejected: message: unknown field "colour"/],
    ["a missing version", '{"update_interval":30}', /config rejected: message: missing field "version"/],
    ["an out-of-range value", '{"version":5,"mqtt":{"config_wait_time":600}}', /config rejected: mqtt.config_wait_time: must be <= 60/],
    ["a wrong type", '{"version":5,"update_interval":"30"}', /config rejected: update_interval: must be integer/],
    ["min_interval above max_interval", '{"version":5,"mqtt":{"reconnect":{"min_interval":7200,"max_interval":60}}}', /config version 5 rejected: mqtt.reconnect: min_interval 7200 is above max_interval 60/],
  ];
  for (const [what, payload, line] of malformed) {
    it(`a config with ${what}: a log line, the configuration kept, and the node keeps cycling`, async () => {
      const id = sensorId("bad");
      const backend = client(broker.port);
      await backend.connect();
      await backend.publish(`e2e/${id}/config`, payload, { qos: 1, retain: true });
      const node = sensorNode(broker.port, id);
      await node.product.wake();
      assert.ok(node.logs.some((l) => line.test(l)), node.logs.join("\n"));
      assert.equal(node.product.config.version, 0);
      assert.equal(node.settings.get(SETTINGS_KEY), undefined, "nothing persisted");
      const next = node.reboot();
      await next.product.wake();
      assert.deepEqual(node.sleeps, [60_000, 60_000], "old update_interval, in both programs");
      await tap.waitFor((m) => m.topic === `${PREFIX}/${id}/data` && json(m.payload).temperature === 20.1);
      await backend.publish(`e2e/${id}/config`, "", { qos: 1, retain: true });
    });
  }

  it("abrupt disconnect (device.abort()) mid-wake: no will or status is published for the node, the wake ends, and the next one delivers", async () => {
    const id = sensorId("abort");
    const w = client(broker.port);
    await w.connect();
    const live = new Inbox(w, (m) => !m.retain); // everything published from now on, to anyone
    await w.subscribe("#", { qos: 0 });
    const node = sensorNode(broker.port, id, { config: { config_wait_time: "10" } });
    const started = Date.now();
    const wake = node.product.wake();
    await tap.waitFor((m) => m.topic === `${PREFIX}/${id}/data`);
    node.device.abort();
    await wake;
    assert.ok(Date.now() - started < 5000, "the lost link ended the 10 s config wait");
    assert.ok(node.logs.some((l) => l.endsWith("connection lost while reading the config topic")), node.logs.join("\n"));
    assert.deepEqual(node.sleeps, [60_000]);
    const next = node.reboot();
    const again = next.product.wake();
    await tap.waitFor((m) => m.topic === `${PREFIX}/${id}/data` && json(m.payload).temperature === 20.1);
    next.device.abort(); // again, rather than wait out the 10 s
    await again;
    await live.waitFor(2);
    // Only the two readings: the node has no will and no status topic (README).
    assert.deepEqual(live.messages.map((m) => [m.topic, json(m.payload).temperature]), [[`${PREFIX}/${id}/data`, 20], [`${PREFIX}/${id}/data`, 20.1]]);
  });
});

describe("esp-sensors on mosquitto: broker down while the node keeps waking", function () {
  this.timeout(20_000);
  let mosquitto: Mosquitto;

  before(async () => {
    mosquitto = await Mosquitto.start();
  });
  after(async () => {
    await closeHostClients();
    await closeAll();
    await mosquitto.dispose();
  });

  it("readings taken offline wait in the persisted backlog, through the backoff, and arrive once, in order, when the broker is back", async () => {
    const id = sensorId("offline");
    let now = Date.UTC(2024, 3, 13, 12);
    const first = sensorNode(mosquitto.port, id, { now: () => now, config: { config_wait_time: "0.1" } });
    let node = first;
    const watch = async (): Promise<Inbox> => {
      const w = client(mosquitto.port);
      await w.connect();
      const inbox = new Inbox(w);
      await w.subscribe(`${PREFIX}/${id}/data`, { qos: 0 });
      return inbox;
    };
    let inbox = await watch();
    await node.product.wake();
    await inbox.waitFor(1);

    await mosquitto.stop();
    for (let i = 0; i < 5; i++) {
      now += 60_000;
      node = node.reboot();
      await node.product.wake();
    }
    const state = first.settings.get<{ attempt_count: number }>(RECONNECT_KEY)!;
    assert.equal(state.attempt_count, 3, "max_attempts in the first offline wake, then skipped wakes");
    assert.equal(node.logs.filter((l) => /broker skipped/.test(l)).length, 1);
    assert.equal(first.settings.get<unknown[]>(BACKLOG_KEY)!.length, 5);

    await mosquitto.restart();
    inbox = await watch();
    now += 60_000; // still inside the 3600 s backoff
    node = node.reboot();
    await node.product.wake();
    assert.ok(node.logs.some((l) => /broker skipped \(attempt_count 3\): next attempt in 3\d\d\d s; 6 reading\(s\) kept/.test(l)), node.logs.join("\n"));
    now += 3600_000;
    node = node.reboot();
    await node.product.wake();
    await inbox.waitFor(7);
    const readings = inbox.messages.map((m) => json(m.payload));
    for (const r of readings) schemas.assertValid("sensor-data", r);
    assert.deepEqual(readings.map((r) => r.temperature), [20.1, 20.2, 20.3, 20.4, 20.5, 20.6, 20.7], "oldest first, none lost");
    assert.deepEqual(readings.map((r) => r.uptime), [...readings.map((r) => r.uptime)].sort((a, b) => a - b));
    assert.deepEqual(first.settings.get(BACKLOG_KEY), []);
    assert.equal(first.settings.get<{ attempt_count: number }>(RECONNECT_KEY)!.attempt_count, 0, "reset on success");

    now += 60_000;
    node = node.reboot();
    await node.product.wake();
    await inbox.waitFor(8);
    assert.deepEqual(inbox.messages.map((m) => json(m.payload).temperature).slice(7), [20.8], "no duplicates afterwards");
  });
});
