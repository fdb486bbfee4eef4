// DESE on the test kit (a real Device and MqttClient, a scripted broker, a fake clock): the
// connection and its will, reconnect backoff, the telemetry and status schedules (and a config
// update rescheduling them), the bounded offline outbox, the organisation and device checks of
// commands and config, pump durations and the dosing interlock, alert hysteresis and rate
// limit, the range policy, the water model's physics through the drivers, the bus faults
// (unplugged probe, failed ADC, out-of-range reading, stuck pump feedback) and their outcome,
// settings and options.

import assert from "node:assert/strict";
import { Kit } from "../../kit/index.js";
import type { SettingsStore } from "../../../modules/device/settings.js";
import { MemorySettingsStore, Settings } from "../../../modules/device/settings.js";
import { readOptions } from "../../../modules/device/options.js";
import { createDese } from "../../../modules/products/dese/product.js";
import type { DeseProduct } from "../../../modules/products/dese/product.js";
import { EmulatedWater } from "../../../modules/products/dese/simulation.js";
import { PUMPS, deseHardware } from "../../../modules/products/dese/hardware.js";
import type { DeseHardware } from "../../../modules/products/dese/hardware.js";
import { simulate } from "../../../modules/device/product.js";
import { PumpControl } from "../../../modules/products/dese/pumps.js";
import { ThresholdMonitor } from "../../../modules/products/dese/alerts.js";
import { sample, SENSORS } from "../../../modules/products/dese/sensors.js";
import { telemetryMessage } from "../../../modules/products/dese/messages.js";
import { DEFAULT_SETTINGS, SETTINGS_KEY, patchFor, validateSettings } from "../../../modules/products/dese/settings.js";
import type { DeseSettings } from "../../../modules/products/dese/settings.js";
import { OPTIONS } from "../../../modules/products/dese/options.js";
import { definition } from "../../../modules/products/dese/index.js";

const ORG = "org-1";
const ID = "esp32-001";
const BASE = `devices/${ORG}/${ID}/`;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const START = Date.parse("2025-01-27T00:00:00Z");

type Payload = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function kitFor(config: Record<string, string> = {}, settings?: SettingsStore): Kit {
  return new Kit({ deviceId: ID, config: { org: ORG, ...config }, settings, start: START });
}

/** The drivers on the emulated water: what simulate().product builds, with a handle on the emulated parts. */
function board(kit: Kit): { sim: EmulatedWater; hw: DeseHardware } {
  const sim = new EmulatedWater(kit.device);
  return { sim, hw: deseHardware(sim.buses, kit.device) };
}

interface Started {
  kit: Kit;
  sim: EmulatedWater;
  product: DeseProduct;
  /** JSON payloads the device published on devices/{org}/{device}/<type>. */
  of(type: string): Payload[];
  /** Delivers a message on devices/{org}/{device}/<type> and lets the device handle it. */
  deliver(type: string, payload: Payload | string): Promise<void>;
}

async function started(config: Record<string, string> = {}, settings?: SettingsStore): Promise<Started> {
  const kit = kitFor(config, settings);
  const { sim, hw } = board(kit);
  const product = createDese(kit.device, hw);
  product.start();
  await kit.settle();
  return {
    kit, sim, product,
    of: (type) => kit.broker.payloads(BASE + type),
    deliver: async (type, payload) => {
      kit.broker.deliver(BASE + type, payload);
      await kit.settle();
    },
  };
}

/** Runs the fake clock until the device has connected `count` times in all. */
async function connections(kit: Kit, count: number): Promise<void> {
  for (let i = 0; i < 120 && kit.broker.connects.length < count; i++) await kit.run(SECOND);
  assert.equal(kit.broker.connects.length, count, "connections made");
}

/** Stops the product while the broker answers its goodbye. */
async function stop(t: Started): Promise<void> {
  const stopping = t.product.stop();
  await t.kit.settle();
  await stopping;
}

function command(name: string, parameters?: Payload, extra: Payload = {}): Payload {
  const c: Payload = { command_id: `c-${name}`, device_id: ID, command: name, timestamp: "2025-01-27T00:00:00Z", ...extra };
  if (parameters) c.parameters = parameters;
  return c;
}

function config(body: Payload, extra: Payload = {}): Payload {
  return { device_id: ID, config: body, timestamp: "2025-01-27T00:00:00Z", ...extra };
}

describe("dese: connection", () => {
  it("connects with a persistent session, the 60 s keepalive and a retained QoS 1 will of offline on its status topic", async () => {
    const t = await started();
    const [connect] = t.kit.broker.connects;
    assert.deepEqual([connect.clientId, connect.clean, connect.keepalive], [`dese-${ORG}-${ID}`, false, 60]);
    const will = t.kit.broker.will!;
    assert.deepEqual([will.topic, will.qos, will.retain], [`${BASE}status`, 1, true]);
    assert.deepEqual(will.json, { status: "offline", firmware_version: "1.0.0", timestamp: "2025-01-27T00:00:00.000Z" });
    assert.deepEqual([...t.kit.broker.subscriptions].sort(), [[`${BASE}commands`, 1], [`${BASE}config`, 1]]);
    const [status] = t.kit.broker.on(`${BASE}status`);
    assert.equal(status.json.status, "online");
    assert.deepEqual([status.qos, status.retain], [1, true]);
    // A lost link leaves the will as the retained status.
    t.kit.broker.cut();
    assert.equal(t.kit.broker.retained.get(`${BASE}status`)!.json.status, "offline");
  });

  it("reconnects with exponential backoff", async () => {
    const t = await started();
    const delays: number[] = [];
    t.kit.device.on("disconnected", (e) => { if (e.reconnectInMs !== undefined) delays.push(e.reconnectInMs); });
    t.kit.net.refuse = new Error("ECONNREFUSED");
    t.kit.broker.cut();
    for (let i = 0; i < 6; i++) t.kit.clock.advance(70 * SECOND);
    // Full jitter with random() = 0.5: half of 1, 2, 4, 8 s.
    assert.deepEqual(delays.slice(0, 4), [500, 1000, 2000, 4000]);
  });

  it("says offline, retained, before a planned stop, and disconnects", async () => {
    const t = await started();
    await stop(t);
    const last = t.kit.broker.on(`${BASE}status`).at(-1)!;
    assert.deepEqual([last.json.status, last.retain], ["offline", true]);
    assert.equal(t.kit.device.connected, false);
    assert.equal(t.kit.net.last.closed, true);
    assert.equal(t.kit.broker.will, undefined, "a DISCONNECT, so the broker discards the will");
  });
});

describe("dese: schedules on a fake clock", () => {
  it("publishes telemetry every telemetry_interval (30 s by default) and reschedules at once on a config update", async () => {
    const t = await started();
    await t.kit.run(29 * SECOND);
    assert.equal(t.of("telemetry").length, 0);
    await t.kit.run(1 * SECOND);
    assert.equal(t.of("telemetry").length, 1);
    await t.kit.run(60 * SECOND);
    assert.equal(t.of("telemetry").length, 3);
    await t.deliver("config", config({ telemetry_interval: 5000 }));
    await t.kit.run(20 * SECOND);
    assert.equal(t.of("telemetry").length, 7);
    const stamps = t.of("telemetry").map((m) => Date.parse(m.timestamp));
    assert.deepEqual(stamps.slice(3).map((s, i) => s - (i ? stamps[3 + i - 1] : stamps[2])).slice(1), [5000, 5000, 5000]);
    for (const m of t.kit.broker.on(`${BASE}telemetry`)) assert.deepEqual([m.qos, m.retain], [1, false]);
  });

  it("publishes the status every 60 s while connected, none while offline, and one on reconnecting", async () => {
    const t = await started({ control_interval_ms: "3600000" });
    const online = () => t.of("status").filter((s) => s.status !== "offline");
    await t.kit.run(180 * SECOND, 10 * SECOND);
    assert.equal(online().length, 4, "on connect, then at 60, 120 and 180 s");
    t.kit.net.refuse = new Error("ECONNREFUSED");
    t.kit.broker.cut();
    await t.kit.run(180 * SECOND, 10 * SECOND);
    assert.equal(online().length, 4, "nothing queued while offline");
    t.kit.net.refuse = undefined;
    await connections(t.kit, 2);
    assert.equal(online().length, 5);
    assert.equal(t.of("status").at(-1)!.status, "online");
  });

  it("keeps at most outbox_max_messages offline and drops the oldest when full", async () => {
    const t = await started({ outbox_max_messages: "5", control_interval_ms: "3600000" });
    t.kit.net.refuse = new Error("ECONNREFUSED");
    t.kit.broker.cut();
    await t.kit.settle();
    const stamps: string[] = [];
    for (let i = 0; i < 8; i++) {
      t.kit.clock.advance(30 * SECOND); // one telemetry each time
      stamps.push(new Date(t.kit.clock.now).toISOString());
    }
    await t.kit.settle();
    assert.equal(t.kit.logs.filter((l) => /publish_failed.*full outbox/.test(l)).length, 3, t.kit.logs.join("\n"));
    t.kit.net.refuse = undefined;
    await connections(t.kit, 2);
    const telemetry = t.of("telemetry").map((m) => m.timestamp);
    assert.deepEqual(telemetry.slice(0, 5), stamps.slice(3), "the newest five, in order");
  });

  it("applies a new mqtt_keepalive on a new connection: offline, then online", async () => {
    const t = await started();
    await t.deliver("config", config({ mqtt_keepalive: 30 }));
    await connections(t.kit, 2);
    assert.deepEqual(t.kit.broker.connects.map((c) => c.keepalive), [60, 30]);
    assert.deepEqual(t.of("status").map((s) => s.status), ["online", "offline", "online"]);
    assert.equal(t.kit.settings.get<DeseSettings>(SETTINGS_KEY)!.mqtt_keepalive, 30);
  });
});

describe("dese: organisation and device of commands and config", () => {
  const responses = (t: Started) => t.of("command_response");

  it("runs a command that names this organisation and device, or only the device (the specification's envelope)", async () => {
    const t = await started();
    await t.deliver("commands", command("set_pump", { pump_id: PUMPS.circulation, state: "on" }, { command_id: "both", organization_id: ORG }));
    await t.deliver("commands", command("set_ph_target", { target_ph: 7.2 }, { command_id: "device-only" }));
    assert.deepEqual(responses(t).map((r) => [r.command_id, r.success, r.error]), [["both", true, null], ["device-only", true, null]]);
    assert.equal(t.sim.running(PUMPS.circulation), true);
    assert.equal(t.product.settings.value.ph_target, 7.2);
  });

  it("answers a command for another organisation or device with an error response, and runs nothing", async () => {
    const t = await started();
    await t.deliver("commands", command("set_pump", { pump_id: PUMPS.circulation, state: "on" }, { command_id: "org", organization_id: "org-2" }));
    await t.deliver("commands", command("set_pump", { pump_id: PUMPS.circulation, state: "on" }, { command_id: "dev", device_id: "esp32-002" }));
    await t.deliver("commands", command("set_pump", { pump_id: PUMPS.circulation, state: "on" }, { command_id: "none", device_id: undefined }));
    const [org, dev, none] = responses(t);
    assert.deepEqual([org.command_id, org.success], ["org", false]);
    assert.match(org.error, /^invalid_request: organization_id: "org-2" is not this device's organisation \(org-1\)/);
    assert.deepEqual([dev.command_id, dev.success], ["dev", false]);
    assert.match(dev.error, /^invalid_request: device_id: "esp32-002" is not this device \(esp32-001\)/);
    // device_id is a required field of every command.
    assert.deepEqual([none.command_id, none.success], ["none", false]);
    assert.match(none.error, /^invalid_parameters: message: missing field "device_id"/);
    assert.equal(t.sim.running(PUMPS.circulation), false, "nothing ran");
    for (const m of t.kit.broker.on(`${BASE}command_response`)) assert.deepEqual([m.qos, m.retain], [1, false]);
  });

  it("applies config that names this organisation and device, or only the device", async () => {
    const t = await started();
    await t.deliver("config", config({ telemetry_interval: 5000 }, { organization_id: ORG }));
    await t.deliver("config", config({ mqtt_keepalive: 60, alert_thresholds: { ph: { min: 7 } } }));
    assert.equal(t.product.settings.value.telemetry_interval, 5000);
    assert.deepEqual(t.product.settings.value.alert_thresholds.ph, { min: 7 });
    assert.deepEqual(t.of("alert").map((a) => [a.severity, a.message]), [
      ["info", "config applied: telemetry_interval"],
      ["info", "config applied: alert_thresholds"],
    ]);
  });

  it("logs and discards config for another organisation or device, or without a device_id, and says so on the alert topic", async () => {
    const t = await started();
    await t.deliver("config", config({ telemetry_interval: 5000 }, { organization_id: "org-2" }));
    await t.deliver("config", config({ telemetry_interval: 5000 }, { device_id: "esp32-002" }));
    await t.deliver("config", config({ telemetry_interval: 5000 }, { device_id: undefined }));
    const expected = [
      /^config rejected: organization_id: "org-2" is not this device's organisation/,
      /^config rejected: device_id: "esp32-002" is not this device/,
      /^config rejected: message: missing field "device_id"/,
    ];
    const alerts = t.of("alert");
    assert.equal(alerts.length, expected.length);
    expected.forEach((re, i) => {
      assert.equal(alerts[i].severity, "warning");
      assert.match(alerts[i].message, re);
    });
    assert.equal(t.kit.logs.filter((l) => l.includes("config rejected")).length, expected.length);
    assert.deepEqual(t.product.settings.value, DEFAULT_SETTINGS);
    assert.equal(t.kit.settings.get(SETTINGS_KEY), undefined, "nothing persisted");
  });

  it("refuses config beyond the device's bounded queue as busy", async () => {
    const t = await started();
    const limit = t.kit.device.queue.limit;
    for (let i = 0; i < limit + 5; i++) t.kit.broker.deliver(`${BASE}config`, config({ telemetry_interval: 1000 + i }));
    for (let i = 0; i < limit; i++) await t.kit.settle();
    assert.equal(t.kit.logs.filter((l) => /config rejected: device busy/.test(l)).length, 5);
    assert.equal(t.product.settings.value.telemetry_interval, 1000 + limit - 1, "the queued ones were applied in order");
  });
});

describe("dese: pumps", () => {
  it("switches a pump off when its duration ends; a new command replaces the timer", () => {
    const kit = kitFor();
    const { sim, hw } = board(kit);
    const pumps = new PumpControl(hw, kit.clock.timer, () => {});
    pumps.set(PUMPS.circulation, true, 60);
    kit.clock.advance(59_999);
    assert.equal(sim.running(PUMPS.circulation), true);
    kit.clock.advance(1);
    assert.equal(sim.running(PUMPS.circulation), false);
    pumps.set(PUMPS.circulation, true, 60);
    kit.clock.advance(30 * SECOND);
    pumps.set(PUMPS.circulation, true); // until further notice
    kit.clock.advance(HOUR);
    assert.equal(sim.running(PUMPS.circulation), true);
    assert.deepEqual(kit.clock.pending, [], "no stale timer left");
  });

  it("set_pump on the acid pump brings pH down to the target over minutes, and the interlock stops it there", async () => {
    const t = await started();
    const target = Math.round((t.product.control().readings.ph! - 0.3) * 10) / 10;
    await t.deliver("commands", command("set_ph_target", { target_ph: target }));
    await t.deliver("commands", command("set_pump", { pump_id: PUMPS.acid, state: "on" }));
    assert.equal(t.of("command_response").at(-1)!.success, true);
    assert.equal(t.sim.running(PUMPS.acid), true);
    const began = t.kit.clock.now;
    while (t.sim.running(PUMPS.acid) && t.kit.clock.now - began < HOUR) await t.kit.run(5 * SECOND, 5 * SECOND);
    const took = (t.kit.clock.now - began) / MINUTE;
    assert.equal(t.sim.running(PUMPS.acid), false, "stopped by the interlock");
    assert.ok(took > 2 && took < 30, `took ${took} min`);
    const reading = t.product.control().readings.ph!;
    // Stopped within one 5 s control period of the target (0.1 pH/min), so no overshoot beyond probe noise.
    assert.ok(Math.abs(reading - target) < 0.05, `pH ${reading} reads at the target ${target}, not past it`);
  });

  it("a reboot answers first, says offline, turns every pump off and comes back online", async () => {
    const t = await started();
    await t.deliver("commands", command("set_pump", { pump_id: PUMPS.circulation, state: "on" }));
    await t.deliver("commands", command("reboot"));
    await connections(t.kit, 2);
    assert.equal(t.sim.running(PUMPS.circulation), false);
    const types = t.kit.broker.published.map((m) => (m.topic.endsWith("/status") ? m.json.status : m.topic.slice(BASE.length)));
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

  it("rate-limits alerts: a burst of 10, then one per 6 s, whatever floods it", async () => {
    const t = await started({ control_interval_ms: "3600000" });
    const flood = async (n: number) => { for (let i = 0; i < n; i++) await t.deliver("config", "{"); };
    await flood(15);
    assert.equal(t.of("alert").length, 10);
    assert.equal(t.kit.logs.filter((l) => l.includes("alert dropped by the rate limit")).length, 5);
    await t.kit.run(5999, 5999);
    await flood(1);
    assert.equal(t.of("alert").length, 10);
    await t.kit.run(1, 1);
    await flood(2);
    assert.equal(t.of("alert").length, 11);
    await t.kit.run(HOUR, 10 * SECOND);
    await flood(12);
    assert.equal(t.of("alert").length, 21, "refills to the burst, no more");
  });

  it("the control schedule samples every 5 s, so a crossing is alerted within 5 s of happening", async () => {
    const t = await started();
    t.sim.force("chlorine", 0.2);
    await t.kit.run(5 * SECOND);
    const [alert] = t.of("alert");
    assert.deepEqual([alert.severity, alert.sensor, alert.threshold], ["warning", "chlorine", 0.5]);
    await t.kit.run(60 * SECOND);
    assert.equal(t.of("alert").length, 1, "no repeat while it stays low");
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

  it("keeps a full telemetry message under 1 KB", () => {
    const readings = { ph: 14, chlorine: 100, temperature: -39.9, orp: -1999, tds: 99999, flow_rate: 99999.9 };
    const long = "x".repeat(64);
    const m = telemetryMessage(long, long, readings, { battery: 100, signalStrength: -127 }, Date.parse("2025-01-27T10:00:00Z"));
    assert.ok(JSON.stringify(m).length < 1024, `${JSON.stringify(m).length} bytes`);
  });
});

describe("dese: the water model through the drivers", () => {
  it("stays within every sensor's range over a simulated week, with a daily temperature cycle, decaying chlorine and a slowly draining battery", () => {
    const kit = kitFor();
    const { sim, hw } = board(kit);
    const chlorine0 = sim.water.chlorine;
    const battery0 = hw.battery()!;
    const temps: number[] = [];
    for (let h = 0; h < 7 * 24; h++) {
      kit.clock.advance(HOUR);
      const s = sample(hw.readSensors(), {});
      assert.deepEqual(s.faults, [], `hour ${h}`);
      assert.equal(s.readings.ph! >= 6 && s.readings.ph! <= 8.5, true, `pH ${s.readings.ph}`);
      if (h < 24) temps.push(s.readings.temperature!);
    }
    const swing = Math.max(...temps) - Math.min(...temps);
    assert.ok(swing > 3.3 && swing < 4.7, `a ~4 C daily swing through the NTC: ${swing}`);
    const other = kitFor();
    const fresh = board(other);
    const before = fresh.sim.water.chlorine;
    other.clock.advance(8 * HOUR);
    const ratio = fresh.sim.water.chlorine / before;
    assert.ok(ratio > 0.3 && ratio < 0.7, `chlorine fell to ${ratio} of itself in 8 h`);
    assert.ok(chlorine0 > sim.water.chlorine);
    const drained = battery0 - hw.battery()!;
    assert.ok(drained > 10 && drained < 25, `battery fell ${drained} % in a week, read through the divider`);
  });

  it("answers the pumps' pins: acid lowers pH, base raises it, dosing raises chlorine, circulation makes the meter's pulses", () => {
    const kit = kitFor();
    const clock = kit.clock;
    const { sim, hw } = board(kit);
    const ph = hw.readSensors().ph!;
    hw.setPump(PUMPS.acid, true);
    clock.advance(5 * MINUTE);
    const acid = hw.readSensors().ph!;
    assert.ok(ph - acid > 0.3 && ph - acid < 0.7, `acid: ${ph} -> ${acid} in 5 min`);
    hw.setPump(PUMPS.acid, false);
    hw.setPump(PUMPS.base, true);
    clock.advance(5 * MINUTE);
    assert.ok(hw.readSensors().ph! - acid > 0.3, `base: ${acid} -> ${sim.water.ph}`);
    hw.setPump(PUMPS.base, false);
    const cl = hw.readSensors().chlorine!;
    hw.setPump(PUMPS.chlorine, true);
    clock.advance(5 * MINUTE);
    assert.ok(hw.readSensors().chlorine! - cl > 0.8, `dosing: ${cl} -> ${sim.water.chlorine}`);
    hw.setPump(PUMPS.chlorine, false);
    assert.equal(hw.readSensors().flow_rate, 0);
    hw.setPump(PUMPS.circulation, true);
    clock.advance(MINUTE);
    hw.readSensors();
    clock.advance(10 * SECOND);
    assert.ok(Math.abs(hw.readSensors().flow_rate! - 45) < 0.5, "45 L/min from 450 pulses per litre");
    assert.throws(() => hw.setPump(9, true), RangeError);
  });
});

describe("dese: faults on the buses", () => {
  const alerts = (t: Started) => t.of("alert").map((a) => [a.severity, a.message]);
  /** The status changes the device published. */
  const statuses = (t: Started) => t.of("status").map((s) => s.status).filter((s, i, all) => s !== all[i - 1]);

  it("an unplugged pH probe (ADC at the rail): critical alert, status error, no telemetry; plugged back: info alert, online, telemetry again", async () => {
    const t = await started();
    t.sim.channels.ph.fault = "open";
    await t.kit.run(30 * SECOND, 5 * SECOND);
    assert.deepEqual(alerts(t), [["critical", "ph sensor fault: no reading (probe open: ADC at full scale (4095 of 4095))"]]);
    assert.deepEqual(statuses(t), ["online", "error"]);
    assert.equal(t.of("telemetry").length, 0, "pH is required: nothing made up");
    assert.ok(t.kit.logs.some((l) => l.includes("telemetry skipped: no ph reading")));
    t.sim.channels.ph.fault = undefined;
    await t.kit.run(30 * SECOND, 5 * SECOND);
    assert.equal(alerts(t)[1][0], "info");
    assert.match(alerts(t)[1][1], /^ph sensor reading again/);
    assert.deepEqual(statuses(t), ["online", "error", "online"]);
    assert.equal(t.of("telemetry").length, 1);
  });

  it("a failed ADC on an optional probe (ORP): telemetry goes on without it, status error until the converter answers again", async () => {
    const t = await started();
    t.sim.channels.orp.fault = "dead";
    await t.kit.run(30 * SECOND, 5 * SECOND);
    const [telemetry] = t.of("telemetry");
    assert.equal("orp" in telemetry.sensors, false);
    assert.equal(typeof telemetry.sensors.tds, "number");
    assert.deepEqual(alerts(t), [["critical", "orp sensor fault: no reading (ADC read failed: ADC not responding)"]]);
    assert.equal(t.product.status, "error");
    t.sim.channels.orp.fault = undefined;
    await t.kit.run(30 * SECOND, 5 * SECOND);
    assert.equal(typeof t.of("telemetry")[1].sensors.orp, "number");
    assert.equal(t.product.status, "online");
  });

  it("an open thermistor: no temperature is made up; a value out of range is clamped and flagged", async () => {
    const t = await started({ control_interval_ms: "3600000" });
    t.sim.channels.temperature.fault = "open";
    assert.equal(await t.product.publishTelemetry(), false);
    t.sim.channels.temperature.fault = undefined;
    t.sim.force("ph", 15.3); // the amplifier still reads it (0.82 V): outside the sensor's range
    const sent = t.product.publishTelemetry();
    await t.kit.settle();
    assert.equal(await sent, true);
    assert.equal(t.of("telemetry")[0].sensors.ph, 14);
    assert.deepEqual(alerts(t).map(([severity, message]) => [severity, message.replace(/ \(.*/, "")]), [
      ["critical", "temperature sensor fault: no reading"],
      ["critical", "ph sensor fault: reading 15.3 outside the sensor range 0 to 14"],
      ["info", "temperature sensor reading again"],
    ]);
    assert.equal(t.product.status, "error");
  });

  it("a dosing pump whose feedback stays off: set_pump fails, the pump is switched off again, critical alert and error until it is seen running", async () => {
    const t = await started();
    await t.deliver("commands", command("set_ph_target", { target_ph: 6.9 }));
    t.sim.pumps.get(PUMPS.acid)!.stuck = 0;
    await t.deliver("commands", command("set_pump", { pump_id: PUMPS.acid, state: "on" }));
    await t.kit.run(100, 50);
    const failed = t.of("command_response").at(-1)!;
    assert.deepEqual([failed.command_id, failed.success], ["c-set_pump", false]);
    assert.equal(failed.error, "failed: pump 2 did not switch on: its feedback says off");
    assert.equal(t.sim.running(PUMPS.acid), false, "not left dosing unseen");
    assert.deepEqual(alerts(t), [["critical", "pump 2 fault: feedback says off while commanded on"]]);
    assert.equal(t.product.status, "error");
    await t.kit.run(30 * SECOND, 5 * SECOND);
    assert.equal(t.product.status, "error", "still unproven while the pump is off");
    assert.equal(t.of("telemetry").length, 1, "the device keeps measuring");
    t.sim.pumps.get(PUMPS.acid)!.stuck = undefined;
    await t.deliver("commands", command("set_pump", { pump_id: PUMPS.acid, state: "on" }, { command_id: "again" }));
    assert.equal(t.of("command_response").at(-1)!.success, true);
    assert.equal(t.sim.running(PUMPS.acid), true);
    assert.deepEqual(alerts(t).at(-1), ["info", "pump 2 feedback agrees again (on)"]);
    assert.deepEqual(statuses(t), ["online", "error", "online"]);
  });

  it("a pump whose feedback sticks on after it is switched off: error and critical alert until the feedback follows", async () => {
    const t = await started();
    await t.deliver("commands", command("set_pump", { pump_id: PUMPS.circulation, state: "on" }));
    t.sim.pumps.get(PUMPS.circulation)!.stuck = 1;
    await t.deliver("commands", command("set_pump", { pump_id: PUMPS.circulation, state: "off" }, { command_id: "off" }));
    await t.kit.run(100, 50);
    assert.equal(t.of("command_response").at(-1)!.error, "failed: pump 1 did not switch off: its feedback says on");
    assert.deepEqual(alerts(t), [["critical", "pump 1 fault: feedback says on while commanded off"]]);
    t.sim.pumps.get(PUMPS.circulation)!.stuck = undefined;
    await t.kit.run(5 * SECOND);
    assert.deepEqual(alerts(t).at(-1), ["info", "pump 1 feedback agrees again (off)"]);
    assert.equal(t.product.status, "online");
  });

  it("a failed battery ADC leaves the battery out of status and telemetry, logged once, and the device keeps running", async () => {
    const t = await started();
    t.sim.channels.battery.fault = "dead";
    await t.kit.run(60 * SECOND, 5 * SECOND);
    const status = t.of("status").at(-1)!;
    assert.equal("battery" in status, false);
    assert.equal(status.status, "online", "battery is optional: not an error");
    assert.equal("battery" in t.of("telemetry").at(-1)!.metadata, false);
    assert.equal(t.kit.logs.filter((l) => l.includes("battery not read: ADC read failed")).length, 1);
    t.sim.channels.battery.fault = undefined;
    await t.kit.run(30 * SECOND, 5 * SECOND);
    assert.equal(typeof t.of("telemetry").at(-1)!.metadata.battery, "number");
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

  it("drops stored settings that no longer validate in favour of the defaults, and keeps valid ones across a restart", async () => {
    const store = new MemorySettingsStore();
    store.set(SETTINGS_KEY, { ...DEFAULT_SETTINGS, telemetry_interval: -5 });
    assert.deepEqual(new Settings(store, SETTINGS_KEY, DEFAULT_SETTINGS, validateSettings).value, DEFAULT_SETTINGS);
    const first = await started({}, store);
    await first.deliver("commands", command("set_chlorine_target", { target_chlorine: 3 }));
    await stop(first);
    const second = await started({}, store);
    assert.equal(second.product.settings.value.chlorine_target, 3);
  });

  it("reads options from the host's configuration and refuses bad or unknown ones", () => {
    assert.equal(readOptions(OPTIONS, {}).org, "org-123");
    assert.equal(readOptions(OPTIONS, { status_interval_ms: "1000" }).status_interval_ms, 1000);
    assert.throws(() => readOptions(OPTIONS, { org: "a/b" }), RangeError);
    assert.throws(() => readOptions(OPTIONS, { org: "+" }), RangeError);
    assert.throws(() => readOptions(OPTIONS, { outbox_max_messages: "lots" }), /outbox_max_messages/);
    assert.throws(() => readOptions(OPTIONS, { alert_burst: "1.5" }), /alert_burst.*integer/);
    assert.throws(() => readOptions(OPTIONS, { telemetry_interval: "1000" }), /unknown option "telemetry_interval"/);
    const kit = new Kit({ deviceId: "esp32/#" });
    assert.throws(() => createDese(kit.device, board(kit).hw), RangeError);
    const typo = new Kit({ deviceId: ID, config: { orgg: "org-1" } });
    assert.throws(() => createDese(typo.device, board(typo).hw), /unknown option "orgg"/);
  });
});

describe("dese: definition", () => {
  it("names devices, filters one device's topics, and builds the companion's commands", () => {
    assert.equal(definition.name, "dese");
    assert.equal(definition.deviceId(0), "esp32-001");
    assert.deepEqual(readOptions(OPTIONS, definition.defaults), readOptions(OPTIONS, {}), "the defaults are the options' defaults");
    assert.equal(definition.topicFilter("esp32-002", { org: "org-9" }), "devices/org-9/esp32-002/#");
    assert.deepEqual(Object.keys(definition.commands).sort(), ["calibrate_sensor", "reboot", "reset_config", "set_chlorine_target", "set_ph_target", "set_pump"]);
    const r = definition.command("esp32-001", {}, definition.example.command, definition.example.params);
    assert.deepEqual([r.topic, r.qos, r.retain], ["devices/org-123/esp32-001/commands", 1, false]);
    assert.equal(r.responseTopic, "devices/org-123/esp32-001/command_response");
    const payload = r.payload as Payload;
    assert.deepEqual([payload.device_id, payload.organization_id], ["esp32-001", "org-123"]);
    assert.equal(r.isResponse({ command_id: payload.command_id, success: true }), true);
    assert.equal(r.isResponse({ command_id: "other", success: true }), false);
    assert.equal((definition.command("esp32-001", {}, "reboot", {}).payload as Payload).parameters, undefined);
    assert.throws(() => definition.command("esp32-001", {}, "set_pump", { pump_id: 1, state: "sideways" }), /usage: set_pump/);
    assert.throws(() => definition.command("esp32-001", {}, "calibrate_sensor", { sensor_type: "ph" }), /missing field "value"/);
    assert.throws(() => definition.command("esp32-001", {}, "selfdestruct", {}), /unknown command/);
  });

  it("simulate() gives a product on its drivers over the emulated buses, one bus per board entry", () => {
    const kit = kitFor();
    assert.deepEqual(Object.keys(new EmulatedWater(kit.device).buses).filter((b) => b !== "wifi").sort(), Object.keys(definition.board).sort());
    const p = simulate(definition, kit.device).product as DeseProduct;
    assert.deepEqual(p.topics.telemetry, { topic: `${BASE}telemetry`, qos: 1, retain: false });
    for (const s of SENSORS) assert.equal(typeof p.control().readings[s], "number", s);
  });
});
