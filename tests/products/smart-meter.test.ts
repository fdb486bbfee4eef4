// The smart meter end to end against real brokers, on its real drivers (PZEM-004T over
// Modbus-RTU, the relay with its feedback contact) over emulated buses: a constant load behind
// the emulated relay, or the simulated household through `simulate`. On aedes a SchemaTap sees every PUBLISH
// the meter sends and checks it after each test against index.json (topic, direction, QoS,
// retain) and its schema. On mosquitto: the broker goes away while the meter keeps metering,
// and (in a second test) the meter restarts meanwhile; every report arrives once, in order,
// with a continuous energy register. The meter's clock runs 100× faster than the wall clock
// (a 0.3 s report period is 30 s of metering), so the figures look like the specification's examples.

import assert from "node:assert/strict";
import { startAedes } from "../harness/aedes.js";
import type { AedesHandle } from "../harness/aedes.js";
import { Mosquitto } from "../harness/mosquitto.js";
import { client, closeAll, Inbox, next } from "../integration/util.js";
import { productDevice, closeHostClients, SchemaTap, ProductSchemas } from "./harness.js";
import { MemorySettingsStore } from "../../modules/device/settings.js";
import type { SettingsStore } from "../../modules/device/settings.js";
import type { Device } from "../../modules/device/device.js";
import type { MqttClient, Message } from "../../modules/mqtt/client.js";
import { definition } from "../../modules/products/smart-meter/index.js";
import type { SmartMeter } from "../../modules/products/smart-meter/product.js";
import { emulatedMeter } from "../../modules/products/smart-meter/simulation.js";
import type { EmulatedMeter } from "../../modules/products/smart-meter/simulation.js";
import { simulate } from "../../modules/device/product.js";

/** 0.1 s samples, 0.3 s reports in wall time; with the 100× clock, 10 s and 30 s of metering. */
const FAST = { sampleIntervalS: "0.1", reportIntervalS: "0.3", statusIntervalS: "0" };
const LAPSE = 100;

/** The load behind the relay, in amperes at 230 V. */
class Load {
  current = 10;
  em: EmulatedMeter | undefined;
  /** The emulated relay's coil. */
  get relayOn(): boolean {
    return this.em!.relay.level === 1;
  }
}

/** Waits for log lines (the meter logs "Consumption: ..." per closed report). */
class LogWatch {
  /** The device's log: each line pushed wakes the waiters it satisfies. */
  readonly lines: string[] = [];
  #waiters: { test: () => boolean; resolve: () => void }[] = [];
  constructor() {
    this.lines.push = (...items: string[]): number => {
      const n = Array.prototype.push.apply(this.lines, items);
      this.#waiters = this.#waiters.filter((w) => (w.test() ? (w.resolve(), false) : true));
      return n;
    };
  }
  count(prefix: string): number {
    return this.lines.filter((l) => l.startsWith(prefix)).length;
  }
  until(prefix: string, n: number, ms = 10_000): Promise<void> {
    const test = () => this.count(prefix) >= n;
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.count(prefix)} of ${n} "${prefix}" lines in ${ms} ms:\n${this.lines.join("\n")}`)), ms);
      this.#waiters.push({ test, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }
}

let meterCount = 0;
const running: SmartMeter[] = [];

interface Started {
  meterNo: string;
  meter: SmartMeter;
  device: Device;
  load: Load;
  logs: LogWatch;
  settings: SettingsStore;
}

/** A fresh meter number per test: aedes keeps persistent sessions by client id. */
const nextMeterNo = () => `METER${700 + ++meterCount}`;

/** A meter on emulated buses; `load` from an earlier meter keeps its PZEM (a controller restart). */
function startMeter(port: number, meterNo: string, options: { settings?: SettingsStore; config?: Record<string, string>; simulate?: boolean; load?: Load } = {}): Started {
  const settings = options.settings ?? new MemorySettingsStore();
  const logs = new LogWatch();
  const start = Date.now();
  const device = productDevice({
    port, deviceId: meterNo, config: { ...FAST, ...options.config }, settings, seed: 5,
    now: () => start + (Date.now() - start) * LAPSE, logs: logs.lines,
  });
  const load = options.load ?? new Load();
  load.em ??= emulatedMeter(device, (connected) => ({ voltage: 230, current: connected ? load.current : 0 }));
  const meter = (options.simulate ? simulate(definition, device).product : definition.create(device, definition.hardware(load.em.buses, device))) as SmartMeter;
  running.push(meter);
  meter.start();
  return { meterNo, meter, device, load, logs, settings };
}

async function stopMeters(): Promise<void> {
  await Promise.all(running.splice(0).map((m) => m.stop().catch(() => {})));
  await closeHostClients();
}

/** A backend client subscribed to one meter's traffic. */
async function backend(port: number, meterNo: string, options: { clientId?: string; clean?: boolean } = {}): Promise<{ c: MqttClient; inbox: Inbox }> {
  const c = client(port, options.clientId ? { clientId: options.clientId, clean: options.clean ?? true } : {});
  await c.connect();
  const inbox = new Inbox(c);
  await c.subscribe(`smartmeter/${meterNo}/#`, { qos: 1 });
  return { c, inbox };
}

const json = (m: Message) => JSON.parse(new TextDecoder().decode(m.payload)) as Record<string, unknown>;
const on = (inbox: Inbox, meterNo: string, suffix: string) => inbox.messages.filter((m) => m.topic === `smartmeter/${meterNo}/${suffix}`).map(json);

/** Resolves with the first message on the meter's topic that passes `test`. */
function first(c: MqttClient, meterNo: string, suffix: string, test: (p: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
  return next(c, "message", (m) => m.topic === `smartmeter/${meterNo}/${suffix}` && test(json(m))).then(json);
}

let commandTs = 1_700_000_000_000;
function command(balance: unknown, timestamp: unknown = ++commandTs): string {
  return JSON.stringify({ balance, timestamp });
}

describe("smart-meter on aedes (every published message checked by the schema tap)", () => {
  let broker: AedesHandle;
  let tap: SchemaTap;

  before(async () => {
    broker = await startAedes();
    tap = new SchemaTap(broker, "smart-meter", (id) => id.startsWith("smartmeter-"));
  });
  afterEach(async () => {
    await stopMeters();
    tap.assertAllValid();
  });
  after(async () => {
    await closeAll();
    await broker.close();
  });

  it("boots: status and a balance request, each at its QoS and retain flag", async () => {
    const meterNo = nextMeterNo();
    const { c } = await backend(broker.port, meterNo);
    const status = first(c, meterNo, "status");
    const request = first(c, meterNo, "request/balance");
    startMeter(broker.port, meterNo);
    const booted = await status;
    // The emulated Wi-Fi: about -64 dBm.
    assert.ok((booted.wifi_rssi as number) >= -68 && (booted.wifi_rssi as number) <= -60, String(booted.wifi_rssi));
    assert.deepEqual({ ...booted, timestamp: 0, wifi_rssi: 0 }, {
      meterNo, status: "low_balance", message: "Balance exhausted: supply disconnected", balance: 0, wifi_rssi: 0, timestamp: 0,
    });
    assert.equal((await request).reason, "boot");
    await tap.waitFor((m) => m.topic.endsWith("/request/balance"));
    const seen = tap.of("status").concat(tap.of("balance-request")).filter((m) => m.topic.includes(meterNo));
    assert.deepEqual(seen.map((m) => [m.message, m.qos, m.retain]), [["status", 0, false], ["balance-request", 1, false]]);
  });

  it("a balance command round-trips: balance report, relay on, consumption every period at QoS 1", async () => {
    const meterNo = nextMeterNo();
    const { c, inbox } = await backend(broker.port, meterNo);
    const booted = first(c, meterNo, "request/balance");
    const m = startMeter(broker.port, meterNo);
    m.load.current = 0; // no load until the report is in: the acknowledged balance is exact
    await booted;
    const report = first(c, meterNo, "balance");
    await c.publish(`smartmeter/${meterNo}/command/balance`, command(10.5), { qos: 1 });
    assert.deepEqual({ ...(await report), timestamp: 0 }, { meterNo, balance: 10.5, timestamp: 0 });
    assert.equal(m.load.relayOn, true);
    m.load.current = 10;
    await tap.waitFor((s) => s.topic === `smartmeter/${meterNo}/consumption` && JSON.parse(s.payload.toString()).unitsConsumed > 0);
    const n = m.logs.count("Consumption:");
    await m.logs.until("Consumption:", n + 2);
    await until(c, () => on(inbox, meterNo, "consumption").some((p) => (p.unitsConsumed as number) > 0), () => "no consumption at the backend");
    const reports = tap.of("consumption").filter((s) => s.topic.includes(meterNo));
    assert.ok(reports.every((s) => s.qos === 1 && !s.retain));
    const payloads = reports.map((s) => JSON.parse(s.payload.toString()) as Record<string, number>);
    for (let i = 1; i < payloads.length; i++) {
      assert.ok(payloads[i].timestamp > payloads[i - 1].timestamp);
      assert.ok(payloads[i].remainingBalance <= payloads[i - 1].remainingBalance);
      assert.equal(Math.round((payloads[i].totalConsumed - payloads[i - 1].totalConsumed) * 1e6), Math.round(payloads[i].unitsConsumed * 1e6));
    }
    // ~30 s of metering at 2.3 kW per report: the specification's order of magnitude (0.0048 kWh).
    assert.ok(payloads.some((p) => p.unitsConsumed > 0.005 && p.unitsConsumed < 0.05), JSON.stringify(payloads));
  });

  it("the companion's balance command gets its response", async () => {
    const meterNo = nextMeterNo();
    const { c } = await backend(broker.port, meterNo);
    const booted = first(c, meterNo, "request/balance");
    startMeter(broker.port, meterNo);
    await booted;
    const request = definition.command(meterNo, {}, definition.example.command, definition.example.params);
    const response = next(c, "message", (m) => m.topic === request.responseTopic && request.isResponse(json(m) as never));
    await c.publish(request.topic, JSON.stringify(request.payload), { qos: request.qos, retain: request.retain });
    const answer = json(await response);
    assert.equal(answer.meterNo, meterNo);
    assert.ok(Math.abs((answer.balance as number) - 10.5) < 0.01);
  });

  it("answers every malformed command with status error, changes nothing and keeps running", async () => {
    const meterNo = nextMeterNo();
    const { c } = await backend(broker.port, meterNo);
    const booted = first(c, meterNo, "request/balance");
    const m = startMeter(broker.port, meterNo);
    m.load.current = 0;
    await booted;
    const applied = first(c, meterNo, "balance");
    await c.publish(`smartmeter/${meterNo}/command/balance`, command(5), { qos: 1 });
    await applied;
    const cases: [string, string, RegExp][] = [
      ["command/balance", "{not json", /^Rejected balance command: malformed_json: payload is not JSON/],
      ["command/balance", "[1,2]", /invalid_request: payload must be a JSON object/],
      ["command/reboot", "{}", /^Rejected reboot command: unknown_command: unknown command "reboot"$/],
      ["command/balance", command(-1), /invalid_parameters: balance: must be >= 0/],
      ["command/balance", command(2e9), /invalid_parameters: balance: must be <= 1000000000/],
      ["command/balance", JSON.stringify({ balance: 3 }), /invalid_parameters: message: missing field "timestamp"/],
      ["command/balance", command("3"), /invalid_parameters: balance: must be number/],
      ["command/balance", command(3, "yesterday"), /invalid_parameters: timestamp: must be integer/],
    ];
    for (const [topic, payload, why] of cases) {
      const error = first(c, meterNo, "status", (p) => p.status === "error");
      await c.publish(`smartmeter/${meterNo}/${topic}`, payload, { qos: 1 });
      const status = await error;
      assert.match(status.message as string, why);
      assert.equal(status.balance, 5, "the balance is untouched");
    }
    assert.equal(m.meter.ledger.balance, 5);
    assert.equal(m.device.connected, true);
    const later = first(c, meterNo, "balance");
    await c.publish(`smartmeter/${meterNo}/command/balance`, command(6), { qos: 1 });
    assert.equal((await later).balance, 6, "still taking commands");
  });

  it("ignores a balance command older than the last applied one", async () => {
    const meterNo = nextMeterNo();
    const { c } = await backend(broker.port, meterNo);
    const booted = first(c, meterNo, "request/balance");
    const m = startMeter(broker.port, meterNo);
    m.load.current = 0;
    await booted;
    const topic = `smartmeter/${meterNo}/command/balance`;
    const a = first(c, meterNo, "balance");
    await c.publish(topic, command(8, 1_800_000_000_000), { qos: 1 });
    assert.equal((await a).balance, 8);
    const b = first(c, meterNo, "balance");
    await c.publish(topic, command(80, 1_799_999_999_999), { qos: 1 });
    assert.equal((await b).balance, 8, "the balance report says what is in force");
    assert.equal(m.meter.ledger.lastCommandTs, 1_800_000_000_000);
  });

  it("opens the relay when the balance runs out and says low_balance", async () => {
    const meterNo = nextMeterNo();
    const { c } = await backend(broker.port, meterNo);
    const booted = first(c, meterNo, "request/balance");
    const m = startMeter(broker.port, meterNo, { config: { lowBalance: "0.02" } });
    m.load.current = 40; // 9.2 kW: 0.03 kWh lasts about 12 s of meter time
    await booted;
    const online = first(c, meterNo, "status", (p) => p.status === "online");
    // Whether a "low" status comes between depends on how the 100x clock's samples fall; the
    // unit tests check it on the fake clock.
    const empty = first(c, meterNo, "status", (p) => p.status === "low_balance" && /exhausted/.test(p.message as string));
    await c.publish(`smartmeter/${meterNo}/command/balance`, command(0.03), { qos: 1 });
    await online;
    assert.equal((await empty).balance, 0);
    assert.equal(m.load.relayOn, false);
  });

  it("the will says offline (QoS 0, not retained) when the link dies", async () => {
    const meterNo = nextMeterNo();
    const { c } = await backend(broker.port, meterNo);
    const booted = first(c, meterNo, "request/balance");
    const m = startMeter(broker.port, meterNo);
    await booted;
    const will = next(c, "message", (msg) => msg.topic === `smartmeter/${meterNo}/status` && json(msg).status === "offline");
    m.device.abort();
    const msg = await will;
    assert.equal(json(msg).message, "Connection lost");
    assert.equal(msg.retain, false);
    const isWill = (s: { topic: string; payload: Buffer }) => s.topic === `smartmeter/${meterNo}/status` && JSON.parse(s.payload.toString()).status === "offline";
    await tap.waitFor(isWill); // aedes reports the will's publish after delivering it
    const atBroker = tap.of("status").filter((s) => s.topic.includes(meterNo) && JSON.parse(s.payload.toString()).status === "offline");
    assert.deepEqual(atBroker.map((s) => [s.qos, s.retain]), [[0, false]]);
  });

  it("a graceful stop says offline too", async () => {
    const meterNo = nextMeterNo();
    const { c } = await backend(broker.port, meterNo);
    const booted = first(c, meterNo, "request/balance");
    const m = startMeter(broker.port, meterNo);
    await booted;
    const bye = first(c, meterNo, "status", (p) => p.status === "offline");
    await m.meter.stop();
    assert.equal((await bye).message, "Meter stopped");
  });

  it("runs on the simulated household", async () => {
    const meterNo = nextMeterNo();
    const { c } = await backend(broker.port, meterNo);
    const booted = first(c, meterNo, "request/balance");
    const m = startMeter(broker.port, meterNo, { simulate: true });
    await booted;
    await c.publish(`smartmeter/${meterNo}/command/balance`, command(20), { qos: 1 });
    const used = await first(c, meterNo, "consumption", (p) => (p.unitsConsumed as number) > 0);
    assert.ok((used.remainingBalance as number) < 20);
    assert.ok(m.meter.ledger.totalMicro > 0);
  });
});

describe("smart-meter on mosquitto: broker outages and restarts", () => {
  let broker: Mosquitto;
  const schemas = new ProductSchemas("smart-meter");

  before(async () => { broker = await Mosquitto.start(); });
  afterEach(async () => { await stopMeters(); await closeAll(); });
  after(async () => { await broker.dispose(); });

  /** Checks the backend's reports: valid, in order, a continuous register; duplicates only as identical copies. */
  function checkReports(reports: Record<string, unknown>[]): Record<string, number>[] {
    for (const r of reports) schemas.assertValid("consumption", r);
    const byTs = new Map<number, string>();
    const distinct: Record<string, number>[] = [];
    for (const r of reports) {
      const text = JSON.stringify(r);
      const seen = byTs.get(r.timestamp as number);
      if (seen !== undefined) {
        assert.equal(text, seen, "a redelivered report is identical, so the backend can drop it by timestamp");
        continue;
      }
      byTs.set(r.timestamp as number, text);
      distinct.push(r as Record<string, number>);
    }
    for (let i = 1; i < distinct.length; i++) {
      assert.ok(distinct[i].timestamp > distinct[i - 1].timestamp, "in order");
      assert.equal(Math.round((distinct[i].totalConsumed - distinct[i - 1].totalConsumed) * 1e6), Math.round(distinct[i].unitsConsumed * 1e6),
        `register continuous at report ${i}`);
    }
    return distinct;
  }

  it("keeps metering while the broker is down and delivers every report after it returns", async function () {
    this.timeout(30_000);
    const meterNo = "METER900";
    const { c, inbox } = await backend(broker.port, meterNo, { clientId: "backend-900", clean: false });
    const booted = first(c, meterNo, "request/balance");
    const m = startMeter(broker.port, meterNo);
    await booted;
    await c.publish(`smartmeter/${meterNo}/command/balance`, command(50), { qos: 1 });
    await m.logs.until("Consumption:", 2);
    await broker.stop();
    const cutoff = m.meter.ledger.lastReportTs;
    const before = m.logs.count("Consumption:");
    await m.logs.until("Consumption:", before + 4); // four periods metered offline
    assert.ok(m.meter.ledger.journal.length >= 3, `journal ${m.meter.ledger.journal.length}`);
    const reconnected = first(c, meterNo, "request/balance", (p) => p.reason === "reconnect");
    await broker.restart();
    await reconnected;
    // Everything the meter closed up to now must reach the backend.
    const closed = m.logs.count("Consumption:");
    await until(c, () => distinctCount(on(inbox, meterNo, "consumption")) >= closed, () => `backend has ${on(inbox, meterNo, "consumption").length} of ${closed}`);
    const distinct = checkReports(on(inbox, meterNo, "consumption"));
    assert.ok(distinct.length >= closed);
    assert.equal(Math.round(distinct[0].totalConsumed * 1e6), Math.round(distinct[0].unitsConsumed * 1e6), "from the first report on");
    assert.ok(distinct.filter((r) => r.timestamp > cutoff && r.unitsConsumed > 0).length >= 4, "the periods metered offline arrived");
    const statuses = on(inbox, meterNo, "status");
    for (const s of statuses) schemas.assertValid("status", s);
    for (const q of on(inbox, meterNo, "request/balance")) schemas.assertValid("balance-request", q);
  });

  it("a meter restarted during the outage replays its journal: each report arrives exactly once", async function () {
    this.timeout(30_000);
    const meterNo = "METER901";
    const { c, inbox } = await backend(broker.port, meterNo, { clientId: "backend-901", clean: false });
    const booted = first(c, meterNo, "request/balance");
    const first1 = startMeter(broker.port, meterNo);
    await booted;
    await c.publish(`smartmeter/${meterNo}/command/balance`, command(50), { qos: 1 });
    await first1.logs.until("Consumption:", 1);
    await broker.stop();
    const cutoff = first1.meter.ledger.lastReportTs;
    const before = first1.logs.count("Consumption:");
    await first1.logs.until("Consumption:", before + 3);
    await first1.meter.stop(); // its client's RAM outbox is gone with it; the journal is in settings
    const journal = first1.meter.ledger.journal.length;
    assert.ok(journal >= 3, `journal ${journal}`);
    const second = startMeter(broker.port, meterNo, { settings: first1.settings, load: first1.load });
    await second.logs.until("Consumption:", 2); // more metered, still offline
    const reconnected = first(c, meterNo, "request/balance", (p) => p.reason === "boot");
    await broker.restart();
    await reconnected;
    const closed = first1.logs.count("Consumption:") + second.logs.count("Consumption:");
    await until(c, () => distinctCount(on(inbox, meterNo, "consumption")) >= closed, () => `backend has ${on(inbox, meterNo, "consumption").length} of ${closed}`);
    const reports = on(inbox, meterNo, "consumption");
    const distinct = checkReports(reports);
    assert.equal(distinct.length, closed);
    assert.equal(Math.round(distinct[0].totalConsumed * 1e6), Math.round(distinct[0].unitsConsumed * 1e6), "from the first report on");
    // Reports closed while the broker was down never reached it before: each arrives exactly once.
    const outage = reports.filter((r) => (r.timestamp as number) > cutoff);
    assert.ok(outage.length >= 5, `${outage.length} reports from the outage`);
    assert.equal(new Set(outage.map((r) => r.timestamp)).size, outage.length, "no report from the outage twice");
  });
});

/** Distinct report timestamps (for waiting; checkReports asserts the details). */
function distinctCount(reports: Record<string, unknown>[]): number {
  return new Set(reports.map((r) => r.timestamp)).size;
}

/** Re-checks a condition on the backend's inbox at each message it receives (no fixed sleep). */
async function until(c: MqttClient, test: () => boolean, what: () => string, ms = 10_000): Promise<void> {
  while (!test()) await next(c, "message", () => true, ms).catch(() => { throw new Error(`timed out: ${what()}`); });
}
