// The smart meter's logic on the test kit (a real Device and client, a scripted broker, a
// fake clock) with a scripted load: integration and the 30 s report period, tariff, relay
// at zero balance, low-balance threshold, status on change and heartbeat, balance commands
// (stale, malformed, unknown), the will and the resync request on every connect, and the
// ledger's promise: consumption measured offline or across a restart is reported, never
// lost and never counted twice. Plus options, the companion's command builder and the
// simulated household. Every message the meter publishes is checked against index.json
// and its schema after each test.

import assert from "node:assert/strict";
import { MemorySettingsStore } from "../../../modules/device/settings.js";
import type { SettingsStore } from "../../../modules/device/settings.js";
import { SimulatedRelay } from "../../../modules/device/hardware.js";
import { prng } from "../../../modules/device/prng.js";
import { definition } from "../../../modules/products/smart-meter/index.js";
import { LEDGER_KEY, createSmartMeter } from "../../../modules/products/smart-meter/product.js";
import type { SmartMeter } from "../../../modules/products/smart-meter/product.js";
import type { MeterHardware, Reading } from "../../../modules/products/smart-meter/hardware.js";
import { readMeterOptions } from "../../../modules/products/smart-meter/options.js";
import { EnergyIntegrator } from "../../../modules/products/smart-meter/integrator.js";
import { SimulatedMeterHardware } from "../../../modules/products/smart-meter/simulation.js";
import { ProductSchemas } from "../../products/harness.js";
import { Kit } from "../../kit/index.js";
import * as P from "../../../modules/mqtt/packets.js";
import type { Packet, PublishPacket } from "../../../modules/mqtt/packets.js";

const schemas = new ProductSchemas("smart-meter");
const T0 = 1_700_000_000_000;
const te = new TextEncoder();
const td = new TextDecoder();

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
  kit: Kit;
  hw: FakeHardware;
  meter: SmartMeter;
  /** Power cut: the link dies without DISCONNECT and this meter's clock stops; storage survives. */
  crash(): void;
  /** The broker goes away (the link is cut, new connections are refused). */
  goOffline(): void;
  /** The broker takes connections again; the meter reconnects (within its backoff). */
  goOnline(): Promise<void>;
}

const rigs: Rig[] = [];

interface RigOptions {
  /** Restart: the same flash, the same load, the clock where the earlier meter stopped. */
  from?: Rig;
  settings?: SettingsStore;
  /** The broker is down when the meter boots. */
  down?: boolean;
  /** Filters the broker records but never acknowledges (a PUBACK lost with the link). */
  withhold?: string[];
}

/** A meter booted on the kit and, unless `down`, connected. */
async function rig(config: Record<string, string> = {}, options: RigOptions = {}): Promise<Rig> {
  const kit = new Kit({ deviceId: "METER001", config, start: options.from?.kit.clock.now ?? T0, settings: options.settings ?? options.from?.kit.settings });
  kit.broker.down = options.down ?? false;
  for (const f of options.withhold ?? []) kit.broker.withhold.add(f);
  const hw = options.from?.hw ?? new FakeHardware();
  const meter = createSmartMeter(kit.device, hw);
  const r: Rig = {
    kit, hw, meter,
    crash: () => kit.device.abort(),
    goOffline: () => {
      kit.broker.down = true;
      kit.broker.cut();
    },
    goOnline: async () => {
      kit.broker.down = false;
      for (let waited = 0; !kit.device.connected && waited < 30_000; waited += 100) await kit.run(100, 100);
      assert.ok(kit.device.connected, "reconnected");
    },
  };
  rigs.push(r);
  meter.start();
  await kit.settle();
  return r;
}

afterEach(() => {
  for (const r of rigs.splice(0)) {
    for (const m of r.kit.broker.published) {
      const problem = schemas.check({ topic: m.topic, payload: te.encode(m.text), qos: m.qos, retain: m.retain });
      assert.equal(problem, undefined, problem);
    }
  }
});

const CMD = "smartmeter/METER001/command/balance";
const TOPIC = { consumption: "consumption", status: "status", balance: "balance", request: "request/balance" } as const;

/** Payloads the broker received on one of the meter's topics, in order. */
function of(r: Rig, kind: keyof typeof TOPIC): Record<string, unknown>[] {
  return r.kit.broker.payloads(`smartmeter/METER001/${TOPIC[kind]}`);
}

let commandTs = T0 - 60_000;
/** A balance command with a fresh timestamp, delivered and handled. */
async function pay(r: Rig, balance: number, timestamp = ++commandTs): Promise<void> {
  await deliver(r, CMD, JSON.stringify({ balance, timestamp }));
}

async function deliver(r: Rig, topic: string, payload: string | Uint8Array): Promise<void> {
  r.kit.broker.deliver(topic, payload);
  await r.kit.settle();
}

/** µkWh for a constant power over ms. */
const micro = (watts: number, ms: number) => (watts * ms) / 3600;

/** A reported kWh figure within 1 µkWh (the carried fraction) of the expected µkWh. */
function near(kwh: unknown, expectedMicro: number): void {
  assert.ok(Math.abs((kwh as number) * 1e6 - expectedMicro) <= 1, `${kwh} kWh, expected ${expectedMicro / 1e6}`);
}

describe("smart-meter: metering on a fake clock", () => {
  it("integrates V×I and reports every 30 s at QoS 1 with the five specified fields", async () => {
    const r = await rig();
    await pay(r, 100);
    await r.kit.run(30_000);
    const reports = of(r, "consumption");
    assert.equal(reports.length, 1);
    const units = Math.floor(micro(2300, 30_000)) / 1e6; // 0.019166 kWh
    assert.deepEqual(reports[0], {
      meterNo: "METER001",
      unitsConsumed: units,
      remainingBalance: Math.round((100 - micro(2300, 30_000) / 1e6) * 1e6) / 1e6,
      totalConsumed: units,
      timestamp: T0 + 30_000,
    });
    assert.equal(r.kit.broker.published.find((w) => w.topic.endsWith("/consumption"))?.qos, 1);
    await r.kit.run(60_000);
    const all = of(r, "consumption");
    assert.deepEqual(all.map((p) => p.timestamp), [T0 + 30_000, T0 + 60_000, T0 + 90_000]);
    // The register is the sum of the reports, to the µkWh.
    const sum = all.reduce((s, p) => s + Math.round((p.unitsConsumed as number) * 1e6), 0);
    assert.equal(Math.round((all[2].totalConsumed as number) * 1e6), sum);
    assert.ok(Math.abs(sum - micro(2300, 90_000)) < 1, `${sum} µkWh`);
    assert.ok(r.kit.logs.some((l) => /^Consumption: 0\.0191\d+ kWh$/.test(l)), r.kit.logs.join("\n"));
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
    const r = await rig({ reportIntervalS: "10", sampleIntervalS: "1" });
    await pay(r, 100);
    await r.kit.run(30_000);
    assert.deepEqual(of(r, "consumption").map((p) => p.timestamp), [T0 + 10_000, T0 + 20_000, T0 + 30_000]);
  });

  it("deducts at the tariff", async () => {
    const r = await rig({ tariff: "2.5" });
    await pay(r, 100);
    await r.kit.run(30_000);
    const kwh = micro(2300, 30_000) / 1e6;
    assert.ok(Math.abs(r.meter.ledger.balance - (100 - 2.5 * kwh)) < 1e-9);
  });

  it("opens the relay when the balance reaches zero, and consumption stops", async () => {
    const r = await rig();
    await pay(r, 0.01); // 0.01 kWh lasts 15.7 s at 2.3 kW
    assert.equal(r.hw.relay.on, true);
    await r.kit.run(30_000);
    assert.equal(r.hw.relay.on, false);
    assert.equal(r.meter.ledger.balance, 0);
    const first = of(r, "consumption")[0];
    // The step that exhausted the balance is billed in full; nothing after it.
    assert.equal(first.unitsConsumed, Math.floor(micro(2300, 20_000)) / 1e6);
    assert.equal(first.remainingBalance, 0);
    await r.kit.run(60_000);
    assert.deepEqual(of(r, "consumption").slice(1).map((p) => p.unitsConsumed), [0, 0]);
    const last = of(r, "status").at(-1)!;
    assert.equal(last.status, "low_balance");
    assert.match(last.message as string, /exhausted/);
    assert.deepEqual(r.hw.relay.changes, [true, false]);
  });

  it("announces low_balance at the configured threshold, once, and online again after a top-up", async () => {
    const r = await rig({ lowBalance: "0.05", statusIntervalS: "0" });
    await pay(r, 0.06); // crosses 0.05 after ~15.7 s at 2.3 kW
    await r.kit.run(30_000);
    // On connect the new meter has no balance yet: low_balance, then online after the payment.
    assert.deepEqual(of(r, "status").map((s) => s.status), ["low_balance", "online", "low_balance"]);
    assert.equal(r.hw.relay.on, true, "low is not empty");
    await pay(r, 10);
    await r.kit.run(1000);
    assert.deepEqual(of(r, "status").map((s) => s.status), ["low_balance", "online", "low_balance", "online"]);
    const s = of(r, "status")[2];
    assert.deepEqual(Object.keys(s).sort(), ["balance", "message", "meterNo", "status", "timestamp", "wifi_rssi"]);
    assert.equal(s.wifi_rssi, -61);
  });

  it("publishes status on change only, plus a configurable heartbeat", async () => {
    const quiet = await rig({ statusIntervalS: "0" });
    await pay(quiet, 100);
    await quiet.kit.run(600_000, 5000);
    assert.equal(of(quiet, "status").length, 2, "only the status on connect and the change the payment made");
    const beating = await rig({ statusIntervalS: "120" });
    await pay(beating, 100);
    await beating.kit.run(600_000, 5000);
    assert.equal(of(beating, "status").length, 2 + 5);
  });

  it("reports a measurement fault as status error, bills nothing meanwhile, and recovers", async () => {
    const r = await rig({ statusIntervalS: "0" });
    await pay(r, 100);
    await r.kit.run(30_000);
    r.hw.failure = "ADC timeout";
    await r.kit.run(30_000);
    assert.equal(of(r, "consumption")[1].unitsConsumed, 0, "nothing billed without a reading");
    r.hw.failure = undefined;
    r.hw.voltage = Number.NaN; // implausible readings are faults too
    await r.kit.run(5000);
    r.hw.voltage = 230;
    await r.kit.run(25_000);
    const statuses = of(r, "status");
    assert.deepEqual(statuses.map((s) => s.status), ["low_balance", "online", "error", "error", "online"]);
    assert.match(statuses[2].message as string, /^Measurement fault: sensor failed: ADC timeout$/);
    assert.match(statuses[3].message as string, /^Measurement fault: voltage out of range: NaN$/);
    // After recovery the first good sample is a baseline; 20 s of the last 25 s are billed.
    near(of(r, "consumption")[2].unitsConsumed, micro(2300, 20_000));
  });
});

describe("smart-meter: balance commands", () => {
  it("sets the balance and relay, and acknowledges with a balance report", async () => {
    const r = await rig();
    assert.equal(r.hw.relay.on, false, "a new meter has no balance");
    await pay(r, 10.5, T0 - 1000);
    assert.equal(r.hw.relay.on, true);
    assert.deepEqual(of(r, "balance"), [{ meterNo: "METER001", balance: 10.5, timestamp: T0 }]);
    assert.ok(r.kit.logs.includes("Balance updated: 10.5000"));
    await pay(r, 0, T0);
    assert.equal(r.hw.relay.on, false, "relay on if and only if balance > 0");
    assert.equal(of(r, "balance")[1].balance, 0);
  });

  it("ignores a command not newer than the last applied one, also after a restart", async () => {
    const r = await rig();
    await pay(r, 20, T0 - 5000);
    await pay(r, 99, T0 - 6000); // older
    await pay(r, 99, T0 - 5000); // the same again (QoS 1 redelivery): not re-credited
    assert.equal(r.meter.ledger.balance, 20);
    assert.deepEqual(of(r, "balance").map((b) => b.balance), [20, 20, 20]);
    assert.equal(r.kit.logs.filter((l) => l.startsWith("balance command ignored")).length, 2);
    r.crash();
    const again = await rig({}, { from: r }); // restart on the same storage
    await pay(again, 99, T0 - 5500);
    assert.equal(again.meter.ledger.balance, 20);
    assert.equal(again.meter.ledger.lastCommandTs, T0 - 5000);
    await pay(again, 30, T0 - 4000);
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
      const r = await rig({ statusIntervalS: "0" });
      r.hw.current = 0; // no load: the balance only moves by command
      await pay(r, 7);
      await deliver(r, CMD, payload);
      assert.equal(r.meter.ledger.balance, 7);
      assert.equal(of(r, "balance").length, 1, "no balance report for a rejected command");
      const error = of(r, "status").at(-1)!;
      assert.equal(error.status, "error");
      assert.match(error.message as string, why);
      assert.ok((error.message as string).length <= 128);
      await r.kit.run(5000);
      assert.equal(of(r, "status").at(-1)!.status, "online", "the steady status follows the error");
      await pay(r, 8);
      assert.equal(r.meter.ledger.balance, 8, "still taking commands");
    });
  }

  it("answers an unknown command topic with status error", async () => {
    const r = await rig();
    await deliver(r, "smartmeter/METER001/command/reboot", "{}");
    assert.match(of(r, "status").at(-1)!.message as string, /unknown_command: unknown command "reboot"/);
  });

  it("deducts consumption the backend has not acknowledged from a new balance", async () => {
    const r = await rig({}, { withhold: ["smartmeter/METER001/consumption"] });
    await pay(r, 100);
    await r.kit.run(45_000); // one report not acknowledged yet, 15 s in the open period
    const unacknowledged = r.meter.ledger.openMicro + r.meter.ledger.journal.reduce((s, e) => s + e[0], 0);
    assert.equal(r.meter.ledger.journal.length, 1);
    assert.ok(Math.abs(unacknowledged - micro(2300, 45_000)) < 1);
    await pay(r, 50); // the backend's balance, billed without the reports it has not received
    assert.ok(Math.abs(r.meter.ledger.balance - (50 - unacknowledged / 1e6)) < 1e-9);
  });
});

describe("smart-meter: connection, persistence and delivery", () => {
  it("connects with a persistent session and a QoS 0, non-retained will (status offline) made at each connect", async () => {
    const r = await rig();
    const connect = r.kit.broker.connects[0];
    assert.equal(connect.clientId, "smartmeter-METER001");
    assert.equal(connect.clean, false, "commands sent while the meter is offline wait at the broker");
    const will = r.kit.broker.will!;
    assert.equal(will.topic, "smartmeter/METER001/status");
    assert.equal(will.qos, 0);
    assert.equal(will.retain, false);
    schemas.assertValid("status", will.json);
    assert.deepEqual([will.json.status, will.json.message, will.json.balance, will.json.timestamp], ["offline", "Connection lost", 0, T0]);
    r.hw.current = 0; // the balance stays as paid
    await pay(r, 10.5);
    r.kit.broker.cut();
    assert.equal(of(r, "status").at(-1)!.status, "offline", "the broker published the will");
    await r.kit.run(5000);
    assert.equal(r.kit.broker.connects.length, 2);
    // Asked again at the reconnect: the balance and time of that connection.
    assert.deepEqual([r.kit.broker.will!.json.balance, r.kit.broker.will!.json.timestamp > T0], [10.5, true]);
  });

  it("asks for its balance on every connect: boot, then reconnect", async () => {
    const r = await rig();
    r.goOffline();
    await r.kit.run(10_000);
    await r.goOnline();
    assert.deepEqual(of(r, "request").map((q) => q.reason), ["boot", "reconnect"]);
    assert.ok(r.kit.broker.on("smartmeter/METER001/request/balance").every((w) => w.qos === 1 && !w.retain));
    assert.deepEqual(of(r, "status").map((s) => s.status), ["low_balance", "offline", "low_balance"], "status on each connect, the will between");
  });

  it("keeps one balance request in flight: a reconnect before its PUBACK queues no second one", async () => {
    const r = await rig({}, { withhold: ["smartmeter/METER001/request/balance"] });
    r.kit.broker.sessionPresent = true; // the broker keeps the persistent session
    r.kit.broker.cut();
    await r.kit.run(5000); // the client resends the unacknowledged request itself
    const requests = r.kit.broker.on("smartmeter/METER001/request/balance");
    assert.deepEqual(requests.map((q) => [q.json.reason, q.dup]), [["boot", false], ["boot", true]]);
    r.kit.broker.withhold.clear();
    r.kit.broker.cut();
    await r.kit.run(5000); // the resend is acknowledged now
    assert.deepEqual(of(r, "request").map((q) => q.reason), ["boot", "boot", "boot"]);
    r.kit.broker.cut();
    await r.kit.run(5000);
    assert.deepEqual(of(r, "request").map((q) => q.reason), ["boot", "boot", "boot", "reconnect"]);
  });

  it("reports consumption measured offline after reconnect, in order, each µkWh once", async () => {
    const r = await rig();
    await pay(r, 100);
    await r.kit.run(30_000);
    r.goOffline();
    await r.kit.run(150_000);
    assert.equal(r.meter.ledger.journal.length, 5, "five periods held while offline");
    await r.goOnline();
    const reports = of(r, "consumption");
    assert.deepEqual(reports.map((p) => p.timestamp), [1, 2, 3, 4, 5, 6].map((i) => T0 + i * 30_000));
    let total = 0;
    for (const p of reports) {
      total += Math.round((p.unitsConsumed as number) * 1e6);
      assert.equal(Math.round((p.totalConsumed as number) * 1e6), total, "totalConsumed continues without gap or overlap");
    }
    assert.equal(r.meter.ledger.journal.length, 0, "acknowledged reports leave the journal");
    // The queued reports reach the broker before the resync request of the reconnect.
    const order = r.kit.broker.published.map((w) => w.topic.split("/").slice(2).join("/"));
    assert.ok(order.lastIndexOf("consumption") < order.lastIndexOf("request/balance"));
  });

  it("does not journal empty periods while offline", async () => {
    const r = await rig({}, { down: true });
    await r.kit.run(300_000, 5000);
    assert.equal(r.meter.ledger.journal.length, 0);
    assert.equal(r.kit.broker.published.length, 0);
    await r.goOnline();
    await r.kit.run(30_000, 5000);
    assert.deepEqual(of(r, "consumption").map((p) => p.unitsConsumed), [0], "online, an empty period is still reported");
  });

  it("persists every step: a restart loses at most one step and counts nothing twice", async () => {
    const r = await rig();
    await pay(r, 100);
    await r.kit.run(12_000); // steps at 5 s and 10 s persisted; 2 s since
    r.crash(); // power cut: RAM is gone
    const stored = r.kit.settings.get<{ openMicro: number }>(LEDGER_KEY)!;
    assert.ok(Math.abs(stored.openMicro - micro(2300, 10_000)) < 1e-6);
    const again = await rig({}, { from: r });
    await again.kit.run(30_000);
    const report = of(again, "consumption")[0];
    // 10 s from before the cut; after it, the first sample is a baseline.
    assert.equal(report.unitsConsumed, Math.floor(micro(2300, 10_000) + micro(2300, 30_000)) / 1e6);
  });

  it("resends a report after a restart between publish and PUBACK, identical, and never again once acknowledged", async () => {
    const withhold = ["smartmeter/METER001/consumption"];
    const r = await rig({}, { withhold });
    await pay(r, 100);
    await r.kit.run(30_000);
    const sent = of(r, "consumption");
    assert.equal(sent.length, 1);
    r.crash(); // the broker may have it, the PUBACK never came
    const again = await rig({}, { from: r, withhold });
    // The same report (same timestamp and totalConsumed: the backend's idempotence key) goes first.
    assert.deepEqual(of(again, "consumption"), sent);
    assert.equal(again.meter.ledger.journal.length, 1, "kept until acknowledged");
    again.kit.broker.withhold.clear();
    again.kit.broker.cut();
    await again.kit.run(5000); // the client resends it; now the PUBACK comes
    assert.deepEqual(of(again, "consumption"), [sent[0], sent[0]]);
    assert.equal(again.meter.ledger.journal.length, 0);
    again.crash();
    const third = await rig({}, { from: again });
    await third.kit.run(30_000);
    const next = of(third, "consumption");
    assert.equal(next.length, 1, "no replay after the PUBACK");
    assert.ok((next[0].timestamp as number) > (sent[0].timestamp as number));
    assert.equal(Math.round(((next[0].totalConsumed as number) - (sent[0].totalConsumed as number)) * 1e6), Math.round((next[0].unitsConsumed as number) * 1e6));
  });

  it("keeps at most maxBacklog reports; beyond that the open period grows and nothing is lost", async () => {
    const r = await rig({ maxBacklog: "3" });
    await pay(r, 1000);
    r.goOffline();
    await r.kit.run(300_000, 5000); // ten periods
    assert.equal(r.meter.ledger.journal.length, 3);
    assert.ok(r.kit.logs.some((l) => l.startsWith("report backlog full (3)")));
    await r.goOnline();
    await r.kit.run(30_000 - (r.kit.clock.now - T0 - 300_000), 5000);
    const reports = of(r, "consumption");
    assert.equal(reports.length, 4);
    const sum = reports.reduce((s, p) => s + Math.round((p.unitsConsumed as number) * 1e6), 0);
    assert.ok(Math.abs(sum - micro(2300, 330_000)) < 1, `${sum} µkWh reported, ${micro(2300, 330_000)} measured`);
  });

  it("keeps report timestamps strictly increasing when the clock steps back", async () => {
    const r = await rig({ reportIntervalS: "1", sampleIntervalS: "1" });
    await pay(r, 100);
    await r.kit.run(2000);
    r.kit.platform.now = () => r.kit.clock.now - 10_000; // e.g. SNTP corrects the wall clock
    await r.kit.run(3000);
    const ts = of(r, "consumption").map((p) => p.timestamp as number);
    assert.ok(ts.length >= 4);
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
    const r = await rig({ statusIntervalS: "0" }, { settings: failing });
    await pay(r, 100);
    broken = true;
    await r.kit.run(30_000);
    assert.equal(of(r, "status").at(-1)!.status, "error");
    assert.match(of(r, "status").at(-1)!.message as string, /Storage fault/);
    assert.equal(of(r, "consumption").length, 1, "reports still go out");
    broken = false;
    await r.kit.run(5000);
    assert.equal(of(r, "status").at(-1)!.status, "online");
  });

  it("starts empty from a corrupt ledger and says so", async () => {
    const store = new MemorySettingsStore();
    store.set(LEDGER_KEY, { balance: "lots" });
    const r = await rig({}, { settings: store });
    assert.equal(r.meter.ledger.balance, 0);
    assert.ok(r.kit.logs.some((l) => l.startsWith("ledger corrupt (balance)")));
  });

  it("stop() says offline and keeps the open period for the next boot", async () => {
    const r = await rig();
    await pay(r, 100);
    await r.kit.run(12_000);
    const socket = r.kit.net.last;
    await r.meter.stop();
    // The goodbye and DISCONNECT were written before the socket closed; the broker reads them there.
    const [goodbye, disconnect] = socket.take() as [PublishPacket, Packet];
    assert.equal(disconnect.type, P.DISCONNECT, "a clean DISCONNECT: the broker drops the will");
    assert.deepEqual([goodbye.topic, goodbye.qos, goodbye.retain], ["smartmeter/METER001/status", 0, false]);
    const last = JSON.parse(td.decode(goodbye.payload)) as Record<string, unknown>;
    schemas.assertValid("status", last);
    assert.deepEqual([last.status, last.message], ["offline", "Meter stopped"]);
    assert.ok(r.kit.settings.get<{ openMicro: number }>(LEDGER_KEY)!.openMicro > micro(2300, 11_999));
    assert.deepEqual(r.kit.clock.pending, [], "no timers left");
  });
});

describe("smart-meter: config, companion and simulation", () => {
  it("reads its options once, refusing bad values and unknown keys by name", async () => {
    assert.throws(() => readMeterOptions({ tariff: "free" }), /tariff="free": must be a number/);
    assert.throws(() => readMeterOptions({ reportIntervalS: "0" }), /reportIntervalS="0": must be at least 0.1/);
    assert.throws(() => readMeterOptions({ sampleIntervalS: "60" }), /sampleIntervalS \(60\) must not exceed reportIntervalS/);
    assert.throws(() => readMeterOptions({ maxBacklog: "0" }), /maxBacklog/);
    assert.throws(() => readMeterOptions({ maxBacklog: "2.5" }), /maxBacklog="2.5": must be an integer/);
    assert.throws(() => readMeterOptions({ tarif: "2" }), (e) => e instanceof RangeError && /unknown option "tarif"/.test(e.message));
    assert.deepEqual(readMeterOptions({}), { tariff: 1, lowBalance: 1, reportIntervalMs: 30_000, sampleIntervalMs: 5000, statusIntervalMs: 300_000, maxBacklog: 40 });
    assert.deepEqual(readMeterOptions(definition.defaults), readMeterOptions({}));
    assert.throws(() => createSmartMeter(new Kit({ deviceId: "METER001", config: { root: "site1" } }).device, new FakeHardware()), /unknown option "root"/);
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
