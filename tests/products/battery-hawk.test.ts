// Battery Hawk end to end against real brokers. On aedes a SchemaTap sees every PUBLISH the
// gateway sends (exact QoS and retain) and checks it against index.json and its schema after
// each test: every message type, both commands and every malformed one, commands for other
// gateways left alone, gateways kept apart by their roots, the Last Will, the goodbye, and the
// simulated fleet. On mosquitto the broker is stopped while the gateway keeps reading, then
// restarted: every reading arrives, in order, and the QoS 2 status exactly once.

import assert from "node:assert/strict";
import { startAedes } from "../harness/aedes.js";
import type { AedesHandle } from "../harness/aedes.js";
import { Mosquitto } from "../harness/mosquitto.js";
import { closeHostClients, productDevice, SchemaTap } from "./harness.js";
import { client, closeAll, Inbox, text } from "../integration/util.js";
import { topicMatches } from "../../modules/mqtt/topic.js";
import type { Message, MqttClient } from "../../modules/mqtt/client.js";
import type { Device } from "../../modules/device/device.js";
import type { Product } from "../../modules/device/product.js";
import { simulate } from "../../modules/device/product.js";
import { definition } from "../../modules/products/battery-hawk/index.js";
import { createBatteryHawk } from "../../modules/products/battery-hawk/product.js";
import { simulatedMac } from "../../modules/products/battery-hawk/simulation.js";
import type { BatteryInfo, BatteryMonitorRadio, MonitorAdvert, ReadOutcome } from "../../modules/products/battery-hawk/hardware.js";

const CAR_1 = "A4:C1:38:00:00:01";
const CAR_2 = "A4:C1:38:00:00:02";
const SPARE = "A4:C1:38:00:00:09";

/** Monitors whose adverts and readings the test sets; each successful read counts up `cycles`. */
class ScriptedRadio implements BatteryMonitorRadio {
  adverts: MonitorAdvert[] = [];
  readonly info = new Map<string, BatteryInfo>();
  readonly unreachable = new Set<string>();
  reads = 0;
  #waiters: { n: number; resolve: () => void }[] = [];

  async scan(): Promise<MonitorAdvert[]> {
    return this.adverts.slice();
  }

  async read(mac: string): Promise<ReadOutcome> {
    const info = this.info.get(mac);
    if (!info || this.unreachable.has(mac)) return { ok: false, errorCode: 1001, errorMessage: "Connection timeout" };
    this.reads++;
    this.#waiters = this.#waiters.filter((w) => (this.reads >= w.n ? (w.resolve(), false) : true));
    return { ok: true, info: { ...info, cycles: this.reads }, rssi: -60, protocolVersion: "1.0" };
  }

  /** Resolves once `n` successful reads have happened in total. */
  readsReach(n: number): Promise<void> {
    if (this.reads >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }
}

const battery = (voltage: number, soc: number): BatteryInfo => ({ voltage, current: -0.4, temperature: 19.5, state_of_charge: soc, capacity: 70 });

function json(m: { payload: Uint8Array }): Record<string, unknown> {
  return JSON.parse(text(m.payload));
}

/** Resolves with the first message on `c` for which `test` holds. */
function nextMessage(c: MqttClient, test: (m: Message) => boolean, ms = 10_000): Promise<Message> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no matching message within ${ms} ms`)), ms);
    const listener = (m: Message) => {
      if (!test(m)) return;
      clearTimeout(timer);
      c.off("message", listener);
      resolve(m);
    };
    c.on("message", listener);
  });
}

let gateways = 0;

describe("battery-hawk on aedes", function () {
  this.timeout(20_000);
  let broker: AedesHandle;
  let tap: SchemaTap;
  const running: Product[] = [];

  before(async () => {
    broker = await startAedes();
    tap = new SchemaTap(broker, "battery-hawk", (id) => id.startsWith("hawk-gw-"));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
    await closeHostClients();
    await closeAll();
    tap.assertAllValid();
  });
  after(async () => {
    await broker.close();
  });

  /** A gateway under its own prefix (tests share the broker and its retained messages). */
  function gateway(config: Record<string, string> = {}, logs: string[] = [], options: { prefix?: string; deviceId?: string } = {}) {
    const n = ++gateways;
    const prefix = options.prefix ?? `bh_test_${n}`;
    const radio = new ScriptedRadio();
    radio.info.set(CAR_1, battery(12.6, 85));
    radio.info.set(CAR_2, battery(12.2, 50));
    radio.adverts = [{ mac: CAR_1, deviceType: "BM2", name: "Battery Monitor", rssi: -58 }, { mac: CAR_2, deviceType: "BM6", rssi: -70 },
      { mac: SPARE.toLowerCase(), deviceType: "BM6", name: "BM6 Spare", rssi: -65 }, { mac: "not-a-mac" }];
    const device = productDevice({
      port: broker.port, deviceId: options.deviceId ?? `hawk-gw-${100 + n}`, logs,
      config: { prefix, poll_interval_ms: "60000", scan_interval_ms: "60000", associations: `${CAR_1}=family_car,${CAR_2}=family_car`, ...config },
    });
    const product = createBatteryHawk(device, radio);
    running.push(product);
    return { product, device, radio, prefix, logs, deviceId: device.deviceId };
  }

  async function watcher(filter: string): Promise<{ c: MqttClient; inbox: Inbox }> {
    const c = client(broker.port);
    await c.connect();
    const inbox = new Inbox(c);
    await c.subscribe(filter, { qos: 2 });
    return { c, inbox };
  }

  it("publishes readings, statuses, summaries, system status and discoveries with their QoS and retain flags", async () => {
    const { product, prefix } = gateway();
    product.start();
    await tap.waitFor((m) => m.topic === `${prefix}/vehicle/family_car/summary` && json(m).connected_devices === 2);
    const mine = tap.seen.filter((m) => m.topic.startsWith(`${prefix}/`));
    const kinds = (suffix: string) => mine.filter((m) => m.topic.endsWith(suffix));
    assert.deepEqual(kinds("/reading").map((m) => [m.topic, m.qos, m.retain]), [
      [`${prefix}/device/${CAR_1}/reading`, 1, false], [`${prefix}/device/${CAR_2}/reading`, 1, false]]);
    assert.ok(kinds("/status").filter((m) => m.topic.includes("/device/")).every((m) => m.qos === 1 && m.retain));
    assert.ok(kinds("/summary").every((m) => m.qos === 1 && m.retain));
    await tap.waitFor((m) => m.topic === `${prefix}/system/status`);
    const system = tap.seen.filter((m) => m.topic === `${prefix}/system/status`);
    assert.deepEqual(system.map((m) => [m.qos, m.retain]), [[2, true]]);
    assert.equal((json(system[0]).core as { running: boolean }).running, true);
    const found = kinds("/discovery/found");
    assert.deepEqual(found.map((m) => json(m).device_id), [CAR_1, CAR_2, SPARE], "each monitor once; the invalid MAC never");
    assert.ok(found.every((m) => m.qos === 1 && !m.retain));
    const reading = json(kinds(`${CAR_1}/reading`)[0]);
    assert.equal(reading.power, round2(12.6 * -0.4));
    assert.equal(reading.vehicle_id, "family_car");
    const summary = json(kinds("/summary").at(-1)!);
    assert.equal(summary.average_voltage, 12.4);
    assert.equal(summary.total_capacity, 140);
    assert.equal(summary.overall_health, "good");

    // The spare (discovered, not associated, no reading yet) gets a retained status too.
    await tap.waitFor((m) => m.topic === `${prefix}/device/${SPARE}/status`);
    assert.equal(json(tap.seen.find((m) => m.topic === `${prefix}/device/${SPARE}/status`)!).connected, false);
    // A late subscriber gets the last known state from the broker: statuses and summaries, no readings.
    const late = await watcher(`${prefix}/#`);
    await late.inbox.waitFor(5);
    const retained = late.inbox.messages.map((m) => `${m.topic.slice(prefix.length + 1)}${m.retain ? " (retained)" : ""}`).sort();
    assert.deepEqual(retained, [
      `device/${CAR_1}/status (retained)`, `device/${CAR_2}/status (retained)`, `device/${SPARE}/status (retained)`,
      "system/status (retained)", "vehicle/family_car/summary (retained)",
    ]);
  });

  it("answers read_data with a fresh reading, a status with last_command and a response", async () => {
    const { product, prefix, radio, deviceId } = gateway();
    product.start();
    const backend = await watcher(`${prefix}/#`);
    await tap.waitFor((m) => m.topic === `${prefix}/vehicle/family_car/summary` && json(m).connected_devices === 2);
    radio.info.set(CAR_1, battery(12.55, 83));
    const response = nextMessage(backend.c, (m) => m.topic === `${prefix}/command/response`);
    await backend.c.publish(`${prefix}/command`, JSON.stringify({ request_id: "r-1", command: "read_data", device_id: CAR_1 }), { qos: 1 });
    const answer = JSON.parse(text((await response).payload));
    assert.deepEqual({ ...answer, timestamp: undefined }, {
      request_id: "r-1", command: "read_data", gateway_id: deviceId, device_id: CAR_1, success: true, result: { connected: true, voltage: 12.55, state_of_charge: 83 }, timestamp: undefined,
    });
    const after = (suffix: string) => backend.inbox.messages.filter((m) => m.topic === `${prefix}/${suffix}`).map((m) => JSON.parse(text(m.payload)));
    assert.equal(after(`device/${CAR_1}/reading`).at(-1).voltage, 12.55);
    assert.equal(after(`device/${CAR_1}/status`).at(-1).last_command, "read_data");
    assert.equal(after("vehicle/family_car/summary").at(-1).average_voltage, 12.38, "the summary changed, so it went out");
    // The order on the wire: reading, status, summary, then the response.
    const order = backend.inbox.messages.map((m) => m.topic.slice(prefix.length + 1));
    const from = order.lastIndexOf(`device/${CAR_1}/reading`);
    assert.deepEqual(order.slice(from), [`device/${CAR_1}/reading`, `device/${CAR_1}/status`, "vehicle/family_car/summary", "command/response"]);
  });

  it("answers associate with the association event, both vehicles' summaries and a response", async () => {
    const { product, prefix } = gateway();
    product.start();
    const backend = await watcher(`${prefix}/#`);
    await tap.waitFor((m) => m.topic === `${prefix}/vehicle/family_car/summary` && json(m).connected_devices === 2);
    const response = nextMessage(backend.c, (m) => m.topic === `${prefix}/command/response`);
    await backend.c.publish(`${prefix}/command`, JSON.stringify({ request_id: "r-2", command: "associate", device_id: CAR_2, vehicle_id: "camper_van" }), { qos: 1 });
    const answer = JSON.parse(text((await response).payload));
    assert.equal(answer.success, true);
    assert.deepEqual(answer.result, { vehicle_id: "camper_van", previous_vehicle_id: "family_car" });
    const last = (suffix: string) => JSON.parse(text(backend.inbox.messages.filter((m) => m.topic === `${prefix}/${suffix}`).at(-1)!.payload));
    assert.deepEqual({ ...last("vehicle/camper_van/device_associated"), timestamp: 0 }, {
      device_id: CAR_2, vehicle_id: "camper_van", new_vehicle: true, device_type: "BM6", timestamp: 0 });
    assert.equal(last("vehicle/family_car/summary").total_devices, 1);
    assert.equal(last("vehicle/camper_van/summary").total_devices, 1);
    assert.equal(last(`device/${CAR_2}/status`).vehicle_id, "camper_van");
  });

  it("answers every malformed command with its defined error and keeps running", async () => {
    const logs: string[] = [];
    const { product, device, prefix, radio, deviceId } = gateway({}, logs);
    product.start();
    const backend = await watcher(`${prefix}/command/response`);
    await tap.waitFor((m) => m.topic === `${prefix}/vehicle/family_car/summary` && json(m).connected_devices === 2);
    radio.unreachable.add(CAR_2);
    const cases: [string, string, string | null][] = [
      ["{oops", "malformed_json", null],
      ["[1,2]", "invalid_request", null],
      [JSON.stringify({ request_id: "c3", command: "fly", device_id: CAR_1 }), "unknown_command", "c3"],
      [JSON.stringify({ request_id: "c4", device_id: CAR_1 }), "unknown_command", "c4"],
      [JSON.stringify({ request_id: "c5", command: "read_data", device_id: "aa:bb:cc:dd:ee:ff" }), "invalid_parameters", "c5"],
      [JSON.stringify({ request_id: "c6", command: "read_data", device_id: "A4:C1:38:00:00:01/#" }), "invalid_parameters", "c6"],
      [JSON.stringify({ request_id: "c7", command: "read_data" }), "invalid_parameters", "c7"],
      [JSON.stringify({ request_id: "c8", command: "read_data", device_id: 42 }), "invalid_parameters", "c8"],
      [JSON.stringify({ request_id: "c9", command: "associate", device_id: CAR_1 }), "invalid_parameters", "c9"],
      [JSON.stringify({ request_id: "c10", command: "associate", device_id: CAR_1, vehicle_id: "car/1" }), "invalid_parameters", "c10"],
      [JSON.stringify({ request_id: "c11", command: "read_data", device_id: CAR_1, volts: 3 }), "invalid_parameters", "c11"],
      [JSON.stringify({ command: "read_data", device_id: CAR_1 }), "invalid_parameters", null],
      // Named, the gateway says it does not know the monitor (unnamed, it would stay silent: below).
      [JSON.stringify({ request_id: "c13", command: "read_data", gateway_id: deviceId, device_id: "A4:C1:38:00:00:77" }), "failed", "c13"],
      [JSON.stringify({ request_id: "c14", command: "read_data", device_id: CAR_2 }), "failed", "c14"],
    ];
    // One at a time, as a backend waiting for each answer would (the device layer answers a burst
    // beyond its 32-command queue with "busy").
    for (const [i, [payload]] of cases.entries()) {
      await backend.c.publish(`${prefix}/command`, payload, { qos: 1 });
      await backend.inbox.waitFor(i + 1);
    }
    const answers = backend.inbox.texts().map((t) => JSON.parse(t));
    assert.deepEqual(answers.map((a) => [a.request_id, a.success, a.error?.code]), cases.map(([, code, id]) => [id, false, code]), JSON.stringify(answers, null, 1));
    assert.match(answers[12].error.message, /unknown monitor A4:C1:38:00:00:77/);
    assert.match(answers[13].error.message, /Connection timeout/);
    for (const i of [4, 5, 7]) assert.equal("device_id" in answers[i], false, `an invalid MAC is never echoed (${cases[i][0]})`);
    assert.equal(logs.filter((l) => l.includes("command_rejected")).length, cases.length);
    // The unreachable monitor's retained status says so, with the seed's error fields.
    const status = tap.seen.filter((m) => m.topic === `${prefix}/device/${CAR_2}/status`).map(json).at(-1)!;
    assert.deepEqual([status.connected, status.error_code, status.error_message, status.last_command], [false, 1001, "Connection timeout", "read_data"]);
    // Not this gateway's: another gateway named, or a monitor it does not know. No answer, no read.
    const reads = radio.reads;
    for (const other of [
      { request_id: "n1", command: "read_data", gateway_id: "hawk-gw-999", device_id: CAR_1 },
      { request_id: "n2", command: "associate", gateway_id: "hawk-gw-999", device_id: CAR_1, vehicle_id: "van" },
      { request_id: "n3", command: "read_data", device_id: "A4:C1:38:00:00:77" },
    ]) await backend.c.publish(`${prefix}/command`, JSON.stringify(other), { qos: 1 });
    // Still running: a valid command works, and is the next answer.
    await backend.c.publish(`${prefix}/command`, JSON.stringify({ request_id: "ok", command: "read_data", device_id: CAR_1 }), { qos: 1 });
    await backend.inbox.waitFor(cases.length + 1);
    const last = JSON.parse(backend.inbox.texts().at(-1)!);
    assert.deepEqual([last.request_id, last.success, last.gateway_id], ["ok", true, deviceId]);
    assert.equal(radio.reads, reads + 1, "only the valid command's read");
    assert.equal(device.connected, true);
  });

  it("the Last Will turns the retained system status to core.running false on an abrupt disconnect", async () => {
    const { product, device, prefix } = gateway();
    const observer = await watcher(`${prefix}/system/status`);
    product.start();
    await observer.inbox.waitFor(1);
    assert.equal(JSON.parse(observer.inbox.texts()[0]).core.running, true);
    device.abort();
    await observer.inbox.waitFor(2);
    const will = JSON.parse(observer.inbox.texts()[1]);
    assert.equal(will.core.running, false);
    assert.equal(will.components.mqtt, "disconnected");
    // The broker keeps it as the last known state.
    const late = await watcher(`${prefix}/system/status`);
    await late.inbox.waitFor(1);
    assert.equal(late.inbox.messages[0].retain, true);
    assert.equal(JSON.parse(late.inbox.texts()[0]).core.running, false);
  });

  it("on stop announces the shutdown and leaves a retained stopped system status", async () => {
    const { product, prefix } = gateway();
    product.start();
    await tap.waitFor((m) => m.topic === `${prefix}/system/status`);
    await product.stop();
    const shutdown = tap.seen.filter((m) => m.topic === `${prefix}/system/shutdown`);
    assert.deepEqual(shutdown.map((m) => [json(m).status, json(m).reason, m.qos, m.retain]), [["shutting_down", "normal_shutdown", 1, false]]);
    const late = await watcher(`${prefix}/system/status`);
    await late.inbox.waitFor(1);
    const final = JSON.parse(late.inbox.texts()[0]);
    assert.equal(final.core.running, false);
    assert.equal(typeof final.core.uptime_seconds, "number", "the goodbye status, not the will: a clean DISCONNECT discards the will");
  });

  it("the simulated fleet keeps the contract under the specification's YAML prefix, given as topic_prefix", async () => {
    const device = productDevice({
      port: broker.port, deviceId: "hawk-gw-500", seed: 5,
      // As the hosts pass it: the product's defaults with overrides, here in the specification's own key.
      config: { ...definition.defaults, topic_prefix: "batteryhawk", poll_interval_ms: "100", scan_interval_ms: "100" },
    });
    const product = simulate(definition, device).product;
    running.push(product);
    product.start();
    // Both simulated vehicles with both their monitors (the simulated associations apply).
    await tap.waitFor((m) => m.topic === "batteryhawk/vehicle/camper_van/summary" && json(m).total_devices === 2);
    await tap.waitFor((m) => m.topic === "batteryhawk/vehicle/family_car/summary" && json(m).total_devices === 2);
    const starter = simulatedMac("hawk-gw-500", 1);
    await tap.waitFor((m) => m.topic === `batteryhawk/device/${starter}/reading`);
    const config = { topic_prefix: "batteryhawk" };
    const request = definition.command("hawk-gw-500", config, definition.example.command, { mac: starter });
    const backend = await watcher(request.responseTopic);
    // The first simulated gateway's monitor is not this one's: hawk-gw-500 only answers about its own.
    const foreign = definition.command("hawk-gw-500", config, definition.example.command, definition.example.params);
    await backend.c.publish(foreign.topic, JSON.stringify(foreign.payload), { qos: 1 });
    await backend.c.publish(request.topic, JSON.stringify(request.payload), { qos: 1 });
    await backend.inbox.waitFor(2);
    const [unknown, answer] = backend.inbox.texts().map((t) => JSON.parse(t));
    assert.ok(foreign.isResponse(unknown) && !request.isResponse(unknown));
    assert.match(unknown.error.message, /unknown monitor/);
    assert.ok(request.isResponse(answer));
    assert.equal(answer.success, true);
    assert.ok(tap.seen.filter((m) => m.clientId === "hawk-gw-500").every((m) => m.topic.startsWith("batteryhawk/")));
  });

  it("two gateways on one prefix: a command is acted on and answered only by the gateway it names", async () => {
    const prefix = `bh_shared_${++gateways}`;
    const a = gateway({}, [], { prefix });
    const b = gateway({}, [], { prefix });
    a.product.start();
    b.product.start();
    await tap.waitFor((m) => m.clientId === b.deviceId && m.topic === `${prefix}/vehicle/family_car/summary` && json(m).connected_devices === 2);
    await tap.waitFor((m) => m.clientId === a.deviceId && m.topic === `${prefix}/vehicle/family_car/summary` && json(m).connected_devices === 2);
    const backend = await watcher(`${prefix}/command/response`);
    const readsA = a.radio.reads;
    const request = definition.command(b.deviceId, { prefix }, "read_data", { mac: CAR_1, request_id: "to-b" });
    await backend.c.publish(request.topic, JSON.stringify(request.payload), { qos: 1 });
    await backend.inbox.waitFor(1);
    // Give a wrong answer from the other gateway time to arrive before counting.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const answers = backend.inbox.texts().map((t) => JSON.parse(t));
    assert.deepEqual(answers.map((r) => [r.request_id, r.gateway_id, r.success]), [["to-b", b.deviceId, true]]);
    assert.ok(request.isResponse(answers[0]));
    assert.equal(a.radio.reads, readsA, "the other gateway did not read the monitor");
  });

  it("gateways with their own root keep their own retained system status", async () => {
    // Ids outside the tap's filter: the tap checks topics without a root.
    const devices = ["site-gw-a", "site-gw-b"];
    const gws = devices.map((id) => gateway({ root: id }, [], { prefix: "battery_hawk", deviceId: id }));
    for (const g of gws) g.product.start();
    const observer = await watcher("+/battery_hawk/system/status");
    await observer.inbox.waitFor(2);
    assert.deepEqual(observer.inbox.messages.map((m) => m.topic).sort(), devices.map((id) => `${id}/battery_hawk/system/status`));
    await gws[0].product.stop();
    const late = await watcher("+/battery_hawk/system/status");
    await late.inbox.waitFor(2);
    const running = Object.fromEntries(late.inbox.messages.map((m) => [m.topic.split("/")[0], JSON.parse(text(m.payload)).core.running]));
    assert.deepEqual(running, { "site-gw-a": false, "site-gw-b": true }, "one gateway stopping does not mark the other stopped");
    assert.ok(!topicMatches(definition.topicFilter(devices[0], { root: devices[0] }), `${devices[1]}/battery_hawk/system/status`));
  });
});

describe("battery-hawk on mosquitto: broker restart", function () {
  this.timeout(30_000);
  let mosquitto: Mosquitto;
  let product: Product | undefined;

  before(async () => {
    mosquitto = await Mosquitto.start();
  });
  after(async () => {
    await product?.stop();
    await closeHostClients();
    await closeAll();
    await mosquitto.dispose();
  });

  it("delivers every reading made while the broker was down, in order, and the QoS 2 status once per connection", async () => {
    const radio = new ScriptedRadio();
    radio.info.set(CAR_1, battery(12.6, 85));
    const logs: string[] = [];
    const device: Device = productDevice({
      port: mosquitto.port, deviceId: "hawk-gw-900", logs,
      config: { prefix: "bh_restart", poll_interval_ms: "100", scan_interval_ms: "60000", status_interval_ms: "60000", associations: `${CAR_1}=family_car` },
    });
    product = createBatteryHawk(device, radio);
    device.on("connected", () => logs.push("connected"));
    // A backend with a persistent session: it misses nothing while the broker restarts.
    const backend = client(mosquitto.port, { clientId: "bh-backend", clean: false });
    await backend.connect();
    const readings: number[] = [];
    const statuses: string[] = [];
    backend.on("message", (m) => {
      const body = JSON.parse(text(m.payload));
      if (m.topic.endsWith("/reading")) readings.push(body.cycles);
      // The running gateway's statuses; mosquitto publishes the will (running false) when it shuts down.
      if (m.topic === "bh_restart/system/status" && body.core.running) statuses.push(body.timestamp);
    });
    await backend.subscribe("bh_restart/device/+/reading", { qos: 1 });
    await backend.subscribe("bh_restart/system/status", { qos: 2 });
    product.start();
    await radio.readsReach(5);

    await mosquitto.stop();
    const down = radio.reads;
    await radio.readsReach(down + 15); // the gateway keeps reading (and queueing) while the broker is down
    assert.equal(device.connected, false);
    await mosquitto.restart();
    const upTo = radio.reads;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`readings up to ${upTo} not delivered; got ${readings.join(",")}`)), 15_000);
      const check = () => {
        if (readings.includes(upTo)) {
          clearTimeout(timer);
          backend.off("message", check);
          resolve();
        }
      };
      backend.on("message", check);
      check();
    });
    // At least once (QoS 1), in order: the first arrivals count 1, 2, 3, ... without a gap. A
    // resend of a reading the broker took but did not acknowledge before it stopped may repeat it.
    const first = readings.filter((n, i) => readings.indexOf(n) === i);
    assert.deepEqual(first.slice(0, upTo), Array.from({ length: upTo }, (_, i) => i + 1), `readings: ${readings.join(",")}`);
    assert.ok(readings.length - first.length <= 16, `at most an inflight window of resends: ${readings.join(",")}`);
    // QoS 2 exactly once: one system status per connection, none twice.
    await new Promise<void>((resolve) => {
      if (statuses.length >= 2) return resolve();
      backend.on("message", (m) => {
        if (m.topic === "bh_restart/system/status" && statuses.length >= 2) resolve();
      });
    });
    assert.equal(new Set(statuses).size, statuses.length, `statuses: ${statuses.join(",")}`);
    assert.equal(statuses.length, 2, `statuses: ${statuses.join(",")} logs: ${logs.join("\n")}`);
    // And the broker's last known state is "running" again.
    const late = client(mosquitto.port);
    await late.connect();
    const inbox = new Inbox(late);
    await late.subscribe("bh_restart/system/status", { qos: 2 });
    await inbox.waitFor(1);
    assert.equal(JSON.parse(inbox.texts()[0]).core.running, true);
  });
});

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
