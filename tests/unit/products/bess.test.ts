// The BESS controller's timing and physics on the test kit: a real Device over the real client,
// a scripted broker and a fake clock, so intervals, reconnect delays and hysteresis are exact.
// MQTT behaviour runs on scripted hardware; the controller on its drivers over the emulated
// RS-485 line (BMS and converter models, line faults) has its own section. Every message the
// controller publishes is checked against its table entry and schema.

import assert from "node:assert/strict";
import * as P from "../../../modules/mqtt/packets.js";
import type { QoS } from "../../../modules/mqtt/packets.js";
import { MqttError } from "../../../modules/mqtt/errors.js";
import type { ErrorCode } from "../../../modules/mqtt/errors.js";
import { topicMatches } from "../../../modules/mqtt/topic.js";
import { prng } from "../../../modules/device/prng.js";
import { createBess, compareVersions, GOODBYE_MS, OUTBOX } from "../../../modules/products/bess/product.js";
import type { BessProduct } from "../../../modules/products/bess/product.js";
import type { BessHardware, BessReading, Mode, ModeLimits } from "../../../modules/products/bess/hardware.js";
import { emulateBess } from "../../../modules/products/bess/simulation.js";
import type { EmulatedBess, SimulationOptions } from "../../../modules/products/bess/simulation.js";
import { BatteryPack } from "../../../modules/emulators/battery-pack.js";
import type { PackOptions } from "../../../modules/emulators/battery-pack.js";
import { EmulatedConverter } from "../../../modules/emulators/power-converter.js";
import { encodeSetpoints } from "../../../modules/drivers/power-converter.js";
import { BMS_ALARM, BMS_REGISTERS } from "../../../modules/drivers/bms.js";
import { SETTINGS_KEY } from "../../../modules/products/bess/settings.js";
import { bandFor, THRESHOLDS } from "../../../modules/products/bess/conditions.js";
import { MQTT_ERRORS, seedError } from "../../../modules/products/bess/codes.js";
import { allTopics, bessRoutes } from "../../../modules/products/bess/topics.js";
import * as msg from "../../../modules/products/bess/messages.js";
import { definition } from "../../../modules/products/bess/index.js";
import { ProductSchemas } from "../../products/harness.js";
import { Kit, microtasks } from "../../kit/index.js";
import { decodeAll } from "../fakes.js";

const EPOCH = 1_713_012_345_000;
const DEVICE = "bess_controller_001";
type Obj = Record<string, unknown>;

/** Hardware whose reading the test sets; it answers at once. */
class ScriptedHardware implements BessHardware {
  mode: Mode = "idle";
  limits: ModeLimits = { powerLimitKw: 0, socMin: 0 };
  reading: BessReading = { voltage: 52, current: 0, powerKw: 0, soc: 60, soh: 98, moduleTemps: [30, 30, 30, 30], cellMaxV: 3.252, cellMinV: 3.248, bmsAlarms: 0 };
  async setMode(mode: Mode, limits: ModeLimits): Promise<void> {
    this.mode = mode;
    this.limits = limits;
  }
  async read(): Promise<BessReading> {
    return { ...this.reading, moduleTemps: this.reading.moduleTemps.slice() };
  }
  temps(t: number): void {
    this.reading.moduleTemps = [t, 30, 30, 30];
  }
}

const schemas = new ProductSchemas("bess");
const te = new TextEncoder();

/** A controller on the kit. */
class OnKit {
  readonly kit: Kit;
  readonly product: BessProduct;
  readonly hardware: BessHardware;
  readonly root: string;
  /** The emulated line and models, when the controller runs on its drivers (`bus`). */
  readonly emulated?: EmulatedBess;
  /** Fake time per step: short on the bus, so each Modbus exchange (tens of ms) completes in its own step. */
  readonly #stepMs: number;

  constructor(options: { hardware?: BessHardware; bus?: Partial<SimulationOptions>; stored?: Obj; config?: Record<string, string> } = {}) {
    this.kit = new Kit({ deviceId: DEVICE, config: options.config, start: EPOCH });
    if (options.stored) this.kit.settings.set(SETTINGS_KEY, options.stored);
    this.root = options.config?.root ?? "";
    if (options.bus) {
      this.emulated = emulateBess(this.kit.device, options.bus);
      this.hardware = definition.hardware(this.emulated.buses, this.kit.device) as BessHardware;
    } else {
      this.hardware = options.hardware ?? new ScriptedHardware();
    }
    this.#stepMs = options.bus ? 20 : 1000;
    this.product = createBess(this.kit.device, this.hardware);
    rigs.push(this);
  }

  get bus(): EmulatedBess {
    assert.ok(this.emulated, "a rig on the emulated bus");
    return this.emulated;
  }

  async started(): Promise<this> {
    this.product.start();
    await this.kit.settle();
    return this;
  }

  /** Delivers a message from the backend and waits until it is answered. */
  async deliver(topic: string, payload: string | Obj, qos: QoS = 1): Promise<void> {
    this.kit.broker.deliver(topic, payload, { qos });
    await this.kit.settle();
    let idle = false;
    void this.product.idle().then(() => { idle = true; });
    // On the bus a command waits for the converter's answers: let fake time pass for them.
    for (let i = 0; i < 100 && !idle && this.emulated; i++) await this.kit.run(this.#stepMs, this.#stepMs);
    await this.product.idle();
    await this.kit.settle();
  }

  advance(ms: number): Promise<void> {
    return this.kit.run(ms, Math.min(ms, this.#stepMs));
  }

  /** JSON messages on a topic (filter), with when they were made (their timestamp) relative to EPOCH. */
  on(filter: string): { topic: string; json: Obj; qos: number; retain: boolean; at: number }[] {
    return this.kit.broker.on(filter).map((m) => {
      const ts = typeof m.json?.timestamp === "number" ? m.json.timestamp as number : undefined;
      return { topic: m.topic, json: m.json as Obj, qos: m.qos, retain: m.retain, at: ts === undefined ? m.at - EPOCH : (ts > 1e12 ? ts : ts * 1000) - EPOCH };
    });
  }

  /** Every publication (will included) keeps the table and the schemas; a root is stripped first. */
  checkAll(): void {
    for (const m of this.kit.broker.published) {
      const relative = this.root === "" ? m.topic : m.topic.slice(this.root.length + 1);
      const problem = schemas.check({ topic: relative, payload: te.encode(m.text), qos: m.qos, retain: m.retain });
      assert.equal(problem, undefined, problem);
    }
  }
}

const rigs: OnKit[] = [];
afterEach(() => {
  for (const r of rigs.splice(0)) r.checkAll();
});

describe("bess: telemetry schedule (kit)", () => {
  it("publishes telemetry every 5 s by default, at QoS 1, timestamps from the device's clock in seconds", async () => {
    const rig = await new OnKit().started();
    await rig.advance(4999);
    assert.equal(rig.on("bess/telemetry").length, 0);
    await rig.advance(1);
    await rig.advance(10_000);
    const t = rig.on("bess/telemetry");
    assert.deepEqual(t.map((m) => m.at), [5000, 10_000, 15_000]);
    assert.deepEqual(t.map((m) => m.json.timestamp), [1713012350, 1713012355, 1713012360]);
    assert.ok(t.every((m) => m.qos === 1 && !m.retain));
  });

  it("a new telemetry interval takes effect at once, not after the old period, and is persisted", async () => {
    const rig = await new OnKit().started();
    await rig.advance(4000);
    await rig.deliver("bess/control/config", { request_id: "cfg-1", telemetry_interval_ms: 2000 });
    assert.equal(rig.on("bess/status/info").at(-1)?.json.code, 1020);
    await rig.advance(2000);
    assert.deepEqual(rig.on("bess/telemetry").map((m) => m.at), [6000], "2 s after the change, not 5 s after the start");
    await rig.advance(4000);
    assert.deepEqual(rig.on("bess/telemetry").map((m) => m.at), [6000, 8000, 10_000]);
    assert.equal((rig.kit.settings.get(SETTINGS_KEY) as Obj).telemetry_interval_ms, 2000);
  });

  it("an invalid config changes neither the schedule nor the store", async () => {
    const rig = await new OnKit().started();
    await rig.deliver("bess/control/config", { request_id: "cfg-2", telemetry_interval_ms: 500 });
    assert.equal(rig.on("bess/status/error").at(-1)?.json.code, 2001);
    assert.equal(rig.kit.settings.get(SETTINGS_KEY), undefined);
    await rig.advance(5000);
    assert.equal(rig.on("bess/telemetry").length, 1);
  });

  it("starts with the persisted interval; a corrupt stored value falls back to the defaults", async () => {
    const rig = await new OnKit({ stored: { telemetry_interval_ms: 1000, log_level: 3, reconnect_interval_ms: 10_000, max_reconnect_attempts: 0 } }).started();
    await rig.advance(3000);
    assert.equal(rig.on("bess/telemetry").length, 3);
    const corrupt = await new OnKit({ stored: { telemetry_interval_ms: -5 } }).started();
    await corrupt.advance(5000);
    assert.equal(corrupt.on("bess/telemetry").length, 1);
  });

  it("log_level from config applies at once: 2 stops info logs", async () => {
    const rig = await new OnKit().started();
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "charge", request_id: "a" });
    assert.equal(rig.on("bess/logs/info").filter((m) => String(m.json.message).startsWith("Mode set")).length, 1);
    await rig.deliver("bess/control/config", { request_id: "cfg", log_level: 2 });
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "idle", request_id: "b" });
    assert.equal(rig.on("bess/logs/info").filter((m) => String(m.json.message).startsWith("Mode set")).length, 1);
  });
});

describe("bess: requests (kit)", () => {
  it("requests on the four topics are answered one at a time in arrival order; a failing one does not stop those behind it", async () => {
    const rig = await new OnKit().started();
    const b = rig.kit.broker;
    b.deliver("bess/control/config", { request_id: "q-1", telemetry_interval_ms: 1 });
    b.deliver("bess/firmware/update", { request_id: "q-2", version: "0.0.1", url: "https://u.example.com/f.bin", sha256: "a".repeat(64) }, { qos: 2 });
    b.deliver("bess/control/commands", "{not json");
    b.deliver("bess/system/reset", { request_id: "q-3", reset_type: "reboot" }, { qos: 2 });
    b.deliver("bess/control/commands", { command: "set_mode", mode: "charge", request_id: "q-4" });
    b.deliver("bess/control/config", { request_id: "q-5", log_level: 4 });
    await rig.kit.settle();
    await rig.product.idle();
    await rig.kit.settle();
    const answers = rig.on("bess/status/+").filter((m) => m.topic !== "bess/status/connection" && m.json.code !== 1000)
      .map((m) => `${m.json.request_id ?? "-"} ${m.json.code}`);
    assert.deepEqual(answers, ["q-1 2001", "q-2 2004", "- 2000", "q-3 2001", "q-4 1010", "q-5 1020"]);
    assert.equal(rig.hardware.mode, "charge");
    assert.equal(rig.product.settings.value.log_level, 4);
  });

  it("a burst beyond the device's queue is answered busy (failed) rather than queued without bound", async () => {
    const rig = await new OnKit().started();
    const limit = rig.kit.device.queue.limit;
    for (let i = 0; i < limit + 8; i++) rig.kit.broker.deliver("bess/control/commands", { command: "set_mode", mode: "idle", request_id: `b-${i}` });
    await rig.kit.settle();
    await rig.product.idle();
    await rig.kit.settle();
    const answers = rig.on("bess/status/+").filter((m) => typeof m.json.request_id === "string" && String(m.json.request_id).startsWith("b-"));
    assert.equal(answers.length, limit + 8, "every request answered once");
    const busy = answers.filter((m) => m.json.code === 2004 && /busy/.test(String(m.json.message)));
    assert.ok(busy.length >= 1 && answers.length - busy.length >= limit, `${busy.length} busy of ${answers.length}`);
  });

  it("a request naming another controller is neither run nor answered nor logged, even a malformed one", async () => {
    const rig = await new OnKit().started();
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "discharge", request_id: "o-1", device_id: "bess_controller_002" });
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "boost", request_id: "o-2", device_id: "bess_controller_002" });
    await rig.deliver("bess/system/reset", { request_id: "o-3", device_id: "bess_controller_002" }, 2);
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "charge", request_id: "mine", device_id: DEVICE });
    const answered = rig.on("bess/status/+").map((m) => m.json.request_id).filter((id) => id !== undefined);
    assert.deepEqual(answered, ["mine"]);
    assert.equal(rig.hardware.mode, "charge");
    assert.equal(rig.on("bess/logs/warning").length, 0, "no rejection warning");
    await rig.advance(1000);
    assert.equal(rig.kit.device.connected, true, "no reset ran");
  });
});

describe("bess: connection (kit)", () => {
  it("connects with a clean session and a retained QoS 1 will marking it offline on bess/status/connection", async () => {
    const rig = await new OnKit().started();
    const connect = rig.kit.broker.connects[0];
    assert.equal(connect.clientId, DEVICE);
    assert.equal(connect.clean, true);
    assert.equal(connect.keepalive, 60);
    assert.deepEqual(rig.kit.broker.will && { topic: rig.kit.broker.will.topic, json: rig.kit.broker.will.json, qos: rig.kit.broker.will.qos, retain: rig.kit.broker.will.retain },
      { topic: "bess/status/connection", json: { device_id: DEVICE, status: "offline" }, qos: 1, retain: true });
    assert.deepEqual(Object.fromEntries(rig.kit.broker.subscriptions),
      { "bess/control/commands": 1, "bess/control/config": 1, "bess/system/reset": 2, "bess/firmware/update": 2 });
    const online = rig.on("bess/status/connection");
    assert.deepEqual(online.map((m) => [m.json.status, m.retain, m.qos]), [["online", true, 1]]);
    assert.deepEqual(rig.on("bess/logs/info").map((m) => m.json.message), ["Connected to MQTT broker"]);
  });

  it("the will is published, retained, when the link dies; the next connect says online again", async () => {
    const rig = await new OnKit().started();
    rig.kit.broker.cut();
    await rig.advance(10_000);
    assert.deepEqual(rig.on("bess/status/connection").map((m) => m.json.status), ["online", "offline", "online"]);
    assert.equal(rig.kit.broker.retained.get("bess/status/connection")?.json.status, "online");
    assert.equal(rig.kit.broker.connects.length, 2);
    assert.ok(rig.kit.broker.will, "a will again on the new connection");
  });

  it("retries at the configured reconnect interval (jittered below it) and reports each error of an outage once", async () => {
    const rig = await new OnKit({ stored: { telemetry_interval_ms: 5000, log_level: 3, reconnect_interval_ms: 4000, max_reconnect_attempts: 0 } }).started();
    const { kit } = rig;
    const sockets = kit.net.sockets.length;
    kit.broker.down = true;
    kit.broker.cut();
    await microtasks();
    // random() = 0.5: every retry waits half the interval; each attempt is refused.
    for (let i = 0; i < 5; i++) {
      kit.clock.advance(1999);
      assert.equal(kit.net.sockets.length, sockets + i, "not before the delay");
      kit.clock.advance(1);
      assert.equal(kit.net.sockets.length, sockets + i + 1);
      kit.net.last.fail(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }));
      await microtasks();
    }
    kit.broker.down = false;
    kit.clock.advance(2000);
    await kit.settle();
    const errors = rig.on("bess/status/error").map((m) => m.json.code);
    assert.deepEqual(errors, [MQTT_ERRORS.DISCONNECTED, MQTT_ERRORS.CONNECT_FAILED], "one per distinct error, delivered from the outbox");
    const back = rig.on("bess/status/info").filter((m) => m.json.code === 1050);
    assert.equal(back.length, 1);
    assert.match(String(back[0].json.message), /after 6 error\(s\), last BESS_MQTT_ERR_CONNECT_FAILED/);
    assert.ok(kit.logs.some((l) => l.includes("BESS_MQTT_ERR_CONNECT_FAILED")), "logged locally while offline");
    assert.ok(kit.logs.some((l) => l.startsWith("W mqtt_client: Disconnected from MQTT broker")), "locally");
  });

  it("max_reconnect_attempts bounds the retries: the controller says it gave up", async () => {
    const rig = await new OnKit({ stored: { telemetry_interval_ms: 5000, log_level: 3, reconnect_interval_ms: 1000, max_reconnect_attempts: 3 } }).started();
    const { kit } = rig;
    kit.net.refuse = Object.assign(new Error("network down"), { code: "ENETUNREACH" });
    kit.broker.cut();
    await rig.advance(10_000);
    const sockets = kit.net.sockets.length;
    assert.ok(kit.logs.some((l) => /Gave up connecting after 3 attempt\(s\)/.test(l)), kit.logs.join("\n"));
    kit.net.refuse = undefined;
    await rig.advance(30_000);
    assert.equal(kit.net.sockets.length, sockets, "no more attempts");
  });

  it("telemetry produced offline waits in the bounded outbox and leaves in order on reconnect", async () => {
    const rig = await new OnKit().started();
    const { kit } = rig;
    kit.net.refuse = Object.assign(new Error("network down"), { code: "ENETUNREACH" });
    kit.broker.cut();
    await microtasks();
    kit.clock.advance(30_000); // 6 telemetry, reconnect attempts refused meanwhile
    await microtasks();
    kit.net.refuse = undefined;
    await rig.advance(10_000); // 2 more; the next attempt connects
    const times = rig.on("bess/telemetry").map((m) => m.json.timestamp as number);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    assert.equal(times.length, 8);
    assert.equal(new Set(times).size, 8, "each once");
  });

  it("a long outage keeps only the newest messages (drop-oldest, bounded outbox) and logs the drops locally", async () => {
    const rig = await new OnKit().started();
    const { kit } = rig;
    kit.net.refuse = Object.assign(new Error("network down"), { code: "ENETUNREACH" });
    kit.broker.cut();
    await microtasks();
    for (let i = 0; i < 40; i++) {
      kit.clock.advance(30_000); // 20 minutes: 240 telemetry messages for a 120-message outbox
      await microtasks();
    }
    kit.net.refuse = undefined;
    await rig.advance(10_000);
    const telemetry = rig.on("bess/telemetry").map((m) => m.at);
    const offline = telemetry.filter((at) => at <= 1_200_000);
    assert.ok(offline.length <= OUTBOX.maxMessages! && offline.length > 100, `${offline.length} of 240 delivered`);
    assert.equal(offline.at(-1), 1_200_000, "the newest is kept");
    assert.ok(offline[0] > 5000, "the oldest were dropped");
    assert.equal(telemetry.at(-1), 1_210_000, "and live again");
    assert.deepEqual(telemetry, [...telemetry].sort((a, b) => a - b), "in order");
    assert.ok(kit.logs.filter((l) => l.includes("QUEUE_FULL") || l.includes("outbox")).length >= 100, "drops logged locally");
  });

  it("a root is put in front of every topic (several controllers on one broker); payloads keep the schemas", async () => {
    const rig = await new OnKit({ config: { root: "site-a" } }).started();
    await rig.advance(5000);
    assert.deepEqual([...rig.kit.broker.subscriptions.keys()].sort(), [
      "site-a/bess/control/commands", "site-a/bess/control/config", "site-a/bess/firmware/update", "site-a/bess/system/reset"]);
    assert.equal(rig.kit.broker.will?.topic, "site-a/bess/status/connection");
    assert.equal(rig.on("site-a/bess/telemetry").length, 1);
    assert.equal(rig.on("bess/#").length, 0, "nothing on the unrooted topics");
    await rig.deliver("site-a/bess/control/commands", { command: "set_mode", mode: "charge", request_id: "x" });
    assert.equal(rig.on("site-a/bess/status/info").at(-1)?.json.request_id, "x");
  });

  it("refuses unknown options and a root with a wildcard", () => {
    assert.throws(() => new OnKit({ config: { prefix: "site-a" } }), (e: unknown) => e instanceof RangeError && /unknown option "prefix"/.test(e.message));
    assert.throws(() => new OnKit({ config: { root: "site/+" } }), RangeError);
  });

  it("stop() says offline (retained) before disconnecting", async () => {
    const rig = await new OnKit().started();
    const socket = rig.kit.net.last;
    const stopping = rig.product.stop();
    await rig.kit.settle();
    await stopping;
    assert.deepEqual(rig.on("bess/status/connection").map((m) => m.json.status), ["online", "offline"]);
    assert.equal(decodeAll(socket.bytes).at(-1)?.type, P.DISCONNECT);
    const before = rig.kit.broker.published.length;
    await rig.advance(60_000);
    assert.equal(rig.kit.broker.published.length, before, "nothing scheduled after stop");
  });

  it("stop() is bounded when the broker never acknowledges the goodbye", async () => {
    const rig = await new OnKit().started();
    rig.kit.broker.withhold.add("bess/status/connection");
    let done = false;
    const stopping = rig.product.stop().then(() => { done = true; });
    await rig.advance(GOODBYE_MS - 1000);
    assert.equal(done, false, "waits for the PUBACK a while");
    await rig.advance(1000);
    await stopping;
    assert.equal(done, true);
    assert.equal(decodeAll(rig.kit.net.last.bytes).at(-1)?.type, P.DISCONNECT);
  });

  it("a reset waits delay_ms, then reconnects with a fresh state; one reset at a time", async () => {
    const rig = await new OnKit().started();
    const { kit } = rig;
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "discharge", request_id: "m" });
    await rig.deliver("bess/system/reset", { request_id: "r", reset_type: "restart", delay_ms: 3000 }, 2);
    assert.equal(rig.on("bess/status/info").at(-1)?.json.code, 1030);
    const sockets = kit.net.sockets.length;
    const first = kit.net.last;
    await rig.advance(2999);
    assert.equal(kit.net.sockets.length, sockets);
    await rig.advance(1);
    assert.equal(decodeAll(first.bytes).at(-1)?.type, P.DISCONNECT);
    assert.equal(kit.net.sockets.length, sockets + 1, "a new connection");
    assert.equal(rig.hardware.mode, "idle");
    assert.deepEqual(rig.on("bess/status/connection").map((m) => m.json.status), ["online", "offline", "online"]);
    assert.equal(rig.on("bess/status/info").filter((m) => m.json.code === 1000).length, 2, "started again");
    await rig.deliver("bess/system/reset", { request_id: "r2", reset_type: "restart", delay_ms: 1000 }, 2);
    await rig.deliver("bess/system/reset", { request_id: "r3", reset_type: "restart" }, 2);
    assert.equal(rig.on("bess/status/error").at(-1)?.json.request_id, "r3", "one reset at a time");
  });

  it("a factory reset erases the settings; a restart keeps them", async () => {
    const rig = await new OnKit().started();
    await rig.deliver("bess/control/config", { request_id: "c", telemetry_interval_ms: 30_000 });
    await rig.deliver("bess/system/reset", { request_id: "r1", reset_type: "restart" }, 2);
    await rig.advance(1000);
    assert.equal(rig.product.settings.value.telemetry_interval_ms, 30_000);
    await rig.deliver("bess/system/reset", { request_id: "r2", reset_type: "factory_reset" }, 2);
    await rig.advance(1000);
    assert.equal(rig.product.settings.value.telemetry_interval_ms, 5000);
    assert.equal(rig.kit.settings.get(SETTINGS_KEY), undefined);
    assert.equal(rig.on("bess/status/info").filter((m) => m.json.code === 1000).length, 3);
  });

  it("a refused subscription is BESS_MQTT_ERR_SUBSCRIBE_FAILED (5003), once per outage, and its recovery is logged", async () => {
    const rig = new OnKit();
    rig.kit.broker.refuse.add("bess/firmware/update");
    await rig.started();
    const errors = rig.on("bess/status/error").filter((m) => m.json.code === 5003);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0].json.message), /^BESS_MQTT_ERR_SUBSCRIBE_FAILED: bess\/firmware\/update/);
    assert.ok(rig.on("bess/logs/error").some((m) => /SUBSCRIBE_FAILED/.test(String(m.json.message))));
    rig.kit.broker.refuse.clear();
    await rig.advance(120_000);
    assert.equal(rig.on("bess/status/error").filter((m) => m.json.code === 5003).length, 1, "retries are not reported again");
    assert.ok(rig.on("bess/logs/info").some((m) => /Subscription restored: bess\/firmware\/update/.test(String(m.json.message))));
  });
});

describe("bess: alarms with hysteresis (kit, scripted hardware)", () => {
  it("temperature: warning at 45, held to 42; critical at 55 with a thermal shutdown, held to 52; clears below 42", async () => {
    const hw = new ScriptedHardware();
    const rig = await new OnKit({ hardware: hw }).started();
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "discharge", request_id: "d" });
    const alarms = () => rig.on("bess/alarms/+").map((m) => `${m.topic.slice(12)} ${m.json.code} ${m.json.severity}`);
    const step = async (t: number) => { hw.temps(t); await rig.advance(5000); };
    await step(44.9);
    assert.deepEqual(alarms(), []);
    await step(45);
    await step(43);
    await step(44.5);
    assert.deepEqual(alarms(), ["warning 3001 2"], "raised once, held above 42");
    await step(41.9);
    assert.deepEqual(alarms().slice(1), ["info 3001 1"], "cleared");
    await step(55);
    assert.deepEqual(alarms().slice(2), ["critical 3002 4"]);
    assert.equal(hw.mode, "idle", "thermal shutdown");
    assert.equal(rig.on("bess/status/error").filter((m) => m.json.code === 6001).length, 1);
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "charge", request_id: "c" });
    assert.equal(rig.on("bess/status/error").at(-1)?.json.code, 2004, "only idle while critical");
    await step(52.5);
    assert.equal(alarms().length, 3, "critical held above 52");
    await step(51);
    assert.deepEqual(alarms().slice(3), ["warning 3001 2"], "back to warning");
    await step(30);
    assert.deepEqual(alarms().slice(4), ["info 3001 1"]);
    assert.ok(rig.on("bess/alarms/+").every((m) => m.json.module_id === 1));
  });

  it("state of charge: low (warning) and critically low (critical, severity 3); full (info)", async () => {
    const hw = new ScriptedHardware();
    const rig = await new OnKit({ hardware: hw }).started();
    const alarms = () => rig.on("bess/alarms/+").map((m) => `${m.topic.slice(12)} ${m.json.code} ${m.json.severity}`);
    for (const soc of [16, 15, 10, 5, 7, 9, 17, 18.5, 99.5, 98, 96]) {
      hw.reading.soc = soc;
      await rig.advance(5000);
    }
    assert.deepEqual(alarms(), [
      "warning 4001 2", // 15
      "critical 4002 3", // 5
      "warning 4001 2", // 9: above 8, still below 18
      "info 4001 1", // 18.5: cleared
      "info 4003 1", // 99.5: full
      "info 4003 1", // 96: full cleared
    ]);
  });

  it("bandFor holds a band until clearAt and needs raiseAt for a higher one", () => {
    const t = THRESHOLDS.temperature;
    assert.equal(bandFor(50, undefined, t, true)?.severity, 2);
    assert.equal(bandFor(54, 4, t, true)?.severity, 4);
    assert.equal(bandFor(54, 2, t, true)?.severity, 2);
    assert.equal(bandFor(43, 2, t, true)?.severity, 2);
    assert.equal(bandFor(43, undefined, t, true), undefined);
  });
});

describe("bess on its drivers over the emulated RS-485 line (kit)", () => {
  const codes = (rig: OnKit, filter: string) => rig.on(filter).map((m) => m.json.code);
  /** A controller on the bus, 300 ms into its first period: each reading (every 5 s), answered or timed out (200 ms), completes inside the test's windows. */
  const onBus = async (options: Partial<SimulationOptions> = {}): Promise<OnKit> => {
    const rig = await new OnKit({ bus: options }).started();
    await rig.advance(300); // the power-up idle write
    return rig;
  };

  it("set_mode is written to the converter (address 2) and read back; telemetry comes from the BMS's registers (address 1)", async () => {
    const rig = await onBus({ initialSoc: 60 });
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "discharge", params: { power_limit_kw: 25, soc_min: 20 }, request_id: "d" });
    assert.equal(rig.on("bess/status/info").at(-1)?.json.code, 1010);
    assert.equal(rig.bus.converter.mode, "discharge");
    assert.equal(rig.hardware.mode, "discharge", "confirmed by read-back");
    const frames = rig.bus.line.requests.map((f) => `${f[0]}/${f[1]}`);
    assert.deepEqual(frames.slice(-2), ["2/16", "2/3"], "one write, one read-back");
    await rig.advance(5000);
    const [t] = rig.on("bess/telemetry");
    assert.equal(t.at, 5000);
    const e = t.json.electrical as Obj;
    assert.ok(Math.abs((e.power_kw as number) - 25) < 0.05, `power ${e.power_kw}`);
    assert.ok((t.json.battery as Obj).soc as number < 60, "discharging");
    assert.ok(rig.bus.line.requests.some((f) => f[0] === 1 && f[1] === 4), "BMS read with function 4");
  });

  it("a converter that refuses the write: the command is answered failed (2004) with the exception, the mode stays; the next one works", async () => {
    const rig = await onBus();
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "charge", request_id: "c" });
    rig.bus.converter.refuse = 4;
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "discharge", request_id: "d" });
    const answer = rig.on("bess/status/error").at(-1)!;
    assert.equal(answer.json.request_id, "d");
    assert.equal(answer.json.code, 2004);
    assert.match(String(answer.json.message), /discharge not applied, converter still charge: converter refused the set-points: exception 4 \(slave device failure\)/);
    assert.equal(rig.hardware.mode, "charge");
    assert.equal(rig.bus.converter.mode, "charge");
    assert.ok(rig.on("bess/logs/error").some((m) => m.json.component === "battery_manager"));
    rig.bus.line.faults.silent = 1;
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "idle", request_id: "i" });
    assert.match(String(rig.on("bess/status/error").at(-1)?.json.message), /no answer from 2/, "a silent converter is a failed command too");
    rig.bus.converter.refuse = 0;
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "idle", request_id: "i2" });
    assert.equal(rig.on("bess/status/info").at(-1)?.json.code, 1010);
    assert.equal(rig.bus.converter.mode, "idle");
  });

  it("a BMS that stops answering: readings skipped; the third is an error status (7001), an alarm (7000), the converter idled (6002); recovery clears them", async () => {
    const rig = await onBus();
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "discharge", params: { power_limit_kw: 10 }, request_id: "d" });
    await rig.advance(5000);
    assert.equal(rig.on("bess/telemetry").length, 1);
    rig.bus.line.faults.silent = 3;
    await rig.advance(10_000);
    assert.equal(rig.on("bess/telemetry").length, 1, "readings skipped");
    assert.deepEqual(codes(rig, "bess/status/error"), [], "two misses are noise");
    assert.equal(rig.on("bess/logs/warning").filter((m) => /BMS reading skipped/.test(String(m.json.message))).length, 2);
    await rig.advance(5000);
    assert.deepEqual(codes(rig, "bess/status/error"), [7001, 6002]);
    assert.match(String(rig.on("bess/status/error")[0].json.message), /BMS readings lost: 3 in a row failed, last: no answer from 1/);
    assert.deepEqual(rig.on("bess/alarms/critical").map((m) => [m.json.code, m.json.severity, m.json.module_id]), [[7000, 3, 0]]);
    assert.equal(rig.bus.converter.mode, "idle", "not run blind");
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "charge", request_id: "c" });
    const refusal = rig.on("bess/status/+").find((m) => m.json.request_id === "c")!;
    assert.equal(refusal.json.code, 2004);
    assert.match(String(refusal.json.message), /BMS cannot be read/);
    await rig.advance(5000);
    assert.equal(rig.on("bess/telemetry").length, 2, "readings again");
    assert.equal(rig.on("bess/status/info").at(-1)?.json.code, 1060);
    assert.deepEqual(rig.on("bess/alarms/info").map((m) => [m.json.code, m.json.severity]), [[7000, 1]], "alarm cleared");
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "charge", request_id: "c2" });
    assert.equal(rig.on("bess/status/info").at(-1)?.json.code, 1010, "accepted again");
  });

  it("CRC errors from the BMS are 7002 and values out of range 7004, each after three readings; the device keeps running", async () => {
    const rig = await onBus();
    rig.bus.line.faults.badCrc = 3;
    await rig.advance(15_000);
    assert.deepEqual(codes(rig, "bess/status/error"), [7002], "converter already idle: no 6002");
    assert.match(String(rig.on("bess/status/error")[0].json.message), /bad CRC in the answer from 1/);
    await rig.advance(5000);
    assert.equal(rig.on("bess/status/info").at(-1)?.json.code, 1060);
    rig.bus.bms.overrides[BMS_REGISTERS.soc] = 12_000;
    await rig.advance(15_000);
    assert.deepEqual(codes(rig, "bess/status/error"), [7002, 7004]);
    assert.match(String(rig.on("bess/status/error")[1].json.message), /state of charge 120 % out of range/);
    assert.equal(rig.on("bess/telemetry").length, 1, "no telemetry from a reading out of range");
    rig.bus.bms.overrides[BMS_REGISTERS.soc] = undefined;
    await rig.advance(5000);
    assert.equal(rig.on("bess/telemetry").length, 2);
    assert.equal(rig.kit.device.connected, true);
  });

  it("the BMS's own flags feed the alarms: over-temperature is 3002 on the hottest module with a thermal shutdown; a ground fault is 4009", async () => {
    const rig = await onBus();
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "discharge", params: { power_limit_kw: 5 }, request_id: "d" });
    rig.bus.bms.forced = (1 << BMS_ALARM.OVER_TEMP_ALARM) | (1 << BMS_ALARM.GROUND_FAULT);
    await rig.advance(5000);
    const critical = rig.on("bess/alarms/critical").map((m) => [m.json.code, m.json.severity, m.json.module_id]);
    assert.deepEqual(critical, [[3002, 4, 4], [4009, 3, 0]], "module 4 is the warmest at rest");
    assert.match(String(rig.on("bess/alarms/critical")[0].json.message), /BMS flag/);
    assert.match(String(rig.on("bess/alarms/critical")[1].json.message), /GROUND_FAULT/);
    assert.equal(rig.on("bess/status/error").at(-1)?.json.code, 6001);
    assert.equal(rig.bus.converter.mode, "idle", "thermal shutdown over the bus");
    rig.bus.bms.forced = 0;
    await rig.advance(5000);
    assert.deepEqual(rig.on("bess/alarms/info").map((m) => m.json.code).sort(), [3002, 4009], "both clear with the flags");
  });

  it("a thermal shutdown the converter refuses is reported, then retried at the next reading until it holds", async () => {
    const rig = await onBus();
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "charge", request_id: "c" });
    rig.bus.converter.refuse = 6;
    rig.bus.bms.forced = 1 << BMS_ALARM.OVER_TEMP_ALARM;
    await rig.advance(5000);
    const first = rig.on("bess/status/error").at(-1)!;
    assert.equal(first.json.code, 6001);
    assert.match(String(first.json.message), /did not confirm idle \(converter refused the set-points: exception 6 \(slave device busy\)\)/);
    assert.equal(rig.bus.converter.mode, "charge");
    rig.bus.converter.refuse = 0;
    await rig.advance(5000);
    assert.equal(rig.bus.converter.mode, "idle", "retried");
    assert.match(String(rig.on("bess/status/error").at(-1)?.json.message), /Emergency thermal shutdown: module 4 at .* C, mode idle/);
  });

  it("cells drifting apart raise the cell imbalance warning (4008) from the controller's threshold and the BMS's flag", async () => {
    const rig = await onBus({ cellSpreadV: 0.12 });
    await rig.advance(5000);
    const [w] = rig.on("bess/alarms/warning");
    assert.equal(w.json.code, 4008);
    assert.match(String(w.json.message), /Cell voltage deviation \(cells 3\.\d{3}-3\.\d{3} V\)/);
  });
});

describe("bess: emulated pack and converter physics", () => {
  function sim(options: Partial<PackOptions & { maxPowerKw: number }> = {}) {
    let now = EPOCH;
    const { maxPowerKw = 30, ...packOptions } = options;
    const pack = new BatteryPack({ now: () => now, random: prng(3) }, packOptions);
    const converter = new EmulatedConverter(pack, maxPowerKw);
    return {
      bess: {
        setMode: (mode: Mode, limits: ModeLimits) => assert.equal(converter.writeHolding(0, encodeSetpoints({ mode, ...limits })), undefined),
        read: () => pack.state(),
      },
      advance: (ms: number) => { now += ms; },
    };
  }

  it("integrates power over time against capacity: 25 kW for 1 h takes about 50 % of 50 kWh, then stops at soc_min", () => {
    const { bess, advance } = sim({ initialSoc: 80 });
    bess.setMode("discharge", { powerLimitKw: 25, socMin: 20 });
    advance(3_600_000);
    const r = bess.read();
    assert.ok(r.soc > 28 && r.soc < 31, `soc ${r.soc}`);
    assert.ok(Math.abs(r.powerKw - 25) < 0.01, `power ${r.powerKw}`);
    advance(3_600_000);
    const r2 = bess.read();
    assert.ok(Math.abs(r2.soc - 20) < 1e-9, `stopped at soc_min: ${r2.soc}`);
    assert.equal(r2.powerKw, 0);
  });

  it("a set-point change applies from then on: the old set-points hold up to the change", () => {
    const { bess, advance } = sim({ initialSoc: 80 });
    bess.setMode("discharge", { powerLimitKw: 25, socMin: 0 });
    advance(1_800_000);
    bess.setMode("idle", { powerLimitKw: 25, socMin: 0 }); // no reading in between
    advance(1_800_000);
    const r = bess.read();
    assert.ok(r.soc > 53 && r.soc < 56, `half an hour at 25 kW: ${r.soc}`);
    assert.equal(r.powerKw, 0);
  });

  it("voltage, current and power agree; current is positive discharging, negative charging", () => {
    const { bess, advance } = sim();
    for (const [mode, sign] of [["discharge", 1], ["charge", -1], ["idle", 0]] as const) {
      bess.setMode(mode, { powerLimitKw: 20, socMin: 10 });
      advance(60_000);
      const r = bess.read();
      assert.ok(Math.abs((r.voltage * r.current) / 1000 - r.powerKw) < 1e-9);
      assert.equal(Math.sign(Math.round(r.current)), sign, `${mode}: ${r.current} A`);
      assert.ok(r.voltage > 40 && r.voltage < 56, `${r.voltage} V`);
    }
  });

  it("charging raises SOC, tapering to a stop at 100 %; the power limit caps at the converter's rating", () => {
    const { bess, advance } = sim({ initialSoc: 90, maxPowerKw: 30 });
    bess.setMode("charge", { powerLimitKw: 100, socMin: 0 });
    const first = bess.read();
    assert.ok(Math.abs(first.powerKw + 30) < 0.01, `capped at 30 kW: ${first.powerKw}`);
    advance(6 * 3_600_000);
    const r = bess.read();
    assert.ok(r.soc > 99.9 && r.soc <= 100, `soc ${r.soc}`);
    assert.ok(Math.abs(r.powerKw) < 0.1);
  });

  it("temperatures lag toward ambient + k|P| (first order) and fall back when idle; health fades with throughput", () => {
    const { bess, advance } = sim({ tauMs: 600_000, kPerKw: 0.7, ambientC: 25 });
    bess.setMode("discharge", { powerLimitKw: 20, socMin: 0 });
    advance(600_000); // one time constant: about 63 % of the 14 C rise
    const hot = bess.read();
    const rise = Math.min(...hot.moduleTemps) - 25;
    assert.ok(rise > 7.5 && rise < 10.5, `rise after one tau ${rise}`);
    advance(3_000_000);
    const steady = bess.read();
    assert.ok(Math.max(...steady.moduleTemps) > 38 && Math.max(...steady.moduleTemps) < 44, `steady ${steady.moduleTemps}`);
    assert.ok(steady.soh < 98.2);
    bess.setMode("idle", { powerLimitKw: 20, socMin: 0 });
    advance(6_000_000);
    assert.ok(Math.max(...bess.read().moduleTemps) < 30);
  });

  it("repeats exactly with the same seed and ignores a clock that goes back", () => {
    const a = sim();
    const b = sim();
    for (const s of [a, b]) {
      s.bess.setMode("discharge", { powerLimitKw: 10, socMin: 0 });
      s.advance(123_456);
    }
    assert.deepEqual(a.bess.read(), b.bess.read());
    const before = a.bess.read();
    a.advance(-10_000);
    assert.deepEqual(a.bess.read(), before);
  });
});

describe("bess: formats and tables", () => {
  const routes = bessRoutes();

  it("every MQTT client error maps to one of the specified eight error codes", () => {
    const codes: ErrorCode[] = ["INIT_FAILED", "CONNECT_FAILED", "SUBSCRIBE_FAILED", "PUBLISH_FAILED", "DISCONNECTED", "TIMEOUT", "AUTHENTICATION_FAILED", "TLS_FAILED",
      "MALFORMED_PACKET", "PROTOCOL_ERROR", "PACKET_TOO_LARGE", "QUEUE_FULL", "INVALID_ARGUMENT", "CLOSED"];
    for (const c of codes) {
      const s = seedError(new MqttError(c, "x").code);
      assert.ok(Object.values(MQTT_ERRORS).includes(s.code as never), c);
      assert.match(s.name, /^BESS_MQTT_ERR_/);
    }
    assert.equal(seedError("TLS_FAILED").code, 5008);
    assert.equal(seedError("QUEUE_FULL").name, "BESS_MQTT_ERR_PUBLISH_FAILED");
  });

  it("without a root the topics are exactly the specified ones; a root is prepended; wildcards are refused", () => {
    assert.deepEqual(Object.values(routes).map((r) => r.topic), [
      "bess/telemetry", "bess/status/info", "bess/status/error", "bess/status/connection",
      "bess/alarms/info", "bess/alarms/warning", "bess/alarms/critical",
      "bess/logs/info", "bess/logs/warning", "bess/logs/error",
      "bess/control/commands", "bess/control/config", "bess/system/reset", "bess/firmware/update"]);
    assert.equal(bessRoutes("site-a/hall-2").statusConnection.topic, "site-a/hall-2/bess/status/connection");
    assert.throws(() => bessRoutes("bess/+"), RangeError);
    assert.throws(() => bessRoutes("a//b"), RangeError);
  });

  it("the live-view filter covers one controller's topics and none of another root's", () => {
    assert.equal(allTopics(routes), "bess/#");
    assert.equal(definition.topicFilter(DEVICE, definition.defaults), "bess/#");
    const a = definition.topicFilter(DEVICE, { root: "bess_controller_001" });
    const b = definition.topicFilter("bess_controller_002", { root: "bess_controller_002" });
    for (const r of Object.values(bessRoutes("bess_controller_001"))) {
      assert.ok(topicMatches(a, r.topic), r.topic);
      assert.ok(!topicMatches(b, r.topic), r.topic);
    }
    assert.ok(!topicMatches(definition.topicFilter(DEVICE, {}), "bess_controller_001/bess/telemetry"));
  });

  it("logs carry ms timestamps and route by level; long text is cut to 255 characters", () => {
    const p = msg.log(routes, DEVICE, { level: 4, component: "bms", message: "x".repeat(400), at: EPOCH });
    assert.equal(p.topic, "bess/logs/info");
    assert.equal(p.qos, 0);
    const payload = p.payload as Obj;
    assert.equal(payload.timestamp, EPOCH);
    assert.equal((payload.message as string).length, 255);
    schemas.assertValid("log-info", payload);
    assert.equal(msg.log(routes, DEVICE, { level: 1, component: "bad component!", message: "m", at: EPOCH }).topic, "bess/logs/error");
    schemas.assertValid("log-error", msg.log(routes, DEVICE, { level: 1, component: "bad component!", message: "m", at: EPOCH }).payload);
  });

  it("alarm topics follow severity: 1 info, 2 warning, 3 and 4 critical", () => {
    assert.deepEqual([1, 2, 3, 4].map((s) => msg.alarmRoute(routes, s).topic), ["bess/alarms/info", "bess/alarms/warning", "bess/alarms/critical", "bess/alarms/critical"]);
  });

  it("status omits a request_id the schema would refuse", () => {
    const p = msg.status(routes, DEVICE, EPOCH, true, 2000, "m", "has spaces");
    assert.equal((p.payload as Obj).request_id, undefined);
  });

  it("compares firmware versions numerically", () => {
    assert.ok(compareVersions("0.10.0", "0.9.9") > 0);
    assert.equal(compareVersions("1.2.3-rc.1", "1.2.3"), 0);
    assert.ok(compareVersions("0.0.9", "0.1.0") < 0);
  });
});

describe("bess: the companion's commands (definition.command)", () => {
  it("builds the specified set_mode, addressed to one controller, answered on status/+", () => {
    const r = definition.command(DEVICE, definition.defaults, "set_mode", { mode: "discharge", power_limit_kw: 25, soc_min: 20, request_id: "req-12345" });
    assert.equal(r.topic, "bess/control/commands");
    assert.equal(r.qos, 1);
    assert.deepEqual(r.payload, { command: "set_mode", mode: "discharge", request_id: "req-12345", device_id: DEVICE, params: { power_limit_kw: 25, soc_min: 20 } });
    assert.equal(r.responseTopic, "bess/status/+");
    assert.equal(r.isResponse({ request_id: "req-12345", code: 1010 }), true);
    assert.equal(r.isResponse({ request_id: "other" }), false);
    assert.equal(definition.command(DEVICE, definition.defaults, "reset", {}).qos, 2);
    assert.equal(definition.command(DEVICE, { root: "site-a" }, "config", { log_level: 2 }).topic, "site-a/bess/control/config");
    assert.equal(definition.command(DEVICE, { root: "site-a" }, "config", { log_level: 2 }).responseTopic, "site-a/bess/status/+");
    assert.deepEqual(definition.defaults, { root: "" });
  });

  for (const [name, params] of [["set_mode", { mode: "boost" }], ["set_mode", { mode: "idle", speed: 3 }], ["config", { log_level: 9 }], ["fly", {}], ["firmware_update", { version: "1.0.0" }]] as const) {
    it(`refuses ${name} ${JSON.stringify(params)} with a RangeError and the usage`, () => {
      assert.throws(() => definition.command(DEVICE, definition.defaults, name, { ...params }),
        (e: unknown) => e instanceof RangeError && /usage: |commands: /.test(e.message));
    });
  }
});
