// The smart meter's logic on the test kit (a real Device and client, a scripted broker, a
// fake clock) with a scripted meter (an energy register counting a constant load): billing
// the register's increase and the 30 s report period, tariff, relay
// at zero balance, low-balance threshold, status on change and heartbeat, balance commands
// (stale, malformed, unknown), the will and the resync request on every connect, and the
// ledger's promise: consumption measured offline or across a restart is reported, never
// lost and never counted twice; meter faults (no answer, nonsense, a register that goes back
// or wraps) and a stuck relay. Then the same product on its real drivers (PZEM-004T over
// Modbus-RTU, relay with feedback) over emulated buses, with faults on the buses. Plus
// options, the companion's command builder and the simulated household. Every message the meter publishes is checked against index.json
// and its schema after each test.

import assert from "node:assert/strict";
import { MemorySettingsStore } from "../../../modules/device/settings.js";
import type { SettingsStore } from "../../../modules/device/settings.js";
import { prng } from "../../../modules/device/prng.js";
import { definition } from "../../../modules/products/smart-meter/index.js";
import { LEDGER_KEY, createSmartMeter } from "../../../modules/products/smart-meter/product.js";
import type { SmartMeter } from "../../../modules/products/smart-meter/product.js";
import type { MeterHardware, MeterReading, SupplyRelay } from "../../../modules/products/smart-meter/hardware.js";
import { readMeterOptions } from "../../../modules/products/smart-meter/options.js";
import { REGISTER_WRAP, registerStep } from "../../../modules/products/smart-meter/register.js";
import { Household, emulatedMeter } from "../../../modules/products/smart-meter/simulation.js";
import type { EmulatedMeter } from "../../../modules/products/smart-meter/simulation.js";
import { simulate } from "../../../modules/device/product.js";
import { ProductSchemas } from "../../products/harness.js";
import { Kit } from "../../kit/index.js";
import * as P from "../../../modules/mqtt/packets.js";
import type { Packet, PublishPacket } from "../../../modules/mqtt/packets.js";

const schemas = new ProductSchemas("smart-meter");
const T0 = 1_700_000_000_000;
const te = new TextEncoder();
const td = new TextDecoder();

/** A relay whose contact can stick; the load is connected while the contact is closed. */
class FakeRelay implements SupplyRelay {
  on = false;
  readonly changes: boolean[] = [];
  /** Where the contact sticks, whatever is commanded. */
  contact: boolean | undefined;
  constructor(readonly before: () => void) {}
  get closed(): boolean {
    return this.contact ?? this.on;
  }
  get stuck(): "closed" | "open" | undefined {
    return this.closed === this.on ? undefined : this.closed ? "closed" : "open";
  }
  set(on: boolean): void {
    if (on === this.on) return;
    this.before(); // energy up to now at the old state
    this.on = on;
    this.changes.push(on);
  }
}

/** A meter on a constant load: its register counts V×I while the contact is closed, in whole Wh. */
class FakeHardware implements MeterHardware {
  readonly relay = new FakeRelay(() => this.advance());
  voltage = 230;
  current = 10;
  failure: string | undefined;
  /** The register with its fraction, Wh. */
  energy = 0;
  now: () => number = () => 0;
  #at: number | undefined;
  advance(): void {
    const now = this.now();
    // A reading spoilt on the line (voltage NaN) says nothing about what the register counts.
    if (this.#at !== undefined && this.relay.closed) this.energy += (230 * this.current * (now - this.#at)) / 3_600_000;
    this.#at = now;
  }
  async read(): Promise<MeterReading> {
    this.advance();
    if (this.failure) throw new Error(this.failure);
    const current = this.relay.closed ? this.current : 0;
    return { voltage: this.voltage, current, power: this.voltage * current, energy: Math.floor(this.energy) % REGISTER_WRAP, frequency: 50, powerFactor: 1, alarm: false };
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
  hw.now = () => kit.clock.now;
  hw.advance();
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

/** µkWh the register shows for 2300 W over ms from 0: whole Wh. */
const billed = (ms: number, watts = 2300) => Math.floor((watts * ms) / 3_600_000) * 1000;

describe("smart-meter: metering on a fake clock", () => {
  it("bills the meter register's increase and reports every 30 s at QoS 1 with the five specified fields", async () => {
    const r = await rig();
    await pay(r, 100);
    await r.kit.run(30_000);
    const reports = of(r, "consumption");
    assert.equal(reports.length, 1);
    const units = billed(30_000) / 1e6; // 19.17 Wh on the register: 0.019 kWh
    assert.deepEqual(reports[0], {
      meterNo: "METER001",
      unitsConsumed: units,
      remainingBalance: 100 - units,
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
    assert.equal(sum, billed(90_000), `${sum} µkWh`);
    assert.ok(r.kit.logs.includes("Consumption: 0.019000 kWh"), r.kit.logs.join("\n"));
  });

  it("counts the register's increase: across the 2^32 wrap, never negative, nothing impossible", () => {
    assert.deepEqual(registerStep(undefined, undefined, 500, 0, 5000), { wh: 0 }, "the first reading is a baseline");
    assert.deepEqual(registerStep(500, 0, 503, 5000, 5000), { wh: 3 });
    assert.deepEqual(registerStep(500, 0, 500, 5000, 5000), { wh: 0 });
    assert.deepEqual(registerStep(REGISTER_WRAP - 2, 0, 3, 5000, 5000), { wh: 5 }, "the 2^32 wrap");
    // 30 kW (the meter's full scale) for 5 s is 41.7 Wh: 43 is the most a step can add.
    assert.deepEqual(registerStep(500, 0, 543, 5000, 5000), { wh: 43 });
    assert.match((registerStep(500, 0, 544, 5000, 5000) as { fault: string }).fault, /jumped by 44 Wh in 5 s/);
    assert.match((registerStep(500, 0, 20, 5000, 5000) as { fault: string }).fault, /went back from 500 to 20 Wh/);
    assert.deepEqual(registerStep(500, 10_000, 503, 5000, 5000), { wh: 3 }, "a clock that stepped back still allows one step");
    assert.deepEqual(registerStep(500, 0, 1500, 3_600_000, 5000), { wh: 1000 }, "a long gap (a restart) is billed from the register");
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
    assert.ok(Math.abs(r.meter.ledger.balance - (100 - 2.5 * billed(30_000) / 1e6)) < 1e-9);
  });

  it("opens the relay when the balance reaches zero, and consumption stops", async () => {
    const r = await rig();
    await pay(r, 0.01); // 10 Wh last 15.7 s at 2.3 kW
    assert.equal(r.hw.relay.on, true);
    await r.kit.run(30_000);
    assert.equal(r.hw.relay.on, false);
    assert.equal(r.meter.ledger.balance, 0);
    const first = of(r, "consumption")[0];
    // The step that exhausted the balance is billed in full (12 Wh at 20 s); nothing after it.
    assert.equal(first.unitsConsumed, billed(20_000) / 1e6);
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

  it("skips readings the meter does not give, says error after meterFaultLimit in a row, and bills the register once it answers", async () => {
    const r = await rig({ statusIntervalS: "0" });
    await pay(r, 100);
    await r.kit.run(30_000);
    r.hw.failure = "no answer from 248 to function 4 within 200 ms";
    await r.kit.run(10_000); // two readings missed: below the limit of 3
    assert.deepEqual(of(r, "status").map((s) => s.status), ["low_balance", "online"]);
    await r.kit.run(20_000);
    assert.equal(of(r, "consumption")[1].unitsConsumed, 0, "nothing billed without a reading");
    r.hw.failure = undefined;
    await r.kit.run(30_000);
    const statuses = of(r, "status");
    assert.deepEqual(statuses.map((s) => s.status), ["low_balance", "online", "error", "online"]);
    assert.equal(statuses[2].message, "Meter fault: no answer from 248 to function 4 within 200 ms");
    // The register counted on meanwhile: the time without readings is billed once it answers.
    assert.equal(Math.round((of(r, "consumption")[2].totalConsumed as number) * 1e6), billed(90_000));
    assert.ok(r.kit.logs.includes("Meter answers again"));
    assert.equal(r.kit.logs.filter((l) => l.startsWith("Meter reading skipped")).length, 1, "one log line per fault, not per reading");
  });

  it("takes a reading out of range for a missing one", async () => {
    const r = await rig({ statusIntervalS: "0", meterFaultLimit: "1" });
    await pay(r, 100);
    r.hw.voltage = Number.NaN;
    await r.kit.run(5000);
    assert.deepEqual([of(r, "status").at(-1)!.status, of(r, "status").at(-1)!.message], ["error", "Meter fault: voltage out of range: NaN"]);
    r.hw.voltage = 230;
    await r.kit.run(5000);
    assert.equal(of(r, "status").at(-1)!.status, "online");
    assert.equal(r.meter.ledger.openMicro, billed(10_000), "the register's figure, readings or not");
  });

  it("takes a register that went back (meter reset or replaced) as a new baseline: a one-off error, never a negative bill", async () => {
    const r = await rig({ statusIntervalS: "0" });
    await pay(r, 100);
    await r.kit.run(30_000);
    const before = r.meter.ledger.balance;
    r.hw.energy = 2; // the meter was reset
    await r.kit.run(5000);
    const error = of(r, "status").at(-2)!;
    assert.deepEqual([error.status, error.message], ["error", "Meter register went back from 19 to 5 Wh (reset or replaced): new baseline"]);
    assert.equal(of(r, "status").at(-1)!.status, "online", "the steady status follows at once");
    assert.equal(r.meter.ledger.balance, before, "nothing billed for that step, nothing credited");
    await r.kit.run(25_000);
    // From the new baseline on, billing goes on.
    const fromBaseline = Math.floor(2 + (2300 * 30_000) / 3_600_000 - 0) - 5;
    assert.equal(Math.round((of(r, "consumption")[1].unitsConsumed as number) * 1e6), fromBaseline * 1000);
    assert.equal(r.meter.ledger.meterWh, Math.floor(r.hw.energy));
  });

  it("bills across the register's wrap at 2^32 Wh", async () => {
    const r = await rig();
    r.hw.energy = REGISTER_WRAP - 3.5;
    await r.kit.run(5000); // the baseline
    await pay(r, 100);
    await r.kit.run(30_000);
    assert.equal(r.meter.ledger.meterWh, Math.floor(REGISTER_WRAP - 3.5 + (2300 * 30_000) / 3_600_000) - REGISTER_WRAP);
    assert.equal(r.meter.ledger.openMicro + r.meter.ledger.totalMicro, (r.meter.ledger.meterWh! + 4) * 1000);
  });

  it("says error while the relay contact does not follow, and keeps billing what the load draws", async () => {
    const r = await rig({ statusIntervalS: "0" });
    await pay(r, 0.01);
    r.hw.relay.contact = true; // welded
    await r.kit.run(30_000);
    assert.equal(r.hw.relay.on, false, "the balance ran out: the relay was told to open");
    const error = of(r, "status").at(-1)!;
    assert.deepEqual([error.status, error.message], ["error", "Relay fault: stuck closed, the supply cannot be cut"]);
    assert.equal(r.meter.ledger.totalMicro + r.meter.ledger.openMicro, billed(30_000), "energy that still flows is still counted");
    assert.equal(r.meter.ledger.balance, 0, "never below zero");
    r.hw.relay.contact = undefined;
    await r.kit.run(5000);
    assert.equal(of(r, "status").at(-1)!.status, "low_balance");
    assert.ok(r.kit.logs.includes("Relay follows again"));
    await pay(r, 5);
    r.hw.relay.contact = false; // a dead coil
    await r.kit.run(5000);
    assert.equal(of(r, "status").at(-1)!.message, "Relay fault: stuck open, the supply cannot be restored");
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
    assert.equal(unacknowledged, billed(45_000));
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

  it("persists every step with the register: a restart loses nothing and counts nothing twice", async () => {
    const r = await rig();
    await pay(r, 100);
    await r.kit.run(12_000); // steps at 5 s and 10 s persisted; 2 s since
    r.crash(); // the controller restarts; the meter keeps its register
    const stored = r.kit.settings.get<{ openMicro: number; meterWh: number }>(LEDGER_KEY)!;
    assert.deepEqual([stored.openMicro, stored.meterWh], [billed(10_000), 6]);
    const again = await rig({}, { from: r });
    await again.kit.run(30_000);
    const report = of(again, "consumption")[0];
    // Billed from the register read before the restart: the seconds around it are not lost.
    assert.equal(report.unitsConsumed, billed(42_000) / 1e6);
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
    assert.equal(sum, billed(330_000), `${sum} µkWh reported, ${billed(330_000)} on the register`);
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
    assert.equal(r.kit.settings.get<{ openMicro: number }>(LEDGER_KEY)!.openMicro, billed(12_000));
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
    assert.throws(() => readMeterOptions({ meterFaultLimit: "0" }), /meterFaultLimit/);
    assert.throws(() => readMeterOptions({ tarif: "2" }), (e) => e instanceof RangeError && /unknown option "tarif"/.test(e.message));
    assert.deepEqual(readMeterOptions({}), { tariff: 1, lowBalance: 1, reportIntervalMs: 30_000, sampleIntervalMs: 5000, statusIntervalMs: 300_000, maxBacklog: 40, meterFaultLimit: 3 });
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
    const home = new Household({ now: () => clock.now, random: prng(42) });
    const amps: number[] = [];
    const volts: number[] = [];
    let kwh = 0;
    for (let s = 0; s < 24 * 3600; s += 10) { // one day in 10 s steps
      clock.now += 10_000;
      const r = home.measure(true);
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
    clock.now += 10_000;
    assert.equal(home.measure(false).current, 0);
    // The same seed repeats the same day.
    const twin = new Household({ now: () => clock.now, random: prng(42) });
    const a = new Household({ now: () => clock.now, random: prng(42) });
    assert.deepEqual(twin.measure(true), a.measure(true));
  });
});

// ---- the product on its drivers over emulated buses ----

interface BusRig {
  kit: Kit;
  meter: SmartMeter;
  em: EmulatedMeter;
  /** Runs fake time in 50 ms steps, so each Modbus transaction (about 35 ms) completes in its step. */
  run(ms: number): Promise<void>;
}

/** The smart meter as `simulate` builds it (drivers on emulated buses), on a constant 2300 W load. */
async function busRig(config: Record<string, string> = {}): Promise<BusRig> {
  const kit = new Kit({ deviceId: "METER001", config: { statusIntervalS: "0", ...config }, start: T0 });
  const em = emulatedMeter(kit.device, (connected) => ({ voltage: 230, current: connected ? 10 : 0 }));
  const meter = definition.create(kit.device, definition.hardware(em.buses, kit.device)) as SmartMeter;
  const r: BusRig = { kit, meter, em, run: (ms) => kit.run(ms, 50) };
  rigs.push({ kit } as Rig);
  meter.start();
  await r.run(100);
  return r;
}

const statusOf = (r: { kit: Kit }) => r.kit.broker.payloads("smartmeter/METER001/status").map((s) => [s.status, s.message]);

describe("smart-meter on its drivers (PZEM-004T over Modbus-RTU, relay with feedback) over emulated buses", () => {
  it("bills the PZEM's energy register and drives the relay pin by the balance", async () => {
    const r = await busRig();
    assert.deepEqual(r.em.relay.writes, [0], "open at boot: no balance");
    r.kit.broker.deliver(CMD, JSON.stringify({ balance: 100, timestamp: T0 }));
    await r.run(30_000);
    assert.equal(r.em.relay.level, 1);
    const report = of(r as unknown as Rig, "consumption")[0];
    const register = r.em.pzem.energyWh;
    assert.ok(register >= 19 && register <= 20, `${register} Wh on the meter`);
    assert.equal(Math.round((report.unitsConsumed as number) * 1e6) + r.meter.ledger.openMicro, r.meter.ledger.meterWh! * 1000);
    assert.equal(r.meter.ledger.meterWh, register, "billed up to the last reading of the register");
    // Reads at the general address, function 4, ten registers from 0.
    assert.deepEqual([...r.em.line.requests.at(-1)!.subarray(0, 6)], [0xf8, 0x04, 0, 0, 0, 10]);
    assert.deepEqual(statusOf(r).at(-1), ["online", "Device operating normally"]);
  });

  it("no answer or bad CRCs: readings skipped, error after 3 in a row, back to normal when the meter answers, nothing lost", async () => {
    const r = await busRig();
    r.kit.broker.deliver(CMD, JSON.stringify({ balance: 100, timestamp: T0 }));
    await r.run(10_000);
    r.em.line.faults.badCrc = 2; // two bad frames: skipped, no error
    await r.run(10_000);
    assert.deepEqual(statusOf(r).map((s) => s[0]), ["low_balance", "online"]);
    assert.ok(r.kit.logs.some((l) => /^Meter reading skipped: bad CRC/.test(l)), r.kit.logs.join("\n"));
    r.em.line.faults.unplugged = true;
    await r.run(20_000);
    assert.deepEqual(statusOf(r).at(-1), ["error", "Meter fault: no answer from 248 to function 4 within 200 ms"]);
    r.em.line.faults.unplugged = false;
    await r.run(5000);
    assert.deepEqual(statusOf(r).at(-1), ["online", "Device operating normally"]);
    const l = r.meter.ledger;
    assert.equal(l.totalMicro + l.openMicro, r.em.pzem.energyWh * 1000, "the outage's energy is billed from the register");
    assert.ok(of(r as unknown as Rig, "consumption").length >= 1, "reports went on during the fault");
  });

  it("values out of range (behind a good CRC) are skipped like missing readings", async () => {
    const r = await busRig({ meterFaultLimit: "2" });
    r.kit.broker.deliver(CMD, JSON.stringify({ balance: 100, timestamp: T0 }));
    await r.run(5000);
    r.em.pzem.override.set(0, 4000); // 400 V
    await r.run(10_000);
    assert.deepEqual(statusOf(r).at(-1), ["error", "Meter fault: PZEM 248 reported voltage 400 V"]);
    r.em.pzem.override.clear();
    await r.run(5000);
    assert.equal(statusOf(r).at(-1)![0], "online");
  });

  it("a PZEM energy reset is a one-off error and a new baseline; billing goes on from there", async () => {
    const r = await busRig();
    r.kit.broker.deliver(CMD, JSON.stringify({ balance: 100, timestamp: T0 }));
    await r.run(30_000);
    const before = r.meter.ledger.balance;
    const counted = r.meter.ledger.totalMicro + r.meter.ledger.openMicro;
    r.em.pzem.energyWh = 0;
    await r.run(5000);
    assert.ok(statusOf(r).some(([s, m]) => s === "error" && /^Meter register went back from \d+ to \d+ Wh/.test(m as string)), JSON.stringify(statusOf(r)));
    assert.equal(statusOf(r).at(-1)![0], "online");
    assert.equal(r.meter.ledger.balance, before);
    assert.equal(r.meter.ledger.totalMicro + r.meter.ledger.openMicro, counted);
    await r.run(30_000);
    assert.ok(r.meter.ledger.balance < before, "billing resumed");
  });

  it("a welded relay contact says error and the load it lets through is billed; the balance stays at 0", async () => {
    const r = await busRig();
    r.kit.broker.deliver(CMD, JSON.stringify({ balance: 0.01, timestamp: T0 }));
    await r.run(1000);
    r.em.relay.stuck = 1;
    await r.run(30_000);
    assert.equal(r.em.relay.level, 0, "the coil was released when the balance ran out");
    assert.deepEqual(statusOf(r).at(-1), ["error", "Relay fault: stuck closed, the supply cannot be cut"]);
    assert.equal(r.meter.ledger.balance, 0);
    const l = r.meter.ledger;
    assert.equal(l.totalMicro + l.openMicro, r.meter.ledger.meterWh! * 1000, "what flowed is reported");
    assert.ok(r.meter.ledger.meterWh! > 15);
    r.em.relay.stuck = undefined;
    await r.run(5000);
    assert.equal(statusOf(r).at(-1)![0], "low_balance");
  });

  it("simulate() runs the household on the same drivers", async () => {
    const kit = new Kit({ deviceId: "METER001", config: {}, start: Date.UTC(2024, 0, 15, 18, 0, 0) });
    rigs.push({ kit } as Rig);
    const meter = simulate(definition, kit.device).product as SmartMeter;
    meter.start();
    await kit.run(100, 50);
    kit.broker.deliver(CMD, JSON.stringify({ balance: 20, timestamp: Date.UTC(2024, 0, 15, 18, 0, 0) }));
    await kit.run(121_000, 50);
    const reports = kit.broker.payloads("smartmeter/METER001/consumption");
    assert.equal(reports.length, 4);
    assert.ok(meter.ledger.totalMicro > 0 && meter.ledger.balance < 20, `${JSON.stringify(meter.ledger)}\n${kit.logs.join("\n")}`);
    assert.equal(kit.broker.payloads("smartmeter/METER001/status").at(-1)!.wifi_rssi !== -127, true, "the emulated Wi-Fi gives a signal");
    const stopped = meter.stop(); // its last reading goes over the emulated line: time must pass
    await kit.run(1000, 50);
    await stopped;
    assert.deepEqual(kit.clock.pending, [], "no timers left");
  });
});
