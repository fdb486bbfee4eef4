// The shared Modbus-RTU master against the emulated line: framing, CRC, exceptions, and every
// line fault (bad CRC, no answer, a cut answer, an unplugged slave) as a typed error after
// which the next request works.

import { ModbusError, ModbusMaster, crc16, withCrc } from "../../modules/drivers/modbus.js";
import { ModbusLine } from "../../modules/emulators/modbus.js";
import { ManualClock, check } from "./suite.js";
import type { DriverSuite } from "./suite.js";

function rig() {
  const clock = new ManualClock();
  const holding = [0, 0, 0, 0];
  const line = new ModbusLine(clock.timer).attach(7, {
    readInput: (start, count) => (start + count > 10 ? { exception: 2 } : Array.from({ length: count }, (_, i) => 1000 + start + i)),
    readHolding: (start, count) => holding.slice(start, start + count),
    writeHolding: (start, values) => { values.forEach((v, i) => { holding[start + i] = v; }); },
  });
  const master = new ModbusMaster({ serial: { io: line.io, port: 2, baud: 9600 }, timer: clock.timer, timeoutMs: 100 });
  /** Runs a request to its end on the clock. */
  const done = async <T>(p: Promise<T>): Promise<T> => {
    let settled = false;
    const watched = p.finally(() => { settled = true; });
    for (let i = 0; i < 20 && !settled; i++) await clock.advance(10);
    return watched;
  };
  return { clock, line, master, holding, done };
}

async function kind(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return e instanceof ModbusError ? e.kind : `untyped ${String(e)}`;
  }
}

export const suites: DriverSuite[] = [{
  name: "Modbus-RTU master (emulated serial line)",
  cases: [
    { name: "CRC-16/MODBUS matches the standard's check value and frames carry it low byte first", run() {
      check.equal(crc16(new TextEncoder().encode("123456789")), 0x4b37);
      check.deepEqual([...withCrc([0x01, 0x04, 0x00, 0x00, 0x00, 0x0a])], [0x01, 0x04, 0x00, 0x00, 0x00, 0x0a, 0x70, 0x0d]);
    } },
    { name: "reads input and holding registers and writes one and several", async run() {
      const r = rig();
      check.deepEqual(await r.done(r.master.readInputRegisters(7, 2, 3)), [1002, 1003, 1004]);
      await r.done(r.master.writeRegister(7, 1, 0xbeef));
      await r.done(r.master.writeRegisters(7, 2, [5, 6]));
      check.deepEqual(await r.done(r.master.readHoldingRegisters(7, 0, 4)), [0, 0xbeef, 5, 6]);
    } },
    { name: "a slave's exception is a typed error with its code", async run() {
      const r = rig();
      const p = r.master.readInputRegisters(7, 8, 5);
      check.equal(await r.done(kind(p)), "exception");
      try { await p; } catch (e) { check.equal((e as ModbusError).exception, 2); }
    } },
    { name: "bad CRC, no answer, a cut answer and an unplugged slave are typed errors, and the next request works", async run() {
      const r = rig();
      r.line.faults.badCrc = 1;
      check.equal(await r.done(kind(r.master.readInputRegisters(7, 0, 2))), "crc");
      r.line.faults.silent = 1;
      check.equal(await r.done(kind(r.master.readInputRegisters(7, 0, 2))), "timeout");
      r.line.faults.truncated = 1;
      check.equal(await r.done(kind(r.master.readInputRegisters(7, 0, 2))), "timeout");
      r.line.faults.unplugged = true;
      check.equal(await r.done(kind(r.master.readInputRegisters(7, 0, 2))), "timeout");
      r.line.faults.unplugged = false;
      check.deepEqual(await r.done(r.master.readInputRegisters(7, 0, 2)), [1000, 1001]);
      check.equal(await r.done(kind(r.master.readInputRegisters(9, 0, 1))), "timeout", "nobody at address 9");
    } },
    { name: "requests queue one at a time and each gets its own answer", async run() {
      const r = rig();
      const a = r.master.readInputRegisters(7, 0, 1);
      const b = r.master.readInputRegisters(7, 5, 1);
      check.deepEqual(await r.done(Promise.all([a, b])), [[1000], [1005]]);
    } },
    { name: "a full queue refuses a request as busy, and takes requests again once it drains", async run() {
      const r = rig();
      const queued = Array.from({ length: 9 }, (_, i) => r.master.readInputRegisters(7, i, 1));
      check.equal(await kind(r.master.readInputRegisters(7, 0, 1)), "busy", "the 1 on the line and 8 waiting are the limit");
      check.deepEqual(await r.done(Promise.all(queued)), [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => [1000 + i]));
      check.deepEqual(await r.done(r.master.readInputRegisters(7, 9, 1)), [1009]);
    } },
    { name: "close() rejects what is pending and later requests", async run() {
      const r = rig();
      const p = r.master.readInputRegisters(7, 0, 1);
      r.master.close();
      check.equal(await kind(p), "closed");
      check.equal(await kind(r.master.readInputRegisters(7, 0, 1)), "closed");
    } },
  ],
}];
