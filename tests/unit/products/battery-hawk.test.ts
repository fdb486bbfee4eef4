// Battery Hawk on a fake clock: the gateway's schedules and event-driven publishing (poll,
// scan, heartbeat, publish-on-change, no doubled cycles), id validation, bounded registry,
// the health score, configuration, the simulation's physics, and the companion's commands.
// The client runs against a scripted broker on a fake socket, so every packet is seen.

import { strict as assert } from "node:assert";
import { MqttClient } from "../../../modules/mqtt/client.js";
import * as P from "../../../modules/mqtt/packets.js";
import type { PublishPacket } from "../../../modules/mqtt/packets.js";
import type { ProductHost } from "../../../modules/device/product.js";
import { MemorySettingsStore } from "../../../modules/device/settings.js";
import { prng } from "../../../modules/device/prng.js";
import { createBatteryHawk, definition } from "../../../modules/products/battery-hawk/index.js";
import type { BatteryMonitorRadio, MonitorAdvert, ReadOutcome, BatteryInfo } from "../../../modules/products/battery-hawk/hardware.js";
import { parseConfig } from "../../../modules/products/battery-hawk/config.js";
import { chargeOf, healthClass, healthScore, vehicleSummary } from "../../../modules/products/battery-hawk/health.js";
import { normalizeMac, isVehicleId } from "../../../modules/products/battery-hawk/ids.js";
import { sanitizeReading, responseMessage } from "../../../modules/products/battery-hawk/messages.js";
import type { MonitorState } from "../../../modules/products/battery-hawk/registry.js";
import { SimulatedMonitors } from "../../../modules/products/battery-hawk/simulation.js";
import { HawkTopics } from "../../../modules/products/battery-hawk/topics.js";
import { topicMatches } from "../../../modules/mqtt/topic.js";
import { ProductSchemas } from "../../products/harness.js";
import { FakeClock, FakeNet, decodeAll, microtasks, td, bytes } from "../fakes.js";

const schemas = new ProductSchemas("battery-hawk");

const CAR_1 = "A4:C1:38:00:00:01";
const CAR_2 = "A4:C1:38:00:00:02";
const SPARE = "A4:C1:38:00:00:09";

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

interface Sent {
  topic: string;
  qos: number;
  retain: boolean;
  payload: Record<string, unknown>;
}

/** A gateway wired to a fake clock and a scripted broker that acknowledges everything. */
class Rig {
  readonly clock = new FakeClock();
  readonly net = new FakeNet();
  readonly radio = new ScriptedRadio();
  readonly logs: string[] = [];
  readonly sent: Sent[] = [];
  readonly settings: MemorySettingsStore;
  readonly host: ProductHost;
  product!: ReturnType<typeof createBatteryHawk>;

  constructor(config: Record<string, string> = {}, settings = new MemorySettingsStore()) {
    this.clock.now = Date.UTC(2024, 0, 15, 10, 30);
    this.settings = settings;
    const clock = this.clock;
    this.host = {
      deviceId: "hawk-gw-001",
      config: { poll_interval_ms: "1000", scan_interval_ms: "5000", status_interval_ms: "10000", ...config },
      timer: clock.timer,
      now: () => clock.now,
      settings,
      random: prng(7),
      log: (line) => this.logs.push(line),
      createClient: (options) => new MqttClient({
        ...options, host: "broker.test", socket: { io: this.net.io }, timer: clock.timer, now: () => clock.now, random: () => 0.5,
        reconnect: { initialMs: 100, maxMs: 100 },
      }),
    };
  }

  /** Creates and starts the gateway and completes the MQTT connection. */
  async start(): Promise<void> {
    this.product = createBatteryHawk(this.host, this.radio);
    this.product.start();
    await this.connect();
  }

  async connect(): Promise<void> {
    const socket = this.net.last;
    socket.writable(1 << 20);
    await this.pump();
    socket.send({ type: P.CONNACK, sessionPresent: false, returnCode: 0 });
    await this.pump();
  }

  /** Lets promises settle, records the device's PUBLISHes and answers as a broker would. */
  async pump(): Promise<void> {
    for (let round = 0; round < 20; round++) {
      await microtasks(30);
      const socket = this.net.last;
      if (socket.closed) return;
      socket.writable(1 << 20);
      const packets = socket.take();
      if (packets.length === 0) return;
      for (const p of packets) {
        if (p.type === P.PUBLISH) {
          this.sent.push({ topic: p.topic, qos: p.qos, retain: p.retain, payload: JSON.parse(td.decode(p.payload)) });
          const problem = schemas.check(p);
          assert.equal(problem, undefined, problem);
          if (p.qos === 1) socket.send({ type: P.PUBACK, id: p.id! });
          if (p.qos === 2) socket.send({ type: P.PUBREC, id: p.id! });
        } else if (p.type === P.PUBREL) {
          socket.send({ type: P.PUBCOMP, id: p.id });
        } else if (p.type === P.SUBSCRIBE) {
          socket.send({ type: P.SUBACK, id: p.id, granted: p.subscriptions.map((s) => s.qos) });
        }
      }
    }
  }

  /** Moves the clock in 100 ms steps, letting the gateway's async work finish in between. */
  async advance(ms: number): Promise<void> {
    for (let left = ms; left > 0; left -= 100) {
      this.clock.advance(Math.min(100, left));
      await this.pump();
    }
  }

  async stop(): Promise<void> {
    const stopped = this.product.stop();
    await this.pump();
    await stopped;
  }

  /** A command as the broker would deliver it. */
  async command(payload: string): Promise<void> {
    const packet: PublishPacket = { type: P.PUBLISH, topic: "battery_hawk/command", payload: bytes(payload), qos: 0, retain: false, dup: false };
    this.net.last.send(packet);
    await this.pump();
  }

  on(suffix: string): Sent[] {
    return this.sent.filter((m) => m.topic.endsWith(suffix));
  }
}

const reading = (voltage: number, soc = 80): BatteryInfo => ({ voltage, current: -0.2, temperature: 20, state_of_charge: soc, capacity: 60 });

describe("battery-hawk gateway (fake clock)", () => {
  it("reads every monitor once per poll_interval_ms and scans once per scan_interval_ms", async () => {
    const rig = new Rig({ associations: `${CAR_1}=family_car,${CAR_2}=family_car` });
    rig.radio.set(CAR_1, reading(12.6));
    rig.radio.set(CAR_2, reading(12.5));
    await rig.start();
    assert.equal(rig.radio.scans, 1, "a first scan at start");
    assert.deepEqual(rig.radio.reads, [CAR_1, CAR_2], "a first reading cycle at start");
    await rig.advance(999);
    assert.equal(rig.radio.reads.length, 2, "nothing before the interval");
    await rig.advance(1);
    assert.equal(rig.radio.reads.length, 4);
    await rig.advance(4000);
    assert.equal(rig.radio.reads.length, 12);
    assert.equal(rig.radio.scans, 2);
    assert.equal(rig.on("/reading").length, 12, "one reading per successful read (event-driven)");
    assert.ok(rig.on("/reading").every((m) => m.qos === 1 && !m.retain));
  });

  it("publishes a device status only when a monitor's status or connection changes", async () => {
    const rig = new Rig({ associations: `${CAR_1}=family_car` });
    rig.radio.set(CAR_1, reading(12.6));
    await rig.start();
    await rig.advance(3000);
    assert.equal(rig.on(`${CAR_1}/status`).length, 1, "connected once, then unchanged");
    rig.radio.outcomes.set(CAR_1, { ok: false, errorCode: 1001, errorMessage: "Connection timeout" });
    await rig.advance(3000);
    rig.radio.set(CAR_1, reading(12.6));
    await rig.advance(1000);
    const statuses = rig.on(`${CAR_1}/status`).map((m) => m.payload);
    assert.deepEqual(statuses.map((s) => s.connected), [true, false, true]);
    assert.equal(statuses[1].error_code, 1001);
    assert.equal(statuses[1].error_message, "Connection timeout");
    assert.equal(statuses[2].error_code, undefined, "the error clears on reconnection");
    assert.ok(rig.on("/status").filter((m) => m.topic.includes("/device/")).every((m) => m.qos === 1 && m.retain));
  });

  it("publishes a vehicle summary only when it changes (seed line 347)", async () => {
    const rig = new Rig({ associations: `${CAR_1}=family_car,${CAR_2}=family_car` });
    rig.radio.set(CAR_1, reading(12.6, 90));
    rig.radio.set(CAR_2, reading(12.2, 50));
    await rig.start();
    await rig.advance(5000);
    const summaries = () => rig.on("/vehicle/family_car/summary");
    // The first cycle publishes twice (after each monitor's first reading), then nothing changes.
    assert.equal(summaries().length, 2);
    rig.radio.set(CAR_2, reading(12.3, 55));
    await rig.advance(3000);
    assert.equal(summaries().length, 3, "one more for the change, none for the repeats");
    const last = summaries()[2].payload;
    assert.equal(last.average_voltage, 12.45);
    assert.equal(last.connected_devices, 2);
    assert.ok(summaries().every((m) => m.qos === 1 && m.retain));
  });

  it("does not start a poll cycle while the previous one still waits for the radio", async () => {
    const rig = new Rig({ associations: `${CAR_1}=family_car,${CAR_2}=family_car` });
    rig.radio.set(CAR_1, reading(12.6));
    rig.radio.set(CAR_2, reading(12.5));
    rig.radio.hold = true;
    await rig.start();
    await rig.advance(10_000);
    assert.deepEqual(rig.radio.reads, [CAR_1], "one read pending, no cycles piled up");
    rig.radio.release();
    await rig.pump();
    assert.deepEqual(rig.radio.reads, [CAR_1, CAR_2]);
    await rig.advance(1000);
    assert.equal(rig.radio.reads.length, 4, "the schedule resumes");
  });

  it("sends the system status heartbeat while connected and none while offline", async () => {
    const rig = new Rig();
    await rig.start();
    const status = () => rig.on("/system/status");
    assert.equal(status().length, 1, "on connect");
    assert.equal(status()[0].qos, 2);
    assert.equal(status()[0].retain, true);
    await rig.advance(20_000);
    assert.equal(status().length, 3, "every status_interval_ms");
    assert.equal(status()[2].payload.core && (status()[2].payload.core as { uptime_seconds: number }).uptime_seconds, 20);
    rig.net.last.fail(new Error("link down"));
    rig.clock.advance(30_050); // offline for three heartbeats (the client retries in 100 ms)
    await rig.connect();
    assert.equal(status().length, 4, "only the fresh status of the reconnection");
  });

  it("reports a failing BLE scan in the system status's components and its recovery", async () => {
    const rig = new Rig({ status_interval_ms: "60000" });
    await rig.start();
    rig.radio.scanFails = true;
    await rig.advance(5000);
    rig.radio.scanFails = false;
    await rig.advance(5000);
    const bluetooth = rig.on("/system/status").map((m) => (m.payload.components as { bluetooth: string }).bluetooth);
    assert.deepEqual(bluetooth, ["active", "error", "active"], "published on each change, not per scan");
    assert.ok(rig.logs.some((l) => l.includes("scan failed: BLE controller not responding")));
  });

  it("offline, keeps the newest readings when the outbox is full (drop-oldest) and delivers them in order", async () => {
    const rig = new Rig({ associations: `${CAR_1}=family_car`, outbox_max_messages: "5" });
    let n = 0;
    rig.radio.read = async (mac) => (rig.radio.reads.push(mac), { ok: true, info: { voltage: 12.6, cycles: ++n } });
    await rig.start();
    rig.net.last.fail(new Error("link down"));
    const offlineFrom = n;
    for (let i = 0; i < 10; i++) {
      rig.clock.advance(1000); // no pump: the client's reconnection attempts go unanswered
      await microtasks(30);
    }
    await rig.connect();
    const delivered = rig.on("/reading").map((m) => m.payload.cycles as number).filter((c) => c > offlineFrom);
    assert.deepEqual(delivered, [n - 4, n - 3, n - 2, n - 1, n], "the five newest, in order");
    assert.ok(rig.logs.some((l) => /publish_failed: .*full outbox/.test(l)), `each dropped message is reported: ${rig.logs.join("\n")}`);
  });

  it("publishes a discovery once per monitor, and never uses an invalid MAC in a topic", async () => {
    const rig = new Rig();
    rig.radio.adverts = [
      { mac: "a4:c1:38:00:00:09", deviceType: "BM6", name: "BM6 Spare", rssi: -61 },
      { mac: "A4:C1:38:00:00:0G" },
      { mac: "A4-C1-38-00-00-10" },
      { mac: "+/#" },
      { mac: "A4:C1:38:00:00:11", deviceType: "bad type!", rssi: 99 },
    ];
    await rig.start();
    await rig.advance(10_000);
    const found = rig.on("/discovery/found").map((m) => m.payload);
    assert.deepEqual(found.map((f) => f.device_id), [SPARE, "A4:C1:38:00:00:11"], "lower case normalised, invalid ones dropped, each once");
    assert.deepEqual(found[0], { device_id: SPARE, timestamp: found[0].timestamp, device_type: "BM6", name: "BM6 Spare", rssi: -61 });
    assert.deepEqual(Object.keys(found[1]).sort(), ["device_id", "timestamp"], "invalid type and RSSI left out");
    for (const m of rig.sent) assert.ok(!/0G|-10|\+|#/.test(m.topic.replace("battery_hawk/", "")), m.topic);
    assert.ok(rig.logs.some((l) => l.includes("invalid MAC") && l.includes("A4:C1:38:00:00:0G")));
    assert.ok(rig.logs.some((l) => l.includes("invalid MAC") && l.includes("+/#")));
  });

  it("tracks at most max_monitors monitors and reports the rest", async () => {
    const rig = new Rig({ max_monitors: "2" });
    rig.radio.adverts = [1, 2, 3].map((i) => ({ mac: `A4:C1:38:00:00:0${i}` }));
    await rig.start();
    assert.equal(rig.on("/discovery/found").length, 2);
    assert.ok(rig.logs.some((l) => l.includes("A4:C1:38:00:00:03 ignored: already tracking max_monitors (2)")));
  });

  it("publishes no reading for implausible data and reports error 1002 in the status", async () => {
    const rig = new Rig({ associations: `${CAR_1}=family_car` });
    rig.radio.set(CAR_1, { voltage: Number.NaN, temperature: 400 });
    await rig.start();
    assert.equal(rig.on("/reading").length, 0);
    const status = rig.on(`${CAR_1}/status`)[0].payload;
    assert.equal(status.connected, true);
    assert.equal(status.error_code, 1002);
    rig.radio.set(CAR_1, { voltage: 12.64, temperature: 400, state_of_charge: 101, cycles: 3.7 });
    await rig.advance(1000);
    assert.deepEqual(rig.on("/reading")[0].payload, {
      device_id: CAR_1, timestamp: "2024-01-15T10:30:01.000Z", voltage: 12.64, cycles: 3, vehicle_id: "family_car",
    }, "out-of-range values dropped, the rest kept");
  });

  it("registers a Last Will that is the retained QoS 2 system status with core.running false", async () => {
    const rig = new Rig();
    await rig.start();
    const connect = decodeConnect(rig);
    assert.equal(connect.keepalive, 60, "keepalive from the seed's configuration (line 286)");
    assert.equal(connect.clean, false, "a persistent session: commands sent during an outage are not lost");
    assert.equal(connect.clientId, "hawk-gw-001");
    assert.ok(connect.will, "a will");
    assert.equal(connect.will.topic, "battery_hawk/system/status");
    assert.equal(connect.will.qos, 2);
    assert.equal(connect.will.retain, true);
    const payload = JSON.parse(td.decode(connect.will.payload));
    assert.equal(payload.core.running, false);
    schemas.assertValid("system-status", payload);
  });

  it("on stop publishes the shutdown and a final system status, then disconnects", async () => {
    const rig = new Rig();
    await rig.start();
    await rig.stop();
    assert.deepEqual(rig.on("/system/shutdown").map((m) => m.payload.status), ["shutting_down"]);
    const last = rig.on("/system/status").at(-1)!;
    assert.equal((last.payload.core as { running: boolean }).running, false);
    assert.equal(rig.product.client.connected, false);
  });

  it("associate persists the assignment, announces it, and moves the monitor between summaries", async () => {
    const store = new MemorySettingsStore();
    const rig = new Rig({ associations: `${CAR_1}=family_car,${CAR_2}=family_car` }, store);
    rig.radio.set(CAR_1, reading(12.6));
    rig.radio.set(CAR_2, reading(12.5));
    await rig.start();
    const before = rig.sent.length;
    await rig.command(JSON.stringify({ request_id: "r1", command: "associate", device_id: CAR_2, vehicle_id: "camper_van" }));
    const after = rig.sent.slice(before).map((m) => m.topic.replace("battery_hawk/", ""));
    assert.deepEqual(after, [
      "vehicle/camper_van/device_associated", `device/${CAR_2}/status`, "vehicle/family_car/summary", "vehicle/camper_van/summary", "command/response",
    ]);
    const event = rig.on("/device_associated")[0].payload;
    assert.equal(event.new_vehicle, true);
    assert.deepEqual(rig.on("/command/response")[0].payload.result, { vehicle_id: "camper_van", previous_vehicle_id: "family_car" });
    // A restarted gateway keeps the assignment (host settings), over the configured one.
    await rig.stop();
    const again = new Rig({ associations: `${CAR_1}=family_car,${CAR_2}=family_car` }, store);
    again.radio.set(CAR_2, reading(12.5));
    await again.start();
    assert.equal(again.on(`${CAR_2}/reading`)[0].payload.vehicle_id, "camper_van");
  });
});

/** The CONNECT the client wrote on its first socket. */
function decodeConnect(rig: Rig): P.ConnectPacket {
  const connect = decodeAll(rig.net.sockets[0].writes).find((p) => p.type === P.CONNECT);
  assert.ok(connect && connect.type === P.CONNECT);
  return connect;
}

describe("battery-hawk topics", () => {
  it("lays out the PRD topics under the prefix and offers wildcard filters (seed lines 19-30)", () => {
    const t = new HawkTopics("battery_hawk");
    assert.deepEqual([t.reading(CAR_1), t.deviceStatus(CAR_1), t.summary("my_vehicle"), t.systemStatus, t.discovery], [
      `battery_hawk/device/${CAR_1}/reading`, `battery_hawk/device/${CAR_1}/status`, "battery_hawk/vehicle/my_vehicle/summary",
      "battery_hawk/system/status", "battery_hawk/discovery/found"]);
    assert.ok(topicMatches(t.filters.readings, t.reading(CAR_2)));
    assert.ok(!topicMatches(t.filters.readings, t.deviceStatus(CAR_2)));
    assert.ok(topicMatches(t.filters.deviceStatuses, t.deviceStatus(CAR_2)));
    assert.ok(topicMatches(t.filters.summaries, t.summary("van")));
    assert.ok(topicMatches(t.filters.associations, t.associated("van")));
    assert.ok(topicMatches(t.all, t.commandResponse));
    for (const bad of ["a/b", "+", "#", ""]) assert.throws(() => t.summary(bad), RangeError, bad);
  });
});

describe("battery-hawk health score and summaries", () => {
  const monitor = (mac: string, connected: boolean, voltage?: number, extra: Partial<BatteryInfo> = {}): MonitorState => ({
    mac, discovered: true, connected, vehicleId: "my_vehicle", ...(voltage === undefined ? {} : { reading: { voltage, capacity: 100, ...extra } }),
  });

  it("scores the seed's example (2 of 3 connected at 12.6 V and 12.2 V) 0.67, good", () => {
    const summary = vehicleSummary("my_vehicle", [
      monitor("AA:BB:CC:DD:EE:01", true, 12.6), monitor("AA:BB:CC:DD:EE:02", true, 12.2), monitor("AA:BB:CC:DD:EE:03", false, 12.0),
    ]);
    assert.equal(summary.total_devices, 3);
    assert.equal(summary.connected_devices, 2);
    assert.equal(summary.average_voltage, 12.4, "seed line 219");
    assert.equal(summary.total_capacity, 300, "seed line 220: capacities of all monitors");
    assert.equal(summary.overall_health, "good", "seed line 221");
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

describe("battery-hawk ids, config, messages", () => {
  it("validates MACs (normalised to upper case) and vehicle ids", () => {
    assert.equal(normalizeMac("aa:bb:cc:dd:ee:ff"), "AA:BB:CC:DD:EE:FF");
    for (const bad of ["AA:BB:CC:DD:EE", "AA-BB-CC-DD-EE-FF", "AA:BB:CC:DD:EE:FG", "AA:BB:CC:DD:EE:FF:00", "", 42, null]) {
      assert.equal(normalizeMac(bad), undefined, String(bad));
    }
    assert.ok(isVehicleId("my_vehicle"));
    for (const bad of ["my vehicle", "car/1", "car+", "#", "", "x".repeat(65)]) assert.ok(!isVehicleId(bad), bad);
  });

  it("takes defaults, refuses unusable settings and skips bad associations", () => {
    const problems: string[] = [];
    const c = parseConfig({ associations: "aa:bb:cc:dd:ee:01=car_1, nonsense, AA:BB:CC:DD:EE:02=car 2,AA:BB:CC:DD:EE:03=a=b" }, (p) => problems.push(p));
    assert.equal(c.prefix, "battery_hawk");
    assert.equal(c.pollIntervalMs, 10_000);
    assert.deepEqual([...c.associations], [["AA:BB:CC:DD:EE:01", "car_1"]]);
    assert.equal(problems.length, 3);
    assert.equal(parseConfig({ prefix: "batteryhawk" }, () => {}).prefix, "batteryhawk", "the seed's YAML prefix (line 284)");
    const bads: Record<string, string>[] = [{ prefix: "a/b" }, { prefix: "#" }, { prefix: "" }, { poll_interval_ms: "50" }, { max_monitors: "many" }, { version: "1" }];
    for (const bad of bads) {
      assert.throws(() => parseConfig(bad, () => {}), RangeError, JSON.stringify(bad));
    }
  });

  it("keeps hardware values inside the schema and echoes only valid ids in responses", () => {
    assert.deepEqual(sanitizeReading({ voltage: 12.6449, current: 5000, temperature: 21.26, state_of_charge: -3 }), { voltage: 12.64, temperature: 21.3 });
    assert.equal(typeof sanitizeReading({ voltage: 120 }), "string");
    const r = responseMessage({ id: "bad id with spaces", command: "x".repeat(100), ok: false, error: { code: "unknown_command", message: "y".repeat(400) },
      request: { device_id: "aa:bb:cc:dd:ee:ff" } }, 0);
    assert.equal(r.request_id, null);
    assert.equal(r.command, null);
    assert.equal("device_id" in r, false, "a MAC not in canonical form is not echoed");
    schemas.assertValid("command-response", r);
  });
});

describe("battery-hawk simulation", () => {
  function run(seed: number, hours: number, stepMs = 10_000) {
    let now = Date.UTC(2024, 0, 15, 6, 0);
    const sim = new SimulatedMonitors({ now: () => now, random: prng(seed) });
    const samples: { mac: string; at: number; r: ReadOutcome }[] = [];
    const discovered = new Set<string>();
    const phases = new Set<string>();
    return (async () => {
      for (let t = 0; t < hours * 3_600_000; t += stepMs) {
        now += stepMs;
        for (const a of await sim.scan()) discovered.add(a.mac);
        for (const mac of [CAR_1, CAR_2, "A4:C1:38:00:00:03", "A4:C1:38:00:00:04"]) samples.push({ mac, at: now, r: await sim.read(mac) });
        phases.add(sim.phaseOf("family_car")!);
        phases.add(sim.phaseOf("camper_van")!);
      }
      return { samples, discovered, phases };
    })();
  }

  it("produces plausible voltages, temperatures, currents and RSSI over a simulated day", async () => {
    const { samples, discovered, phases } = await run(3, 24, 30_000);
    const ok = samples.filter((s) => s.r.ok).map((s) => s.r as Extract<ReadOutcome, { ok: true }>);
    assert.ok(ok.length > samples.length / 2);
    for (const r of ok) {
      assert.ok(r.info.voltage >= 11.5 && r.info.voltage <= 14.5, `voltage ${r.info.voltage}`);
      assert.ok(r.info.temperature! >= 0 && r.info.temperature! <= 50, `temperature ${r.info.temperature}`);
      assert.ok(r.info.state_of_charge! >= 0 && r.info.state_of_charge! <= 100);
      assert.ok(r.rssi! <= -50 && r.rssi! >= -95, `rssi ${r.rssi}`);
    }
    assert.ok(ok.some((r) => r.info.voltage > 13.5), "charging while the engine runs");
    assert.ok(ok.some((r) => r.info.voltage < 12.8), "resting while parked");
    assert.ok(ok.some((r) => (r.info.current ?? 0) > 0) && ok.some((r) => (r.info.current ?? 0) < 0), "charge and discharge currents");
    assert.ok(samples.some((s) => !s.r.ok && s.r.errorCode === 1001), "a vehicle drives out of range");
    assert.deepEqual([...phases].sort(), ["away", "parked", "running"]);
    assert.ok(discovered.has("A4:C1:38:00:00:05"), "the spare monitor is discovered");
    assert.ok(discovered.size > 5, "a passing vehicle's monitor is seen now and then");
    for (const mac of discovered) assert.equal(normalizeMac(mac), mac);
  });

  it("repeats exactly for the same seed", async () => {
    const a = await run(11, 2);
    const b = await run(11, 2);
    assert.deepEqual(a.samples, b.samples);
  });
});

describe("battery-hawk companion commands", () => {
  it("builds read_data and associate requests on the command topic with their response topic", () => {
    const r = definition.command("hawk-gw-001", { prefix: "batteryhawk" }, "associate", { mac: "a4:c1:38:00:00:01", vehicle_id: "van", request_id: "q1" });
    assert.equal(r.topic, "batteryhawk/command");
    assert.equal(r.responseTopic, "batteryhawk/command/response");
    assert.deepEqual(r.payload, { request_id: "q1", command: "associate", device_id: CAR_1, vehicle_id: "van" });
    schemas.assertValid("command-associate", r.payload);
    assert.ok(r.isResponse({ request_id: "q1", success: true }));
    assert.ok(!r.isResponse({ request_id: "q2", success: true }));
    const { command, params } = definition.example;
    const example = definition.command(definition.deviceId(0), definition.defaults, command, params);
    schemas.assertValid("command-read-data", example.payload);
    assert.equal(definition.topicFilter("hawk-gw-001", {}), "battery_hawk/#");
    assert.equal(definition.deviceId(0), "hawk-gw-001");
  });

  it("refuses bad input with the usage", () => {
    const bad: [string, Record<string, string>][] = [
      ["fly", { mac: CAR_1 }], ["read_data", {}], ["read_data", { mac: "nope" }], ["associate", { mac: CAR_1 }],
      ["associate", { mac: CAR_1, vehicle_id: "a/b" }], ["read_data", { mac: CAR_1, volts: "3" }], ["read_data", { mac: CAR_1, request_id: "has space" }],
    ];
    for (const [name, params] of bad) assert.throws(() => definition.command("hawk-gw-001", {}, name, params), RangeError, `${name} ${JSON.stringify(params)}`);
  });
});
