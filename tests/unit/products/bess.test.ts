// The BESS controller's timing and physics on a fake clock: the test is the broker (a fake
// ECMA-419 socket) and the clock, so intervals, reconnect delays and hysteresis are exact.

import assert from "node:assert/strict";
import * as P from "../../../modules/mqtt/packets.js";
import type { Packet, QoS } from "../../../modules/mqtt/packets.js";
import { MqttClient } from "../../../modules/mqtt/client.js";
import { MqttError } from "../../../modules/mqtt/errors.js";
import type { ErrorCode } from "../../../modules/mqtt/errors.js";
import type { ProductHost } from "../../../modules/device/product.js";
import { MemorySettingsStore } from "../../../modules/device/settings.js";
import { prng } from "../../../modules/device/prng.js";
import { createBess, OUTBOX } from "../../../modules/products/bess/bess.js";
import type { BessProduct } from "../../../modules/products/bess/bess.js";
import { compareVersions } from "../../../modules/products/bess/bess.js";
import type { BessHardware, BessReading, Mode, ModeLimits } from "../../../modules/products/bess/hardware.js";
import { SimulatedBess } from "../../../modules/products/bess/simulation.js";
import { SETTINGS_KEY } from "../../../modules/products/bess/settings.js";
import { bandFor, THRESHOLDS } from "../../../modules/products/bess/conditions.js";
import { MQTT_ERRORS, seedError } from "../../../modules/products/bess/codes.js";
import { bessTopics } from "../../../modules/products/bess/topics.js";
import * as msg from "../../../modules/products/bess/messages.js";
import { ProductSchemas } from "../../products/harness.js";
import { definition } from "../../../modules/products/bess/index.js";
import { FakeClock, FakeNet, FakeSocket, bytes, connack, microtasks, td } from "../fakes.js";

const EPOCH = 1_713_012_345_000;
const DEVICE = "bess_controller_001";
type Obj = Record<string, unknown>;
interface Sent { topic: string; json: Obj; qos: number; retain: boolean; at: number }

/** Hardware whose reading the test sets. */
class ScriptedHardware implements BessHardware {
  mode: Mode = "idle";
  limits: ModeLimits = { powerLimitKw: 0, socMin: 0 };
  reading: BessReading = { voltage: 52, current: 0, powerKw: 0, soc: 60, soh: 98, moduleTemps: [30, 30, 30, 30] };
  reads = 0;
  setMode(mode: Mode, limits: ModeLimits): void {
    this.mode = mode;
    this.limits = limits;
  }
  read(): BessReading {
    this.reads++;
    return { ...this.reading, moduleTemps: this.reading.moduleTemps.slice() };
  }
  temps(t: number): void {
    this.reading.moduleTemps = [t, 30, 30, 30];
  }
}

const schemas = new ProductSchemas("bess");

/** A controller on a fake broker and clock. Every publication is checked against the contract. */
class Rig {
  readonly clock = new FakeClock();
  readonly net = new FakeNet();
  readonly settings = new MemorySettingsStore();
  readonly sent: Sent[] = [];
  readonly logs: string[] = [];
  readonly packets: string[] = [];
  readonly product: BessProduct;
  readonly hardware: BessHardware;
  #socket: FakeSocket | undefined;

  constructor(hardware?: BessHardware, stored?: Obj, config: Record<string, string> = {}) {
    if (stored) this.settings.set(SETTINGS_KEY, stored);
    const clock = this.clock;
    const host: ProductHost = {
      deviceId: DEVICE,
      config,
      timer: clock.timer,
      now: () => EPOCH + clock.now,
      settings: this.settings,
      random: prng(7),
      log: (line) => this.logs.push(line),
      createClient: (o) => new MqttClient({ ...o, host: "broker.local", socket: { io: this.net.io }, timer: clock.timer, now: () => clock.now, random: () => 0.5 }),
    };
    this.hardware = hardware ?? new SimulatedBess(host);
    this.product = createBess(host, this.hardware);
  }

  /** Accepts the newest socket as the broker and answers CONNECT. */
  async accept(): Promise<void> {
    const s = this.net.last;
    this.#socket = s;
    s.writable(1 << 20);
    await this.pump();
  }

  /** Answers everything the client wrote, as a broker would, until it goes quiet. */
  async pump(): Promise<void> {
    const s = this.#socket;
    if (!s) return;
    for (let round = 0; round < 50; round++) {
      await microtasks();
      const packets = s.take();
      if (packets.length === 0) return;
      for (const p of packets) this.#answer(s, p);
      if (s.closed) return;
    }
  }

  #answer(s: FakeSocket, p: Packet): void {
    if (s.closed) {
      if (p.type === P.DISCONNECT) this.packets.push("DISCONNECT");
      return;
    }
    switch (p.type) {
      case P.CONNECT:
        this.packets.push(`CONNECT will=${p.will ? `${p.will.topic}:${td.decode(p.will.payload)}:q${p.will.qos}${p.will.retain ? ":retain" : ""}` : "-"} clean=${p.clean}`);
        s.send(connack());
        break;
      case P.SUBSCRIBE:
        this.packets.push(`SUBSCRIBE ${p.subscriptions.map((x) => `${x.topic}:${x.qos}`).join(",")}`);
        s.send({ type: P.SUBACK, id: p.id, granted: p.subscriptions.map((x) => x.qos) });
        break;
      case P.PUBLISH: {
        const json = JSON.parse(td.decode(p.payload)) as Obj;
        // Under a configured root the topic table applies to the part after the root.
        const relative = p.topic.replace(/^.*?\bbess\//, "bess/");
        const problem = schemas.check({ topic: relative, payload: p.payload, qos: p.qos, retain: p.retain });
        assert.equal(problem, undefined, problem);
        // When the message was made (its own timestamp), not when the fake broker read it.
        const ts = typeof json.timestamp === "number" ? json.timestamp : undefined;
        const at = ts === undefined ? this.clock.now : (ts > 1e12 ? ts : ts * 1000) - EPOCH;
        this.sent.push({ topic: p.topic, json, qos: p.qos, retain: p.retain, at });
        if (p.qos === 1) s.send({ type: P.PUBACK, id: p.id! });
        if (p.qos === 2) s.send({ type: P.PUBREC, id: p.id! });
        break;
      }
      case P.PUBREL:
        s.send({ type: P.PUBCOMP, id: p.id });
        break;
      case P.PINGREQ:
        s.send({ type: P.PINGRESP });
        break;
      case P.DISCONNECT:
        this.packets.push("DISCONNECT");
        break;
      default:
        break;
    }
  }

  /** Delivers a message from the backend to the controller. */
  async deliver(topic: string, payload: string | Obj, qos: QoS = 1): Promise<void> {
    const packet: P.PublishPacket = { type: P.PUBLISH, topic, payload: bytes(typeof payload === "string" ? payload : JSON.stringify(payload)), qos, retain: false, dup: false };
    if (qos > 0) packet.id = 100 + this.sent.length;
    this.#socket!.send(packet);
    await this.pump();
    await this.product.idle();
    await this.pump();
  }

  async advance(ms: number): Promise<void> {
    this.clock.advance(ms);
    await this.pump();
  }

  async started(): Promise<this> {
    this.product.start();
    await this.accept();
    return this;
  }

  on(topic: string): Sent[] {
    return this.sent.filter((m) => m.topic === topic);
  }

  /** Drops the connection as a network failure would. */
  fail(error?: unknown): void {
    this.#socket!.fail(error ?? Object.assign(new Error("reset"), { code: "ECONNRESET" }));
  }
}

describe("bess: telemetry schedule (fake clock)", () => {
  it("publishes telemetry every 5 s by default (seed line 233), at QoS 1, timestamps from host.now() in seconds", async () => {
    const rig = await new Rig().started();
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
    const rig = await new Rig().started();
    await rig.advance(4000);
    await rig.deliver("bess/control/config", { request_id: "cfg-1", telemetry_interval_ms: 2000 });
    assert.equal(rig.on("bess/status/info").at(-1)?.json.code, 1020);
    await rig.advance(2000);
    assert.deepEqual(rig.on("bess/telemetry").map((m) => m.at), [6000], "2 s after the change, not 5 s after the start");
    await rig.advance(4000);
    assert.deepEqual(rig.on("bess/telemetry").map((m) => m.at), [6000, 8000, 10_000]);
    assert.equal((rig.settings.get(SETTINGS_KEY) as Obj).telemetry_interval_ms, 2000);
  });

  it("an invalid config changes neither the schedule nor the store", async () => {
    const rig = await new Rig().started();
    await rig.deliver("bess/control/config", { request_id: "cfg-2", telemetry_interval_ms: 500 });
    assert.equal(rig.on("bess/status/error").at(-1)?.json.code, 2001);
    assert.equal(rig.settings.get(SETTINGS_KEY), undefined);
    await rig.advance(5000);
    assert.equal(rig.on("bess/telemetry").length, 1);
  });

  it("starts with the persisted interval; a corrupt stored value falls back to the defaults", async () => {
    const rig = await new Rig(undefined, { telemetry_interval_ms: 1000, log_level: 3, reconnect_interval_ms: 10_000, max_reconnect_attempts: 0 }).started();
    await rig.advance(3000);
    assert.equal(rig.on("bess/telemetry").length, 3);
    const corrupt = await new Rig(undefined, { telemetry_interval_ms: -5 }).started();
    await corrupt.advance(5000);
    assert.equal(corrupt.on("bess/telemetry").length, 1);
  });

  it("log_level from config applies at once: 2 stops info logs", async () => {
    const rig = await new Rig().started();
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "charge", request_id: "a" });
    assert.equal(rig.on("bess/logs/info").filter((m) => String(m.json.message).startsWith("Mode set")).length, 1);
    await rig.deliver("bess/control/config", { request_id: "cfg", log_level: 2 });
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "idle", request_id: "b" });
    assert.equal(rig.on("bess/logs/info").filter((m) => String(m.json.message).startsWith("Mode set")).length, 1);
  });
});

describe("bess: connection (fake clock)", () => {
  it("connects with a clean session and a retained QoS 1 will marking it offline on bess/status/connection", async () => {
    const rig = await new Rig().started();
    assert.equal(rig.packets[0], `CONNECT will=bess/status/connection:{"device_id":"${DEVICE}","status":"offline"}:q1:retain clean=true`);
    assert.ok(rig.packets.includes("SUBSCRIBE bess/control/commands:1"));
    assert.ok(rig.packets.includes("SUBSCRIBE bess/control/config:1"));
    assert.ok(rig.packets.includes("SUBSCRIBE bess/system/reset:2"));
    assert.ok(rig.packets.includes("SUBSCRIBE bess/firmware/update:2"));
    const online = rig.on("bess/status/connection");
    assert.deepEqual(online.map((m) => [m.json.status, m.retain, m.qos]), [["online", true, 1]]);
    assert.deepEqual(rig.on("bess/logs/info").map((m) => m.json.message), ["Connected to MQTT broker"], "seed line 174");
  });

  it("retries at the configured reconnect interval (jittered below it) and reports each error of an outage once", async () => {
    const rig = await new Rig(undefined, { telemetry_interval_ms: 5000, log_level: 3, reconnect_interval_ms: 4000, max_reconnect_attempts: 0 }).started();
    const sockets = rig.net.sockets.length;
    rig.fail();
    await rig.pump();
    // random() = 0.5: every retry waits half the interval; each attempt is refused.
    for (let i = 0; i < 5; i++) {
      rig.clock.advance(1999);
      assert.equal(rig.net.sockets.length, sockets + i, "not before the delay");
      rig.clock.advance(1);
      assert.equal(rig.net.sockets.length, sockets + i + 1);
      rig.net.last.fail(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }));
      await microtasks();
    }
    rig.clock.advance(2000);
    await rig.accept();
    const errors = rig.on("bess/status/error").map((m) => m.json.code);
    assert.deepEqual(errors, [MQTT_ERRORS.DISCONNECTED, MQTT_ERRORS.CONNECT_FAILED], "one per distinct error, delivered from the outbox");
    const back = rig.on("bess/status/info").filter((m) => m.json.code === 1050);
    assert.equal(back.length, 1);
    assert.match(String(back[0].json.message), /after 6 error\(s\), last BESS_MQTT_ERR_CONNECT_FAILED/);
    assert.ok(rig.logs.some((l) => l.includes("BESS_MQTT_ERR_CONNECT_FAILED")), "logged locally while offline");
    assert.ok(rig.logs.some((l) => l.startsWith("W mqtt_client: Disconnected from MQTT broker")), "seed line 179, locally");
  });

  it("telemetry produced offline waits in the bounded outbox and leaves in order on reconnect", async () => {
    const rig = await new Rig().started();
    rig.fail();
    await microtasks();
    rig.clock.advance(30_000); // 6 telemetry, reconnect attempts refused meanwhile
    for (const s of rig.net.sockets.slice(1)) if (!s.closed) s.fail(new Error("refused"));
    await microtasks();
    rig.clock.advance(10_000); // 2 more; next attempt
    await rig.accept();
    const times = rig.on("bess/telemetry").map((m) => m.json.timestamp as number);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    assert.equal(times.length, 8);
  });

  it("a long outage keeps only the newest messages (drop-oldest, bounded outbox) and logs the drops locally", async () => {
    const rig = await new Rig().started();
    rig.net.refuse = Object.assign(new Error("network down"), { code: "ENETUNREACH" });
    rig.fail();
    await microtasks();
    for (let i = 0; i < 40; i++) {
      rig.clock.advance(30_000); // 20 minutes: 240 telemetry messages for a 120-message outbox
      await microtasks();
    }
    rig.net.refuse = undefined;
    rig.clock.advance(10_000);
    await rig.accept();
    const telemetry = rig.on("bess/telemetry").map((m) => m.at);
    assert.ok(telemetry.length <= OUTBOX.maxMessages! && telemetry.length > 100, `${telemetry.length} delivered`);
    assert.equal(telemetry.at(-1), 1_210_000, "the newest is kept");
    assert.ok(telemetry[0] > 5000, "the oldest were dropped");
    assert.deepEqual(telemetry, [...telemetry].sort((a, b) => a - b), "in order");
    assert.ok(rig.logs.filter((l) => l.includes("QUEUE_FULL") || l.includes("outbox")).length >= 100, "drops logged locally");
  });

  it("a configured root moves every topic (several controllers on one broker); payloads keep the schemas", async () => {
    const rig = await new Rig(undefined, undefined, { root: "site-a/bess" }).started();
    await rig.advance(5000);
    assert.deepEqual(rig.packets.filter((p) => p.startsWith("SUBSCRIBE")).sort(), [
      "SUBSCRIBE site-a/bess/control/commands:1", "SUBSCRIBE site-a/bess/control/config:1",
      "SUBSCRIBE site-a/bess/firmware/update:2", "SUBSCRIBE site-a/bess/system/reset:2"]);
    assert.ok(rig.packets[0].startsWith("CONNECT will=site-a/bess/status/connection:"));
    assert.equal(rig.on("site-a/bess/telemetry").length, 1);
    await rig.deliver("site-a/bess/control/commands", { command: "set_mode", mode: "charge", request_id: "x" });
    assert.equal(rig.on("site-a/bess/status/info").at(-1)?.json.request_id, "x");
  });

  it("stop() says offline (retained) before disconnecting", async () => {
    const rig = await new Rig().started();
    const stopping = rig.product.stop();
    await rig.pump();
    await stopping;
    assert.deepEqual(rig.on("bess/status/connection").map((m) => m.json.status), ["online", "offline"]);
    assert.equal(rig.packets.at(-1), "DISCONNECT");
    const before = rig.sent.length;
    rig.clock.advance(60_000);
    assert.equal(rig.sent.length, before, "nothing scheduled after stop");
  });

  it("a reset waits delay_ms, then reconnects with a fresh state", async () => {
    const rig = await new Rig().started();
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "discharge", request_id: "m" });
    await rig.deliver("bess/system/reset", { request_id: "r", reset_type: "restart", delay_ms: 3000 }, 2);
    assert.equal(rig.on("bess/status/info").at(-1)?.json.code, 1030);
    const sockets = rig.net.sockets.length;
    await rig.advance(2999);
    assert.equal(rig.net.sockets.length, sockets);
    await rig.advance(1);
    await rig.pump();
    await microtasks();
    assert.equal(rig.packets.at(-1), "DISCONNECT");
    assert.equal(rig.net.sockets.length, sockets + 1, "a new connection");
    await rig.accept();
    assert.equal(rig.hardware.mode, "idle");
    assert.deepEqual(rig.on("bess/status/connection").map((m) => m.json.status), ["online", "offline", "online"]);
    await rig.deliver("bess/system/reset", { request_id: "r2", reset_type: "restart", delay_ms: 1000 }, 2);
    await rig.deliver("bess/system/reset", { request_id: "r3", reset_type: "restart" }, 2);
    assert.equal(rig.on("bess/status/error").at(-1)?.json.request_id, "r3", "one reset at a time");
  });
});

describe("bess: alarms with hysteresis (fake clock, scripted hardware)", () => {
  it("temperature: warning at 45, held to 42; critical at 55 with a thermal shutdown, held to 52; clears below 42", async () => {
    const hw = new ScriptedHardware();
    const rig = await new Rig(hw).started();
    await rig.deliver("bess/control/commands", { command: "set_mode", mode: "discharge", request_id: "d" });
    const alarms = () => rig.sent.filter((m) => m.topic.startsWith("bess/alarms/")).map((m) => `${m.topic.slice(12)} ${m.json.code} ${m.json.severity}`);
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
    await step(52.5);
    assert.equal(alarms().length, 3, "critical held above 52");
    await step(51);
    assert.deepEqual(alarms().slice(3), ["warning 3001 2"], "back to warning");
    await step(30);
    assert.deepEqual(alarms().slice(4), ["info 3001 1"]);
    assert.ok(rig.sent.filter((m) => m.topic.startsWith("bess/alarms/")).every((m) => m.json.module_id === 1));
  });

  it("state of charge: low (warning) and critically low (critical, severity 3); full (info)", async () => {
    const hw = new ScriptedHardware();
    const rig = await new Rig(hw).started();
    const alarms = () => rig.sent.filter((m) => m.topic.startsWith("bess/alarms/")).map((m) => `${m.topic.slice(12)} ${m.json.code} ${m.json.severity}`);
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

describe("bess: simulated hardware physics", () => {
  function sim(options = {}) {
    let now = EPOCH;
    const host = { now: () => now, random: prng(3) };
    return { bess: new SimulatedBess(host, options), advance: (ms: number) => { now += ms; } };
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
  const topics = bessTopics();

  it("every MQTT client error maps to one of the seed's eight error codes", () => {
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

  it("the root defaults to the seed's topics and refuses wildcards", () => {
    assert.equal(topics.telemetry, "bess/telemetry");
    assert.equal(topics.firmwareUpdate, "bess/firmware/update");
    assert.equal(bessTopics("site-a/bess").statusConnection, "site-a/bess/status/connection");
    assert.throws(() => bessTopics("bess/+"), RangeError);
    assert.throws(() => bessTopics("a//b"), RangeError);
  });

  it("logs carry ms timestamps and route by level; long text is cut to 255 characters", () => {
    const p = msg.log(topics, DEVICE, { level: 4, component: "bms", message: "x".repeat(400), at: EPOCH });
    assert.equal(p.topic, "bess/logs/info");
    assert.equal(p.qos, 0);
    const payload = p.payload as Obj;
    assert.equal(payload.timestamp, EPOCH);
    assert.equal((payload.message as string).length, 255);
    schemas.assertValid("log-info", payload);
    assert.equal(msg.log(topics, DEVICE, { level: 1, component: "bad component!", message: "m", at: EPOCH }).topic, "bess/logs/error");
    schemas.assertValid("log-error", msg.log(topics, DEVICE, { level: 1, component: "bad component!", message: "m", at: EPOCH }).payload);
  });

  it("alarm topics follow severity: 1 info, 2 warning, 3 and 4 critical", () => {
    assert.deepEqual([1, 2, 3, 4].map((s) => msg.alarmTopic(topics, s)), ["bess/alarms/info", "bess/alarms/warning", "bess/alarms/critical", "bess/alarms/critical"]);
  });

  it("status omits a request_id the schema would refuse", () => {
    const p = msg.status(topics, DEVICE, EPOCH, true, 2000, "m", "has spaces");
    assert.equal((p.payload as Obj).request_id, undefined);
  });

  it("compares firmware versions numerically", () => {
    assert.ok(compareVersions("0.10.0", "0.9.9") > 0);
    assert.equal(compareVersions("1.2.3-rc.1", "1.2.3"), 0);
    assert.ok(compareVersions("0.0.9", "0.1.0") < 0);
  });
});

describe("bess: the companion's commands (definition.command)", () => {
  it("builds the seed's set_mode, addressed to one controller, answered on status/+", () => {
    const r = definition.command(DEVICE, definition.defaults, "set_mode", { mode: "discharge", power_limit_kw: 25, soc_min: 20, request_id: "req-12345" });
    assert.equal(r.topic, "bess/control/commands");
    assert.equal(r.qos, 1);
    assert.deepEqual(r.payload, { command: "set_mode", mode: "discharge", request_id: "req-12345", device_id: DEVICE, params: { power_limit_kw: 25, soc_min: 20 } });
    assert.equal(r.responseTopic, "bess/status/+");
    assert.equal(r.isResponse({ request_id: "req-12345", code: 1010 }), true);
    assert.equal(r.isResponse({ request_id: "other" }), false);
    assert.equal(definition.command(DEVICE, definition.defaults, "reset", {}).qos, 2);
    assert.equal(definition.command(DEVICE, { root: "site-a/bess" }, "config", { log_level: 2 }).topic, "site-a/bess/control/config");
  });

  for (const [name, params] of [["set_mode", { mode: "boost" }], ["set_mode", { mode: "idle", speed: 3 }], ["config", { log_level: 9 }], ["fly", {}], ["firmware_update", { version: "1.0.0" }]] as const) {
    it(`refuses ${name} ${JSON.stringify(params)} with a RangeError and the usage`, () => {
      assert.throws(() => definition.command(DEVICE, definition.defaults, name, { ...params }),
        (e: unknown) => e instanceof RangeError && /usage: |commands: /.test(e.message));
    });
  }
});
