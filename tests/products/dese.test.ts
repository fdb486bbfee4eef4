// DESE end to end against real brokers. On aedes a SchemaTap checks every message the device
// publishes, at the broker, against index.json (topic, QoS, retain) and its schema after each
// test. On mosquitto: the broker stopped while the device keeps measuring, then restarted.
// Timing (intervals, hysteresis, backoff, bounds) is in tests/unit/products/dese.test.ts.

import assert from "node:assert/strict";
import { startAedes } from "../harness/aedes.js";
import type { AedesHandle } from "../harness/aedes.js";
import { Mosquitto } from "../harness/mosquitto.js";
import { client, closeAll, text } from "../integration/util.js";
import { ProductSchemas, SchemaTap, closeHostClients, productDevice } from "./harness.js";
import type { MqttClient } from "../../modules/mqtt/client.js";
import type { Device } from "../../modules/device/device.js";
import { MemorySettingsStore } from "../../modules/device/settings.js";
import type { DeseProduct } from "../../modules/products/dese/product.js";
import { EmulatedWater } from "../../modules/products/dese/simulation.js";
import { simulate } from "../../modules/device/product.js";
import { DEFAULT_SETTINGS, SETTINGS_KEY } from "../../modules/products/dese/settings.js";
import type { DeseSettings } from "../../modules/products/dese/settings.js";
import { definition } from "../../modules/products/dese/index.js";

const ORG = "org-test";
type Payload = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Seen {
  type: string;
  payload: Payload;
  retain: boolean;
}

/** A backend's view of one device: every message under devices/{org}/{device}/, parsed, awaitable. */
class Watch {
  readonly seen: Seen[] = [];
  #waiters: { type: string; test: (p: Payload) => boolean; resolve: (p: Payload) => void }[] = [];

  constructor(c: MqttClient, readonly base: string) {
    c.on("message", (m) => {
      if (!m.topic.startsWith(base)) return;
      const s: Seen = { type: m.topic.slice(base.length), payload: JSON.parse(text(m.payload)) as Payload, retain: m.retain };
      this.seen.push(s);
      this.#waiters = this.#waiters.filter((w) => {
        if (w.type !== s.type || !w.test(s.payload)) return true;
        w.resolve(s.payload);
        return false;
      });
    });
  }

  /** The first message of this type for which `test` holds, seen since index `since` or still to come. */
  wait(type: string, test: (p: Payload) => boolean = () => true, ms = 5000, since = 0): Promise<Payload> {
    const found = this.seen.slice(since).find((s) => s.type === type && test(s.payload));
    if (found) return Promise.resolve(found.payload);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} message within ${ms} ms; saw ${JSON.stringify(this.seen.map((s) => [s.type, s.payload]))}`)), ms);
      this.#waiters.push({ type, test, resolve: (p) => { clearTimeout(timer); resolve(p); } });
    });
  }

  of(type: string): Payload[] {
    return this.seen.filter((s) => s.type === type).map((s) => s.payload);
  }
}

let commandSeq = 0;
function command(deviceId: string, name: string, parameters?: Payload, extra: Payload = {}): Payload {
  const c: Payload = { command_id: `cmd-${++commandSeq}`, device_id: deviceId, command: name, timestamp: "2025-01-27T10:00:00Z", ...extra };
  if (parameters) c.parameters = parameters;
  return c;
}

function config(deviceId: string, body: Payload): Payload {
  return { device_id: deviceId, config: body, timestamp: "2025-01-27T10:00:00Z" };
}

describe("dese on aedes (every published message checked at the broker)", function () {
  this.timeout(20_000);
  let broker: AedesHandle;
  let tap: SchemaTap;
  const subscriptions: { clientId: string; topic: string }[] = [];
  /** Client ids of the devices' connections, in connect order. */
  const connects: string[] = [];
  const running: DeseProduct[] = [];
  let deviceCount = 0;

  before(async () => {
    broker = await startAedes();
    tap = new SchemaTap(broker, "dese", (id) => id.startsWith("dese-"));
    broker.broker.on("subscribe", (subs, c) => {
      if (c?.id.startsWith("dese-")) for (const s of subs) subscriptions.push({ clientId: c.id, topic: s.topic });
    });
    broker.broker.on("client", (c) => { if (c.id.startsWith("dese-")) connects.push(c.id); });
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

  interface Booted {
    id: string;
    clientId: string;
    device: Device;
    product: DeseProduct;
    /** The emulated parts behind the buses the drivers run on. */
    sim: EmulatedWater;
    store: MemorySettingsStore;
    watch: Watch;
    backend: MqttClient;
    logs: string[];
    send(payload: Payload | string, type?: "commands" | "config", topic?: string): Promise<void>;
    /** Sends a command and resolves with its command_response. */
    call(payload: Payload): Promise<Payload>;
  }

  async function boot(options: { config?: Record<string, string>; settings?: Partial<DeseSettings> } = {}): Promise<Booted> {
    const id = `esp32-${String(++deviceCount).padStart(3, "0")}`;
    const store = new MemorySettingsStore();
    if (options.settings) store.set(SETTINGS_KEY, { ...DEFAULT_SETTINGS, ...options.settings });
    const logs: string[] = [];
    // Control schedule off (1 h): tests call product.control() themselves, deterministically.
    const device = productDevice({
      port: broker.port, deviceId: id, settings: store, logs, seed: deviceCount,
      config: { org: ORG, control_interval_ms: "3600000", calibration_ms: "40", ...options.config },
    });
    // simulate(definition, device), keeping a handle on the emulated parts.
    const sim = new EmulatedWater(device);
    const product = definition.create(device, definition.hardware(sim.buses, device)) as DeseProduct;
    const backend = client(broker.port);
    await backend.connect();
    const base = `devices/${ORG}/${id}/`;
    const watch = new Watch(backend, base);
    await backend.subscribe(`${base}#`, { qos: 1 });
    running.push(product);
    product.start();
    await watch.wait("status", (p) => p.status === "online");
    const send = async (payload: Payload | string, type: "commands" | "config" = "commands", topic = base + type) => {
      await backend.publish(topic, typeof payload === "string" ? payload : JSON.stringify(payload), { qos: 1 });
    };
    const call = async (payload: Payload) => {
      const response = watch.wait("command_response", (r) => r.command_id === payload.command_id);
      await send(payload);
      return response;
    };
    return { id, clientId: `dese-${ORG}-${id}`, device, product, sim, store, watch, backend, logs, send, call };
  }

  it("announces itself online, retained at QoS 1, with battery, RSSI and firmware version", async () => {
    const d = await boot();
    await tap.waitFor((m) => m.topic.endsWith("/status"));
    const [status] = tap.of("status");
    assert.equal(status.qos, 1);
    assert.equal(status.retain, true);
    const payload = JSON.parse(status.payload.toString());
    assert.equal(payload.status, "online");
    assert.equal(payload.firmware_version, "1.0.0");
    assert.ok(Number.isInteger(payload.battery) && payload.battery >= 0 && payload.battery <= 100);
    assert.ok(Number.isInteger(payload.signal_strength) && payload.signal_strength < 0);
    assert.equal(d.product.status, "online");
  });

  it("publishes telemetry at the configured telemetry_interval, QoS 1, not retained, with the field table's fields", async () => {
    const d = await boot({ settings: { telemetry_interval: 1000 } });
    const first = await d.watch.wait("telemetry");
    const started = Date.now();
    await d.watch.wait("telemetry", (p) => p !== first);
    const gap = Date.now() - started;
    assert.ok(gap > 700 && gap < 1500, `second telemetry after ${gap} ms, expected about 1000`);
    assert.equal(first.device_id, d.id);
    assert.equal(first.organization_id, ORG);
    for (const k of ["ph", "chlorine", "temperature", "orp", "tds", "flow_rate"]) assert.equal(typeof first.sensors[k], "number", k);
    assert.ok(first.sensors.ph >= 0 && first.sensors.ph <= 14);
    assert.equal(first.metadata.firmware_version, "1.0.0");
    await tap.waitFor(() => tap.seen.filter((m) => m.topic === `devices/${ORG}/${d.id}/telemetry`).length >= 2);
    const telemetry = tap.of("telemetry");
    assert.ok(telemetry.length >= 2);
    assert.ok(telemetry.every((m) => m.qos === 1 && m.retain === false));
  });

  it("answers set_pump, set_ph_target, set_chlorine_target, calibrate_sensor and reset_config with their command_id, and does them", async () => {
    const d = await boot();
    // set_pump on with a duration, then off.
    let r = await d.call(command(d.id, "set_pump", { pump_id: 1, state: "on", duration: 3600 }));
    assert.equal(r.success, true);
    assert.equal(r.error, null);
    assert.deepEqual(r.response, { pump_id: 1, pump_state: "on", pump_duration: 3600 });
    assert.equal(d.sim.running(1), true);
    r = await d.call(command(d.id, "set_pump", { pump_id: 1, state: "off" }));
    assert.deepEqual(r.response, { pump_id: 1, pump_state: "off" });
    assert.equal(d.sim.running(1), false);
    // Targets, persisted.
    r = await d.call(command(d.id, "set_ph_target", { target_ph: 7.2 }));
    assert.deepEqual([r.success, r.response], [true, { target_ph: 7.2 }]);
    r = await d.call(command(d.id, "set_chlorine_target", { target_chlorine: 3 }));
    assert.deepEqual([r.success, r.response], [true, { target_chlorine: 3 }]);
    const stored = d.store.get<DeseSettings>(SETTINGS_KEY)!;
    assert.deepEqual([stored.ph_target, stored.chlorine_target], [7.2, 3]);
    // Calibration: maintenance while it runs, online after, then the response; readings follow the reference.
    const cal = command(d.id, "calibrate_sensor", { sensor_type: "ph", value: 7 });
    r = await d.call(cal);
    assert.equal(r.success, true, JSON.stringify(r));
    assert.equal(r.response.sensor_type, "ph");
    const statuses = d.watch.of("status").map((s) => s.status);
    assert.deepEqual(statuses.slice(-2), ["maintenance", "online"]);
    assert.ok(Math.abs(d.product.control().readings.ph! - 7) < 0.05, "pH reads the reference after calibration");
    assert.equal(d.store.get<DeseSettings>(SETTINGS_KEY)!.sensor_calibration.ph?.scale, 1);
    // reset_config: back to the defaults, persisted.
    r = await d.call(command(d.id, "reset_config"));
    assert.equal(r.success, true);
    assert.deepEqual(d.product.settings.value, DEFAULT_SETTINGS);
    assert.equal(d.store.get(SETTINGS_KEY), undefined);
    assert.ok(tap.of("command-response").every((m) => m.qos === 1 && m.retain === false));
  });

  it("reboot: answers first, says offline, and comes back online on a new connection with every pump off", async () => {
    const d = await boot();
    await d.call(command(d.id, "set_pump", { pump_id: 1, state: "on" }));
    const reboot = command(d.id, "reboot");
    const response = await d.call(reboot);
    assert.deepEqual([response.success, response.response], [true, { rebooting: true }]);
    await d.watch.wait("status", (p) => p.status === "offline");
    await d.watch.wait("status", (p) => p.status === "online", 5000, d.watch.seen.findIndex((s) => s.payload.status === "offline"));
    const order = d.watch.seen.map((s) => (s.type === "status" ? s.payload.status : s.type === "command_response" ? s.payload.command_id : s.type));
    const at = order.indexOf(reboot.command_id);
    assert.deepEqual(order.slice(at, at + 3), [reboot.command_id, "offline", "online"]);
    assert.equal(connects.filter((c) => c === d.clientId).length, 2, "a new connection");
    assert.equal(d.sim.running(1), false);
    // The rebooted device still answers.
    assert.equal((await d.call(command(d.id, "set_ph_target", { target_ph: 7.3 }))).success, true);
  });

  it("answers every malformed command with its defined error and keeps running", async () => {
    const d = await boot();
    // With a usable command_id: an error response "<code>: <reason>".
    const cases: [string, Payload, RegExp][] = [
      ["unknown command", command(d.id, "fly"), /^unknown_command: unknown command "fly"/],
      ["out-of-range value", command(d.id, "set_ph_target", { target_ph: 15 }), /^invalid_parameters: parameters\.target_ph: must be <= 14/],
      ["negative chlorine", command(d.id, "set_chlorine_target", { target_chlorine: -1 }), /^invalid_parameters: parameters\.target_chlorine: must be >= 0/],
      ["missing parameter", command(d.id, "set_pump", { pump_id: 1 }), /^invalid_parameters: parameters: missing field "state"/],
      ["missing parameters", command(d.id, "set_ph_target"), /^invalid_parameters: message: missing field "parameters"/],
      ["missing timestamp", command(d.id, "reboot", undefined, { timestamp: undefined }), /^invalid_parameters: message: missing field "timestamp"/],
      ["wrong type", command(d.id, "set_pump", { pump_id: "1", state: "on" }), /^invalid_parameters: parameters\.pump_id: must be integer/],
      ["unknown parameter", command(d.id, "set_pump", { pump_id: 1, state: "on", speed: 3 }), /^invalid_parameters: parameters: unknown field "speed"/],
      ["pump not fitted", command(d.id, "set_pump", { pump_id: 9, state: "on" }), /^invalid_parameters: parameters\.pump_id: no pump 9/],
      ["reference outside the sensor range", command(d.id, "calibrate_sensor", { sensor_type: "ph", value: 20 }), /^invalid_parameters: parameters\.value: 20 is outside/],
      ["another device's id", command(d.id, "reboot", undefined, { device_id: "esp32-999" }), /^invalid_request: device_id: "esp32-999" is not this device/],
      ["another organisation's id", command(d.id, "reboot", undefined, { organization_id: "org-other" }), /^invalid_request: organization_id: "org-other" is not this device's organisation/],
      ["no device_id", command(d.id, "reboot", undefined, { device_id: undefined }), /^invalid_parameters: message: missing field "device_id"/],
      ["dosing past the target", command(d.id, "set_pump", { pump_id: 3, state: "on" }), /^failed: pump 3 not started: pH .* at or above the target/],
    ];
    d.sim.force("ph", 7.6); // above the 7.4 target: the base pump must refuse
    for (const [what, payload, error] of cases) {
      const r = await d.call(payload);
      assert.equal(r.success, false, what);
      assert.match(r.error, error, what);
    }
    assert.equal(d.sim.running(1) || d.sim.running(3) || d.sim.running(9), false, "nothing ran");
    // Without a usable command_id there is nothing to answer: logged, and a warning alert.
    const uncorrelated: [string, string, RegExp][] = [
      ["bad JSON", "{oops", /^command rejected: malformed_json: payload is not JSON/],
      ["not an object", "42", /^command rejected: invalid_request: payload must be a JSON object/],
      ["no command_id", JSON.stringify({ device_id: d.id, command: "reboot", timestamp: "2025-01-27T10:00:00Z" }), /^command rejected: invalid_request: command_id/],
    ];
    for (const [what, payload, message] of uncorrelated) {
      await d.send(payload);
      const alert = await d.watch.wait("alert", (a) => message.test(a.message));
      assert.equal(alert.severity, "warning", what);
    }
    assert.equal(d.watch.of("command_response").length, cases.length, "no response without a command_id");
    assert.ok(d.logs.some((l) => l.includes("malformed_json")), "rejections are logged");
    // Still running.
    assert.equal((await d.call(command(d.id, "set_pump", { pump_id: 1, state: "on" }, { organization_id: ORG }))).success, true);
    assert.equal(d.device.connected, true);
  });

  it("does not run a repeated command_id twice: the first result is answered again, marked duplicate", async () => {
    const d = await boot();
    const on = command(d.id, "set_pump", { pump_id: 1, state: "on" });
    await d.call(on);
    await d.call(command(d.id, "set_pump", { pump_id: 1, state: "off" }));
    const again = d.watch.wait("command_response", (r) => r.command_id === on.command_id && r.response?.duplicate === true);
    await d.send(on);
    const r = await again;
    assert.deepEqual(r.response, { pump_id: 1, pump_state: "on", duplicate: true });
    assert.equal(d.sim.running(1), false, "the repeat did not switch the pump on again");
  });

  it("applies a valid config atomically, persists it, reschedules telemetry and says so on the alert topic", async () => {
    const d = await boot();
    const update = config(d.id, {
      telemetry_interval: 1000,
      sensor_calibration: { ph: { offset: 0.2, scale: 1.0 } },
      alert_thresholds: { ph: { min: 7.0, max: 7.8 } },
    });
    await d.send(update, "config");
    const applied = await d.watch.wait("alert", (a) => a.message.startsWith("config applied"));
    assert.equal(applied.severity, "info");
    assert.match(applied.message, /telemetry_interval, sensor_calibration, alert_thresholds/);
    const stored = d.store.get<DeseSettings>(SETTINGS_KEY)!;
    assert.equal(stored.telemetry_interval, 1000);
    assert.deepEqual(stored.sensor_calibration, { ph: { offset: 0.2, scale: 1 } });
    assert.deepEqual(stored.alert_thresholds.ph, { min: 7.0, max: 7.8 });
    assert.deepEqual(stored.alert_thresholds.chlorine, DEFAULT_SETTINGS.alert_thresholds.chlorine, "other sensors keep theirs");
    await d.watch.wait("telemetry", () => true, 2500); // the default is 30 s: this one comes from the new interval
  });

  it("rejects an invalid config whole, changes nothing, logs it and says so on the alert topic", async () => {
    const d = await boot();
    const cases: [string, Payload | string, RegExp][] = [
      ["bad JSON", "{", /^config rejected: payload is not JSON/],
      ["interval out of range", config(d.id, { telemetry_interval: 10 }), /config\.telemetry_interval: must be >= 1000/],
      ["wrong type", config(d.id, { mqtt_keepalive: "60" }), /config\.mqtt_keepalive: must be integer/],
      ["unknown parameter", config(d.id, { telemetry_period: 1000 }), /config: unknown field "telemetry_period"/],
      ["missing device_id", { config: { telemetry_interval: 5000 }, timestamp: "2025-01-27T10:00:00Z" }, /missing field "device_id"/],
      ["another device", config("esp32-999", { telemetry_interval: 5000 }), /device_id: "esp32-999" is not this device/],
      ["another organisation", { ...config(d.id, { telemetry_interval: 5000 }), organization_id: "org-other" }, /organization_id: "org-other" is not this device's organisation/],
      // A valid interval with an impossible threshold: neither is applied.
      ["min above max", config(d.id, { telemetry_interval: 5000, alert_thresholds: { ph: { min: 8, max: 7 } } }), /alert_thresholds\.ph: min \(8\) must be below max \(7\)/],
    ];
    for (const [what, payload, message] of cases) {
      await d.send(payload, "config");
      const alert = await d.watch.wait("alert", (a) => a.message.startsWith("config rejected") && message.test(a.message));
      assert.equal(alert.severity, "warning", what);
    }
    assert.deepEqual(d.product.settings.value, DEFAULT_SETTINGS);
    assert.equal(d.store.get(SETTINGS_KEY), undefined, "nothing persisted");
    assert.equal(d.logs.filter((l) => l.includes("config rejected")).length, cases.length);
    assert.equal(d.device.connected, true);
  });

  it("applies a new mqtt_keepalive on a new connection", async () => {
    const d = await boot();
    await d.send(config(d.id, { mqtt_keepalive: 30 }), "config");
    await d.watch.wait("status", (p) => p.status === "offline");
    await d.watch.wait("status", (p) => p.status === "online", 5000, d.watch.seen.findIndex((s) => s.payload.status === "offline"));
    // The keepalive each CONNECT carried is checked in the unit test.
    assert.equal(connects.filter((c) => c === d.clientId).length, 2, "a new connection");
    assert.equal(d.store.get<DeseSettings>(SETTINGS_KEY)!.mqtt_keepalive, 30);
  });

  it("alerts once when a reading crosses a threshold, not again while it stays, and once more when it is back past the hysteresis", async () => {
    const d = await boot();
    // Default pH thresholds 6.8 to 8.0, hysteresis 0.1.
    d.sim.force("ph", 6.5);
    for (let i = 0; i < 5; i++) d.product.control();
    d.sim.force("ph", 6.85); // back above min but inside the hysteresis band: still low
    d.product.control();
    d.sim.force("ph", 7.2);
    d.product.control();
    d.product.control();
    const back = await d.watch.wait("alert", (a) => a.severity === "info");
    const alerts = d.watch.of("alert");
    assert.deepEqual(alerts.map((a) => [a.severity, a.message, a.sensor, a.value, a.threshold]), [
      ["warning", "pH level below threshold", "ph", 6.5, 6.8],
      ["info", "pH level back above threshold", "ph", 7.2, 6.8],
    ]);
    assert.equal(back, alerts[1]);
    assert.ok(tap.of("alert").every((m) => m.qos === 1 && m.retain === false));
  });

  it("never publishes an out-of-range reading as valid: clamps a required one, drops an optional one, alerts critical, status error until it reads again", async () => {
    const d = await boot();
    d.sim.force("ph", 15.3);
    d.sim.channels.orp.fault = "open"; // unplugged: the ADC reads the rail
    assert.equal(await d.product.publishTelemetry(), true);
    const telemetry = await d.watch.wait("telemetry");
    assert.equal(telemetry.sensors.ph, 14, "clamped into the sensor's 0-14 range");
    assert.equal("orp" in telemetry.sensors, false, "a dead optional probe is left out");
    const phFault = await d.watch.wait("alert", (a) => a.sensor === "ph" && a.severity === "critical");
    assert.match(phFault.message, /ph sensor fault: reading 15.3 outside the sensor range 0 to 14/);
    await d.watch.wait("alert", (a) => a.sensor === "orp" && a.severity === "critical" && /no reading \(probe open: ADC at full scale/.test(a.message));
    await d.watch.wait("status", (p) => p.status === "error");
    assert.equal(d.product.status, "error");
    // A dead required probe: no telemetry at all rather than a made-up value.
    d.sim.channels.chlorine.fault = "dead"; // the converter fails
    assert.equal(await d.product.publishTelemetry(), false);
    d.sim.release();
    d.sim.channels.orp.fault = undefined;
    d.sim.channels.chlorine.fault = undefined;
    d.product.control();
    await d.watch.wait("alert", (a) => a.sensor === "ph" && a.severity === "info");
    await d.watch.wait("status", (p) => p.status === "online", 5000, d.watch.seen.findIndex((s) => s.payload.status === "error"));
    assert.equal(d.watch.of("telemetry").length, 1);
  });

  it("subscribes only to its own commands and config topics, and never acts on another organisation's or device's messages", async () => {
    const d = await boot();
    const other = await boot();
    const mine = subscriptions.filter((s) => s.clientId === d.clientId).map((s) => s.topic).sort();
    assert.deepEqual(mine, [`devices/${ORG}/${d.id}/commands`, `devices/${ORG}/${d.id}/config`]);
    for (const s of subscriptions) assert.ok(!/[+#]/.test(s.topic), `wildcard subscription ${s.topic}`);
    // Same device id in another organisation, and another device of the same organisation.
    const pump = command(d.id, "set_pump", { pump_id: 1, state: "on" });
    await d.send(pump, "commands", `devices/org-other/${d.id}/commands`);
    await d.send(config(d.id, { telemetry_interval: 1000 }), "config", `devices/org-other/${d.id}/config`);
    await d.send(command(other.id, "set_pump", { pump_id: 1, state: "on" }), "commands", `devices/${ORG}/${other.id}/commands`);
    // A command of its own afterwards: once it is answered, anything earlier would have been too.
    await d.call(command(d.id, "set_ph_target", { target_ph: 7.1 }));
    assert.equal(d.watch.of("command_response").length, 1);
    assert.equal(d.sim.running(1), false);
    assert.equal(d.product.settings.value.telemetry_interval, DEFAULT_SETTINGS.telemetry_interval);
    assert.equal(other.sim.running(1), true, "the other device took its own command");
    for (const m of tap.seen) {
      const [, org, device] = m.topic.split("/");
      assert.equal(org, ORG);
      assert.ok(m.clientId.endsWith(device), `${m.clientId} published on ${m.topic}`);
    }
  });

  it("an abrupt disconnect leaves the retained offline status of its will", async () => {
    const d = await boot();
    d.device.abort();
    const offline = await d.watch.wait("status", (p) => p.status === "offline");
    assert.equal(offline.firmware_version, "1.0.0");
    // A backend arriving later reads it as the retained last known status.
    const late = client(broker.port);
    await late.connect();
    const watch = new Watch(late, `devices/${ORG}/${d.id}/`);
    await late.subscribe(`devices/${ORG}/${d.id}/status`, { qos: 1 });
    const retained = await watch.wait("status");
    assert.equal(retained.status, "offline");
    assert.equal(watch.seen[0].retain, true);
    // The will is checked like every publication: its topic, QoS 1 and retain flag.
    tap.schemas.assertValid("status", offline);
  });

  it("the companion's commands validate and are answered", async () => {
    const d = await boot();
    const request = definition.command(d.id, { org: ORG }, "set_pump", { pump_id: "1", state: "on", duration: "60" });
    assert.equal(request.topic, `devices/${ORG}/${d.id}/commands`);
    const response = d.watch.wait("command_response", (p) => request.isResponse(p));
    await d.send(request.payload as Payload);
    assert.deepEqual((await response).response, { pump_id: 1, pump_state: "on", pump_duration: 60 });
    assert.throws(() => definition.command(d.id, { org: ORG }, "set_ph_target", { target_ph: 20 }), (e: Error) => e instanceof RangeError && /usage: set_ph_target/.test(e.message));
    assert.throws(() => definition.command(d.id, { org: ORG }, "launch", {}), RangeError);
  });
});

describe("dese on mosquitto: broker down while the device keeps measuring", function () {
  this.timeout(20_000);
  let mosquitto: Mosquitto;
  before(async () => { mosquitto = await Mosquitto.start(); });
  after(async () => {
    await closeHostClients();
    await closeAll();
    await mosquitto.dispose();
  });

  it("queues telemetry while offline and delivers it after the restart in order, exactly once, then the status", async () => {
    const id = "esp32-101";
    let clock = Date.parse("2025-01-27T10:00:00Z");
    const device = productDevice({
      port: mosquitto.port, deviceId: id, now: () => (clock += 1000),
      config: { org: ORG, control_interval_ms: "3600000" },
    });
    const product = simulate(definition, device).product as DeseProduct;
    // The backend keeps a persistent session, so the broker holds what arrives while it reconnects.
    const backend = client(mosquitto.port, { clientId: `backend-${process.pid}`, clean: false });
    await backend.connect();
    const base = `devices/${ORG}/${id}/`;
    const watch = new Watch(backend, base);
    await backend.subscribe(`${base}#`, { qos: 1 });
    product.start();
    await watch.wait("status", (p) => p.status === "online");

    const down = new Promise<void>((resolve) => device.once("disconnected", () => resolve()));
    await mosquitto.stop();
    await down;
    const sent: Promise<boolean>[] = [];
    // Five telemetry messages wait in the outbox.
    for (let i = 0; i < 5; i++) sent.push(product.publishTelemetry());

    const seenBefore = watch.seen.length;
    await mosquitto.restart();
    assert.deepEqual(await Promise.all(sent), [true, true, true, true, true], "each acknowledged by the broker");
    await watch.wait("status", (p) => p.status === "online", 10_000, seenBefore);
    const deadline = Date.now() + 10_000;
    while (watch.of("telemetry").length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const telemetry = watch.of("telemetry");
    const times = telemetry.map((t) => t.timestamp as string);
    assert.equal(telemetry.length, 5, `got ${times.join(", ")}`);
    assert.deepEqual([...times].sort(), times, "in the order measured");
    assert.equal(new Set(times).size, 5, "no duplicates");
    const schemas = new ProductSchemas("dese");
    for (const t of telemetry) schemas.assertValid("telemetry", t);
    for (const s of watch.of("status")) schemas.assertValid("status", s);
    // The status after the reconnect comes after the queued telemetry.
    // The status the device publishes on reconnecting (seed line 342) is the one the reconnect made:
    // later than every queued reading. (It can reach the wire before them: the client writes what
    // a "connected" listener publishes ahead of the outbox it flushes in the same step.)
    const after = watch.seen.slice(seenBefore).filter((s) => s.type === "status" && s.payload.status === "online");
    assert.equal(after.length, 1);
    assert.ok(after[0].payload.timestamp > times[4], "the reconnect status is fresh, not replayed");
    await product.stop();
  });
});
