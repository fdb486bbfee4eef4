// The BESS controller end to end against real brokers, booted as the hosts boot it: its BMS and
// converter drivers over the emulated RS-485 line (`simulate`; with tuned physics, the same
// composition with options). On aedes a SchemaTap checks every message the controller
// publishes (topic, QoS, retain flag, schema) after each test; on mosquitto the broker goes
// away while the controller keeps producing, and everything it produced arrives once, in
// order, when the broker is back.

import assert from "node:assert/strict";
import { startAedes } from "../harness/aedes.js";
import type { AedesHandle } from "../harness/aedes.js";
import { Mosquitto } from "../harness/mosquitto.js";
import { client, closeAll } from "../integration/util.js";
import { closeHostClients, productDevice, ProductSchemas, SchemaTap } from "./harness.js";
import type { MqttClient } from "../../modules/mqtt/client.js";
import type { Device, DeviceEvents } from "../../modules/device/device.js";
import { MemorySettingsStore } from "../../modules/device/settings.js";
import type { SettingsStore } from "../../modules/device/settings.js";
import { simulate } from "../../modules/device/product.js";
import { definition } from "../../modules/products/bess/index.js";
import type { BessProduct } from "../../modules/products/bess/product.js";
import { emulateBess } from "../../modules/products/bess/simulation.js";
import type { SimulationOptions } from "../../modules/products/bess/simulation.js";
import { SETTINGS_KEY } from "../../modules/products/bess/settings.js";

type Obj = Record<string, unknown>;
const DEVICE = "bess_controller_001";
const isDevice = (id: string): boolean => id.startsWith("bess_controller_");

/** A backend subscribed to bess/#: every message as JSON, awaitable. */
class Backend {
  readonly messages: { topic: string; json: Obj; retain: boolean; qos: number }[] = [];
  #waiters: { test: (m: Backend["messages"][number]) => boolean; resolve: (m: Backend["messages"][number]) => void }[] = [];
  readonly client: MqttClient;

  constructor(c: MqttClient) {
    this.client = c;
    c.on("message", (m) => {
      let json: Obj;
      try {
        json = JSON.parse(new TextDecoder().decode(m.payload)) as Obj;
      } catch {
        return;
      }
      const entry = { topic: m.topic, json, retain: m.retain, qos: m.qos };
      this.messages.push(entry);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.test(entry)) return true;
        w.resolve(entry);
        return false;
      });
    });
  }

  static async open(port: number, options: Parameters<typeof client>[1] = {}): Promise<Backend> {
    const b = new Backend(client(port, options));
    await b.client.connect();
    await b.client.subscribe("bess/#", { qos: 2 });
    return b;
  }

  /** The first message (already received or to come) for which test holds. */
  waitFor(test: (m: Backend["messages"][number]) => boolean, what: string, ms = 8000): Promise<Backend["messages"][number]> {
    const found = this.messages.find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms; got ${this.messages.map((m) => `${m.topic} ${JSON.stringify(m.json)}`).join("\n")}`)), ms);
      this.#waiters.push({ test, resolve: (m) => { clearTimeout(timer); resolve(m); } });
    });
  }

  /** The status message answering request_id. */
  answer(requestId: string): Promise<Backend["messages"][number]> {
    return this.waitFor((m) => m.topic.startsWith("bess/status/") && m.json.request_id === requestId, `an answer to ${requestId}`);
  }

  async send(topic: string, payload: string | Obj, qos: 0 | 1 | 2 = 1): Promise<void> {
    await this.client.publish(topic, typeof payload === "string" ? payload : JSON.stringify(payload), { qos });
  }

  on(topic: string): Obj[] {
    return this.messages.filter((m) => m.topic === topic).map((m) => m.json);
  }
}

interface Rig {
  product: BessProduct;
  device: Device;
  logs: string[];
  settings: SettingsStore;
}

function rig(port: number, options: { sim?: Partial<SimulationOptions>; settings?: SettingsStore; now?: () => number; deviceId?: string; config?: Record<string, string> } = {}): Rig {
  const logs: string[] = [];
  const settings = options.settings ?? new MemorySettingsStore();
  const device = productDevice({ port, deviceId: options.deviceId ?? DEVICE, settings, logs, config: options.config, ...(options.now ? { now: options.now } : {}) });
  const product = (options.sim
    ? definition.create(device, definition.hardware(emulateBess(device, options.sim).buses, device))
    : simulate(definition, device).product) as BessProduct;
  return { product, device, logs, settings };
}

/** The device's next `event` for which `test` holds. */
function nextEvent<K extends keyof DeviceEvents>(device: Device, event: K, test: (...args: DeviceEvents[K]) => boolean = () => true, ms = 10_000): Promise<DeviceEvents[K][0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      device.off(event, listener);
      reject(new Error(`no '${String(event)}' event within ${ms} ms`));
    }, ms);
    const listener = (...args: DeviceEvents[K]): void => {
      if (!test(...args)) return;
      clearTimeout(timer);
      device.off(event, listener);
      resolve(args[0]);
    };
    device.on(event, listener);
  });
}

/** Quick reconnects for tests: the specified 10 s interval is a setting (schema minimum 1 s). */
function quickSettings(): MemorySettingsStore {
  const s = new MemorySettingsStore();
  s.set(SETTINGS_KEY, { telemetry_interval_ms: 5000, log_level: 3, reconnect_interval_ms: 1000, max_reconnect_attempts: 0 });
  return s;
}

describe("bess on aedes: every publication keeps the contract", function () {
  this.timeout(20_000);
  let broker: AedesHandle;
  let tap: SchemaTap;
  let backend: Backend;
  const products: BessProduct[] = [];

  async function started(options: Parameters<typeof rig>[1] = {}): Promise<Rig> {
    const r = rig(broker.port, options);
    products.push(r.product);
    r.product.start();
    await backend.waitFor((m) => m.topic === "bess/status/connection" && m.json.status === "online" && m.json.device_id === (options.deviceId ?? DEVICE), "online status");
    return r;
  }

  beforeEach(async () => {
    broker = await startAedes();
    tap = new SchemaTap(broker, "bess", isDevice);
    backend = await Backend.open(broker.port);
  });

  afterEach(async () => {
    for (const p of products.splice(0)) await p.stop();
    await closeHostClients();
    await closeAll();
    await broker.close();
    tap.assertAllValid();
  });

  it("announces itself: retained online status (QoS 1), a started status, telemetry at QoS 1 with the specified fields", async () => {
    const { product } = await started();
    product.tick();
    const telemetry = await backend.waitFor((m) => m.topic === "bess/telemetry", "telemetry");
    await backend.waitFor((m) => m.topic === "bess/status/info" && m.json.code === 1000, "started status");
    assert.equal(telemetry.json.device_id, DEVICE);
    assert.ok(Math.abs((telemetry.json.timestamp as number) - Date.now() / 1000) < 5, "timestamp in seconds");
    const e = telemetry.json.electrical as Obj;
    assert.ok(Math.abs((e.voltage as number) * (e.current as number) / 1000 - (e.power_kw as number)) < 0.01, "P = V x I");
    const seen = tap.of("status-connection");
    assert.ok(seen.length >= 1);
    assert.ok(seen.every((m) => m.qos === 1 && m.retain === true), "status/connection retained at QoS 1");
    assert.ok(tap.of("telemetry").every((m) => m.qos === 1 && !m.retain));
    // A late subscriber still learns the controller is online.
    const late = await Backend.open(broker.port);
    const retained = await late.waitFor((m) => m.topic === "bess/status/connection", "retained status");
    assert.equal(retained.retain, true);
    assert.equal(retained.json.status, "online");
  });

  it("set_mode (the specified example) round-trips: status/info with request_id, the converter follows, an info log at QoS 0", async () => {
    const { product } = await started();
    await backend.send("bess/control/commands", { command: "set_mode", mode: "discharge", params: { power_limit_kw: 25, soc_min: 20 }, request_id: "req-12345" });
    const answer = await backend.answer("req-12345");
    assert.equal(answer.topic, "bess/status/info");
    assert.equal(answer.json.code, 1010);
    assert.equal(answer.json.is_error, false);
    assert.equal(product.hardware.mode, "discharge");
    const log = await backend.waitFor((m) => m.topic === "bess/logs/info" && String(m.json.message).startsWith("Mode set to discharge"), "mode log");
    assert.equal(log.json.level, 3);
    assert.ok((log.json.timestamp as number) > 1e12, "CloudWatch timestamps are ms");
    assert.ok(tap.of("log-info").every((m) => m.qos === 0 && !m.retain));
    product.tick();
    const t = await backend.waitFor((m) => m.topic === "bess/telemetry", "telemetry");
    assert.ok(((t.json.electrical as Obj).power_kw as number) > 24, "delivering about 25 kW");
  });

  const malformed: [string, string, number, string, string | undefined][] = [
    ["bad JSON", "{\"command\":\"set_mode\",", 2000, "malformed_json", undefined],
    ["a JSON array", "[1,2,3]", 2003, "invalid_request", undefined],
    ["an unknown command", JSON.stringify({ command: "launch", mode: "idle", request_id: "bad-2" }), 2002, "unknown_command", "bad-2"],
    ["no command", JSON.stringify({ mode: "idle", request_id: "bad-3" }), 2002, "unknown_command", "bad-3"],
    ["an out-of-range power limit", JSON.stringify({ command: "set_mode", mode: "charge", params: { power_limit_kw: 20000 }, request_id: "bad-4" }), 2001, "invalid_parameters", "bad-4"],
    ["an unknown mode", JSON.stringify({ command: "set_mode", mode: "boost", request_id: "bad-5" }), 2001, "invalid_parameters", "bad-5"],
    ["a missing mode", JSON.stringify({ command: "set_mode", request_id: "bad-6" }), 2001, "invalid_parameters", "bad-6"],
    ["a wrong type", JSON.stringify({ command: "set_mode", mode: "charge", params: { soc_min: "20" }, request_id: "bad-7" }), 2001, "invalid_parameters", "bad-7"],
    ["a misspelt parameter", JSON.stringify({ command: "set_mode", mode: "charge", params: { power_kw: 5 }, request_id: "bad-8" }), 2001, "invalid_parameters", "bad-8"],
    ["no request_id", JSON.stringify({ command: "set_mode", mode: "charge" }), 2001, "invalid_parameters", undefined],
  ];

  it("answers every malformed command on status/error with its code, changes nothing, and keeps running", async () => {
    const { product } = await started();
    for (const [, payload] of malformed) await backend.send("bess/control/commands", payload);
    await backend.send("bess/control/commands", { command: "set_mode", mode: "charge", request_id: "good-1" });
    await backend.answer("good-1");
    const errors = backend.on("bess/status/error");
    assert.equal(errors.length, malformed.length, JSON.stringify(errors));
    malformed.forEach(([what, , code, outcome, requestId], i) => {
      assert.equal(errors[i].code, code, `${what}: ${JSON.stringify(errors[i])}`);
      assert.match(String(errors[i].message), new RegExp(`\\(${outcome}\\)`), what);
      assert.equal(errors[i].request_id, requestId, what);
      assert.equal(errors[i].is_error, true);
    });
    assert.equal(product.hardware.mode, "charge", "only the good command acted");
    await backend.waitFor((m) => m.topic === "bess/logs/warning" && String(m.json.message).startsWith("Request rejected"), "a rejection log");
  });

  it("ignores requests addressed to another controller", async () => {
    const { product } = await started();
    await backend.send("bess/control/commands", { command: "set_mode", mode: "discharge", request_id: "other-1", device_id: "bess_controller_002" });
    await backend.send("bess/control/commands", { command: "set_mode", mode: "charge", request_id: "mine-1", device_id: DEVICE });
    await backend.answer("mine-1");
    assert.equal(backend.messages.filter((m) => m.topic.startsWith("bess/status/") && m.json.request_id === "other-1").length, 0);
    assert.equal(product.hardware.mode, "charge");
  });

  it("two controllers with their own roots share one broker: each keeps its retained status and acts only on its own topics", async () => {
    const peer = new Backend(client(broker.port));
    await peer.client.connect();
    await peer.client.subscribe("+/bess/#", { qos: 2 });
    // Ids outside the tap's bess_controller_ prefix: the rooted topics are checked here, root stripped.
    const sites = ["site-a", "site-b"].map((root) => ({ root, ...rig(broker.port, { deviceId: `bess-${root}`, config: { root } }) }));
    for (const s of sites) {
      products.push(s.product);
      s.product.start();
    }
    for (const s of sites) await peer.waitFor((m) => m.topic === `${s.root}/bess/status/connection` && m.json.status === "online", `${s.root} online`);
    await peer.send("site-a/bess/control/commands", { command: "set_mode", mode: "charge", request_id: "a-1" });
    const answer = await peer.waitFor((m) => m.topic.includes("/status/") && m.json.request_id === "a-1", "site-a's answer");
    assert.equal(answer.topic, "site-a/bess/status/info");
    assert.equal(sites[0].product.hardware.mode, "charge");
    assert.equal(sites[1].product.hardware.mode, "idle");
    assert.equal(backend.messages.length, 0, "nothing on the specified topics");
    const late = new Backend(client(broker.port));
    await late.client.connect();
    await late.client.subscribe("+/bess/status/connection", { qos: 1 });
    await late.waitFor((m) => m.topic === "site-b/bess/status/connection" && m.json.device_id === "bess-site-b", "site-b's retained status");
    await late.waitFor((m) => m.topic === "site-a/bess/status/connection" && m.json.device_id === "bess-site-a", "site-a's retained status");
    const schemas = new ProductSchemas("bess");
    for (const m of peer.messages.filter((x) => !x.topic.includes("/control/"))) {
      const root = sites.find((s) => m.topic.startsWith(`${s.root}/`))!.root;
      const entry = schemas.entryFor(m.topic.slice(root.length + 1), m.json);
      assert.ok(entry, m.topic);
      if (entry.direction === "publish") schemas.assertValid(entry.message, m.json);
    }
  });

  it("control/config is validated, applied atomically, persisted and answered; a bad one changes nothing", async () => {
    const { product, settings } = await started();
    await backend.send("bess/control/config", { request_id: "cfg-1", telemetry_interval_ms: 10_000, log_level: 2 });
    const ok = await backend.answer("cfg-1");
    assert.equal(ok.topic, "bess/status/info");
    assert.equal(ok.json.code, 1020);
    assert.deepEqual(settings.get(SETTINGS_KEY), { telemetry_interval_ms: 10_000, log_level: 2, reconnect_interval_ms: 10_000, max_reconnect_attempts: 0 });
    // One valid and one out-of-range field: neither is applied.
    await backend.send("bess/control/config", { request_id: "cfg-2", telemetry_interval_ms: 20_000, log_level: 9 });
    await backend.send("bess/control/config", "not json");
    await backend.send("bess/control/config", { request_id: "cfg-4" });
    await backend.send("bess/control/config", { request_id: "cfg-5", telemetry_interval_ms: "fast" });
    const bad = await backend.answer("cfg-2");
    assert.equal(bad.topic, "bess/status/error");
    assert.equal(bad.json.code, 2001);
    assert.match(String(bad.json.message), /log_level/);
    assert.equal((await backend.answer("cfg-4")).json.code, 2001, "at least one setting");
    assert.equal((await backend.answer("cfg-5")).json.code, 2001, "wrong type");
    await backend.waitFor((m) => m.topic === "bess/status/error" && m.json.code === 2000, "malformed config answer");
    assert.equal(product.settings.value.telemetry_interval_ms, 10_000);
    assert.equal((settings.get(SETTINGS_KEY) as Obj).telemetry_interval_ms, 10_000);
  });

  it("firmware notices (QoS 2) are validated, logged and acknowledged; an old version or a bad hash is refused", async () => {
    await started();
    const sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    await backend.send("bess/firmware/update", { request_id: "fw-1", version: "1.4.0", url: "https://updates.example.com/bess/1.4.0.bin", sha256, size_bytes: 1572864 }, 2);
    await backend.send("bess/firmware/update", { request_id: "fw-2", version: "0.0.9", url: "https://updates.example.com/bess/0.0.9.bin", sha256 }, 2);
    await backend.send("bess/firmware/update", { request_id: "fw-3", version: "2.0.0", url: "http://insecure.example.com/x.bin", sha256 }, 2);
    await backend.send("bess/firmware/update", { request_id: "fw-4", version: "2.0.0", url: "https://updates.example.com/x.bin", sha256: "XYZ" }, 2);
    const accepted = await backend.answer("fw-1");
    assert.equal(accepted.topic, "bess/status/info");
    assert.equal(accepted.json.code, 1040);
    await backend.waitFor((m) => m.topic === "bess/logs/info" && m.json.component === "ota", "firmware log");
    assert.equal((await backend.answer("fw-2")).json.code, 2004, "not newer: failed");
    assert.equal((await backend.answer("fw-3")).json.code, 2001, "plain HTTP refused by the schema");
    assert.equal((await backend.answer("fw-4")).json.code, 2001);
  });

  it("system reset (QoS 2): acknowledged, says offline, re-initialises and reconnects; factory_reset erases settings", async () => {
    const { product, device, settings } = await started();
    await backend.send("bess/control/commands", { command: "set_mode", mode: "discharge", request_id: "m-1" });
    await backend.answer("m-1");
    await backend.send("bess/control/config", { request_id: "cfg-1", telemetry_interval_ms: 30_000 });
    await backend.answer("cfg-1");
    let connects = 0;
    device.on("connected", () => { connects++; });
    const onlineBefore = backend.on("bess/status/connection").filter((s) => s.status === "online").length;

    await backend.send("bess/system/reset", { request_id: "rst-1", reset_type: "restart", delay_ms: 50 }, 2);
    const ack = await backend.answer("rst-1");
    assert.equal(ack.json.code, 1030);
    await backend.waitFor((m) => m.topic === "bess/status/connection" && m.json.status === "offline", "offline on reset");
    await backend.waitFor((m) => m.topic === "bess/status/connection" && m.json.status === "online" &&
      backend.on("bess/status/connection").filter((s) => s.status === "online").length > onlineBefore, "online again");
    assert.equal(connects, 1, "a new connection");
    assert.equal(product.hardware.mode, "idle", "state re-initialised");
    assert.equal(product.settings.value.telemetry_interval_ms, 30_000, "a restart keeps settings");

    await backend.send("bess/system/reset", { request_id: "rst-2", reset_type: "factory_reset" }, 2);
    await backend.answer("rst-2");
    await backend.waitFor((m) => m.topic === "bess/status/info" && m.json.code === 1000 && backend.on("bess/status/info").filter((s) => s.code === 1000).length >= 3, "started after the factory reset");
    assert.equal(product.settings.value.telemetry_interval_ms, 5000);
    assert.equal(settings.get(SETTINGS_KEY), undefined, "stored settings erased");

    await backend.send("bess/system/reset", { request_id: "rst-3", reset_type: "reboot" }, 2);
    assert.equal((await backend.answer("rst-3")).json.code, 2001, "unknown reset type");
  });

  it("the Last Will marks the controller offline (retained) on an abrupt disconnect", async () => {
    const { device } = await started();
    device.abort();
    const will = await backend.waitFor((m) => m.topic === "bess/status/connection" && m.json.status === "offline", "the will");
    assert.deepEqual(will.json, { device_id: DEVICE, status: "offline" });
    const late = await Backend.open(broker.port);
    const retained = await late.waitFor((m) => m.topic === "bess/status/connection", "retained will");
    assert.equal(retained.json.status, "offline");
    assert.equal(retained.retain, true);
  });

  it("alarms arise from the simulated physics on the specified severity topics, with a thermal shutdown, and clear", async () => {
    // A fast thermal constant and a strong heating coefficient so physics plays out in a few ticks.
    let now = Date.now();
    const { product } = await started({ sim: { tauMs: 1, kPerKw: 1.2, initialSoc: 4 }, now: () => now });
    product.tick();
    const socCritical = await backend.waitFor((m) => m.topic === "bess/alarms/critical" && m.json.code === 4002, "SOC critical");
    assert.equal(socCritical.json.severity, 3);
    assert.equal(socCritical.json.module_id, 0);
    await backend.send("bess/control/commands", { command: "set_mode", mode: "charge", params: { power_limit_kw: 30 }, request_id: "c-1" });
    await backend.answer("c-1");
    now += 1000;
    product.tick(); // 25 + 1.2 x ~30 kW: every module above 55 C
    const critical = await backend.waitFor((m) => m.topic === "bess/alarms/critical" && m.json.code === 3002, "thermal critical");
    assert.equal(critical.json.severity, 4);
    const shutdown = await backend.waitFor((m) => m.topic === "bess/status/error" && m.json.code === 6001, "thermal shutdown");
    assert.match(String(shutdown.json.message), /Emergency thermal shutdown/);
    await backend.waitFor((m) => m.topic === "bess/logs/error" && m.json.component === "thermal_monitor", "shutdown log");
    assert.equal(product.hardware.mode, "idle");
    // While critical, only idle is accepted.
    await backend.send("bess/control/commands", { command: "set_mode", mode: "discharge", request_id: "c-2" });
    assert.equal((await backend.answer("c-2")).json.code, 2004);
    now += 1000;
    product.tick(); // idle: modules back at ambient
    const cleared = await backend.waitFor((m) => m.topic === "bess/alarms/info" && m.json.code === 3002, "thermal clear");
    assert.equal(cleared.json.severity, 1);
    assert.match(String(cleared.json.message), /cleared/);
    assert.ok(tap.of("alarm-critical").every((m) => m.qos === 1 && !m.retain));
  });

  it("a warning alarm goes to bess/alarms/warning", async () => {
    let now = Date.now();
    const { product } = await started({ sim: { tauMs: 1, kPerKw: 0.7 }, now: () => now });
    await backend.send("bess/control/commands", { command: "set_mode", mode: "discharge", params: { power_limit_kw: 30, soc_min: 5 }, request_id: "w-1" });
    await backend.answer("w-1");
    now += 1000;
    product.tick(); // 25 + 0.7 x 30 = 46 C: warning, not critical
    const warning = await backend.waitFor((m) => m.topic === "bess/alarms/warning" && m.json.code === 3001, "thermal warning");
    assert.equal(warning.json.severity, 2);
    assert.equal(product.hardware.mode, "discharge", "a warning does not shut down");
  });
});

describe("bess on aedes: MQTT errors reported with the specified error table", function () {
  this.timeout(20_000);
  let broker: AedesHandle | undefined;
  let tap: SchemaTap;
  afterEach(async () => {
    await closeHostClients();
    await closeAll();
    await broker?.close();
    tap.assertAllValid();
  });

  it("a refused subscription is BESS_MQTT_ERR_SUBSCRIBE_FAILED (5003) on status/error and logs/error", async () => {
    broker = await startAedes({
      authorizeSubscribe: (c, sub, done) => done(null, c.id === DEVICE && sub.topic === "bess/firmware/update" ? null : sub),
    });
    tap = new SchemaTap(broker, "bess", isDevice);
    const backend = await Backend.open(broker.port);
    const { product } = rig(broker.port);
    product.start();
    const error = await backend.waitFor((m) => m.topic === "bess/status/error" && m.json.code === 5003, "subscribe error");
    assert.match(String(error.json.message), /^BESS_MQTT_ERR_SUBSCRIBE_FAILED: .*bess\/firmware\/update/);
    await backend.waitFor((m) => m.topic === "bess/logs/error" && /SUBSCRIBE_FAILED/.test(String(m.json.message)), "subscribe error log");
    await product.stop();
  });

  it("a refused login is BESS_MQTT_ERR_AUTHENTICATION_FAILED (5007): logged locally, reported once the link is up", async () => {
    let allow = false;
    broker = await startAedes({ authenticate: (c, _u, _p, done) => done(null, allow || c.id !== DEVICE) });
    tap = new SchemaTap(broker, "bess", isDevice);
    const backend = await Backend.open(broker.port);
    const { product, device, logs } = rig(broker.port, { settings: quickSettings() });
    product.start();
    await nextEvent(device, "disconnected", (d) => d.error?.code === "AUTHENTICATION_FAILED");
    assert.ok(logs.some((l) => l.includes("BESS_MQTT_ERR_AUTHENTICATION_FAILED")), logs.join("\n"));
    allow = true;
    const error = await backend.waitFor((m) => m.topic === "bess/status/error" && m.json.code === 5007, "auth error, from the outbox");
    assert.match(String(error.json.message), /Verify certificates and credentials/);
    await backend.waitFor((m) => m.topic === "bess/status/info" && m.json.code === 1050, "reconnected status");
    assert.equal(backend.on("bess/status/error").filter((e) => e.code === 5007).length, 1, "reported once per outage");
    await product.stop();
  });
});

describe("bess on mosquitto: offline and back", function () {
  this.timeout(30_000);
  let mosquitto: Mosquitto;
  before(async () => { mosquitto = await Mosquitto.start(); });
  after(async () => {
    await closeHostClients();
    await closeAll();
    await mosquitto.dispose();
  });

  it("telemetry and alarms produced while the broker is down arrive after it returns: all, once, in order", async () => {
    const schemas = new ProductSchemas("bess");
    // The backend keeps a persistent session, so it misses nothing across the broker restart.
    const backend = new Backend(client(mosquitto.port, { clientId: "bess-backend", clean: false }));
    await backend.client.connect();
    await backend.client.subscribe("bess/#", { qos: 1 });
    let now = Date.now();
    const { product, device } = rig(mosquitto.port, { settings: quickSettings(), now: () => now, sim: { initialSoc: 16 } });
    product.start();
    await backend.waitFor((m) => m.topic === "bess/status/connection" && m.json.status === "online", "online");
    await backend.send("bess/control/commands", { command: "set_mode", mode: "discharge", params: { power_limit_kw: 30, soc_min: 0 }, request_id: "d-1" });
    await backend.answer("d-1");

    const lost = nextEvent(device, "disconnected");
    await mosquitto.stop();
    await lost;
    const produced: number[] = [];
    for (let i = 0; i < 12; i++) {
      now += 5000;
      produced.push(Math.floor(now / 1000));
      await product.tick(); // 30 kW from 16 % of 50 kWh: the SOC-low alarm is raised on the way
    }
    assert.equal(device.connected, false);
    await mosquitto.restart();

    const last = produced[produced.length - 1];
    await backend.waitFor((m) => m.topic === "bess/telemetry" && m.json.timestamp === last, "the last offline telemetry", 15_000);
    await backend.waitFor((m) => m.topic === "bess/status/info" && m.json.code === 1050, "reconnected status");
    const timestamps = backend.on("bess/telemetry").map((t) => t.timestamp as number);
    assert.deepEqual(timestamps.filter((t) => produced.includes(t)), produced, "every offline telemetry once, in order");
    assert.equal(new Set(timestamps).size, timestamps.length, "no duplicates");
    const lowSoc = backend.on("bess/alarms/warning").filter((a) => a.code === 4001);
    assert.equal(lowSoc.length, 1, "the alarm raised offline arrives once");
    assert.equal(backend.on("bess/status/error").filter((e) => e.code === 5005).length, 1, "BESS_MQTT_ERR_DISCONNECTED reported once");
    for (const m of backend.messages) {
      const entry = schemas.entryFor(m.topic, m.json);
      assert.ok(entry, `unknown topic ${m.topic}`);
      if (entry.direction === "publish") schemas.assertValid(entry.message, m.json);
    }
    await product.stop();
  });
});
