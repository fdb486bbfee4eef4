// The smart-meter drivers against their emulators: the PZEM-004T v3.0 driver on the emulated
// Modbus line (register map and scaling, the 32-bit energy register, energy reset, alarm
// threshold, address change, out-of-range values and every line fault as a typed error after
// which the next reading works), and the supply relay with its feedback contact on emulated
// GPIO (drive, read-back, a contact stuck either way, an active-low coil).

import { ModbusError, withCrc } from "../../modules/drivers/modbus.js";
import { PZEM_GENERAL_ADDRESS, Pzem004t, PzemError } from "../../modules/drivers/pzem004t.js";
import { SensedRelay } from "../../modules/drivers/relay.js";
import { EmulatedPin } from "../../modules/emulators/digital.js";
import { ModbusLine } from "../../modules/emulators/modbus.js";
import { EmulatedPzem } from "../../modules/emulators/pzem004t.js";
import type { PzemLoad } from "../../modules/emulators/pzem004t.js";
import { ManualClock, check } from "./suite.js";
import type { DriverSuite } from "./suite.js";

function pzemRig(address?: number) {
  const clock = new ManualClock();
  const load: PzemLoad = { voltage: 230, current: 10, powerFactor: 0.9, frequency: 50 };
  const line = new ModbusLine(clock.timer);
  const model = new EmulatedPzem({ now: () => clock.now, load: () => load }).attachTo(line);
  const pzem = new Pzem004t({ sensor: { io: line.io, port: 2, receive: 16, transmit: 17 }, timer: clock.timer, address });
  /** Runs a request to its end on the clock. */
  const done = async <T>(p: Promise<T>): Promise<T> => {
    let settled = false;
    const watched = p.finally(() => { settled = true; });
    for (let i = 0; i < 40 && !settled; i++) await clock.advance(10);
    return watched;
  };
  return { clock, load, line, model, pzem, done };
}

/** The typed kind of a failure: ModbusError's kind, "range" for PzemError. */
async function kind(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return e instanceof ModbusError || e instanceof PzemError ? e.kind : `untyped ${String(e)}`;
  }
}

function relayRig(activeLow = false) {
  let now = 0;
  const pin = new EmulatedPin();
  const relay = new SensedRelay({
    coil: { io: pin.io, pin: 23, mode: "output" },
    sense: { io: pin.io, pin: 22, mode: "input" },
    now: () => now,
    activeLow,
  });
  return { pin, relay, wait: (ms: number) => { now += ms; } };
}

export const suites: DriverSuite[] = [{
  name: "PZEM-004T v3.0 energy monitor (Modbus-RTU over emulated serial)",
  cases: [
    { name: "reads the ten input registers in one request at the general address and scales them", async run() {
      const r = pzemRig();
      const s = await r.done(r.pzem.sample());
      check.deepEqual([...r.line.requests[0]], [...withCrc([PZEM_GENERAL_ADDRESS, 0x04, 0, 0, 0, 10])], "one read of 0x0000..0x0009");
      check.deepEqual(s, { voltage: 230, current: 10, power: 2070, energy: 0, frequency: 50, powerFactor: 0.9, alarm: false });
    } },
    { name: "the energy register counts Wh as 32 bits sent low word first", async run() {
      const r = pzemRig();
      await r.done(r.pzem.sample());
      await r.clock.advance(3_600_000); // an hour at 2070 W
      check.equal((await r.done(r.pzem.sample())).energy, 2070);
      r.model.energyWh = 0x1_0000 - 10; // across the word boundary
      await r.clock.advance(60_000);
      check.equal((await r.done(r.pzem.sample())).energy, 0x1_0000 - 10 + 34, "2070 W for a minute is 34.5 Wh");
      r.model.energyWh = 0xffff_fff0;
      check.equal((await r.done(r.pzem.sample())).energy, 0xffff_fff0, "the top of the register");
      await r.clock.advance(60_000);
      check.equal((await r.done(r.pzem.sample())).energy, 0xffff_fff0 + 34 - 0x1_0000_0000 + 1, "it wraps at 2^32 Wh with the fraction carried");
    } },
    { name: "power above the alarm threshold sets the alarm; the threshold reads and writes", async run() {
      const r = pzemRig();
      check.equal(await r.done(r.pzem.alarmThreshold()), 2300);
      await r.done(r.pzem.setAlarmThreshold(2000));
      check.equal(r.model.alarmThreshold, 2000);
      check.equal((await r.done(r.pzem.sample())).alarm, true);
      r.load.current = 1;
      check.equal((await r.done(r.pzem.sample())).alarm, false);
    } },
    { name: "resetEnergy clears the register (function 0x42)", async run() {
      const r = pzemRig();
      r.model.energyWh = 12_345;
      await r.done(r.pzem.resetEnergy());
      check.deepEqual([...r.line.requests[0]], [...withCrc([PZEM_GENERAL_ADDRESS, 0x42])]);
      check.equal((await r.done(r.pzem.sample())).energy, 0);
    } },
    { name: "setAddress moves the meter and the driver with it; nobody answers at an unknown address", async run() {
      const r = pzemRig(1);
      await r.done(r.pzem.setAddress(7));
      check.equal(r.model.address, 7);
      check.equal(r.pzem.address, 7);
      check.equal((await r.done(r.pzem.sample())).voltage, 230);
      r.pzem.configure({ address: 1 });
      check.equal(await r.done(kind(r.pzem.sample())), "timeout", "the meter left address 1");
      check.throws(() => r.pzem.configure({ address: 0 }), /1\.\.247 or 248/);
      check.throws(() => new Pzem004t({ sensor: { io: r.line.io }, timer: r.clock.timer, address: 0x100 }), /1\.\.247 or 248/);
      await r.done(r.pzem.setAddress(PZEM_GENERAL_ADDRESS)).then(() => check.ok(false, "0xF8 accepted"), (e: Error) => check.ok(/general address/.test(e.message), e.message));
    } },
    { name: "values no PZEM can report are a typed range error, and the next reading works", async run() {
      const r = pzemRig();
      for (const [register, raw, pattern] of [[0, 4000, /voltage 400 V/], [2, 2, /current 141\.072 A/], [8, 150, /power factor 1\.5/], [7, 990, /frequency 99 Hz/], [9, 0x1234, /alarm status 0x1234/]] as [number, number, RegExp][]) {
        r.model.override.set(register, raw);
        const p = r.pzem.sample();
        check.equal(await r.done(kind(p)), "range", `register ${register} = ${raw}`);
        await p.catch((e: Error) => check.ok(pattern.test(e.message), e.message));
        r.model.override.clear();
      }
      check.equal((await r.done(r.pzem.sample())).voltage, 230);
    } },
    { name: "bad CRC, no answer, a cut answer and an unplugged meter are typed errors, and the next reading works", async run() {
      const r = pzemRig();
      r.line.faults.badCrc = 1;
      check.equal(await r.done(kind(r.pzem.sample())), "crc");
      r.line.faults.silent = 1;
      check.equal(await r.done(kind(r.pzem.sample())), "timeout");
      r.line.faults.truncated = 1;
      check.equal(await r.done(kind(r.pzem.sample())), "timeout");
      r.line.faults.unplugged = true;
      check.equal(await r.done(kind(r.pzem.sample())), "timeout");
      r.line.faults.unplugged = false;
      check.equal((await r.done(r.pzem.sample())).current, 10);
    } },
    { name: "close() rejects a pending reading and later ones", async run() {
      const r = pzemRig();
      const p = r.pzem.sample();
      r.pzem.close();
      check.equal(await kind(p), "closed");
      check.equal(await kind(r.pzem.sample()), "closed");
    } },
  ],
}, {
  name: "Supply relay with feedback contact (emulated GPIO)",
  cases: [
    { name: "opens at start, drives the coil and reads the contact back", run() {
      const r = relayRig();
      check.deepEqual(r.pin.writes, [0], "a known state: open");
      check.equal(r.relay.on, false);
      r.relay.set(true);
      check.deepEqual([r.pin.level, r.relay.on, r.relay.closed], [1, true, true]);
      r.wait(100);
      check.equal(r.relay.stuck, undefined);
      r.relay.set(true);
      check.deepEqual(r.pin.writes, [0, 1], "no write when nothing changes");
    } },
    { name: "the pin's owner hears each driver write: before it (the old level) and after it (the new one)", run() {
      const seen: string[] = [];
      const pin: EmulatedPin = new EmulatedPin({ beforeWrite: () => seen.push(`before ${pin.level}`), afterWrite: () => seen.push(`after ${pin.level}`) });
      const io = new pin.io({ pin: 23, mode: "output" });
      io.write(1);
      io.read();
      io.write(0);
      check.deepEqual(seen, ["before 0", "after 1", "before 1", "after 0"], "reads are not writes");
    } },
    { name: "a contact that does not follow is stuck closed or open, judged only after it had time to move", run() {
      const r = relayRig();
      r.relay.set(true);
      r.pin.stuck = 1; // welded
      r.relay.set(false);
      check.equal(r.relay.stuck, undefined, "still moving");
      r.wait(50);
      check.equal(r.relay.stuck, "closed");
      r.pin.stuck = 0; // a dead coil or burnt contact
      r.relay.set(true);
      r.wait(50);
      check.equal(r.relay.stuck, "open");
      r.pin.stuck = undefined;
      check.equal(r.relay.stuck, undefined, "follows again");
    } },
    { name: "an active-low coil is driven low to close", run() {
      const r = relayRig(true);
      check.equal(r.pin.level, 1, "open: coil off");
      r.relay.set(true);
      check.equal(r.pin.level, 0);
      check.equal(r.relay.on, true);
    } },
    { name: "a sense pin that fails throws from the read-back, not silently", run() {
      const r = relayRig();
      r.relay.close();
      check.throws(() => r.relay.closed, /closed/);
      check.throws(() => r.relay.set(true), /closed/);
    } },
  ],
}];
