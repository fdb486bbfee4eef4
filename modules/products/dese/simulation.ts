// The controller's buses, emulated: a body of water with physically plausible chemistry behind
// the emulated ADC channels, pulse counter and pump pins. The state advances lazily to now()
// whenever a channel is sampled, the counter read or a pump pin written, with closed-form
// exponentials so any time step is exact and no timer of its own is needed. Noise comes from
// random() (the Device's, seeded by the host).
//
//   pH      drifts slowly up towards 7.8 (CO2 outgassing, ~6 h time constant); the acid pump
//           pulls it down and the base pump up, about 0.1 pH per minute.
//   chlorine decays first order (half-life 8 h at 25 C, faster when warmer); the dosing pump
//           raises it by 0.2 ppm/min.
//   temperature follows a daily sine around 26 C (+-2 C, warmest at 15:00 UTC).
//   ORP     follows chlorine and pH (more chlorine, lower pH: higher ORP).
//   TDS     rises slowly with evaporation and every dose.
//   flow    ~45 L/min with the circulation pump on, 0 off (seconds to spin up or down),
//           as pulses of the flow meter (450 per litre).
//   battery drains 1 % per 10 h, faster with pumps running.
// Each probe has a small fixed bias, which calibrate_sensor and sensor_calibration correct.
// The pumps run on their drive pins; their feedback reads the same pins, so an EmulatedPin's
// `stuck` is a feedback that no longer follows.

import { EmulatedWifi } from "../../emulators/wifi.js";
import type { HardwareFault } from "../../device/product.js";
import type { Device } from "../../device/device.js";
import { probeVolts } from "../../drivers/analog-probe.js";
import type { Buses } from "../../drivers/io.js";
import { ntcRatio } from "../../drivers/ntc-thermistor.js";
import { EmulatedAnalog } from "../../emulators/analog.js";
import { EmulatedPin } from "../../emulators/digital.js";
import { EmulatedPulseCounter } from "../../emulators/pulsecount.js";
import { BATTERY, BOARD, FRONT_ENDS, NTC, PULSES_PER_LITRE, PUMPS, PUMP_BUSES } from "./hardware.js";
import type { SensorName } from "./sensors.js";

export interface WaterHost {
  now(): number;
  random(): number;
}

const HOUR = 3600;
const DAY = 24 * HOUR;
const FULL_SCALE = 3.3;

/** The water and its physics, read as true values (the probes add bias and noise). */
export class WaterModel {
  readonly #host: WaterHost;
  /** Whether each pump runs now: the model asks its drive pin. */
  readonly #running: (id: number) => boolean;
  #t: number;
  #ph: number;
  #chlorine: number;
  #tds: number;
  #flow = 0;
  #battery: number;
  /** Flow meter pulses not yet taken by the counter. */
  #pulses = 0;

  constructor(host: WaterHost, running: (id: number) => boolean) {
    this.#host = host;
    this.#running = running;
    this.#t = host.now();
    const r = () => host.random();
    this.#ph = 7.2 + 0.4 * r();
    this.#chlorine = 1.5 + 1.5 * r();
    this.#tds = 900 + 400 * r();
    this.#battery = 70 + 30 * r();
  }

  get ph(): number { this.advance(); return this.#ph; }
  get chlorine(): number { this.advance(); return this.#chlorine; }
  get tds(): number { this.advance(); return this.#tds; }
  get flow(): number { this.advance(); return this.#flow; }
  get battery(): number { this.advance(); return this.#battery; }
  get temperature(): number { return temperatureAt(this.#host.now()); }

  get orp(): number {
    this.advance();
    const free = Math.max(this.#chlorine, 0.05);
    return clamp(650 + 120 * Math.log10(free / 1.5) - 50 * (this.#ph - 7.5), -2000, 2000);
  }

  /** Flow meter pulses since the last call. */
  takePulses(): number {
    this.advance();
    const p = this.#pulses;
    this.#pulses = 0;
    return p;
  }

  /** Brings the state up to now with the pumps as they have been since the last step. */
  advance(): void {
    const now = this.#host.now();
    const dt = (now - this.#t) / 1000;
    if (dt <= 0) return;
    this.#t = now;
    const on = (id: number) => this.#running(id);
    const decay = (tau: number) => Math.exp(-dt / tau);
    const approach = (value: number, target: number, tau: number) => target + (value - target) * decay(tau);
    // pH: natural drift, then dosing towards what the acid (pH 2) or base (pH 12) would give, ~0.1 pH/min near 7.4.
    this.#ph = approach(this.#ph, 7.8, 6 * HOUR);
    if (on(PUMPS.acid)) this.#ph = approach(this.#ph, 2, 3240);
    if (on(PUMPS.base)) this.#ph = approach(this.#ph, 12, 2760);
    // Chlorine: decay (half-life 8 h at 25 C, doubling rate per +10 C), then dosing.
    const halfLife = 8 * HOUR / Math.pow(2, (temperatureAt(now) - 25) / 10);
    this.#chlorine *= Math.pow(0.5, dt / halfLife);
    if (on(PUMPS.chlorine)) this.#chlorine = Math.min(20, this.#chlorine + 0.2 * dt / 60);
    // TDS: evaporation, plus what the dosing adds.
    const dosing = [PUMPS.acid, PUMPS.base, PUMPS.chlorine].filter(on).length;
    this.#tds = Math.min(1900, this.#tds + dt * (1 / HOUR + dosing * 0.05));
    // Flow spins up or down with a 3 s time constant; the meter's pulses are its exact integral.
    const target = on(PUMPS.circulation) ? 45 : 0;
    const litres = (target * dt + (this.#flow - target) * 3 * (1 - decay(3))) / 60;
    this.#pulses += Math.max(0, litres) * PULSES_PER_LITRE;
    this.#flow = approach(this.#flow, target, 3);
    if (this.#flow < 0.05) this.#flow = 0;
    // Battery: 1 %/10 h idle, +1 %/10 h per running pump.
    const running = Object.values(PUMPS).filter(on).length;
    this.#battery = Math.max(0, this.#battery - dt * (1 + running) / (10 * HOUR));
  }
}

/** What a probe sees: the water's value, or one forced by a test or a demo. */
type Probed = Exclude<SensorName, "flow_rate">;

/** The emulated parts behind the controller's buses, with handles for tests and demos. */
/** What the dashboard may do to a simulated DESE. */
export function waterFaults(e: EmulatedWater): Record<string, HardwareFault> {
  let forced = false;
  return {
    ph: { label: "pH probe reads 9.8 / reads the water again", apply: () => { forced = !forced; if (forced) e.force("ph", 9.8); else e.release("ph"); } },
    unplug: { label: "pH probe unplugged / plugged in", apply: () => { e.channels.ph.fault = e.channels.ph.fault ? undefined : "open"; } },
    pump: { label: "Acid pump stuck / freed", apply: () => { const pin = e.pumps.get(2); if (pin) pin.stuck = pin.stuck === undefined ? 0 : undefined; } },
  };
}

export class EmulatedWater {
  readonly water: WaterModel;
  /** ADC channels by bus name; `fault` "open" is an unplugged probe, "dead" a failed converter. */
  readonly channels: Readonly<Record<Probed | "battery", EmulatedAnalog>>;
  /** The flow meter's pulse counter; `fault` "dead" is a failed counter. */
  readonly flow: EmulatedPulseCounter;
  /** Each pump's pin: `level` is the drive (the pump runs on it), `stuck` the feedback. */
  readonly pumps: ReadonlyMap<number, EmulatedPin>;
  readonly buses: Buses;
  /** Probe biases (measured - true), fixed per device. */
  readonly #bias: Record<"ph" | "chlorine" | "temperature" | "orp", number>;
  readonly #forced = new Map<SensorName, number>();

  constructor(device: Device) {
    // The water model catches up before a pump changes, so each interval runs on the pumps as they were.
    const advance = (): void => this.water.advance();
    const pins = new Map<number, EmulatedPin>(Object.values(PUMPS).map((id) => [id, new EmulatedPin({ beforeWrite: advance })]));
    this.pumps = pins;
    this.water = new WaterModel(device, (id) => pins.get(id)?.level === 1);
    const r = () => device.random();
    this.#bias = { ph: (r() - 0.5) * 0.2, chlorine: (r() - 0.5) * 0.1, temperature: (r() - 0.5) * 0.4, orp: Math.round((r() - 0.5) * 20) };
    const noise = (amplitude: number) => (device.random() - 0.5) * 2 * amplitude;
    // What each probe's front end can put out: the transmitters stop at 4 and 20 mA.
    const span: Record<Probed, [number, number]> = { ph: [0, 14], chlorine: [0, 20], tds: [0, 2000], orp: [-2000, 2000], temperature: [-40, 125] };
    const measured = (sensor: Probed, truth: () => number, amplitude: number): number => {
      const forced = this.#forced.get(sensor);
      if (forced !== undefined) return forced;
      const bias = sensor === "tds" ? 0 : this.#bias[sensor];
      return clamp(truth() + bias + noise(amplitude), span[sensor][0], span[sensor][1]);
    };
    const probe = (sensor: "ph" | "orp" | "chlorine" | "tds", truth: () => number, amplitude: number) =>
      new EmulatedAnalog({ fullScale: FULL_SCALE, volts: () => probeVolts(FRONT_ENDS[sensor], measured(sensor, truth, amplitude)) });
    this.channels = {
      ph: probe("ph", () => this.water.ph, 0.01),
      orp: probe("orp", () => this.water.orp, 3),
      chlorine: probe("chlorine", () => this.water.chlorine, 0.02),
      tds: probe("tds", () => this.water.tds, 2),
      temperature: new EmulatedAnalog({ fullScale: FULL_SCALE, volts: () => FULL_SCALE * ntcRatio(measured("temperature", () => this.water.temperature, 0.05), NTC) }),
      battery: new EmulatedAnalog({ fullScale: FULL_SCALE, volts: () => (BATTERY.empty + (BATTERY.full - BATTERY.empty) * this.water.battery / 100) / BATTERY.divider }),
    };
    this.flow = new EmulatedPulseCounter({ pulses: () => this.water.takePulses() });
    const buses: Buses = {};
    for (const name of ["ph", "orp", "chlorine", "tds", "temperature", "battery"] as const) buses[name] = { io: this.channels[name].io, ...BOARD[name].options };
    buses.flow = { io: this.flow.io, ...BOARD.flow.options };
    for (const [id, pin] of pins) {
      const { drive, sense } = PUMP_BUSES[id];
      buses[drive] = { io: pin.io, ...BOARD[drive].options };
      buses[sense] = { io: pin.io, ...BOARD[sense].options };
    }
    buses.wifi = { io: EmulatedWifi, rssi: () => Math.round(-65 + (device.random() - 0.5) * 10) };
    this.buses = buses;
  }

  /** Makes the probe measure `value` exactly (no bias or noise) until release(sensor). */
  force(sensor: Probed, value: number): void {
    this.#forced.set(sensor, value);
  }

  release(sensor?: Probed): void {
    if (sensor === undefined) this.#forced.clear();
    else this.#forced.delete(sensor);
  }

  /** Whether the pump runs (its drive pin), whatever its feedback says. */
  running(id: number): boolean {
    return this.pumps.get(id)?.level === 1;
  }
}

function temperatureAt(now: number): number {
  const secondsOfDay = (now / 1000) % DAY;
  return 26 + 2 * Math.sin(2 * Math.PI * (secondsOfDay - 9 * HOUR) / DAY);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
