// What the controller reads and drives, and the drivers that do it. Five probes on the ESP32's
// ADC1 (ADC2 is unusable while Wi-Fi runs): pH, ORP, free chlorine and TDS through analog
// front ends (AnalogProbe: volts to pH / mV / ppm), water temperature by an NTC thermistor in
// a divider; flow by a turbine meter's pulses on the PCNT; battery through a 2:1 divider; and
// four pumps, each on a GPIO output (MOSFET or relay driver) with a feedback input (an
// auxiliary contact or current sense: ESP32 outputs cannot be read back). The same drivers
// run on a board's buses and on the emulated ones (simulation.ts).

import type { Device } from "../../device/device.js";
import { AnalogProbe } from "../../drivers/analog-probe.js";
import type { ProbeTransfer } from "../../drivers/analog-probe.js";
import { BatteryMonitor } from "../../drivers/battery-monitor.js";
import { FlowMeter } from "../../drivers/flow-meter.js";
import type { BoardSpec, Buses, Digital419, IoProvider } from "../../drivers/io.js";
import { NtcThermistor } from "../../drivers/ntc-thermistor.js";
import type { NtcOptions } from "../../drivers/ntc-thermistor.js";
import { SensedRelay } from "../../drivers/relay.js";
import type { RawReadings, SensorName } from "./sensors.js";

/** Pump ids of the controller (set_pump's pump_id). */
export const PUMPS = {
  /** Circulation: moves water past the probes (flow_rate). */
  circulation: 1,
  /** pH minus (acid) dosing: lowers pH. */
  acid: 2,
  /** pH plus (base) dosing: raises pH. */
  base: 3,
  /** Chlorine dosing: raises free chlorine. */
  chlorine: 4,
} as const;

/** Each pump's buses: its drive output and its feedback input. */
export const PUMP_BUSES: Readonly<Record<number, { drive: string; sense: string }>> = {
  [PUMPS.circulation]: { drive: "circulationPump", sense: "circulationSense" },
  [PUMPS.acid]: { drive: "acidPump", sense: "acidSense" },
  [PUMPS.base]: { drive: "basePump", sense: "baseSense" },
  [PUMPS.chlorine]: { drive: "chlorinePump", sense: "chlorineSense" },
};

/**
 * The analog front ends: volts at the pin for each probe's quantity. None puts a valid
 * reading at a rail, so a rail is a disconnected probe (AnalogProbe's "open").
 *   ph        pH amplifier: 1.65 V at pH 7, -0.1 V per pH (pH 0..14 is 2.35..0.95 V)
 *   orp       ORP amplifier: 1.65 V at 0 mV, 0.5 V per 1000 mV (+-2000 mV is 0.65..2.65 V)
 *   chlorine  amperometric free-chlorine transmitter, 4-20 mA for 0-20 ppm into 150 ohm (0.6..3.0 V)
 *   tds       conductivity/TDS transmitter, 4-20 mA for 0-2000 ppm into 150 ohm (0.6..3.0 V)
 */
export const FRONT_ENDS: Readonly<Record<"ph" | "orp" | "chlorine" | "tds", ProbeTransfer>> = {
  ph: { originVolts: 1.65, originValue: 7, perVolt: -10 },
  orp: { originVolts: 1.65, originValue: 0, perVolt: 2000 },
  chlorine: { originVolts: 0.6, originValue: 0, perVolt: 20 / 2.4 },
  tds: { originVolts: 0.6, originValue: 0, perVolt: 2000 / 2.4 },
};

/** The water-temperature divider: 10 k to 3.3 V, a waterproof 10 k (B 3950) NTC probe to ground. */
export const NTC: Required<Omit<NtcOptions, "averaging">> = { series_resistance: 10_000, thermistor_resistance: 10_000, beta: 3950, pullup: true };

/** The flow meter: a YF-S201-class turbine, F (Hz) = 7.5 x Q (L/min), so 450 pulses per litre. */
export const PULSES_PER_LITRE = 450;

/** Battery: one Li-ion cell through two equal resistors, 3.0 V empty to 4.2 V full. */
export const BATTERY = { divider: 2, empty: 3.0, full: 4.2 };

/** The buses on a common ESP32 dev board (DevKitC): ADC1 pins for the analog inputs. */
export const BOARD: BoardSpec = {
  ph: { kind: "analog", options: { pin: 36 }, doc: "pH amplifier output (1.65 V at pH 7, -0.1 V/pH)" },
  orp: { kind: "analog", options: { pin: 39 }, doc: "ORP amplifier output (1.65 V at 0 mV, 0.5 V per 1000 mV)" },
  chlorine: { kind: "analog", options: { pin: 34 }, doc: "free-chlorine transmitter, 4-20 mA (0-20 ppm) across 150 ohm" },
  tds: { kind: "analog", options: { pin: 35 }, doc: "TDS transmitter, 4-20 mA (0-2000 ppm) across 150 ohm" },
  temperature: { kind: "analog", options: { pin: 32 }, doc: "10 k to 3.3 V, 10 k B3950 NTC probe to ground" },
  battery: { kind: "analog", options: { pin: 33 }, doc: "battery through a 100 k / 100 k divider" },
  flow: { kind: "pulsecount", options: { signal: 27 }, doc: "flow meter pulse output (450 pulses/L), 10 k pull-up to 3.3 V" },
  circulationPump: { kind: "digital", options: { pin: 25, mode: "output" }, doc: "pump 1 (circulation) driver input, high = run" },
  acidPump: { kind: "digital", options: { pin: 26, mode: "output" }, doc: "pump 2 (acid) driver input, high = run" },
  basePump: { kind: "digital", options: { pin: 18, mode: "output" }, doc: "pump 3 (base) driver input, high = run" },
  chlorinePump: { kind: "digital", options: { pin: 19, mode: "output" }, doc: "pump 4 (chlorine) driver input, high = run" },
  circulationSense: { kind: "digital", options: { pin: 21, mode: "input" }, doc: "pump 1 feedback to 3.3 V, pull-down, high = running" },
  acidSense: { kind: "digital", options: { pin: 22, mode: "input" }, doc: "pump 2 feedback to 3.3 V, pull-down, high = running" },
  baseSense: { kind: "digital", options: { pin: 23, mode: "input" }, doc: "pump 3 feedback to 3.3 V, pull-down, high = running" },
  chlorineSense: { kind: "digital", options: { pin: 4, mode: "input" }, doc: "pump 4 feedback to 3.3 V, pull-down, high = running" },
};

export interface DeseHardware {
  /** Ids of the pumps fitted. */
  readonly pumps: readonly number[];
  /** How long a pump's feedback may take to follow a command, ms. */
  readonly settleMs: number;
  /** Raw (uncalibrated) readings now: NaN for a probe that gives no value (its reason in `errors`), absent for one not fitted. */
  readSensors(): RawReadings;
  /** Switches a fitted pump. */
  setPump(id: number, on: boolean): void;
  /** What the pump was last commanded. */
  pumpOn(id: number): boolean;
  /** What the pump's feedback says now. */
  pumpRunning(id: number): boolean;
  /** Where the pump's feedback is when it has not followed the command (settled), else undefined. */
  pumpStuck(id: number): "on" | "off" | undefined;
  /** Battery charge, percent (0-100), or undefined when unknown. */
  battery(): number | undefined;
  /** Wi-Fi RSSI, dBm, or undefined when unknown. */
  signalStrength(): number | undefined;
}

const ANALOG_PROBES = ["ph", "orp", "chlorine", "tds"] as const;

/**
 * The drivers on the given buses. `wifi` (optional, not an ECMA-419 bus) is an object with an
 * `rssi` in dBm; without it the signal strength is left out, as the specification allows.
 */
export function deseHardware(buses: Buses, device: Device): DeseHardware {
  const now = () => device.now();
  const probes = ANALOG_PROBES.map((name) => [name, new AnalogProbe({ sensor: buses[name], ...FRONT_ENDS[name] })] as const);
  const thermistor = new NtcThermistor({ sensor: buses.temperature, ...NTC });
  const flow = new FlowMeter({ sensor: buses.flow, now, pulsesPerLitre: PULSES_PER_LITRE });
  const battery = new BatteryMonitor({ sensor: buses.battery, ...BATTERY });
  const pumps = new Map<number, SensedRelay>();
  for (const [id, b] of Object.entries(PUMP_BUSES)) {
    pumps.set(Number(id), new SensedRelay({ coil: buses[b.drive] as IoProvider<Digital419>, sense: buses[b.sense] as IoProvider<Digital419>, now }));
  }
  const wifi = buses.wifi ? new buses.wifi.io({ ...buses.wifi }) as { readonly rssi: number } : undefined;
  let batteryError: string | undefined;
  const pump = (id: number): SensedRelay => {
    const p = pumps.get(id);
    if (!p) throw new RangeError(`no pump ${id}`);
    return p;
  };
  return {
    pumps: [...pumps.keys()],
    settleMs: 50,
    readSensors(): RawReadings {
      const raw: RawReadings = {};
      const errors: Partial<Record<SensorName, string>> = {};
      const read = (name: SensorName, f: () => number) => {
        try {
          raw[name] = f();
        } catch (e) {
          raw[name] = Number.NaN;
          errors[name] = e instanceof Error ? e.message : String(e);
        }
      };
      for (const [name, probe] of probes) read(name, () => probe.sample().value);
      read("temperature", () => thermistor.sample().temperature);
      read("flow_rate", () => flow.sample().flow_rate);
      if (Object.keys(errors).length) raw.errors = errors;
      return raw;
    },
    setPump: (id, on) => pump(id).set(on),
    pumpOn: (id) => pump(id).on,
    pumpRunning: (id) => pump(id).closed,
    pumpStuck(id) {
      const stuck = pump(id).stuck;
      return stuck === undefined ? undefined : stuck === "closed" ? "on" : "off";
    },
    battery() {
      try {
        const percent = Math.round(battery.sample().percent);
        batteryError = undefined;
        return percent;
      } catch (e) {
        // Optional in status and telemetry: left out, and logged once per failure.
        const why = e instanceof Error ? e.message : String(e);
        if (why !== batteryError) device.log(`dese ${device.deviceId}: battery not read: ${why}`);
        batteryError = why;
        return undefined;
      }
    },
    signalStrength: () => wifi?.rssi,
  };
}
