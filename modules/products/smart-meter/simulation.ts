// The meter's buses, emulated: a PZEM-004T model (modules/emulators/pzem004t.ts) on an
// emulated Modbus line, measuring a household behind the supply relay, whose coil and
// feedback contact are an emulated GPIO. The household: a standby base load, a fridge
// compressor cycling, lighting that follows the hour of the day, and appliances (kettle,
// cooker, washing machine) switching on at random with a time-of-day profile; ±2 % noise on
// the current, and a 230 V supply drifting slowly by a few volts and sagging a little under
// load. Driven only by device.now() and device.random() at each reading (no timers of its
// own), so a seeded device repeats a run exactly. An open contact disconnects the load:
// current 0 (a welded contact, `relay.stuck = 1`, keeps it connected).

import { EmulatedWifi } from "../../emulators/wifi.js";
import type { HardwareFault } from "../../device/product.js";
import type { Device } from "../../device/device.js";
import type { Buses } from "../../drivers/io.js";
import { EmulatedPin } from "../../emulators/digital.js";
import { ModbusLine } from "../../emulators/modbus.js";
import { EmulatedPzem } from "../../emulators/pzem004t.js";
import type { PzemLoad } from "../../emulators/pzem004t.js";
import { BOARD } from "./hardware.js";

interface Appliance {
  name: string;
  /** Current drawn while on, A. */
  amps: number;
  /** Mean running time, ms. */
  meanOnMs: number;
  /** Mean starts per hour at the given hour of the day (0-23, UTC). */
  startsPerHour(hour: number): number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;

const evening = (h: number) => h >= 18 && h < 23;
const mealtime = (h: number) => (h >= 6 && h < 9) || (h >= 12 && h < 14) || (h >= 17 && h < 20);

/** A plausible single-phase household (kettle 2 kW, cooker 1.4 kW, washing machine ~1 kW). */
export const HOUSEHOLD: readonly Appliance[] = [
  { name: "fridge", amps: 0.7, meanOnMs: 12 * MINUTE, startsPerHour: () => 1.6 },
  { name: "lights", amps: 0.9, meanOnMs: 40 * MINUTE, startsPerHour: (h) => (evening(h) ? 2 : h >= 7 && h < 18 ? 0.3 : 0.05) },
  { name: "tv", amps: 0.5, meanOnMs: 90 * MINUTE, startsPerHour: (h) => (evening(h) ? 0.6 : 0.05) },
  { name: "kettle", amps: 8.7, meanOnMs: 3 * MINUTE, startsPerHour: (h) => (mealtime(h) ? 0.8 : 0.1) },
  { name: "cooker", amps: 6.1, meanOnMs: 30 * MINUTE, startsPerHour: (h) => (mealtime(h) ? 0.4 : 0.01) },
  { name: "washer", amps: 4.5, meanOnMs: 60 * MINUTE, startsPerHour: (h) => (h >= 8 && h < 20 ? 0.05 : 0) },
];

const STANDBY_AMPS = 0.25;
/** A first reading (or one after a long pause) does not replay hours of switching. */
const MAX_STEP_MS = 10 * MINUTE;

export class Household {
  readonly #source: Pick<Device, "now" | "random">;
  readonly #appliances: readonly Appliance[];
  /** When each running appliance stops (ms since epoch); absent while off. */
  readonly #runningUntil = new Map<string, number>();
  #lastAt: number | undefined;
  #surge: { amps: number; until: number } | undefined;

  constructor(source: Pick<Device, "now" | "random">, appliances: readonly Appliance[] = HOUSEHOLD) {
    this.#source = source;
    this.#appliances = appliances;
  }

  /** A big load (a heat pump on defrost, a welder) for `ms`: drains a prepaid balance fast. */
  surge(amps: number, ms: number): void {
    this.#surge = { amps, until: this.#source.now() + ms };
  }

  /** Names of the appliances running at the last reading. */
  get running(): string[] {
    return [...this.#runningUntil.keys()];
  }

  /** Volts and amps at the meter now; `connected`: the supply contact is closed. */
  measure(connected: boolean): PzemLoad {
    const now = this.#source.now();
    this.#advance(now);
    const voltage = this.#voltage(now);
    if (!connected) return { voltage, current: 0 };
    let amps = STANDBY_AMPS + (this.#surge && now < this.#surge.until ? this.#surge.amps : 0);
    for (const a of this.#appliances) if (this.#runningUntil.has(a.name)) amps += a.amps;
    const noisy = amps * (1 + (this.#source.random() - 0.5) * 0.04);
    // The supply sags about 0.1 V per ampere through the service cable.
    return { voltage: voltage - 0.1 * noisy, current: Math.max(0, noisy) };
  }

  /** Switches appliances on and off for the time since the last reading (Poisson starts). */
  #advance(now: number): void {
    const dt = this.#lastAt === undefined ? 0 : Math.min(Math.max(0, now - this.#lastAt), MAX_STEP_MS);
    this.#lastAt = now;
    const hour = Math.floor((now % (24 * HOUR)) / HOUR);
    for (const a of this.#appliances) {
      const until = this.#runningUntil.get(a.name);
      if (until !== undefined) {
        if (now >= until) this.#runningUntil.delete(a.name);
        continue;
      }
      const chance = 1 - Math.exp(-a.startsPerHour(hour) * dt / HOUR);
      if (this.#source.random() < chance) {
        // Exponential running time, at least a minute.
        const run = Math.max(MINUTE, -Math.log(1 - this.#source.random()) * a.meanOnMs);
        this.#runningUntil.set(a.name, now + run);
      }
    }
  }

  #voltage(now: number): number {
    // A slow daily swing of ±4 V (lowest at the evening peak) and ±0.5 V of noise.
    const phase = (2 * Math.PI * (now % (24 * HOUR))) / (24 * HOUR);
    return 230 + 4 * Math.cos(phase - 0.6) + (this.#source.random() - 0.5);
  }
}

export interface EmulatedMeter {
  buses: Buses;
  /** The PZEM model: its register, raw overrides, address. */
  pzem: EmulatedPzem;
  /** The line to the PZEM, with its faults (bad CRC, silence, unplugged). */
  line: ModbusLine;
  /** The relay: `level` is the coil, `stuck` welds or kills the contact the sense pin reads. */
  relay: EmulatedPin;
  /** The household behind the meter (absent when a test gives its own load). */
  household: Household | undefined;
}

/** What the dashboard may do to a simulated meter. */
export function meterFaults(e: EmulatedMeter): Record<string, HardwareFault> {
  return {
    drain: { label: "Drain: a 40 A load for 10 minutes", apply: () => e.household?.surge(40, 10 * 60_000) },
    silent: { label: "PZEM stops answering / answers again", apply: () => { e.line.faults.unplugged = !e.line.faults.unplugged; } },
    weld: { label: "Relay contact welded / freed", apply: () => { e.relay.stuck = e.relay.stuck === undefined ? 1 : undefined; } },
  };
}

/** The meter's parts behind emulated buses, with the board's options; `load` defaults to the household. */
export function emulatedMeter(device: Device, load?: (connected: boolean) => PzemLoad): EmulatedMeter {
  // The model learns of a switched coil at once, not at its next reading.
  const relay = new EmulatedPin({ afterWrite: () => pzem.advance() });
  const household = load ? undefined : new Household(device);
  const measure = load ?? ((connected: boolean) => household!.measure(connected));
  const line = new ModbusLine(device.timer);
  // The contact, not the coil, connects the load: a stuck contact stays where it is.
  const pzem = new EmulatedPzem({ now: () => device.now(), load: () => measure((relay.stuck ?? relay.level) === 1) }).attachTo(line);
  return {
    pzem, line, relay, household,
    buses: {
      meter: { io: line.io, ...BOARD.meter.options },
      relay: { io: relay.io, ...BOARD.relay.options },
      relaySense: { io: relay.io, ...BOARD.relaySense.options },
      wifi: { io: EmulatedWifi, rssi: () => Math.round(-64 + (device.random() - 0.5) * 8) },
    },
  };
}

