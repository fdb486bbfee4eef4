// DESE timing and pure logic on a fake clock: the telemetry and status schedules (and a
// config update rescheduling them), reconnect backoff, the bounded offline outbox, pump
// durations and the dosing interlock, alert hysteresis and rate limit, the range policy,
// the simulation's physics, settings and options. The device runs on the real MqttClient
// over a fake socket; the test is the broker and the clock.

import assert from "node:assert/strict";
import * as P from "../../../modules/mqtt/packets.js";
import type { Packet, PublishPacket } from "../../../modules/mqtt/packets.js";
import { MqttClient } from "../../../modules/mqtt/client.js";
import type { ProductHost } from "../../../modules/device/product.js";
import { MemorySettingsStore, Settings } from "../../../modules/device/settings.js";
import { FakeClock, FakeNet, bytes, connack, microtasks, prng, show, td } from "../fakes.js";
import type { FakeSocket } from "../fakes.js";
import { createDese } from "../../../modules/products/dese/product.js";
import type { DeseProduct } from "../../../modules/products/dese/product.js";
import { SimulatedWaterSystem } from "../../../modules/products/dese/simulation.js";
import { PUMPS } from "../../../modules/products/dese/hardware.js";
import { PumpControl } from "../../../modules/products/dese/pumps.js";
import { RateLimiter, ThresholdMonitor } from "../../../modules/products/dese/alerts.js";
import { sample, SENSORS } from "../../../modules/products/dese/sensors.js";
import { telemetryMessage } from "../../../modules/products/dese/messages.js";
import { DEFAULT_SETTINGS, SETTINGS_KEY, patchFor, validateSettings } from "../../../modules/products/dese/settings.js";
import type { DeseSettings } from "../../../modules/products/dese/settings.js";
import { readOptions } from "../../../modules/products/dese/options.js";
import { definition } from "../../../modules/products/dese/index.js";

const ORG = "org-1";
const ID = "esp32-001";
const BASE = `devices/${ORG}/${ID}/`;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

type Payload = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A host on a fake clock whose clients talk to fake sockets. */
function fakeHost(config: Record<string, string> = {}, store = new MemorySettingsStore()) {
  const clock = new FakeClock();
  clock.now = Date.parse("2025-01-27T00:00:00Z");
  const net = new FakeNet();
  const logs: string[] = [];
  const host: ProductHost = {
    deviceId: ID,
    config: { org: ORG, ...config },
    timer: clock.timer,
    now: () => clock.now,
    settings: store,
    random: prng(7),
    log: (line) => logs.push(line),
    createClient: (options) => new MqttClient({
      host: "broker.local", socket: { io: net.io }, timer: clock.timer, now: () => clock.now, random: () => 0.5, ...options,
    }),
  };
  return { clock, net, host, logs, store };
}

/** Plays the broker on the newest socket: accepts the connection, acknowledges everything, records publishes. */
class FakeBroker {
  readonly published: { type: string; payload: Payload; packet: PublishPacket }[] = [];
  readonly packets: string[] = [];
  #nextId = 1000;
  constructor(readonly net: FakeNet) {}

  get socket(): FakeSocket {
    return this.net.last;
  }

  /** Opens the newest socket and answers CONNECT; then serves. */
  async accept(sessionPresent = false): Promise<void> {
    this.socket.writable(1 << 20);
    await this.serve(sessionPresent);
  }

  /** Answers what the device wrote: CONNACK, SUBACK, PUBACK. */
  async serve(sessionPresent = false): Promise<void> {
    for (let round = 0; round < 5; round++) {
      await microtasks();
      const packets = this.socket.take();
      if (!packets.length) continue;
      for (const p of packets) this.#answer(p, sessionPresent);
    }
    await microtasks();
  }

  #answer(p: Packet, sessionPresent: boolean): void {
    this.packets.push(show(p));
    if (p.type === P.CONNECT) this.socket.send(connack(sessionPresent));
    else if (p.type === P.SUBSCRIBE) this.socket.send({ type: P.SUBACK, id: p.id, granted: p.subscriptions.map((s) => s.qos) });
    else if (p.type === P.PUBLISH) {
      this.published.push({ type: p.topic.slice(BASE.length), payload: JSON.parse(td.decode(p.payload)) as Payload, packet: p });
      if (p.qos === 1) this.socket.send({ type: P.PUBACK, id: p.id as number });
    }
  }

  /** Delivers a message to the device at QoS 1. */
  async deliver(type: string, payload: Payload): Promise<void> {
    this.socket.send({ type: P.PUBLISH, topic: BASE + type, payload: bytes(JSON.stringify(payload)), qos: 1, retain: false, dup: false, id: this.#nextId++ });
    await this.serve();
  }

  of(type: string): Payload[] {
    return this.published.filter((m) => m.type === type).map((m) => m.payload);
  }
}

async function started(config: Record<string, string> = {}, store?: MemorySettingsStore) {
  const h = fakeHost(config, store);
  const sim = new SimulatedWaterSystem(h.host);
  const product = createDese(h.host, sim);
  const broker = new FakeBroker(h.net);
  product.start();
  await broker.accept();
  return { ...h, sim, product, broker };
}

/** Advances the fake clock in steps, letting the client and the broker run in between. */
async function run(t: { clock: FakeClock; broker: FakeBroker }, ms: number, step = SECOND): Promise<void> {
  for (let left = ms; left > 0; left -= step) {
    t.clock.advance(Math.min(step, left));
    await t.broker.serve();
  }
}

/** Waits (on the fake clock) for the device's next socket, and accepts it. */
async function reconnect(t: { clock: FakeClock; net: FakeNet; broker: FakeBroker }): Promise<void> {
  const n = t.net.sockets.length;
  for (let i = 0; i < 120 && t.net.sockets.length === n; i++) {
    t.clock.advance(SECOND);
    await microtasks();
  }
  assert.ok(t.net.sockets.length > n, "the device opened a new connection");
  await t.broker.accept(true);
}

function command(name: string, parameters?: Payload, id = `c-${name}`): Payload {
  const c: Payload = { command_id: id, device_id: ID, command: name, timestamp: "2025-01-27T00:00:00Z" };
  if (parameters) c.parameters = parameters;
  return c;
}

describe("dese: connection", () => {
  it("connects with a persistent session, the seed's 60 s keepalive and a retained QoS 1 will of offline on its status topic", async () => {
    const t = await started();
    const connect = t.broker.packets.find((p) => p.startsWith("CONNECT"))!;
    assert.match(connect, new RegExp(`^CONNECT dese-${ORG}-${ID} clean=0 ka=60 will=${BASE}status:\\{"status":"offline","firmware_version":"1.0.0","timestamp":"2025-01-27T00:00:00.000Z"\\}:q1:retain$`));
    const subscribes = t.broker.packets.filter((p) => p.startsWith("SUBSCRIBE")).map((p) => p.replace(/#\d+ /, ""));
    assert.deepEqual(subscribes.sort(), [`SUBSCRIBE ${BASE}commands:1`, `SUBSCRIBE ${BASE}config:1`]);
    const [status] = t.broker.published;
    assert.equal(status.type, "status");
    assert.equal(status.payload.status, "online");
    assert.deepEqual([status.packet.qos, status.packet.retain], [1, true]);
  });

  it("reconnects with exponential backoff (seed line 340)", async () => {
    const t = await started();
    const delays: number[] = [];
    t.product.client.on("reconnecting", (r) => delays.push(r.delayMs));
    t.net.refuse = new Error("ECONNREFUSED");
    t.broker.socket.fail(new Error("ECONNRESET"));
    for (let i = 0; i < 6; i++) t.clock.advance(70 * SECOND);
    // Full jitter with random() = 0.5: half of 1, 2, 4, 8, 16, 32 s.
    assert.deepEqual(delays.slice(0, 6), [500, 1000, 2000, 4000, 8000, 16000]);
  });
});

describe("dese: schedules on a fake clock", () => {
  it("publishes telemetry every telemetry_interval (30 s by default) and reschedules at once on a config update", async () => {
    const t = await started();
    await run(t, 29 * SECOND);
    assert.equal(t.broker.of("telemetry").length, 0);
    await run(t, 1 * SECOND);
    assert.equal(t.broker.of("telemetry").length, 1);
    await run(t, 60 * SECOND);
    assert.equal(t.broker.of("telemetry").length, 3);
    await t.broker.deliver("config", { device_id: ID, config: { telemetry_interval: 5000 }, timestamp: "2025-01-27T00:00:00Z" });
    await run(t, 20 * SECOND);
    assert.equal(t.broker.of("telemetry").length, 7);
    const stamps = t.broker.of("telemetry").map((m) => Date.parse(m.timestamp));
    assert.deepEqual(stamps.slice(3).map((s, i) => s - (i ? stamps[3 + i - 1] : stamps[2])).slice(1), [5000, 5000, 5000]);
    for (const m of t.broker.published.filter((p) => p.type === "telemetry")) assert.deepEqual([m.packet.qos, m.packet.retain], [1, false]);
  });

  it("publishes the status every 60 s while connected, none while offline, and one on reconnecting", async () => {
    const t = await started({ control_interval_ms: "3600000" });
    await run(t, 180 * SECOND, 10 * SECOND);
    assert.equal(t.broker.of("status").length, 4, "on connect, then at 60, 120 and 180 s");
    t.net.refuse = new Error("ECONNREFUSED");
    t.broker.socket.fail(new Error("ECONNRESET"));
    await run(t, 180 * SECOND, 10 * SECOND);
    assert.equal(t.broker.of("status").length, 4, "nothing queued while offline");
    t.net.refuse = undefined;
    await reconnect(t);
    const statuses = t.broker.of("status");
    assert.equal(statuses.length, 5);
    assert.equal(statuses[4].status, "online");
  });

  it("keeps at most outbox_max_messages offline and drops the oldest when full", async () => {
    const t = await started({ outbox_max_messages: "5", control_interval_ms: "3600000" });
    t.net.refuse = new Error("ECONNREFUSED");
    t.broker.socket.fail(new Error("ECONNRESET"));
    await microtasks();
    const stamps: string[] = [];
    for (let i = 0; i < 8; i++) {
      t.clock.advance(30 * SECOND); // one telemetry each time
      stamps.push(new Date(t.clock.now).toISOString());
    }
    await microtasks();
    assert.equal(t.product.client.session.queued, 5);
    assert.equal(t.logs.filter((l) => /publish_failed.*outbox|QUEUE_FULL|full outbox/.test(l)).length, 3, t.logs.join("\n"));
    t.net.refuse = undefined;
    await reconnect(t);
    const telemetry = t.broker.of("telemetry").map((m) => m.timestamp);
    assert.deepEqual(telemetry.slice(0, 5), stamps.slice(3), "the newest five, in order");
  });
});

describe("dese: pumps", () => {
  it("switches a pump off when its duration ends; a new command replaces the timer", () => {
    const { clock, host } = fakeHost();
    const sim = new SimulatedWaterSystem(host);
    const pumps = new PumpControl(sim, clock.timer, () => {});
    pumps.set(PUMPS.circulation, true, 60);
    clock.advance(59_999);
    assert.equal(sim.pumpOn(PUMPS.circulation), true);
    clock.advance(1);
    assert.equal(sim.pumpOn(PUMPS.circulation), false);
    pumps.set(PUMPS.circulation, true, 60);
    clock.advance(30 * SECOND);
    pumps.set(PUMPS.circulation, true); // until further notice
    clock.advance(HOUR);
    assert.equal(sim.pumpOn(PUMPS.circulation), true);
    assert.deepEqual(clock.pending, [], "no stale timer left");
  });

  it("set_pump on the acid pump brings pH down to the target over minutes, and the interlock stops it there", async () => {
    const t = await started();
    const target = Math.round((t.product.control().readings.ph! - 0.3) * 10) / 10;
    await t.broker.deliver("commands", command("set_ph_target", { target_ph: target }));
    await t.broker.deliver("commands", command("set_pump", { pump_id: PUMPS.acid, state: "on" }));
    assert.equal(t.broker.of("command_response").at(-1)!.success, true);
    assert.equal(t.sim.pumpOn(PUMPS.acid), true);
    const began = t.clock.now;
    while (t.sim.pumpOn(PUMPS.acid) && t.clock.now - began < HOUR) await run(t, 5 * SECOND, 5 * SECOND);
    const took = (t.clock.now - began) / MINUTE;
    assert.equal(t.sim.pumpOn(PUMPS.acid), false, "stopped by the interlock");
    assert.ok(took > 2 && took < 30, `took ${took} min`);
    const reading = t.product.control().readings.ph!;
    // Stopped within one 5 s control period of the target (0.1 pH/min), so no overshoot beyond probe noise.
    assert.ok(Math.abs(reading - target) < 0.05, `pH ${reading} reads at the target ${target}, not past it`);
  });

  it("a reboot turns every pump off (a controller boots with its outputs off)", async () => {
    const t = await started();
    await t.broker.deliver("commands", command("set_pump", { pump_id: PUMPS.circulation, state: "on" }));
    await t.broker.deliver("commands", command("reboot"));
    await reconnect(t);
    assert.equal(t.sim.pumpOn(PUMPS.circulation), false);
    const types = t.broker.published.map((m) => (m.type === "status" ? m.payload.status : m.type));
    assert.deepEqual(types.slice(-4), ["command_response", "command_response", "offline", "online"]);
  });
});

describe("dese: alerts", () => {
  it("a reading wavering around a threshold raises one alert, not a storm", () => {
    const m = new ThresholdMonitor();
    const threshold = { min: 6.8, max: 8.0 };
    const alerts = [];
    for (let i = 0; i < 1000; i++) {
      const a = m.check("ph", 6.8 + (i % 2 ? 0.05 : -0.05), threshold); // 6.75 / 6.85: within the 0.1 hysteresis
      if (a) alerts.push(a);
    }
    assert.deepEqual(alerts, [{ severity: "warning", message: "pH level below threshold", sensor: "ph", value: 6.75, threshold: 6.8 }]);
    assert.deepEqual(m.check("ph", 6.9, threshold), { severity: "info", message: "pH level back above threshold", sensor: "ph", value: 6.9, threshold: 6.8 });
    assert.equal(m.check("ph", 7.5, threshold), undefined);
  });

  it("goes from low straight to high, and alerts again after its thresholds change", () => {
    const m = new ThresholdMonitor();
    assert.equal(m.check("temperature", 20, { min: 22, max: 30 })?.message, "Temperature below threshold");
    assert.equal(m.check("temperature", 31, { min: 22, max: 30 })?.message, "Temperature above threshold");
    assert.equal(m.check("temperature", 31, { min: 22, max: 30 }), undefined);
    m.reset("temperature");
    assert.equal(m.check("temperature", 31, { max: 30.5 })?.threshold, 30.5);
    assert.equal(m.check("temperature", 31, undefined), undefined, "no threshold, no alert");
    assert.equal(m.band("temperature"), "normal");
  });

  it("rate-limits alerts: a burst of 10, then one per 6 s", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(10, 6000, () => clock.now);
    const burst = Array.from({ length: 15 }, () => limiter.take());
    assert.deepEqual([burst.filter(Boolean).length, limiter.dropped], [10, 5]);
    clock.advance(5999);
    assert.equal(limiter.take(), false);
    clock.advance(1);
    assert.equal(limiter.take(), true);
    assert.equal(limiter.take(), false);
    clock.advance(HOUR);
    assert.equal(Array.from({ length: 12 }, () => limiter.take()).filter(Boolean).length, 10, "refills to the burst, no more");
  });

  it("the control schedule samples every 5 s, so a crossing is alerted within 5 s of happening", async () => {
    const t = await started();
    t.sim.force("chlorine", 0.2);
    await run(t, 5 * SECOND);
    const [alert] = t.broker.of("alert");
    assert.deepEqual([alert.severity, alert.sensor, alert.threshold], ["warning", "chlorine", 0.5]);
    await run(t, 60 * SECOND);
    assert.equal(t.broker.of("alert").length, 1, "no repeat while it stays low");
  });
});

describe("dese: readings", () => {
  it("calibrates, rounds, clamps a required sensor out of range and leaves out an optional one, flagging both", () => {
    const s = sample(
      { ph: 7.1234, chlorine: 2.456, temperature: 130, orp: 2500, tds: 1200.4, flow_rate: 45.55 },
      { ph: { offset: 0.2, scale: 1 }, chlorine: { offset: 0, scale: 2 } },
    );
    assert.deepEqual(s.readings, { ph: 7.32, chlorine: 4.91, temperature: 125, tds: 1200, flow_rate: 45.6 });
    assert.deepEqual(s.faults.map((f) => f.sensor), ["temperature", "orp"]);
    assert.equal(s.complete, true);
    const dead = sample({ ph: Number.NaN, chlorine: 1, temperature: 20 }, {});
    assert.equal(dead.complete, false);
    assert.deepEqual(dead.faults, [{ sensor: "ph", reason: "no reading" }]);
    assert.deepEqual(sample({ ph: 7, chlorine: 1, temperature: 20 }, {}).faults, [], "optional probes not fitted are no fault");
  });

  it("keeps a full telemetry message under 1 KB (seed line 386)", () => {
    const readings = { ph: 14, chlorine: 100, temperature: -39.9, orp: -1999, tds: 99999, flow_rate: 99999.9 };
    const long = "x".repeat(64);
    const m = telemetryMessage(long, long, readings, { battery: 100, signalStrength: -127 }, Date.parse("2025-01-27T10:00:00Z"));
    assert.ok(JSON.stringify(m).length < 1024, `${JSON.stringify(m).length} bytes`);
  });
});

describe("dese: simulation", () => {
  it("stays within every sensor's range over a simulated week, with a daily temperature cycle, decaying chlorine and a slowly draining battery", () => {
    const { clock, host } = fakeHost();
    const sim = new SimulatedWaterSystem(host);
    const chlorine0 = sim.chlorine;
    const battery0 = sim.batteryLevel;
    const temps: number[] = [];
    for (let h = 0; h < 7 * 24; h++) {
      clock.advance(HOUR);
      const s = sample(sim.readSensors(), {});
      assert.deepEqual(s.faults, [], `hour ${h}`);
      assert.equal(s.readings.ph! >= 6 && s.readings.ph! <= 8.5, true, `pH ${s.readings.ph}`);
      if (h < 24) temps.push(sim.temperature);
    }
    assert.ok(Math.max(...temps) - Math.min(...temps) > 3.5 && Math.max(...temps) - Math.min(...temps) < 4.5, "a ~4 C daily swing");
    const { clock: c2, host: h2 } = fakeHost();
    const fresh = new SimulatedWaterSystem(h2);
    const before = fresh.chlorine;
    c2.advance(8 * HOUR);
    const ratio = fresh.chlorine / before;
    assert.ok(ratio > 0.3 && ratio < 0.7, `chlorine fell to ${ratio} of itself in 8 h`);
    assert.ok(chlorine0 > sim.chlorine);
    const drained = battery0 - sim.batteryLevel;
    assert.ok(drained > 10 && drained < 25, `battery fell ${drained} % in a week`);
  });

  it("answers the pumps: acid lowers pH, base raises it, dosing raises chlorine, circulation makes flow", () => {
    const { clock, host } = fakeHost();
    const sim = new SimulatedWaterSystem(host);
    const ph = sim.ph;
    sim.setPump(PUMPS.acid, true);
    clock.advance(5 * MINUTE);
    assert.ok(ph - sim.ph > 0.3 && ph - sim.ph < 0.7, `acid: ${ph} -> ${sim.ph} in 5 min`);
    sim.setPump(PUMPS.acid, false);
    const low = sim.ph;
    sim.setPump(PUMPS.base, true);
    clock.advance(5 * MINUTE);
    assert.ok(sim.ph - low > 0.3, `base: ${low} -> ${sim.ph}`);
    sim.setPump(PUMPS.base, false);
    const cl = sim.chlorine;
    sim.setPump(PUMPS.chlorine, true);
    clock.advance(5 * MINUTE);
    assert.ok(sim.chlorine - cl > 0.8, `dosing: ${cl} -> ${sim.chlorine}`);
    assert.equal(sim.readSensors().flow_rate, 0);
    sim.setPump(PUMPS.circulation, true);
    clock.advance(MINUTE);
    assert.ok(Math.abs(sim.readSensors().flow_rate! - 45) < 1);
    assert.throws(() => sim.setPump(9, true), RangeError);
  });
});

describe("dese: settings and options", () => {
  it("validates what a schema cannot: threshold order and set-point ranges", () => {
    assert.equal(validateSettings(DEFAULT_SETTINGS), undefined);
    assert.match(validateSettings({ ...DEFAULT_SETTINGS, alert_thresholds: { ph: { min: 7, max: 7 } } })!, /min \(7\) must be below max \(7\)/);
    assert.match(validateSettings({ ...DEFAULT_SETTINGS, ph_target: 15 })!, /ph_target/);
    assert.match(validateSettings({ ...DEFAULT_SETTINGS, telemetry_interval: 999 })!, /telemetry_interval/);
  });

  it("merges a config message per sensor, with neutral calibration defaults", () => {
    const current: DeseSettings = { ...DEFAULT_SETTINGS, sensor_calibration: { chlorine: { offset: 0.1, scale: 1 } } };
    const patch = patchFor({ sensor_calibration: { ph: { scale: 1.1 } }, alert_thresholds: { ph: { min: 7 } } }, current);
    assert.deepEqual(patch.sensor_calibration, { chlorine: { offset: 0.1, scale: 1 }, ph: { offset: 0, scale: 1.1 } });
    assert.deepEqual(patch.alert_thresholds, { ...DEFAULT_SETTINGS.alert_thresholds, ph: { min: 7 } });
    assert.equal("telemetry_interval" in patch, false);
  });

  it("drops stored settings that no longer validate in favour of the defaults", () => {
    const store = new MemorySettingsStore();
    store.set(SETTINGS_KEY, { ...DEFAULT_SETTINGS, telemetry_interval: -5 });
    assert.deepEqual(new Settings(store, SETTINGS_KEY, DEFAULT_SETTINGS, validateSettings).value, DEFAULT_SETTINGS);
  });

  it("reads options from the host's configuration and refuses bad ones", () => {
    assert.equal(readOptions({}).org, "org-123");
    assert.equal(readOptions({ status_interval_ms: "1000" }).statusIntervalMs, 1000);
    assert.throws(() => readOptions({ org: "a/b" }), RangeError);
    assert.throws(() => readOptions({ org: "+" }), RangeError);
    assert.throws(() => readOptions({ outbox_max_messages: "lots" }), /outbox_max_messages/);
    const { host } = fakeHost();
    assert.throws(() => createDese({ ...host, deviceId: "esp32/#" }, new SimulatedWaterSystem(host)), RangeError);
  });
});

describe("dese: definition", () => {
  it("names devices, filters one device's topics, and builds the companion's commands", () => {
    assert.equal(definition.name, "dese");
    assert.equal(definition.deviceId(0), "esp32-001");
    assert.equal(definition.topicFilter("esp32-002", { org: "org-9" }), "devices/org-9/esp32-002/#");
    assert.deepEqual(Object.keys(definition.commands).sort(), ["calibrate_sensor", "reboot", "reset_config", "set_chlorine_target", "set_ph_target", "set_pump"]);
    const r = definition.command("esp32-001", {}, definition.example.command, definition.example.params);
    assert.equal(r.topic, "devices/org-123/esp32-001/commands");
    assert.equal(r.responseTopic, "devices/org-123/esp32-001/command_response");
    const payload = r.payload as Payload;
    assert.equal(r.isResponse({ command_id: payload.command_id, success: true }), true);
    assert.equal(r.isResponse({ command_id: "other", success: true }), false);
    assert.equal((definition.command("esp32-001", {}, "reboot", {}).payload as Payload).parameters, undefined);
    assert.throws(() => definition.command("esp32-001", {}, "set_pump", { pump_id: 1, state: "sideways" }), /usage: set_pump/);
    assert.throws(() => definition.command("esp32-001", {}, "calibrate_sensor", { sensor_type: "ph" }), /missing field "value"/);
    assert.throws(() => definition.command("esp32-001", {}, "selfdestruct", {}), /unknown command/);
  });

  it("simulate() gives a product on simulated hardware", () => {
    const { host } = fakeHost();
    const p = definition.simulate(host) as DeseProduct;
    assert.equal(p.topics.telemetry, `${BASE}telemetry`);
    for (const s of SENSORS) assert.equal(typeof p.control().readings[s], "number", s);
  });
});
