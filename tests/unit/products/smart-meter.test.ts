// The smart meter's logic on a fake clock and a scripted client: integration and the
// 30 s report period, tariff, relay at zero balance, low-balance threshold, status on
// change and heartbeat, balance commands (stale, malformed, unknown), the resync request
// on every connect, and the ledger's promise: consumption measured offline or across a
// restart is reported, never lost and never counted twice. Plus config, the companion's
// command builder and the simulated household.

import assert from "node:assert/strict";
import { Emitter } from "../../../modules/mqtt/emitter.js";
import type { ClientEvents, MessageHandler, MqttClient, PublishOptions } from "../../../modules/mqtt/client.js";
import { MqttError } from "../../../modules/mqtt/errors.js";
import { MemorySettingsStore } from "../../../modules/device/settings.js";
import type { SettingsStore } from "../../../modules/device/settings.js";
import { SimulatedRelay } from "../../../modules/device/hardware.js";
import type { ProductClientOptions, ProductHost } from "../../../modules/device/product.js";
import { prng } from "../../../modules/device/prng.js";
import { createSmartMeter, definition } from "../../../modules/products/smart-meter/index.js";
import type { SmartMeter, MeterHardware, Reading } from "../../../modules/products/smart-meter/index.js";
import { LEDGER_KEY } from "../../../modules/products/smart-meter/meter.js";
import { parseConfig } from "../../../modules/products/smart-meter/config.js";
import { EnergyIntegrator } from "../../../modules/products/smart-meter/integrator.js";
import { SimulatedMeterHardware } from "../../../modules/products/smart-meter/simulation.js";
import { ProductSchemas } from "../../products/harness.js";
import { FakeClock, microtasks } from "../fakes.js";

const schemas = new ProductSchemas("smart-meter");
const T0 = 1_700_000_000_000;
const te = new TextEncoder();
const td = new TextDecoder();

interface Wire {
  topic: string;
  payload: Record<string, unknown>;
  qos: number;
  retain: boolean;
}

/**
 * A client double: QoS 0 publishes reach the "broker" only while connected; QoS 1 publishes
 * wait in order (the real client's outbox) and reach it on connect, acknowledged at once
 * unless `manualAck`. `wire` is what the broker received, in order.
 */
class ScriptedClient extends Emitter<ClientEvents> {
  connected = false;
  manualAck = false;
  readonly wire: Wire[] = [];
  readonly #outbox: { m: Wire; resolve(): void; reject(e: MqttError): void }[] = [];
  /** Sent, awaiting PUBACK (manualAck). */
  readonly #unacked: { resolve(): void }[] = [];
  #handler: MessageHandler | undefined;

  publish(topic: string, payload: string | Uint8Array, options: PublishOptions = {}): Promise<void> {
    const m: Wire = {
      topic,
      payload: JSON.parse(typeof payload === "string" ? payload : td.decode(payload)) as Record<string, unknown>,
      qos: options.qos ?? 0,
      retain: options.retain ?? false,
    };
    const problem = schemas.check({ topic, payload: te.encode(JSON.stringify(m.payload)), qos: m.qos, retain: m.retain });
    assert.equal(problem, undefined, problem);
    if (m.qos === 0) {
      if (!this.connected) return Promise.reject(new MqttError("DISCONNECTED", "offline"));
      this.wire.push(m);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.#outbox.push({ m, resolve, reject });
      if (this.connected) this.#flush();
    });
  }

  subscribe(_filter: string | string[], _options: { qos?: number } = {}, handler?: MessageHandler): Promise<number[]> {
    this.#handler = handler;
    return Promise.resolve([1]);
  }

  connect(): Promise<{ sessionPresent: boolean }> {
    return new Promise(() => {}); // the test decides when the link is up
  }

  /** The link comes up: queued messages go first, then the connected event. */
  goOnline(): void {
    this.connected = true;
    this.#flush();
    this.emit("connected", { sessionPresent: false });
  }

  goOffline(): void {
    this.connected = false;
    this.emit("disconnected", {});
  }

  /** PUBACK for the oldest n sent messages (manualAck). */
  ack(n = Infinity): void {
    for (const u of this.#unacked.splice(0, n)) u.resolve();
  }

  /** A broker message on a command topic. */
  deliver(topic: string, payload: string | Uint8Array): void {
    this.#handler?.({ topic, payload: typeof payload === "string" ? te.encode(payload) : payload, qos: 1, retain: false, dup: false });
  }

  disconnect(): Promise<void> {
    this.connected = false;
    for (const o of this.#outbox.splice(0)) o.reject(new MqttError("CLOSED", "closed"));
    return Promise.resolve();
  }

  abort(): void {
    this.connected = false;
  }

  #flush(): void {
    for (const o of this.#outbox.splice(0)) {
      this.wire.push(o.m);
      if (this.manualAck) this.#unacked.push({ resolve: o.resolve });
      else o.resolve();
    }
  }

  of(kind: "consumption" | "status" | "balance" | "request"): Record<string, unknown>[] {
    const topic = `smartmeter/METER001/${{ consumption: "consumption", status: "status", balance: "balance", request: "request/balance" }[kind]}`;
    return this.wire.filter((w) => w.topic === topic).map((w) => w.payload);
  }
}

class FakeHardware implements MeterHardware {
  readonly relay = new SimulatedRelay();
  voltage = 230;
  current = 10;
  failure: string | undefined;
  measure(): Reading {
    if (this.failure) throw new Error(this.failure);
    return { voltage: this.voltage, current: this.relay.on ? this.current : 0 };
  }
  rssi(): number {
    return -61;
  }
}

interface Rig {
  clock: FakeClock;
  /** Added to the clock for host.now(): a wall clock that steps while timers do not. */
  time: { offset: number };
  /** Power cut: this meter's timers and link die with its RAM; storage survives. */
  crash(): void;
  store: SettingsStore;
  hw: FakeHardware;
  client: ScriptedClient;
  meter: SmartMeter;
  logs: string[];
  clientOptions: ProductClientOptions[];
}

/** A meter on a fake clock; pass `from` to restart on another rig's clock and storage. */
function rig(config: Record<string, string> = {}, from?: Pick<Rig, "clock" | "store" | "hw">): Rig {
  const clock = from?.clock ?? Object.assign(new FakeClock(), { now: T0 });
  const store = from?.store ?? new MemorySettingsStore();
  const hw = from?.hw ?? new FakeHardware();
  const client = new ScriptedClient();
  const logs: string[] = [];
  const clientOptions: ProductClientOptions[] = [];
  const time = { offset: 0 };
  const handles = new Set<unknown>();
  const timer = {
    set: (callback: () => void, ms: number): unknown => {
      const h: unknown = clock.timer.set(() => { handles.delete(h); callback(); }, ms);
      handles.add(h);
      return h;
    },
    clear: (h: unknown): void => { handles.delete(h); clock.timer.clear(h); },
  };
  const crash = () => {
    for (const h of handles) clock.timer.clear(h);
    handles.clear();
    client.abort();
  };
  const host: ProductHost = {
    deviceId: "METER001",
    config,
    timer,
    now: () => clock.now + time.offset,
    settings: store,
    random: prng(7),
    log: (l) => logs.push(l),
    createClient: (o) => {
      clientOptions.push(o);
      return client as unknown as MqttClient;
    },
  };
  const meter = createSmartMeter(host, hw);
  meter.start();
  return { clock, time, crash, store, hw, client, meter, logs, clientOptions };
}

const CMD = "smartmeter/METER001/command/balance";
let commandTs = T0 - 60_000;
/** A balance command with a fresh timestamp. */
function pay(r: Rig, balance: number, timestamp = ++commandTs): void {
  r.client.deliver(CMD, JSON.stringify({ balance, timestamp }));
}

/** Advances the fake clock in steps, letting promise callbacks (PUBACKs) run in between. */
async function run(r: Rig, ms: number, stepMs = 1000): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    r.clock.advance(Math.min(stepMs, ms - t));
    await microtasks();
  }
}

/** µkWh for a constant power over ms. */
const micro = (watts: number, ms: number) => (watts * ms) / 3600;

/** A reported kWh figure within 1 µkWh (the carried fraction) of the expected µkWh. */
function near(kwh: unknown, expectedMicro: number): void {
  assert.ok(Math.abs((kwh as number) * 1e6 - expectedMicro) <= 1, `${kwh} kWh, expected ${expectedMicro / 1e6}`);
}

describe("smart-meter: metering on a fake clock", () => {
  it("integrates V×I and reports every 30 s at QoS 1 with the seed's five fields", async () => {
    const r = rig();
    r.client.goOnline();
    pay(r, 100);
    await run(r, 30_000);
    const reports = r.client.of("consumption");
    assert.equal(reports.length, 1);
    const units = Math.floor(micro(2300, 30_000)) / 1e6; // 0.019166 kWh
    assert.deepEqual(reports[0], {
      meterNo: "METER001",
      unitsConsumed: units,
      remainingBalance: Math.round((100 - micro(2300, 30_000) / 1e6) * 1e6) / 1e6,
      totalConsumed: units,
      timestamp: T0 + 30_000,
    });
    assert.equal(r.client.wire.find((w) => w.topic.endsWith("/consumption"))?.qos, 1);
    await run(r, 60_000);
    const all = r.client.of("consumption");
    assert.deepEqual(all.map((p) => p.timestamp), [T0 + 30_000, T0 + 60_000, T0 + 90_000]);
    // The register is the sum of the reports, to the µkWh.
    const sum = all.reduce((s, p) => s + Math.round((p.unitsConsumed as number) * 1e6), 0);
    assert.equal(Math.round((all[2].totalConsumed as number) * 1e6), sum);
    assert.ok(Math.abs(sum - micro(2300, 90_000)) < 1, `${sum} µkWh`);
    assert.ok(r.logs.some((l) => /^Consumption: 0\.0191\d+ kWh$/.test(l)), r.logs.join("\n"));
  });

  it("uses the trapezoid rule between samples as the load changes", () => {
    const i = new EnergyIntegrator(60_000);
    assert.equal(i.sample(0, 1000), 0, "the first sample is a baseline");
    assert.equal(i.sample(3600, 3000), 2000 * 3600 / 3600);
    assert.equal(i.sample(3600, 0), 0, "no time, no energy");
    assert.equal(i.sample(1000, 100), 0, "the clock went back: a new baseline");
    assert.equal(i.sample(1000 + 120_000, 100), 0, "a gap beyond maxGapMs is not billed");
  });

  it("takes the report period and sampling step from config", async () => {
    const r = rig({ reportIntervalS: "10", sampleIntervalS: "1" });
    r.client.goOnline();
    pay(r, 100);
    await run(r, 30_000);
    assert.deepEqual(r.client.of("consumption").map((p) => p.timestamp), [T0 + 10_000, T0 + 20_000, T0 + 30_000]);
  });

  it("deducts at the tariff", async () => {
    const r = rig({ tariff: "2.5" });
    r.client.goOnline();
    pay(r, 100);
    await run(r, 30_000);
    const kwh = micro(2300, 30_000) / 1e6;
    assert.ok(Math.abs(r.meter.ledger.balance - (100 - 2.5 * kwh)) < 1e-9);
  });

  it("opens the relay when the balance reaches zero, and consumption stops", async () => {
    const r = rig();
    r.client.goOnline();
    pay(r, 0.01); // 0.01 kWh lasts 15.7 s at 2.3 kW
    assert.equal(r.hw.relay.on, true);
    await run(r, 30_000);
    assert.equal(r.hw.relay.on, false);
    assert.equal(r.meter.ledger.balance, 0);
    const first = r.client.of("consumption")[0];
    // The step that exhausted the balance is billed in full; nothing after it.
    assert.equal(first.unitsConsumed, Math.floor(micro(2300, 20_000)) / 1e6);
    assert.equal(first.remainingBalance, 0);
    await run(r, 60_000);
    assert.deepEqual(r.client.of("consumption").slice(1).map((p) => p.unitsConsumed), [0, 0]);
    const last = r.client.of("status").at(-1)!;
    assert.equal(last.status, "low_balance");
    assert.match(last.message as string, /exhausted/);
    assert.deepEqual(r.hw.relay.changes, [true, false]);
  });

  it("announces low_balance at the configured threshold, once, and online again after a top-up", async () => {
    const r = rig({ lowBalance: "0.05", statusIntervalS: "0" });
    r.client.goOnline();
    pay(r, 0.06); // crosses 0.05 after ~15.7 s at 2.3 kW
    await run(r, 30_000);
    // On connect the new meter has no balance yet: low_balance, then online after the payment.
    assert.deepEqual(r.client.of("status").map((s) => s.status), ["low_balance", "online", "low_balance"]);
    assert.equal(r.hw.relay.on, true, "low is not empty");
    pay(r, 10);
    await run(r, 1000);
    assert.deepEqual(r.client.of("status").map((s) => s.status), ["low_balance", "online", "low_balance", "online"]);
    const s = r.client.of("status")[2];
    assert.deepEqual(Object.keys(s).sort(), ["balance", "message", "meterNo", "status", "timestamp", "wifi_rssi"]);
    assert.equal(s.wifi_rssi, -61);
  });

  it("publishes status on change only, plus a configurable heartbeat", async () => {
    const quiet = rig({ statusIntervalS: "0" });
    quiet.client.goOnline();
    pay(quiet, 100);
    await run(quiet, 600_000, 5000);
    assert.equal(quiet.client.of("status").length, 2, "only the status on connect and the change the payment made");
    const beating = rig({ statusIntervalS: "120" });
    beating.client.goOnline();
    pay(beating, 100);
    await run(beating, 600_000, 5000);
    assert.equal(beating.client.of("status").length, 2 + 5);
  });

  it("reports a measurement fault as status error, bills nothing meanwhile, and recovers", async () => {
    const r = rig({ statusIntervalS: "0" });
    r.client.goOnline();
    pay(r, 100);
    await run(r, 30_000);
    r.hw.failure = "ADC timeout";
    await run(r, 30_000);
    assert.equal(r.client.of("consumption")[1].unitsConsumed, 0, "nothing billed without a reading");
    r.hw.failure = undefined;
    r.hw.voltage = Number.NaN; // implausible readings are faults too
    await run(r, 5000);
    r.hw.voltage = 230;
    await run(r, 25_000);
    const statuses = r.client.of("status");
    assert.deepEqual(statuses.map((s) => s.status), ["low_balance", "online", "error", "error", "online"]);
    assert.match(statuses[2].message as string, /^Measurement fault: sensor failed: ADC timeout$/);
    assert.match(statuses[3].message as string, /^Measurement fault: voltage out of range: NaN$/);
    // After recovery the first good sample is a baseline; 20 s of the last 25 s are billed.
    near(r.client.of("consumption")[2].unitsConsumed, micro(2300, 20_000));
  });
});

describe("smart-meter: balance commands", () => {
  it("sets the balance and relay, and acknowledges with a balance report", async () => {
    const r = rig();
    r.client.goOnline();
    assert.equal(r.hw.relay.on, false, "a new meter has no balance");
    pay(r, 10.5, T0 - 1000);
    assert.equal(r.hw.relay.on, true);
    assert.deepEqual(r.client.of("balance"), [{ meterNo: "METER001", balance: 10.5, timestamp: T0 }]);
    assert.ok(r.logs.includes("Balance updated: 10.5000"));
    pay(r, 0, T0);
    assert.equal(r.hw.relay.on, false, "relay on if and only if balance > 0");
    assert.equal(r.client.of("balance")[1].balance, 0);
  });

  it("ignores a command not newer than the last applied one, also after a restart", async () => {
    const r = rig();
    r.client.goOnline();
    pay(r, 20, T0 - 5000);
    pay(r, 99, T0 - 6000); // older
    pay(r, 99, T0 - 5000); // the same again (QoS 1 redelivery): not re-credited
    assert.equal(r.meter.ledger.balance, 20);
    assert.deepEqual(r.client.of("balance").map((b) => b.balance), [20, 20, 20]);
    assert.equal(r.logs.filter((l) => l.startsWith("balance command ignored")).length, 2);
    r.crash();
    const again = rig({}, r); // restart on the same storage
    again.client.goOnline();
    pay(again, 99, T0 - 5500);
    assert.equal(again.meter.ledger.balance, 20);
    assert.equal(again.meter.ledger.lastCommandTs, T0 - 5000);
    pay(again, 30, T0 - 4000);
    assert.equal(again.meter.ledger.balance, 30);
  });

  const malformed: [string, string | Uint8Array, RegExp][] = [
    ["malformed JSON", "{balance: 5", /malformed_json/],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), /malformed_json/],
    ["a JSON array", "[5]", /invalid_request/],
    ["a negative balance", '{"balance":-5,"timestamp":1698765432000}', /invalid_parameters: balance: must be >= 0/],
    ["a balance as text", '{"balance":"5","timestamp":1698765432000}', /invalid_parameters: balance: must be number/],
    ["a missing timestamp", '{"balance":5}', /invalid_parameters: message: missing field "timestamp"/],
    ["a timestamp in seconds", '{"balance":5,"timestamp":1698765432}', /invalid_parameters: timestamp/],
    ["an unknown field", '{"balance":5,"timestamp":1698765432000,"currency":"KES"}', /unknown field "currency"/],
  ];
  for (const [what, payload, why] of malformed) {
    it(`answers ${what} with status error and keeps the balance`, async () => {
      const r = rig({ statusIntervalS: "0" });
      r.hw.current = 0; // no load: the balance only moves by command
      r.client.goOnline();
      pay(r, 7);
      r.client.deliver(CMD, payload);
      assert.equal(r.meter.ledger.balance, 7);
      assert.equal(r.client.of("balance").length, 1, "no balance report for a rejected command");
      const error = r.client.of("status").at(-1)!;
      assert.equal(error.status, "error");
      assert.match(error.message as string, why);
      assert.ok((error.message as string).length <= 128);
      await run(r, 5000);
      assert.equal(r.client.of("status").at(-1)!.status, "online", "the steady status follows the error");
      pay(r, 8);
      assert.equal(r.meter.ledger.balance, 8, "still taking commands");
    });
  }

  it("answers an unknown command topic with status error", () => {
    const r = rig();
    r.client.goOnline();
    r.client.deliver("smartmeter/METER001/command/reboot", "{}");
    assert.match(r.client.of("status").at(-1)!.message as string, /unknown_command: unknown command "reboot"/);
  });

  it("deducts consumption the backend has not acknowledged from a new balance", async () => {
    const r = rig();
    r.client.goOnline();
    pay(r, 100);
    r.client.goOffline();
    await run(r, 45_000); // one report queued, 15 s in the open period
    const unacknowledged = r.meter.ledger.openMicro + r.meter.ledger.journal.reduce((s, e) => s + e[0], 0);
    assert.ok(Math.abs(unacknowledged - micro(2300, 45_000)) < 1);
    pay(r, 50); // e.g. a payment queued for the meter while it was offline
    assert.ok(Math.abs(r.meter.ledger.balance - (50 - unacknowledged / 1e6)) < 1e-9);
  });
});

describe("smart-meter: connection, persistence and delivery", () => {
  it("registers a QoS 0, non-retained will: status offline", () => {
    const r = rig();
    const will = r.clientOptions[0].will!;
    assert.equal(will.topic, "smartmeter/METER001/status");
    assert.equal(will.qos, 0);
    assert.equal(will.retain, false);
    schemas.assertValid("status", JSON.parse(will.payload as string));
    assert.equal(JSON.parse(will.payload as string).status, "offline");
    assert.equal(r.clientOptions[0].clean, false);
  });

  it("asks for its balance on every connect: boot, then reconnect", async () => {
    const r = rig();
    r.client.goOnline();
    r.client.goOffline();
    await run(r, 10_000);
    r.client.goOnline();
    assert.deepEqual(r.client.of("request").map((q) => q.reason), ["boot", "reconnect"]);
    assert.ok(r.client.wire.filter((w) => w.topic.endsWith("/request/balance")).every((w) => w.qos === 1));
    assert.deepEqual(r.client.of("status").map((s) => s.status), ["low_balance", "low_balance"], "status on each connect");
  });

  it("keeps one balance request in flight: a reconnect before its PUBACK queues no second one", async () => {
    const r = rig();
    r.client.manualAck = true;
    r.client.goOnline();
    r.client.goOffline();
    r.client.goOnline(); // the real client resends the unacknowledged request itself
    assert.equal(r.client.of("request").length, 1);
    r.client.ack();
    await microtasks();
    r.client.goOffline();
    r.client.goOnline();
    assert.deepEqual(r.client.of("request").map((q) => q.reason), ["boot", "reconnect"]);
  });

  it("reports consumption measured offline after reconnect, in order, each µkWh once", async () => {
    const r = rig();
    r.client.goOnline();
    pay(r, 100);
    await run(r, 30_000);
    r.client.goOffline();
    await run(r, 150_000);
    assert.equal(r.meter.ledger.journal.length, 5, "five periods held while offline");
    r.client.goOnline();
    await microtasks();
    const reports = r.client.of("consumption");
    assert.deepEqual(reports.map((p) => p.timestamp), [1, 2, 3, 4, 5, 6].map((i) => T0 + i * 30_000));
    let total = 0;
    for (const p of reports) {
      total += Math.round((p.unitsConsumed as number) * 1e6);
      assert.equal(Math.round((p.totalConsumed as number) * 1e6), total, "totalConsumed continues without gap or overlap");
    }
    assert.equal(r.meter.ledger.journal.length, 0, "acknowledged reports leave the journal");
    // The queued reports reach the broker before the resync request of the reconnect.
    const order = r.client.wire.map((w) => w.topic.split("/").slice(2).join("/"));
    assert.ok(order.lastIndexOf("consumption") < order.lastIndexOf("request/balance"));
  });

  it("does not journal empty periods while offline", async () => {
    const r = rig();
    r.client.goOffline();
    await run(r, 300_000, 5000);
    assert.equal(r.meter.ledger.journal.length, 0);
    r.client.goOnline();
    await run(r, 30_000, 5000);
    assert.deepEqual(r.client.of("consumption").map((p) => p.unitsConsumed), [0], "online, an empty period is still reported");
  });

  it("persists every step: a restart loses at most one step and counts nothing twice", async () => {
    const r = rig();
    r.client.goOnline();
    pay(r, 100);
    await run(r, 12_000); // steps at 5 s and 10 s persisted; 2 s since
    r.crash(); // power cut: RAM is gone
    const stored = r.store.get<{ openMicro: number }>(LEDGER_KEY)!;
    assert.ok(Math.abs(stored.openMicro - micro(2300, 10_000)) < 1e-6);
    const again = rig({}, r);
    again.client.goOnline();
    await run(again, 30_000);
    const report = again.client.of("consumption")[0];
    // 10 s from before the cut; after it, the first sample is a baseline.
    assert.equal(report.unitsConsumed, Math.floor(micro(2300, 10_000) + micro(2300, 30_000)) / 1e6);
  });

  it("resends a report after a restart between publish and PUBACK, identical, and never again once acknowledged", async () => {
    const r = rig();
    r.client.manualAck = true;
    r.client.goOnline();
    pay(r, 100);
    await run(r, 30_000);
    const sent = r.client.of("consumption");
    assert.equal(sent.length, 1);
    r.crash(); // the broker may have it, the PUBACK never came
    const again = rig({}, r);
    again.client.manualAck = true;
    again.client.goOnline();
    // The same report (same timestamp and totalConsumed: the backend's idempotence key) goes first.
    assert.deepEqual(again.client.of("consumption"), sent);
    again.client.ack();
    await microtasks();
    assert.equal(again.meter.ledger.journal.length, 0);
    again.crash();
    const third = rig({}, r);
    third.client.goOnline();
    await run(third, 30_000);
    const next = third.client.of("consumption");
    assert.equal(next.length, 1, "no replay after the PUBACK");
    assert.ok((next[0].timestamp as number) > (sent[0].timestamp as number));
    assert.equal(Math.round(((next[0].totalConsumed as number) - (sent[0].totalConsumed as number)) * 1e6), Math.round((next[0].unitsConsumed as number) * 1e6));
  });

  it("keeps at most maxBacklog reports; beyond that the open period grows and nothing is lost", async () => {
    const r = rig({ maxBacklog: "3" });
    r.client.goOnline();
    pay(r, 1000);
    r.client.goOffline();
    await run(r, 300_000, 5000); // ten periods
    assert.equal(r.meter.ledger.journal.length, 3);
    assert.ok(r.logs.some((l) => l.startsWith("report backlog full (3)")));
    r.client.goOnline();
    await run(r, 30_000, 5000);
    const reports = r.client.of("consumption");
    assert.equal(reports.length, 4);
    const sum = reports.reduce((s, p) => s + Math.round((p.unitsConsumed as number) * 1e6), 0);
    assert.ok(Math.abs(sum - micro(2300, 330_000)) < 1, `${sum} µkWh reported, ${micro(2300, 330_000)} measured`);
  });

  it("keeps report timestamps strictly increasing when the clock steps back", async () => {
    const r = rig({ reportIntervalS: "1", sampleIntervalS: "1" });
    r.client.goOnline();
    pay(r, 100);
    await run(r, 2000);
    r.time.offset = -10_000; // e.g. SNTP corrects the wall clock
    await run(r, 3000);
    const ts = r.client.of("consumption").map((p) => p.timestamp as number);
    for (let i = 1; i < ts.length; i++) assert.ok(ts[i] > ts[i - 1], ts.join(","));
  });

  it("keeps metering in RAM and says error when storage fails", async () => {
    const store = new MemorySettingsStore();
    let broken = false;
    const failing: SettingsStore = {
      get: (k) => store.get(k),
      set: (k, v) => { if (broken) throw new Error("flash full"); store.set(k, v); },
      delete: (k) => store.delete(k),
    };
    const r = rig({ statusIntervalS: "0" }, { clock: Object.assign(new FakeClock(), { now: T0 }), store: failing, hw: new FakeHardware() });
    r.client.goOnline();
    pay(r, 100);
    broken = true;
    await run(r, 30_000);
    assert.equal(r.client.of("status").at(-1)!.status, "error");
    assert.match(r.client.of("status").at(-1)!.message as string, /Storage fault/);
    assert.equal(r.client.of("consumption").length, 1, "reports still go out");
    broken = false;
    await run(r, 5000);
    assert.equal(r.client.of("status").at(-1)!.status, "online");
  });

  it("starts empty from a corrupt ledger and says so", () => {
    const store = new MemorySettingsStore();
    store.set(LEDGER_KEY, { balance: "lots" });
    const r = rig({}, { clock: Object.assign(new FakeClock(), { now: T0 }), store, hw: new FakeHardware() });
    assert.equal(r.meter.ledger.balance, 0);
    assert.ok(r.logs.some((l) => l.startsWith("ledger corrupt (balance)")));
  });

  it("stop() says offline and keeps the open period for the next boot", async () => {
    const r = rig();
    r.client.goOnline();
    pay(r, 100);
    await run(r, 12_000);
    await r.meter.stop();
    const last = r.client.of("status").at(-1)!;
    assert.equal(last.status, "offline");
    assert.equal(last.message, "Meter stopped");
    assert.ok(r.store.get<{ openMicro: number }>(LEDGER_KEY)!.openMicro > micro(2300, 11_999));
    assert.deepEqual(r.clock.pending, [], "no timers left");
  });
});

describe("smart-meter: config, companion and simulation", () => {
  it("rejects bad config values by name", () => {
    assert.throws(() => parseConfig({ tariff: "free" }), /config tariff must be a number/);
    assert.throws(() => parseConfig({ reportIntervalS: "0" }), /reportIntervalS/);
    assert.throws(() => parseConfig({ sampleIntervalS: "60" }), /sampleIntervalS \(60\) must not exceed reportIntervalS/);
    assert.throws(() => parseConfig({ maxBacklog: "0" }), /maxBacklog/);
    assert.deepEqual(parseConfig({}), { tariff: 1, lowBalance: 1, reportIntervalMs: 30_000, sampleIntervalMs: 5000, statusIntervalMs: 300_000, maxBacklog: 40 });
  });

  it("builds the balance command for the companion and refuses bad input with the usage", () => {
    assert.equal(definition.name, "smart-meter");
    assert.equal(definition.deviceId(0), "METER001");
    assert.equal(definition.topicFilter("METER001", {}), "smartmeter/METER001/#");
    const req = definition.command("METER001", {}, "balance", { balance: 10.5, timestamp: 1698765432000 });
    assert.deepEqual({ ...req, isResponse: undefined }, {
      topic: CMD, payload: { balance: 10.5, timestamp: 1698765432000 }, qos: 1, retain: false,
      responseTopic: "smartmeter/METER001/balance", isResponse: undefined,
    });
    schemas.assertValid("command-balance", req.payload);
    assert.equal(req.isResponse({ meterNo: "METER001", balance: 10.5, timestamp: 1698765432000 }), true);
    assert.equal(req.isResponse({ meterNo: "METER002", balance: 10.5, timestamp: 1698765432000 }), false);
    const now = definition.command("METER001", {}, "balance", { balance: "3" });
    assert.equal((now.payload as { balance: number }).balance, 3);
    schemas.assertValid("command-balance", now.payload);
    const ex = definition.example;
    schemas.assertValid("command-balance", definition.command("METER001", {}, ex.command, ex.params).payload);
    assert.throws(() => definition.command("METER001", {}, "reboot", {}), (e) => e instanceof RangeError && /unknown command "reboot".*balance=/.test(e.message));
    assert.throws(() => definition.command("METER001", {}, "balance", {}), (e) => e instanceof RangeError && /missing field "balance".*usage/.test(e.message));
    assert.throws(() => definition.command("METER001", {}, "balance", { balance: -1 }), (e) => e instanceof RangeError && /must be >= 0/.test(e.message));
    assert.throws(() => definition.command("METER001", {}, "balance", { balance: 1, amount: 2 }), /unknown parameter amount/);
    assert.throws(() => definition.command("METER 1", {}, "balance", { balance: 1 }), RangeError);
  });

  it("simulates a plausible household: 230 V, a few amperes with appliance steps, none with the relay open", () => {
    const clock = { now: Date.UTC(2024, 0, 15, 0, 0, 0) };
    const hw = new SimulatedMeterHardware({ now: () => clock.now, random: prng(42) });
    hw.relay.set(true);
    const amps: number[] = [];
    const volts: number[] = [];
    let kwh = 0;
    for (let s = 0; s < 24 * 3600; s += 10) { // one day in 10 s steps
      clock.now += 10_000;
      const r = hw.measure();
      amps.push(r.current);
      volts.push(r.voltage);
      kwh += (r.voltage * r.current * 10) / 3.6e6;
    }
    assert.ok(Math.min(...volts) > 220 && Math.max(...volts) < 240, `voltage ${Math.min(...volts)}..${Math.max(...volts)}`);
    assert.ok(Math.min(...amps) >= 0.2, "standby load");
    assert.ok(Math.max(...amps) > 8, "a kettle or the cooker ran at some point");
    assert.ok(kwh > 3 && kwh < 25, `a household uses a few kWh a day, not ${kwh}`);
    const distinct = new Set(amps.map((a) => Math.round(a))).size;
    assert.ok(distinct >= 4, "appliance steps");
    hw.relay.set(false);
    clock.now += 10_000;
    assert.equal(hw.measure().current, 0);
    const rssi = hw.rssi();
    assert.ok(Number.isInteger(rssi) && rssi < -50 && rssi > -80);
    // The same seed repeats the same day.
    const twin = new SimulatedMeterHardware({ now: () => clock.now, random: prng(42) });
    const a = new SimulatedMeterHardware({ now: () => clock.now, random: prng(42) });
    twin.relay.set(true);
    a.relay.set(true);
    assert.deepEqual(twin.measure(), a.measure());
  });
});
