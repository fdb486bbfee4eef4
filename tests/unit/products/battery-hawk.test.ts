// Battery Hawk on the test kit (a real Device and MQTT client on a fake clock against the
// scripted broker): the gateway's schedules and event-driven publishing (poll, scan,
// heartbeat, publish-on-change, no doubled cycles), commands answered only by the gateway
// they are for, options (the specification's topic_prefix, root, unknown keys), id
// validation, bounded registry, the health score, the simulation's physics and per-gateway
// MACs, and the companion's commands. Every message a gateway publishes is checked against
// the product's topic table and schemas after each test.

import { strict as assert } from "node:assert";
import { Kit } from "../../kit/index.js";
import type { Published } from "../../kit/index.js";
import { MemorySettingsStore } from "../../../modules/device/settings.js";
import type { SettingsStore } from "../../../modules/device/settings.js";
import { prng } from "../../../modules/device/prng.js";
import { definition } from "../../../modules/products/battery-hawk/index.js";
import { createBatteryHawk } from "../../../modules/products/battery-hawk/product.js";
import type { BatteryHawkGateway } from "../../../modules/products/battery-hawk/product.js";
import type { BatteryMonitorRadio, MonitorAdvert, ReadOutcome, BatteryInfo } from "../../../modules/products/battery-hawk/hardware.js";
import { readHawkOptions } from "../../../modules/products/battery-hawk/options.js";
import { chargeOf, healthClass, healthScore, vehicleSummary } from "../../../modules/products/battery-hawk/health.js";
import { normalizeMac, isVehicleId } from "../../../modules/products/battery-hawk/ids.js";
import { sanitizeReading, responseMessage } from "../../../modules/products/battery-hawk/messages.js";
import type { MonitorState } from "../../../modules/products/battery-hawk/registry.js";
import { SimulatedFleet, emulatedFleet, simulatedAssociations, simulatedMac } from "../../../modules/products/battery-hawk/simulation.js";
import type { MonitorPhysics } from "../../../modules/emulators/bm2bm6.js";
import { simulate } from "../../../modules/device/product.js";
import { HawkTopics } from "../../../modules/products/battery-hawk/topics.js";
import { topicMatches } from "../../../modules/mqtt/topic.js";
import { ProductSchemas } from "../../products/harness.js";

const schemas = new ProductSchemas("battery-hawk");

const GW = "hawk-gw-001";
const CAR_1 = "A4:C1:38:00:00:01";
const CAR_2 = "A4:C1:38:00:00:02";
const SPARE = "A4:C1:38:00:00:09";
const START = Date.UTC(2024, 0, 15, 10, 30);

/** A radio whose adverts and read results the test sets; reads can be held to simulate a slow BLE link. */
class ScriptedRadio implements BatteryMonitorRadio {
  adverts: MonitorAdvert[] = [];
  readonly outcomes = new Map<string, ReadOutcome>();
  readonly reads: string[] = [];
  scans = 0;
  scanFails = false;
  hold = false;
  readonly #held: (() => void)[] = [];

  async scan(): Promise<MonitorAdvert[]> {
    this.scans++;
    if (this.scanFails) throw new Error("BLE controller not responding");
    return this.adverts.slice();
  }

  read(mac: string): Promise<ReadOutcome> {
    this.reads.push(mac);
    const outcome = (): ReadOutcome => this.outcomes.get(mac) ?? { ok: false, errorCode: 1001, errorMessage: "Connection timeout" };
    if (!this.hold) return Promise.resolve(outcome());
    return new Promise((resolve) => this.#held.push(() => resolve(outcome())));
  }

  release(): void {
    this.hold = false;
    for (const r of this.#held.splice(0)) r();
  }

  set(mac: string, info: BatteryInfo): void {
    this.outcomes.set(mac, { ok: true, info, rssi: -60, protocolVersion: "1.0" });
  }
}

interface Gateway {
  kit: Kit;
  radio: ScriptedRadio;
  product: BatteryHawkGateway;
  /** Messages published on topics ending with `suffix`. */
  on(suffix: string): Published[];
  /** A command delivered on the gateway's command topic. */
  command(payload: unknown): Promise<void>;
}

const kits: { kit: Kit; root: string }[] = [];

/** A gateway on the kit with fast schedules; not started. */
function gateway(config: Record<string, string> = {}, options: { settings?: SettingsStore; deviceId?: string } = {}): Gateway {
  const kit = new Kit({
    deviceId: options.deviceId ?? GW, settings: options.settings, start: START,
    config: { poll_interval_ms: "1000", scan_interval_ms: "5000", status_interval_ms: "10000", ...config },
  });
  kits.push({ kit, root: config.root ?? "" });
  const radio = new ScriptedRadio();
  const product = createBatteryHawk(kit.device, radio);
  return {
    kit, radio, product,
    on: (suffix) => kit.broker.published.filter((m) => m.topic.endsWith(suffix)),
    command: async (payload) => {
      kit.broker.deliver(product.topics.gateway.commandReadData.topic, payload, { qos: 0 });
      await kit.settle();
    },
  };
}

async function started(config: Record<string, string> = {}, options: { settings?: SettingsStore; deviceId?: string } = {}): Promise<Gateway> {
  const g = gateway(config, options);
  g.product.start();
  await g.kit.settle();
  return g;
}

afterEach(() => {
  // Every message keeps the table's QoS and retain flag and its schema (the root set aside).
  for (const { kit, root } of kits.splice(0)) {
    for (const m of kit.broker.published) {
      const topic = root === "" ? m.topic : m.topic.slice(root.length + 1);
      const problem = schemas.check({ topic, payload: new TextEncoder().encode(m.text), qos: m.qos, retain: m.retain });
      assert.equal(problem, undefined, problem);
    }
  }
});

const reading = (voltage: number, soc = 80): BatteryInfo => ({ voltage, current: -0.2, temperature: 20, state_of_charge: soc, capacity: 60 });

describe("battery-hawk gateway (fake clock)", () => {
  it("reads every monitor once per poll_interval_ms and scans once per scan_interval_ms", async () => {
    const g = gateway({ associations: `${CAR_1}=family_car,${CAR_2}=family_car` });
    g.radio.set(CAR_1, reading(12.6));
    g.radio.set(CAR_2, reading(12.5));
    g.product.start();
    await g.kit.settle();
    assert.equal(g.radio.scans, 1, "a first scan at start");
    assert.deepEqual(g.radio.reads, [CAR_1, CAR_2], "a first reading cycle at start");
    await g.kit.run(999, 100);
    assert.equal(g.radio.reads.length, 2, "nothing before the interval");
    await g.kit.run(1, 1);
    assert.equal(g.radio.reads.length, 4);
    await g.kit.run(4000, 100);
    assert.equal(g.radio.reads.length, 12);
    assert.equal(g.radio.scans, 2);
    assert.equal(g.on("/reading").length, 12, "one reading per successful read (event-driven)");
    assert.ok(g.on("/reading").every((m) => m.qos === 1 && !m.retain));
  });

  it("publishes a device status only when a monitor's status or connection changes", async () => {
    const g = gateway({ associations: `${CAR_1}=family_car` });
    g.radio.set(CAR_1, reading(12.6));
    g.product.start();
    await g.kit.run(3000, 100);
    assert.equal(g.on(`${CAR_1}/status`).length, 1, "connected once, then unchanged");
    g.radio.outcomes.set(CAR_1, { ok: false, errorCode: 1001, errorMessage: "Connection timeout" });
    await g.kit.run(3000, 100);
    g.radio.set(CAR_1, reading(12.6));
    await g.kit.run(1000, 100);
    const statuses = g.on(`${CAR_1}/status`).map((m) => m.json);
    assert.deepEqual(statuses.map((s) => s.connected), [true, false, true]);
    assert.equal(statuses[1].error_code, 1001);
    assert.equal(statuses[1].error_message, "Connection timeout");
    assert.equal(statuses[2].error_code, undefined, "the error clears on reconnection");
    assert.ok(g.on("/status").filter((m) => m.topic.includes("/device/")).every((m) => m.qos === 1 && m.retain));
  });

  it("publishes a vehicle summary only when it changes (summaries are cached)", async () => {
    const g = gateway({ associations: `${CAR_1}=family_car,${CAR_2}=family_car` });
    g.radio.set(CAR_1, reading(12.6, 90));
    g.radio.set(CAR_2, reading(12.2, 50));
    g.product.start();
    await g.kit.run(5000, 100);
    const summaries = () => g.on("/vehicle/family_car/summary");
    // The first cycle publishes twice (after each monitor's first reading), then nothing changes.
    assert.equal(summaries().length, 2);
    g.radio.set(CAR_2, reading(12.3, 55));
    await g.kit.run(3000, 100);
    assert.equal(summaries().length, 3, "one more for the change, none for the repeats");
    const last = summaries()[2].json;
    assert.equal(last.average_voltage, 12.45);
    assert.equal(last.connected_devices, 2);
    assert.ok(summaries().every((m) => m.qos === 1 && m.retain));
  });

  it("does not start a poll cycle while the previous one still waits for the radio", async () => {
    const g = gateway({ associations: `${CAR_1}=family_car,${CAR_2}=family_car` });
    g.radio.set(CAR_1, reading(12.6));
    g.radio.set(CAR_2, reading(12.5));
    g.radio.hold = true;
    g.product.start();
    await g.kit.run(10_000, 100);
    assert.deepEqual(g.radio.reads, [CAR_1], "one read pending, no cycles piled up");
    g.radio.release();
    await g.kit.settle();
    assert.deepEqual(g.radio.reads, [CAR_1, CAR_2]);
    await g.kit.run(1000, 100);
    assert.equal(g.radio.reads.length, 4, "the schedule resumes");
  });

  it("sends the system status heartbeat while connected and none while offline", async () => {
    const g = await started();
    const running = () => g.on("/system/status").filter((m) => m.json.core.running);
    assert.equal(running().length, 1, "on connect");
    assert.equal(running()[0].qos, 2);
    assert.equal(running()[0].retain, true);
    await g.kit.run(20_000, 100);
    assert.equal(running().length, 3, "every status_interval_ms");
    assert.equal(running()[2].json.core.uptime_seconds, 20);
    g.kit.broker.down = true;
    g.kit.broker.cut();
    await g.kit.run(30_000, 100); // offline for three heartbeats
    assert.equal(running().length, 3, "none while offline");
    g.kit.broker.down = false;
    const before = g.kit.broker.connects.length;
    for (let i = 0; i < 200 && g.kit.broker.connects.length === before; i++) await g.kit.run(100, 100);
    assert.equal(g.kit.broker.connects.length, before + 1, "reconnected");
    assert.equal(running().length, 4, "only the fresh status of the reconnection");
  });

  it("reports a failing BLE scan in the system status's components and its recovery", async () => {
    const g = await started({ status_interval_ms: "60000" });
    g.radio.scanFails = true;
    await g.kit.run(5000, 100);
    g.radio.scanFails = false;
    await g.kit.run(5000, 100);
    const bluetooth = g.on("/system/status").map((m) => m.json.components.bluetooth);
    assert.deepEqual(bluetooth, ["active", "error", "active"], "published on each change, not per scan");
    assert.ok(g.kit.logs.some((l) => l.includes("scan failed: BLE controller not responding")));
  });

  it("offline, keeps the newest readings when the outbox is full (drop-oldest) and delivers them in order", async () => {
    // Readings only when the test asks, so the outbox holds exactly what was read offline.
    const g = gateway({ associations: `${CAR_1}=family_car`, outbox_max_messages: "5", poll_interval_ms: "86400000" });
    let n = 0;
    g.radio.read = async (mac) => (g.radio.reads.push(mac), { ok: true, info: { voltage: 12.6, cycles: ++n } });
    g.product.start();
    await g.kit.settle();
    g.kit.broker.down = true;
    g.kit.broker.cut();
    const offlineFrom = n;
    for (let i = 0; i < 10; i++) {
      await g.product.pollCycle();
      await g.kit.run(1000, 100);
    }
    g.kit.broker.down = false;
    await g.kit.run(20_000, 100);
    assert.ok(g.kit.broker.connected, "reconnected");
    const delivered = g.on("/reading").map((m) => m.json.cycles as number).filter((c) => c > offlineFrom);
    assert.deepEqual(delivered, [n - 4, n - 3, n - 2, n - 1, n], "the five newest, in order");
    assert.ok(g.kit.logs.some((l) => /publish_failed: .*full outbox/.test(l)), `each dropped message is reported: ${g.kit.logs.join("\n")}`);
  });

  it("publishes a discovery once per monitor, and never uses an invalid MAC in a topic", async () => {
    const g = gateway();
    g.radio.adverts = [
      { mac: "a4:c1:38:00:00:09", deviceType: "BM6", name: "BM6 Spare", rssi: -61 },
      { mac: "A4:C1:38:00:00:0G" },
      { mac: "A4-C1-38-00-00-10" },
      { mac: "+/#" },
      { mac: "A4:C1:38:00:00:11", deviceType: "bad type!", rssi: 99 },
    ];
    g.product.start();
    await g.kit.run(10_000, 100);
    const found = g.on("/discovery/found").map((m) => m.json);
    assert.deepEqual(found.map((f) => f.device_id), [SPARE, "A4:C1:38:00:00:11"], "lower case normalised, invalid ones dropped, each once");
    assert.deepEqual(found[0], { device_id: SPARE, timestamp: found[0].timestamp, device_type: "BM6", name: "BM6 Spare", rssi: -61 });
    assert.deepEqual(Object.keys(found[1]).sort(), ["device_id", "timestamp"], "invalid type and RSSI left out");
    for (const m of g.kit.broker.published) assert.ok(!/0G|-10|\+|#/.test(m.topic.replace("battery_hawk/", "")), m.topic);
    assert.ok(g.kit.logs.some((l) => l.includes("invalid MAC") && l.includes("A4:C1:38:00:00:0G")));
    assert.ok(g.kit.logs.some((l) => l.includes("invalid MAC") && l.includes("+/#")));
  });

  it("tracks at most max_monitors monitors and reports the rest", async () => {
    const g = gateway({ max_monitors: "2" });
    g.radio.adverts = [1, 2, 3].map((i) => ({ mac: `A4:C1:38:00:00:0${i}` }));
    g.product.start();
    await g.kit.settle();
    assert.equal(g.on("/discovery/found").length, 2);
    assert.ok(g.kit.logs.some((l) => l.includes("A4:C1:38:00:00:03 ignored: already tracking max_monitors (2)")));
  });

  it("publishes no reading for implausible data and reports error 1002 in the status", async () => {
    const g = gateway({ associations: `${CAR_1}=family_car` });
    g.radio.set(CAR_1, { voltage: Number.NaN, temperature: 400 });
    g.product.start();
    await g.kit.settle();
    assert.equal(g.on("/reading").length, 0);
    const status = g.on(`${CAR_1}/status`)[0].json;
    assert.equal(status.connected, true);
    assert.equal(status.error_code, 1002);
    g.radio.set(CAR_1, { voltage: 12.64, temperature: 400, state_of_charge: 101, cycles: 3.7 });
    await g.kit.run(1000, 100);
    assert.deepEqual(g.on("/reading")[0].json, {
      device_id: CAR_1, timestamp: "2024-01-15T10:30:01.000Z", voltage: 12.64, cycles: 3, vehicle_id: "family_car",
    }, "out-of-range values dropped, the rest kept");
  });

  it("registers a Last Will that is the retained QoS 2 system status with core.running false", async () => {
    const g = await started();
    const connect = g.kit.broker.connects[0];
    assert.equal(connect.keepalive, 60, "keepalive from the specification's configuration");
    assert.equal(connect.clean, false, "a persistent session: commands sent during an outage are not lost");
    assert.equal(connect.clientId, GW);
    const will = g.kit.broker.will;
    assert.ok(will, "a will");
    assert.equal(will.topic, "battery_hawk/system/status");
    assert.equal(will.qos, 2);
    assert.equal(will.retain, true);
    assert.equal(will.json.core.running, false);
    schemas.assertValid("system-status", will.json);
    g.kit.broker.cut();
    assert.equal(g.kit.broker.retained.get("battery_hawk/system/status")?.json.core.running, false, "the broker keeps the will as the last state");
  });

  it("on stop publishes the shutdown and a final system status, then disconnects", async () => {
    const g = await started();
    const stopped = g.product.stop();
    await g.kit.settle();
    await stopped;
    assert.deepEqual(g.on("/system/shutdown").map((m) => m.json.status), ["shutting_down"]);
    const last = g.on("/system/status").at(-1)!;
    assert.equal(last.json.core.running, false);
    assert.equal(typeof last.json.core.uptime_seconds, "number", "the goodbye status, not the will");
    assert.equal(g.kit.device.connected, false);
  });

  it("on stop with the broker gone, gives up within the bounded goodbye", async () => {
    const g = await started();
    g.kit.broker.down = true;
    g.kit.net.last.writable(0); // the link stalls: nothing the gateway writes gets out
    let done = false;
    void g.product.stop().then(() => { done = true; });
    await g.kit.run(9_000, 500);
    assert.equal(done, false, "still waiting for the goodbye and the DISCONNECT");
    await g.kit.run(2_000, 500);
    assert.equal(done, true, "5 s for the goodbye, 5 s for the DISCONNECT");
  });

  it("associate persists the assignment, announces it, and moves the monitor between summaries", async () => {
    const store = new MemorySettingsStore();
    const g = gateway({ associations: `${CAR_1}=family_car,${CAR_2}=family_car` }, { settings: store });
    g.radio.set(CAR_1, reading(12.6));
    g.radio.set(CAR_2, reading(12.5));
    g.product.start();
    await g.kit.settle();
    const before = g.kit.broker.published.length;
    await g.command({ request_id: "r1", command: "associate", device_id: CAR_2, vehicle_id: "camper_van" });
    const after = g.kit.broker.published.slice(before).map((m) => m.topic.replace("battery_hawk/", ""));
    assert.deepEqual(after, [
      "vehicle/camper_van/device_associated", `device/${CAR_2}/status`, "vehicle/family_car/summary", "vehicle/camper_van/summary", "command/response",
    ]);
    const event = g.on("/device_associated")[0].json;
    assert.equal(event.new_vehicle, true);
    const response = g.on("/command/response")[0].json;
    assert.deepEqual(response.result, { vehicle_id: "camper_van", previous_vehicle_id: "family_car" });
    assert.equal(response.gateway_id, GW, "the answer names the gateway");
    // A restarted gateway keeps the assignment (host settings), over the configured one.
    const stopped = g.product.stop();
    await g.kit.settle();
    await stopped;
    const again = gateway({ associations: `${CAR_1}=family_car,${CAR_2}=family_car` }, { settings: store });
    again.radio.set(CAR_2, reading(12.5));
    again.product.start();
    await again.kit.settle();
    assert.equal(again.on(`${CAR_2}/reading`)[0].json.vehicle_id, "camper_van");
  });
});

describe("battery-hawk commands: only the gateway they are for acts and answers", () => {
  async function fleet(): Promise<Gateway> {
    const g = await started({ associations: `${CAR_1}=family_car` });
    g.radio.set(CAR_1, reading(12.6));
    await g.kit.settle();
    g.radio.reads.length = 0;
    return g;
  }
  const responses = (g: Gateway) => g.on("/command/response").map((m) => m.json);

  it("ignores a command naming another gateway: no read, no association, no answer", async () => {
    const g = await fleet();
    const before = g.kit.broker.published.length;
    await g.command({ request_id: "x1", command: "read_data", gateway_id: "hawk-gw-999", device_id: CAR_1 });
    await g.command({ request_id: "x2", command: "associate", gateway_id: "hawk-gw-999", device_id: CAR_1, vehicle_id: "van" });
    await g.command({ request_id: "x3", command: "read_data", gateway_id: "hawk-gw-999", device_id: "not a mac" });
    assert.deepEqual(g.radio.reads, [], "the monitor was not read");
    assert.equal(g.kit.broker.published.length, before, "nothing published: no answer, no association");
    assert.equal(g.product.registry.get(CAR_1)?.vehicleId, "family_car");
  });

  it("ignores a command for a monitor it does not know when no gateway is named", async () => {
    const g = await fleet();
    const before = g.kit.broker.published.length;
    await g.command({ request_id: "u1", command: "read_data", device_id: SPARE });
    await g.command({ request_id: "u2", command: "associate", device_id: SPARE, vehicle_id: "van" });
    assert.deepEqual(g.radio.reads, []);
    assert.equal(g.kit.broker.published.length, before);
    assert.equal(g.product.registry.get(SPARE), undefined, "not taken on");
  });

  it("answers a command naming it, and one for a monitor it knows, with its gateway id", async () => {
    const g = await fleet();
    await g.command({ request_id: "m1", command: "read_data", gateway_id: GW, device_id: CAR_1 });
    await g.command({ request_id: "m2", command: "read_data", device_id: CAR_1 });
    // Named, it says it does not know the monitor (and reads nothing), or takes a new one on.
    await g.command({ request_id: "m3", command: "read_data", gateway_id: GW, device_id: SPARE });
    await g.command({ request_id: "m4", command: "associate", gateway_id: GW, device_id: SPARE, vehicle_id: "van" });
    // A message whose target cannot be told is answered: the sender learns what was wrong.
    await g.command("{oops");
    assert.deepEqual(responses(g).map((r) => [r.request_id, r.gateway_id, r.success, r.error?.code]), [
      ["m1", GW, true, undefined], ["m2", GW, true, undefined], ["m3", GW, false, "failed"], ["m4", GW, true, undefined], [null, GW, false, "malformed_json"]]);
    assert.match(responses(g)[2].error.message, /unknown monitor/);
    assert.deepEqual(g.radio.reads, [CAR_1, CAR_1]);
    assert.equal(g.product.registry.get(SPARE)?.vehicleId, "van");
  });

  it("the companion's request carries the gateway and accepts only that gateway's answer about that monitor", async () => {
    const g = await fleet();
    const request = definition.command(GW, definition.defaults, "read_data", { mac: CAR_1, request_id: "c1" });
    assert.deepEqual(request.payload, { request_id: "c1", command: "read_data", gateway_id: GW, device_id: CAR_1 });
    const other = definition.command("hawk-gw-999", definition.defaults, "read_data", { mac: CAR_1, request_id: "c2" });
    await g.command(other.payload);
    await g.command(request.payload);
    const answers = responses(g);
    assert.equal(answers.length, 1, "hawk-gw-999's request is not answered by hawk-gw-001");
    assert.ok(request.isResponse(answers[0]));
    assert.ok(!other.isResponse(answers[0]));
    assert.ok(!request.isResponse({ ...answers[0], gateway_id: "hawk-gw-002" }), "another gateway's answer with the same request id");
    assert.ok(!request.isResponse({ ...answers[0], device_id: CAR_2 }));
  });
});

describe("battery-hawk options", () => {
  it("takes defaults, refuses unusable settings and unknown keys, and skips bad associations", () => {
    const problems: string[] = [];
    const o = readHawkOptions({ associations: "aa:bb:cc:dd:ee:01=car_1, nonsense, AA:BB:CC:DD:EE:02=car 2,AA:BB:CC:DD:EE:03=a=b" }, (p) => problems.push(p));
    assert.equal(o.prefix, "battery_hawk");
    assert.equal(o.root, "");
    assert.equal(o.poll_interval_ms, 10_000);
    assert.deepEqual([...o.associations], [["AA:BB:CC:DD:EE:01", "car_1"]]);
    assert.equal(problems.length, 3);
    assert.equal(readHawkOptions({ prefix: "batteryhawk" }).prefix, "batteryhawk", "the specification's YAML prefix");
    const bads: Record<string, string>[] = [{ prefix: "a/b" }, { prefix: "#" }, { prefix: "" }, { poll_interval_ms: "50" }, { max_monitors: "many" },
      { version: "1" }, { root: "a//b" }, { root: "site/+" }, { prefixx: "x" }, { broker: "localhost" }];
    for (const bad of bads) assert.throws(() => readHawkOptions(bad), RangeError, JSON.stringify(bad));
    assert.throws(() => readHawkOptions({ prefixx: "x" }), /unknown option "prefixx"/);
  });

  it("accepts the specification's own key topic_prefix for prefix, also over the hosts' defaults", async () => {
    assert.equal(readHawkOptions({ topic_prefix: "batteryhawk" }).prefix, "batteryhawk");
    assert.equal(readHawkOptions({ ...definition.defaults, topic_prefix: "batteryhawk" }).prefix, "batteryhawk");
    assert.throws(() => readHawkOptions({ prefix: "a", topic_prefix: "b" }), /disagree/);
    const g = await started({ topic_prefix: "batteryhawk" });
    assert.equal(g.kit.broker.connects.length, 1);
    assert.deepEqual(g.on("/system/status").map((m) => m.topic), ["batteryhawk/system/status"]);
    assert.equal(definition.topicFilter(GW, { topic_prefix: "batteryhawk" }), "batteryhawk/#");
    assert.equal(definition.command(GW, { topic_prefix: "batteryhawk" }, "read_data", { mac: CAR_1 }).topic, "batteryhawk/command");
  });

  it("with a root, every topic and the will sit under it, and roots keep gateways apart", async () => {
    const g = await started({ root: "site-1/hawk-gw-001", associations: `${CAR_1}=family_car` }, {});
    g.radio.set(CAR_1, reading(12.6));
    await g.kit.run(1000, 100);
    await g.command({ request_id: "r", command: "read_data", device_id: CAR_1 });
    assert.ok(g.kit.broker.published.length > 4);
    for (const m of g.kit.broker.published) assert.ok(m.topic.startsWith("site-1/hawk-gw-001/battery_hawk/"), m.topic);
    assert.equal(g.kit.broker.will?.topic, "site-1/hawk-gw-001/battery_hawk/system/status");
    assert.ok(g.kit.broker.subscriptions.has("site-1/hawk-gw-001/battery_hawk/command"));
    assert.equal(g.on("/command/response").length, 1);
    const filter = definition.topicFilter(GW, { root: "site-1/hawk-gw-001" });
    assert.equal(filter, "site-1/hawk-gw-001/battery_hawk/#");
    assert.ok(g.kit.broker.published.every((m) => topicMatches(filter, m.topic)));
    assert.ok(!topicMatches(definition.topicFilter("hawk-gw-002", { root: "hawk-gw-002" }), "hawk-gw-001/battery_hawk/system/status"));
    assert.equal(definition.command(GW, { root: "hawk-gw-001" }, "read_data", { mac: CAR_1 }).responseTopic, "hawk-gw-001/battery_hawk/command/response");
    assert.equal(definition.defaults.root, "", "the simulator sets root for each of several gateways");
  });
});

describe("battery-hawk topics", () => {
  it("lays out the PRD topics under the prefix and offers wildcard filters", () => {
    const t = new HawkTopics("battery_hawk");
    assert.deepEqual([t.monitor(CAR_1).deviceReading.topic, t.monitor(CAR_1).deviceStatus.topic, t.vehicle("my_vehicle").vehicleSummary.topic,
      t.gateway.systemStatus.topic, t.gateway.discoveryFound.topic], [
      `battery_hawk/device/${CAR_1}/reading`, `battery_hawk/device/${CAR_1}/status`, "battery_hawk/vehicle/my_vehicle/summary",
      "battery_hawk/system/status", "battery_hawk/discovery/found"]);
    assert.ok(topicMatches(t.filters.readings, t.monitor(CAR_2).deviceReading.topic));
    assert.ok(!topicMatches(t.filters.readings, t.monitor(CAR_2).deviceStatus.topic));
    assert.ok(topicMatches(t.filters.deviceStatuses, t.monitor(CAR_2).deviceStatus.topic));
    assert.ok(topicMatches(t.filters.summaries, t.vehicle("van").vehicleSummary.topic));
    assert.ok(topicMatches(t.filters.associations, t.vehicle("van").vehicleDeviceAssociated.topic));
    assert.ok(topicMatches(t.all, t.gateway.commandResponse.topic));
    for (const bad of ["a/b", "+", "#", ""]) assert.throws(() => t.vehicle(bad), RangeError, bad);
    assert.throws(() => t.monitor("aa:bb:cc:dd:ee:ff"), RangeError, "only canonical MACs");
    const rooted = new HawkTopics("battery_hawk", "site");
    assert.equal(rooted.filters.readings, "site/battery_hawk/device/+/reading");
    assert.equal(rooted.monitor(CAR_1).deviceStatus.topic, `site/battery_hawk/device/${CAR_1}/status`);
  });
});

describe("battery-hawk health score and summaries", () => {
  const monitor = (mac: string, connected: boolean, voltage?: number, extra: Partial<BatteryInfo> = {}): MonitorState => ({
    mac, discovered: true, connected, vehicleId: "my_vehicle", ...(voltage === undefined ? {} : { reading: { voltage, capacity: 100, ...extra } }),
  });

  it("scores the specification's example (2 of 3 connected at 12.6 V and 12.2 V) 0.67, good", () => {
    const summary = vehicleSummary("my_vehicle", [
      monitor("AA:BB:CC:DD:EE:01", true, 12.6), monitor("AA:BB:CC:DD:EE:02", true, 12.2), monitor("AA:BB:CC:DD:EE:03", false, 12.0),
    ]);
    assert.equal(summary.total_devices, 3);
    assert.equal(summary.connected_devices, 2);
    assert.equal(summary.average_voltage, 12.4);
    assert.equal(summary.total_capacity, 300, "capacities of all monitors");
    assert.equal(summary.overall_health, "good");
    assert.equal(summary.health_score, 0.67);
    assert.deepEqual((summary.devices as { status: string }[]).map((d) => d.status), ["connected", "connected", "disconnected"]);
    assert.equal("voltage" in (summary.devices as object[])[2], false, "a disconnected monitor's voltage is stale");
    schemas.assertValid("vehicle-summary", { ...summary, timestamp: "2024-01-15T10:30:00.000Z" });
  });

  it("prefers the monitor's state of charge and classifies the score", () => {
    assert.equal(chargeOf({ voltage: 11.0, state_of_charge: 90 }), 0.9);
    assert.equal(chargeOf({ voltage: 13.0 }), 1);
    assert.equal(chargeOf({ voltage: 11.0 }), 0);
    assert.equal(healthScore(0, 0, []), 0);
    assert.equal(healthScore(2, 0, []), 0);
    assert.equal(healthScore(1, 1, [1]), 1);
    assert.deepEqual([0.9, 0.85, 0.6, 0.35, 0.34].map(healthClass), ["excellent", "excellent", "good", "fair", "poor"]);
  });

  it("summarises a vehicle without monitors as empty and poor", () => {
    const summary = vehicleSummary("empty", []);
    assert.deepEqual({ ...summary }, {
      vehicle_id: "empty", total_devices: 0, connected_devices: 0, average_voltage: 0, total_capacity: 0,
      overall_health: "poor", health_score: 0, devices: [],
    });
  });
});

describe("battery-hawk ids and messages", () => {
  it("validates MACs (normalised to upper case) and vehicle ids", () => {
    assert.equal(normalizeMac("aa:bb:cc:dd:ee:ff"), "AA:BB:CC:DD:EE:FF");
    for (const bad of ["AA:BB:CC:DD:EE", "AA-BB-CC-DD-EE-FF", "AA:BB:CC:DD:EE:FG", "AA:BB:CC:DD:EE:FF:00", "", 42, null]) {
      assert.equal(normalizeMac(bad), undefined, String(bad));
    }
    assert.ok(isVehicleId("my_vehicle"));
    for (const bad of ["my vehicle", "car/1", "car+", "#", "", "x".repeat(65)]) assert.ok(!isVehicleId(bad), bad);
  });

  it("refuses a gateway id that cannot be carried in its answers", () => {
    for (const bad of ["hawk gw", "gw/1", "#", "x".repeat(65)]) {
      assert.throws(() => createBatteryHawk(new Kit({ deviceId: bad }).device, new ScriptedRadio()), RangeError, bad);
      assert.throws(() => definition.command(bad, {}, "read_data", { mac: CAR_1 }), RangeError, bad);
    }
  });

  it("keeps hardware values inside the schema and echoes only valid ids in responses", () => {
    assert.deepEqual(sanitizeReading({ voltage: 12.6449, current: 5000, temperature: 21.26, state_of_charge: -3 }), { voltage: 12.64, temperature: 21.3 });
    assert.equal(typeof sanitizeReading({ voltage: 120 }), "string");
    const r = responseMessage({ id: "bad id with spaces", command: "x".repeat(100), ok: false, error: { code: "unknown_command", message: "y".repeat(400) },
      request: { device_id: "aa:bb:cc:dd:ee:ff" } }, 0, GW);
    assert.equal(r.request_id, null);
    assert.equal(r.command, null);
    assert.equal(r.gateway_id, GW);
    assert.equal("device_id" in r, false, "a MAC not in canonical form is not echoed");
    schemas.assertValid("command-response", r);
  });
});

describe("battery-hawk simulation (the physics behind the emulated air)", () => {
  const fleet = (id: string) => [1, 2, 3, 4].map((n) => simulatedMac(id, n));

  function run(seed: number, hours: number, stepMs = 10_000, id = GW) {
    let now = Date.UTC(2024, 0, 15, 6, 0);
    const appeared = new Set<string>();
    const sim = new SimulatedFleet({ now: () => now, random: prng(seed) }, id, (m) => appeared.add(m.mac));
    const samples: { mac: string; at: number; p: MonitorPhysics | undefined }[] = [];
    const heard = new Set<string>();
    const phases = new Set<string>();
    for (let t = 0; t < hours * 3_600_000; t += stepMs) {
      now += stepMs;
      for (const mac of appeared) if (sim.physics(mac)) heard.add(mac);
      for (const mac of fleet(id)) samples.push({ mac, at: now, p: sim.physics(mac) });
      phases.add(sim.phaseOf("family_car")!);
      phases.add(sim.phaseOf("camper_van")!);
    }
    return { samples, heard, phases };
  }

  it("produces plausible voltages, temperatures, charge and RSSI over a simulated day", () => {
    const { samples, heard, phases } = run(3, 24, 30_000);
    const ok = samples.filter((s) => s.p).map((s) => s.p!);
    assert.ok(ok.length > samples.length / 2);
    for (const p of ok) {
      assert.ok(p.voltage >= 11.5 && p.voltage <= 14.5, `voltage ${p.voltage}`);
      assert.ok(p.temperature >= 0 && p.temperature <= 50, `temperature ${p.temperature}`);
      assert.ok(p.state_of_charge >= 0 && p.state_of_charge <= 100);
      assert.ok(p.rssi <= -50 && p.rssi >= -95, `rssi ${p.rssi}`);
    }
    assert.ok(ok.some((p) => p.voltage > 13.5), "charging while the engine runs");
    assert.ok(ok.some((p) => p.voltage < 12.8), "resting while parked");
    assert.ok(samples.some((s) => !s.p), "a vehicle drives out of range");
    assert.deepEqual([...phases].sort(), ["away", "parked", "running"]);
    assert.ok(heard.has(simulatedMac(GW, 5)), "the spare monitor is installed");
    assert.ok(heard.size > 5, "a passing vehicle's monitor is heard now and then");
    for (const mac of heard) assert.equal(normalizeMac(mac), mac);
  });

  it("repeats exactly for the same seed", () => {
    assert.deepEqual(run(11, 2).samples, run(11, 2).samples);
  });

  it("gives every gateway its own monitors, derived from its device id, even on the same seed", () => {
    const ids = ["hawk-gw-001", "hawk-gw-002", "hawk-gw-003"];
    const seen = ids.map((id) => run(3, 24, 60_000, id).heard);
    for (const [i, macs] of seen.entries()) {
      assert.ok(macs.has(simulatedMac(ids[i], 1)));
      for (const [j, other] of seen.entries()) if (i !== j) for (const mac of macs) assert.ok(!other.has(mac), `${ids[i]} and ${ids[j]} share ${mac}`);
    }
    assert.equal(simulatedMac("hawk-gw-001", 1), simulatedMac("hawk-gw-001", 1), "stable across runs and platforms");
    assert.deepEqual(simulatedAssociations("hawk-gw-002").split(",").map((a) => a.split("=")[0]), fleet("hawk-gw-002"));
  });
});

describe("battery-hawk on the BM2/BM6 driver over the emulated BLE air", () => {
  /** Stops the gateway while the kit's time runs (its goodbye waits for the broker). */
  async function halt(kit: Kit, product: { stop(): Promise<void> }) {
    const stopped = product.stop();
    await kit.run(1000, 100);
    await stopped;
  }
  const fleet = (id: string) => [1, 2, 3, 4].map((n) => simulatedMac(id, n));

  it("the simulated gateway associates its own fleet and reads it through the driver", async () => {
    const kit = new Kit({ deviceId: "hawk-gw-002", config: { poll_interval_ms: "1000", scan_interval_ms: "1000" }, start: START });
    kits.push({ kit, root: "" });
    const product = simulate(definition, kit.device).product;
    product.start();
    await kit.run(5000, 100);
    const readings = kit.broker.published.filter((m) => m.topic.endsWith("/reading")).map((m) => m.json);
    assert.deepEqual([...new Set(readings.map((r) => r.device_id))].sort(), fleet("hawk-gw-002").sort());
    for (const r of readings) {
      assert.ok((r.voltage as number) > 11 && (r.voltage as number) < 15, `voltage ${r.voltage}`);
      // What the protocols carry: BM6 reports temperature, BM2 does not; neither current nor capacity.
      assert.equal("temperature" in r, r.device_type === "BM6", JSON.stringify(r));
      assert.equal("current" in r || "capacity" in r, false);
    }
    const discovered = kit.broker.published.filter((m) => m.topic.endsWith("/discovery/found")).map((m) => m.json);
    assert.ok(discovered.every((d) => d.device_type === "BM2" || d.device_type === "BM6"), "the neighbour's phone is passed over");
    await halt(kit, product);
  });

  /** The simulated gateway on its emulated fleet, the monitors at hand to break. */
  async function rig() {
    const kit = new Kit({ deviceId: GW, config: { poll_interval_ms: "2000", scan_interval_ms: "60000" }, start: START });
    kits.push({ kit, root: "" });
    const air = emulatedFleet(kit.device);
    const product = createBatteryHawk(kit.device, definition.hardware(air.buses, kit.device), { ...kit.device.config, associations: simulatedAssociations(GW) });
    product.start();
    await kit.run(3000, 100);
    const starter = simulatedMac(GW, 1);
    const statuses = () => kit.broker.published.filter((m) => m.topic === `battery_hawk/device/${starter}/status`).map((m) => m.json);
    const readings = () => kit.broker.published.filter((m) => m.topic === `battery_hawk/device/${starter}/reading`).length;
    return { kit, product, monitor: air.monitors.get(starter)!, starter, statuses, readings };
  }

  it("a monitor that disappears is connected:false with 1001 Connection timeout, and connected again when it returns", async () => {
    const r = await rig();
    assert.equal(r.statuses().at(-1)!.connected, true);
    r.monitor.faults.gone = true;
    await r.kit.run(4000, 100);
    const gone = r.statuses().at(-1)!;
    assert.equal(gone.connected, false);
    assert.equal(gone.error_code, 1001);
    assert.equal(gone.error_message, "Connection timeout");
    const before = r.readings();
    r.monitor.faults.gone = false;
    await r.kit.run(4000, 100);
    const back = r.statuses().at(-1)!;
    assert.equal(back.connected, true);
    assert.equal("error_code" in back, false);
    assert.ok(r.readings() > before, "readings resume");
    assert.ok(r.kit.logs.some((l) => /not heard advertising/.test(l)), "the driver's reason is logged");
    await halt(r.kit, r.product);
  });

  it("a corrupt report keeps the monitor connected with 1004 and publishes no reading; the next one clears it", async () => {
    const r = await rig();
    const before = r.readings();
    r.monitor.faults.garbled = 1;
    await r.kit.run(2000, 100);
    const bad = r.statuses().at(-1)!;
    assert.equal(bad.connected, true);
    assert.equal(bad.error_code, 1004);
    assert.match(bad.error_message as string, /Corrupt report/);
    assert.equal(r.readings(), before, "no reading from a corrupt report");
    r.monitor.faults.truncated = 1;
    await r.kit.run(2000, 100);
    assert.equal(r.statuses().at(-1)!.error_code, 1004);
    await r.kit.run(2000, 100);
    assert.equal("error_code" in r.statuses().at(-1)!, false);
    assert.equal(r.readings(), before + 1);
    await halt(r.kit, r.product);
  });

  it("a connection dropped mid-read is connected:false with 1005; read_data then fails, and the gateway keeps going", async () => {
    const r = await rig();
    r.monitor.faults.dropMidRead = 2;
    await r.kit.run(2000, 100);
    const lost = r.statuses().at(-1)!;
    assert.equal(lost.connected, false);
    assert.equal(lost.error_code, 1005);
    r.kit.broker.deliver(r.product.topics.gateway.commandReadData.topic, { request_id: "r1", command: "read_data", device_id: r.starter }, { qos: 0 });
    await r.kit.run(1000, 100);
    const answer = r.kit.broker.published.filter((m) => m.topic.endsWith("/command/response")).at(-1)!.json;
    assert.equal(answer.success, false);
    assert.match((answer.error as { message: string }).message, /Connection lost/);
    const readings = r.readings();
    await r.kit.run(2000, 100);
    assert.ok(r.readings() > readings, "the next poll reads it again");
    const others = r.kit.broker.published.filter((m) => m.topic === `battery_hawk/device/${simulatedMac(GW, 2)}/reading`).length;
    assert.ok(others >= 4, "the other monitors were read all along");
    await halt(r.kit, r.product);
  });
});

describe("battery-hawk companion commands", () => {
  it("builds read_data and associate requests on the command topic with their response topic", () => {
    const r = definition.command(GW, { prefix: "batteryhawk" }, "associate", { mac: "a4:c1:38:00:00:01", vehicle_id: "van", request_id: "q1" });
    assert.equal(r.topic, "batteryhawk/command");
    assert.equal(r.qos, 1);
    assert.equal(r.responseTopic, "batteryhawk/command/response");
    assert.deepEqual(r.payload, { request_id: "q1", command: "associate", gateway_id: GW, device_id: CAR_1, vehicle_id: "van" });
    schemas.assertValid("command-associate", r.payload);
    assert.ok(r.isResponse({ request_id: "q1", gateway_id: GW, device_id: CAR_1, success: true }));
    assert.ok(!r.isResponse({ request_id: "q2", gateway_id: GW, device_id: CAR_1, success: true }));
    const { command, params } = definition.example;
    assert.equal(params.mac, simulatedMac(definition.deviceId(0), 1), "the first simulated gateway's monitor");
    const example = definition.command(definition.deviceId(0), definition.defaults, command, params);
    schemas.assertValid("command-read-data", example.payload);
    assert.equal(definition.topicFilter(GW, {}), "battery_hawk/#");
    assert.equal(definition.deviceId(0), GW);
  });

  it("refuses bad input with the usage", () => {
    const bad: [string, Record<string, string>][] = [
      ["fly", { mac: CAR_1 }], ["read_data", {}], ["read_data", { mac: "nope" }], ["associate", { mac: CAR_1 }],
      ["associate", { mac: CAR_1, vehicle_id: "a/b" }], ["read_data", { mac: CAR_1, volts: "3" }], ["read_data", { mac: CAR_1, request_id: "has space" }],
    ];
    for (const [name, params] of bad) assert.throws(() => definition.command(GW, {}, name, params), RangeError, `${name} ${JSON.stringify(params)}`);
    assert.throws(() => definition.command(GW, { prefixx: "x" }, "read_data", { mac: CAR_1 }), /unknown option/);
  });
});
