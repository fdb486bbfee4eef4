// The bess drivers against their emulators on one emulated RS-485 line: the BMS driver (the
// register map and its scaling, signed current, the 32-bit alarm field, values out of range
// and line faults as typed errors after which the next reading works) and the power converter
// driver (set-points written and read back, a refused write as the converter's exception,
// the set-points driving the pack's current as the BMS reports it).

import { ModbusError, ModbusMaster } from "../../modules/drivers/modbus.js";
import { BMS_ALARM, BMS_REGISTERS, BmsError, ModbusBms, alarmNames } from "../../modules/drivers/bms.js";
import { PowerConverter } from "../../modules/drivers/power-converter.js";
import { BatteryPack } from "../../modules/emulators/battery-pack.js";
import type { PackOptions } from "../../modules/emulators/battery-pack.js";
import { EmulatedBms } from "../../modules/emulators/bms.js";
import { EmulatedConverter } from "../../modules/emulators/power-converter.js";
import { ModbusLine } from "../../modules/emulators/modbus.js";
import { prng } from "../../modules/device/prng.js";
import { ManualClock, check } from "./suite.js";
import type { DriverSuite } from "./suite.js";

function rig(options: Partial<PackOptions> = {}) {
  const clock = new ManualClock();
  const pack = new BatteryPack({ now: () => clock.now, random: prng(7) }, options);
  const bmsModel = new EmulatedBms(pack);
  const converterModel = new EmulatedConverter(pack, 30);
  const line = new ModbusLine(clock.timer).attach(1, bmsModel).attach(2, converterModel);
  const modbus = new ModbusMaster({ serial: { io: line.io, port: 2, receive: 16, transmit: 17, baud: 9600 }, timer: clock.timer, timeoutMs: 200 });
  const bms = new ModbusBms({ modbus, address: 1 });
  const converter = new PowerConverter({ modbus, address: 2 });
  /** Runs a request to its end on the clock. */
  const done = async <T>(p: Promise<T>): Promise<T> => {
    let settled = false;
    const watched = p.finally(() => { settled = true; });
    for (let i = 0; i < 60 && !settled; i++) await clock.advance(10);
    return watched;
  };
  return { clock, pack, bmsModel, converterModel, line, modbus, bms, converter, done };
}

/** The typed kind of a failure: ModbusError's kind, "range" for BmsError. */
async function kind(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return e instanceof ModbusError || e instanceof BmsError ? e.kind : `untyped ${String(e)}`;
  }
}

export const suites: DriverSuite[] = [
  {
    name: "BMS (Modbus-RTU over RS-485)",
    cases: [
      { name: "reads the register map with its scaling: voltage, signed current, SoC, SoH, cell extremes, module temperatures", async run() {
        const r = rig({ initialSoc: 60, modules: 3 });
        const idle = await r.done(r.bms.sample());
        const truth = r.pack.state();
        check.near(idle.voltage, truth.voltage, 0.005, "0.01 V");
        check.equal(idle.current, 0);
        check.near(idle.soc, 60, 0.005, "0.01 %");
        check.near(idle.soh, 98.2, 0.005);
        check.near(idle.cellMaxV, truth.cellMaxV, 0.0005, "1 mV");
        check.near(idle.cellMinV, truth.cellMinV, 0.0005);
        check.equal(idle.moduleTemps.length, 3, "only fitted modules");
        idle.moduleTemps.forEach((t, i) => check.near(t, truth.moduleTemps[i], 0.05, "0.1 C"));
        check.equal(idle.alarms, 0);
        r.bmsModel.overrides[BMS_REGISTERS.current] = 0xfc18; // -100.0 A
        check.equal((await r.done(r.bms.sample())).current, -100, "two's complement: charging is negative");
      } },
      { name: "the alarm field spans two registers, high word first, with SunSpec 802 Evt1 bit numbers", async run() {
        const r = rig();
        r.bmsModel.forced = (1 << BMS_ALARM.GROUND_FAULT) | (1 << BMS_ALARM.OVER_VOLT_WARNING);
        const s = await r.done(r.bms.sample());
        check.equal(s.alarms, r.bmsModel.forced);
        check.deepEqual(alarmNames(s.alarms), ["OVER_VOLT_WARNING", "GROUND_FAULT"]);
        check.deepEqual(r.bmsModel.registers().slice(BMS_REGISTERS.alarmsHigh, BMS_REGISTERS.alarmsLow + 1), [0x40, 0x400]);
      } },
      { name: "a BMS raises its own over-temperature flags from its limits", async run() {
        const r = rig({ tauMs: 1, kPerKw: 1.5, ambientC: 25 });
        r.converterModel.writeHolding(0, [2, 0, 30_000, 0]); // 30 kW discharge: 25 + 45 C
        await r.clock.advance(2000);
        const s = await r.done(r.bms.sample());
        check.ok(Math.max(...s.moduleTemps) > 60, `hot: ${s.moduleTemps}`);
        check.ok(alarmNames(s.alarms).includes("OVER_TEMP_ALARM"), alarmNames(s.alarms).join());
      } },
      { name: "values no pack can have are refused as BmsError 'range', and the next good reading passes", async run() {
        const r = rig();
        const cases: [number, number, RegExp][] = [
          [BMS_REGISTERS.soc, 12000, /state of charge 120 % out of range/],
          [BMS_REGISTERS.soh, 10001, /state of health/],
          [BMS_REGISTERS.modules, 0, /module count/],
          [BMS_REGISTERS.temperatures, 0x8000, /module 1 temperature not available/],
          [BMS_REGISTERS.temperatures + 1, 2000, /module 2 temperature 200 C/],
          [BMS_REGISTERS.cellMin, 3600, /lowest cell voltage 3.6 V out of range/],
          [BMS_REGISTERS.voltage, 0, /pack voltage 0 V/],
        ];
        for (const [register, value, pattern] of cases) {
          r.bmsModel.overrides[register] = value;
          const p = r.bms.sample();
          check.equal(await r.done(kind(p)), "range", `register ${register} = ${value}`);
          await check.rejects(p, pattern);
          r.bmsModel.overrides[register] = undefined;
        }
        check.near((await r.done(r.bms.sample())).soc, 75.8, 0.005);
      } },
      { name: "no answer, a bad CRC and a cut answer are typed errors; the next reading works", async run() {
        const r = rig();
        r.line.faults.silent = 1;
        check.equal(await r.done(kind(r.bms.sample())), "timeout");
        r.line.faults.badCrc = 1;
        check.equal(await r.done(kind(r.bms.sample())), "crc");
        r.line.faults.truncated = 1;
        check.equal(await r.done(kind(r.bms.sample())), "timeout");
        r.line.faults.unplugged = true;
        check.equal(await r.done(kind(r.bms.sample())), "timeout");
        r.line.faults.unplugged = false;
        check.equal(await r.done(kind(r.bms.sample())), "ok");
      } },
      { name: "configure() changes the slave address (1 to 247); close() stops sampling", async run() {
        const r = rig();
        r.bms.configure({ address: 2 }); // the converter answers reads of input registers with illegal function
        check.equal(await r.done(kind(r.bms.sample())), "exception");
        check.throws(() => r.bms.configure({ address: 248 }), /1 to 247/);
        r.bms.configure({ address: 1 });
        check.deepEqual(r.bms.configuration, { address: 1 });
        r.bms.close();
        await check.rejects(r.bms.sample(), /closed/);
      } },
    ],
  },
  {
    name: "Power converter (Modbus-RTU over RS-485)",
    cases: [
      { name: "writes mode, power limit (32-bit W) and SoC floor in one request and reads them back", async run() {
        const r = rig();
        const back = await r.done(r.converter.configure({ mode: "discharge", powerLimitKw: 125.5, socMin: 20 }));
        check.deepEqual(back, { mode: "discharge", powerLimitKw: 125.5, socMin: 20 });
        check.deepEqual(await r.done(r.converter.sample()), back);
        check.deepEqual(r.converterModel.readHolding(0, 4), [2, 1, 59964, 2000], "125 500 W = 1 x 65536 + 59964");
        const functions = r.line.requests.slice(-3).map((f) => f[1]);
        check.deepEqual(functions, [0x10, 0x03, 0x03], "one write, then read-backs");
      } },
      { name: "its set-points drive the pack: the BMS reports the current they cause", async run() {
        const r = rig({ initialSoc: 50 });
        await r.done(r.converter.configure({ mode: "discharge", powerLimitKw: 10, socMin: 0 }));
        const discharging = await r.done(r.bms.sample());
        check.near((discharging.voltage * discharging.current) / 1000, 10, 0.02, "10 kW out");
        await r.done(r.converter.configure({ mode: "charge", powerLimitKw: 100, socMin: 0 }));
        const charging = await r.done(r.bms.sample());
        check.near((charging.voltage * charging.current) / 1000, -30, 0.05, "capped at the 30 kW rating");
        await r.clock.advance(600_000);
        check.ok((await r.done(r.bms.sample())).soc > 50, "charging raised the SoC");
      } },
      { name: "a refused write rejects with the converter's exception and leaves its set-points as they were", async run() {
        const r = rig();
        await r.done(r.converter.configure({ mode: "charge", powerLimitKw: 5, socMin: 10 }));
        r.converterModel.refuse = 4;
        const p = r.converter.configure({ mode: "discharge", powerLimitKw: 20, socMin: 10 });
        check.equal(await r.done(kind(p)), "exception");
        await check.rejects(p, /converter refused the set-points: exception 4 \(slave device failure\)/);
        check.equal(r.converterModel.mode, "charge");
        r.converterModel.refuse = 0;
        check.equal((await r.done(r.converter.configure({ mode: "idle", powerLimitKw: 5, socMin: 10 }))).mode, "idle");
      } },
      { name: "a read-back that differs is an error; bad set-points are refused before the bus", async run() {
        const clock = new ManualClock();
        const line = new ModbusLine(clock.timer).attach(2, { writeHolding: () => undefined, readHolding: () => [0, 0, 0, 0] });
        const converter = new PowerConverter({ modbus: new ModbusMaster({ serial: { io: line.io }, timer: clock.timer }), address: 2 });
        const p = converter.configure({ mode: "charge", powerLimitKw: 1, socMin: 0 });
        for (let i = 0; i < 20; i++) await clock.advance(10);
        await check.rejects(p, /read-back \[0, 0, 0, 0\] differs from the set-points written \[1, 0, 1000, 0\]/);
        await check.rejects(converter.configure({ mode: "charge", powerLimitKw: -1, socMin: 0 }), /power limit/);
        await check.rejects(converter.configure({ mode: "charge", powerLimitKw: 1, socMin: 101 }), /SoC floor/);
        check.equal(line.requests.length, 2, "nothing sent for the bad set-points");
      } },
      { name: "a converter that does not answer is a timeout", async run() {
        const r = rig();
        r.line.faults.silent = 1;
        check.equal(await r.done(kind(r.converter.configure({ mode: "charge", powerLimitKw: 5, socMin: 0 }))), "timeout");
        check.equal(r.converterModel.mode, "idle");
      } },
    ],
  },
];
