// The dese drivers against their emulators: the analog probe front ends, the NTC thermistor,
// the flow meter on a pulse counter, the battery divider, and the whole board on the emulated
// water (pumps with feedback included). Faults: an open probe (rail), a failed ADC, a failed
// counter, a stuck pump feedback; each is a typed error or a reported state, and the driver
// works again once the fault is gone.

import type { Device } from "../../modules/device/device.js";
import { AnalogProbe, ProbeError, probeVolts } from "../../modules/drivers/analog-probe.js";
import { BatteryMonitor } from "../../modules/drivers/battery-monitor.js";
import { FlowMeter } from "../../modules/drivers/flow-meter.js";
import { NtcThermistor, ntcRatio } from "../../modules/drivers/ntc-thermistor.js";
import { EmulatedAnalog } from "../../modules/emulators/analog.js";
import { EmulatedPulseCounter } from "../../modules/emulators/pulsecount.js";
import { FRONT_ENDS, NTC, PUMPS, deseHardware } from "../../modules/products/dese/hardware.js";
import { EmulatedWater } from "../../modules/products/dese/simulation.js";
import { ManualClock, check } from "./suite.js";
import type { DriverSuite } from "./suite.js";

function kind(f: () => unknown): string {
  try {
    f();
    return "ok";
  } catch (e) {
    return e instanceof ProbeError ? e.kind : `untyped ${String(e)}`;
  }
}

/** An ADC channel whose pin carries `volts.now`. */
function channel(volts: { now: number }) {
  const adc = new EmulatedAnalog({ volts: () => volts.now });
  return { adc, sensor: { io: adc.io, pin: 36 } };
}

/** The little of a Device the dese hardware and water use, on a manual clock. */
function fakeDevice(clock: ManualClock, logs: string[] = []): Device {
  let seed = 1;
  return {
    deviceId: "esp32-001",
    timer: clock.timer,
    now: () => Date.UTC(2025, 0, 27) + clock.now,
    random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647),
    log: (line: string) => { logs.push(line); },
  } as unknown as Device;
}

export const suites: DriverSuite[] = [
  {
    name: "Analog probe front end (pH, ORP, chlorine, TDS on an emulated ADC)",
    cases: [
      { name: "converts volts to the quantity by the front end's transfer, within half a count of the 12-bit ADC", run() {
        const v = { now: 0 };
        const { sensor } = channel(v);
        const ph = new AnalogProbe({ sensor, ...FRONT_ENDS.ph });
        for (const value of [0, 4.01, 6.5, 7, 7.42, 10.01, 14]) {
          v.now = probeVolts(FRONT_ENDS.ph, value);
          check.near(ph.sample().value, value, 0.0045, `pH ${value}`);
        }
        const orp = new AnalogProbe({ sensor, ...FRONT_ENDS.orp });
        v.now = probeVolts(FRONT_ENDS.orp, -650);
        check.near(orp.sample().value, -650, 1, "ORP mV");
        const tds = new AnalogProbe({ sensor, ...FRONT_ENDS.tds });
        v.now = probeVolts(FRONT_ENDS.tds, 1200);
        check.near(tds.sample().value, 1200, 0.5, "TDS ppm");
        check.near(tds.sample().volts, 0.6 + 1200 * 2.4 / 2000, 0.001, "volts as read");
      } },
      { name: "an open probe (either rail) and a failed ADC are typed errors, and the probe reads again once they are gone", run() {
        const v = { now: probeVolts(FRONT_ENDS.chlorine, 2) };
        const { adc, sensor } = channel(v);
        const probe = new AnalogProbe({ sensor, ...FRONT_ENDS.chlorine });
        adc.fault = "open";
        check.equal(kind(() => probe.sample()), "open", "unplugged: full scale");
        check.throws(() => probe.sample(), /probe open: ADC at full scale \(4095 of 4095\)/);
        adc.fault = undefined;
        v.now = 0;
        check.equal(kind(() => probe.sample()), "open", "a cut 4-20 mA loop: zero");
        adc.fault = "dead";
        v.now = probeVolts(FRONT_ENDS.chlorine, 2);
        check.equal(kind(() => probe.sample()), "bus");
        check.throws(() => probe.sample(), /ADC read failed: ADC not responding/);
        adc.fault = undefined;
        check.near(probe.sample().value, 2, 0.01, "back");
      } },
      { name: "averages samples, and refuses a transfer or averaging it cannot use", run() {
        let n = 0;
        const adc = new EmulatedAnalog({ volts: () => (n++ % 2 ? 1.0 : 2.0) });
        const probe = new AnalogProbe({ sensor: { io: adc.io }, originVolts: 0, originValue: 0, perVolt: 1, averaging: 4 });
        check.near(probe.sample().value, 1.5, 0.001);
        check.throws(() => probe.configure({ perVolt: 0 }), /perVolt must not be 0/);
        check.throws(() => probe.configure({ averaging: 0 }), /averaging must be an integer from 1 to 64/);
        check.throws(() => probe.configure({ originVolts: Number.NaN }), /originVolts must be a finite number/);
        probe.close();
        check.equal(kind(() => probe.sample()), "bus", "closed");
      } },
    ],
  },
  {
    name: "NTC thermistor (beta equation on an emulated ADC)",
    cases: [
      { name: "reads -10 to 80 C back within 0.1 C through a pull-up divider and through the SDK's default wiring", run() {
        const v = { now: 0 };
        const { sensor } = channel(v);
        const up = new NtcThermistor({ sensor, ...NTC });
        const down = { ...NTC, pullup: false };
        const ntc = new NtcThermistor({ sensor, ...down });
        for (const c of [-10, 0, 25, 26.4, 40, 80]) {
          v.now = 3.3 * ntcRatio(c, NTC);
          check.near(up.sample().temperature, c, 0.1, `${c} C, pull-up`);
          v.now = 3.3 * ntcRatio(c, down);
          check.near(ntc.sample().temperature, c, 0.1, `${c} C, series resistor to ground`);
        }
        v.now = 3.3 * ntcRatio(25, NTC);
        check.near(up.sample().resistance, 10_000, 20, "the nominal 10 k at 25 C");
      } },
      { name: "an open or shorted thermistor is an error, never a temperature; a failed ADC too", run() {
        const v = { now: 3.3 * ntcRatio(25, NTC) };
        const { adc, sensor } = channel(v);
        const ntc = new NtcThermistor({ sensor, ...NTC });
        adc.fault = "open";
        check.equal(kind(() => ntc.sample()), "open", "open thermistor: pulled to 3.3 V");
        adc.fault = undefined;
        v.now = 0;
        check.equal(kind(() => ntc.sample()), "open", "shorted thermistor");
        v.now = 3.3 * ntcRatio(25, NTC);
        adc.fault = "dead";
        check.equal(kind(() => ntc.sample()), "bus");
        adc.fault = undefined;
        check.near(ntc.sample().temperature, 25, 0.1);
        check.throws(() => ntc.configure({ beta: -1 }), /beta must be a positive number/);
      } },
    ],
  },
  {
    name: "Flow meter (pulses per litre on an emulated pulse counter)",
    cases: [
      { name: "gives L/min over each window and litres in all, carrying fractions of pulses", async run() {
        const clock = new ManualClock();
        let hz = 337.5; // 45 L/min at 450 pulses/L
        let at = 0;
        const counter = new EmulatedPulseCounter({ pulses: () => { const p = ((clock.now - at) / 1000) * hz; at = clock.now; return p; } });
        const meter = new FlowMeter({ sensor: { io: counter.io, signal: 27 }, now: () => clock.now, pulsesPerLitre: 450 });
        check.equal(meter.sample().flow_rate, 0, "no window yet");
        await clock.advance(5000);
        const rate = meter.sample().flow_rate;
        check.near(rate, 45, 0.03, "within a pulse over 5 s");
        await clock.advance(300);
        check.equal(meter.sample().flow_rate, rate, "a window shorter than 1 s repeats the last rate");
        void counter.total; // the pin's pulses so far at the old rate
        hz = 0.3; // 0.04 L/min: under one pulse per second
        await clock.advance(9700);
        check.near(meter.sample().flow_rate, (45 * 0.3 + 0.04 * 9.7) / 10, 0.03, "the window since the last reading spans the change");
        await clock.advance(10_000);
        check.near(meter.sample().flow_rate, 0.04, 0.01, "fractions carried");
        check.near(meter.sample().litres, (45 * 5.3 + 0.04 * 19.7) / 60, 0.01);
      } },
      { name: "a failed counter is a typed error; the next window after it counts every pulse", async run() {
        const clock = new ManualClock();
        let at = 0;
        const counter = new EmulatedPulseCounter({ pulses: () => { const p = ((clock.now - at) / 1000) * 75; at = clock.now; return p; } });
        const provider = { io: counter.io, signal: 27 };
        const meter = new FlowMeter({ sensor: provider, now: () => clock.now });
        await clock.advance(2000);
        check.near(meter.sample().flow_rate, 10, 0.01);
        counter.fault = "dead";
        await clock.advance(2000);
        check.equal(kind(() => meter.sample()), "bus");
        counter.fault = undefined;
        await clock.advance(2000);
        check.near(meter.sample().flow_rate, 10, 0.01, "the window spans the fault");
        check.near(meter.sample().litres, 1, 0.01, "no pulse lost");
        const other = new provider.io({ ...provider });
        check.equal(other.read(), 0, "a second counter on the pin starts at zero");
        meter.configure({ pulsesPerLitre: 100 });
        check.throws(() => meter.configure({ pulsesPerLitre: 0 }), /pulsesPerLitre must be a positive number/);
      } },
    ],
  },
  {
    name: "Battery through a divider (emulated ADC)",
    cases: [
      { name: "gives the cell's volts and charge, clamped to 0-100 %, and a failed ADC as an error", run() {
        const v = { now: 3.7 / 2 };
        const { adc, sensor } = channel(v);
        const battery = new BatteryMonitor({ sensor, divider: 2, empty: 3.0, full: 4.2 });
        check.near(battery.sample().volts, 3.7, 0.005);
        check.near(battery.sample().percent, 58.3, 0.5);
        v.now = 4.3 / 2;
        check.equal(battery.sample().percent, 100);
        v.now = 2.9 / 2;
        check.equal(battery.sample().percent, 0);
        adc.fault = "dead";
        check.equal(kind(() => battery.sample()), "bus");
        check.throws(() => battery.configure({ empty: 4.2, full: 3.0 }), /empty below full/);
      } },
    ],
  },
  {
    name: "DESE board on the emulated water (probes, NTC, flow, battery, pumps with feedback)",
    cases: [
      { name: "reads every sensor in range through its driver, and the circulation pump makes flow", async run() {
        const clock = new ManualClock();
        const device = fakeDevice(clock);
        const emulated = new EmulatedWater(device);
        const hw = deseHardware(emulated.buses, device);
        const first = hw.readSensors();
        check.near(first.ph!, emulated.water.ph, 0.15, "pH near the water's");
        check.near(first.temperature!, emulated.water.temperature, 0.4, "temperature");
        check.near(first.chlorine!, emulated.water.chlorine, 0.1, "chlorine");
        check.near(first.orp!, emulated.water.orp, 20, "ORP");
        check.near(first.tds!, emulated.water.tds, 5, "TDS");
        check.equal(first.errors, undefined);
        check.near(hw.battery()!, emulated.water.battery, 1);
        check.ok(hw.signalStrength()! < 0, "RSSI from the wifi source");
        hw.setPump(PUMPS.circulation, true);
        check.equal(emulated.running(PUMPS.circulation), true, "the drive pin runs the pump");
        await clock.advance(60_000);
        hw.readSensors();
        await clock.advance(10_000);
        check.near(hw.readSensors().flow_rate!, 45, 0.5, "45 L/min from the meter's pulses");
      } },
      { name: "an unplugged probe and a failed ADC read NaN with the reason; a pump whose feedback sticks is reported once settled", async run() {
        const clock = new ManualClock();
        const device = fakeDevice(clock);
        const emulated = new EmulatedWater(device);
        const hw = deseHardware(emulated.buses, device);
        emulated.channels.orp.fault = "open";
        emulated.channels.temperature.fault = "dead";
        const r = hw.readSensors();
        check.ok(Number.isNaN(r.orp!) && Number.isNaN(r.temperature!));
        check.equal(r.errors?.orp, "probe open: ADC at full scale (4095 of 4095)");
        check.equal(r.errors?.temperature, "ADC read failed: ADC not responding");
        emulated.channels.orp.fault = undefined;
        emulated.channels.temperature.fault = undefined;
        check.equal(hw.readSensors().errors, undefined, "both read again");
        emulated.pumps.get(PUMPS.acid)!.stuck = 0;
        hw.setPump(PUMPS.acid, true);
        check.equal(hw.pumpRunning(PUMPS.acid), false);
        check.equal(hw.pumpStuck(PUMPS.acid), undefined, "not judged before the contact settles");
        await clock.advance(hw.settleMs);
        check.equal(hw.pumpStuck(PUMPS.acid), "off");
        emulated.pumps.get(PUMPS.acid)!.stuck = undefined;
        check.equal(hw.pumpStuck(PUMPS.acid), undefined);
        emulated.channels.battery.fault = "dead";
        check.equal(hw.battery(), undefined, "an unknown battery level is left out");
      } },
    ],
  },
];
