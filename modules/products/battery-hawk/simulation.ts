// The physics behind the emulated BLE air: battery monitors on a couple of vehicles,
// physically plausible and driven only by the device's clock and seeded random source (no
// timers): every look at a monitor first advances the model to now(). `emulatedFleet` puts
// each monitor in the air as an emulated BM2 or BM6 (modules/emulators/bm2bm6.ts) speaking
// its real encrypted protocol, so the gateway reads them through the real driver.
//
// Each vehicle cycles parked -> running (engine on, at home) -> away (driving, out of BLE
// range) -> parked. Parked, batteries discharge through parasitic loads (a camper's fridge
// draws more) and rest at 11.8 V (empty) .. 12.7 V (full); running, the alternator charges
// at 13.6..14.4 V with a current that tapers as the battery fills. Temperature follows a
// daily ambient curve plus engine heat and I^2R heating. RSSI varies around a per-monitor
// level. A spare monitor is installed a few minutes after start (a new discovery), and now
// and then a passing vehicle's monitor is seen for a while.
//
// Every MAC carries the FNV-1a hash of the gateway's device id, so the fleets of several
// simulated gateways on one broker never share a monitor (unless two ids' 32-bit hashes
// collide).

import type { HardwareFault } from "../../device/product.js";
import type { Device } from "../../device/device.js";
import { fnv1a } from "../../device/hash.js";
import type { Buses } from "../../drivers/io.js";
import { EmulatedBleRadio } from "../../emulators/ble.js";
import { EmulatedBatteryMonitor } from "../../emulators/bm2bm6.js";
import type { MonitorPhysics } from "../../emulators/bm2bm6.js";
import { BOARD } from "./hardware.js";

export interface SimulationClock {
  now(): number;
  random(): number;
}

type Phase = "parked" | "running" | "away";

interface SimVehicle {
  id: string;
  phase: Phase;
  phaseEndsAt: number;
  /** Minutes ranges of each phase. */
  parkedMin: [number, number];
  awayMin: [number, number];
}

export interface SimMonitor {
  mac: string;
  deviceType: "BM2" | "BM6";
  name: string;
  /** Undefined for a monitor on no tracked vehicle (a passer-by): always parked. */
  vehicle?: SimVehicle;
  capacityAh: number;
  /** 0..1. */
  soc: number;
  /** Parked load, A (positive = drawn). */
  parkedLoadA: number;
  tempC: number;
  currentA: number;
  dischargedAh: number;
  baseRssi: number;
  /** Visible from / until (ms, host clock). */
  visibleFrom: number;
  visibleUntil: number;
}

const MINUTE = 60_000;
const STEP_MS = 10_000;
/** Most integration steps per advance: a long gap is covered in coarser steps. */
const MAX_STEPS = 2000;
const MAX_PASSERS = 3;

/**
 * The MAC of monitor `n` of the gateway `deviceId`'s simulated fleet: A4, the id's hash in
 * four bytes, then n (1, 2: family_car; 3, 4: camper_van; 5: the spare). Passers-by use C0.
 */
export function simulatedMac(deviceId: string, n: number, first = 0xa4): string {
  const h = fnv1a(deviceId);
  return [first, h >>> 24, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff, n & 0xff]
    .map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join(":");
}

/** The simulated fleet's associations, as the gateway's `associations` option. */
export function simulatedAssociations(deviceId: string): string {
  return [1, 2].map((n) => `${simulatedMac(deviceId, n)}=family_car`).concat([3, 4].map((n) => `${simulatedMac(deviceId, n)}=camper_van`)).join(",");
}

/** The fleet's physics; `appeared` is told of every monitor, the passers-by as they come. */
export class SimulatedFleet {
  readonly #clock: SimulationClock;
  readonly #deviceId: string;
  readonly #vehicles: SimVehicle[] = [];
  readonly #monitors: SimMonitor[];
  #last: number;
  readonly #appeared: (m: SimMonitor) => void;
  #passers = 0;

  /** `clock` is the Device (its now() and seeded random()); `deviceId` names the fleet's MACs. */
  constructor(clock: SimulationClock, deviceId: string, appeared: (m: SimMonitor) => void = () => {}) {
    this.#clock = clock;
    this.#appeared = appeared;
    this.#deviceId = deviceId;
    const now = clock.now();
    this.#last = now;
    const car = this.#vehicle("family_car", [20, 60], [10, 30], now);
    const camper = this.#vehicle("camper_van", [30, 90], [15, 45], now);
    const mac = (n: number) => simulatedMac(deviceId, n);
    this.#monitors = [
      this.#monitor(mac(1), "BM2", "Battery Monitor", car, 60, 0.85, 0.03, -58, now),
      this.#monitor(mac(2), "BM6", "BM6 Aux", car, 100, 0.75, 0.15, -66, now),
      this.#monitor(mac(3), "BM6", "BM6 Leisure", camper, 110, 0.7, 2.5, -74, now),
      this.#monitor(mac(4), "BM2", "Battery Monitor", camper, 70, 0.9, 0.05, -71, now),
      // Installed a few minutes after start: a new discovery, associated with nothing yet.
      this.#monitor(mac(5), "BM6", "BM6 Spare", undefined, 80, 0.95, 0.02, -62, now + (2 + 4 * clock.random()) * MINUTE),
    ];
    for (const m of this.#monitors) appeared(m);
  }

  /** What the monitor measures now, or undefined while it is out of BLE range. */
  physics(mac: string): MonitorPhysics | undefined {
    const now = this.#advance();
    const m = this.#monitors.find((x) => x.mac === mac);
    if (!m || !this.#inRange(m, now)) return undefined;
    return {
      voltage: this.#voltage(m),
      state_of_charge: m.soc * 100,
      temperature: m.tempC,
      rssi: this.#rssi(m),
    };
  }

  /** The state of a vehicle, for tests and the live view. */
  phaseOf(vehicleId: string): Phase | undefined {
    this.#advance();
    return this.#vehicles.find((v) => v.id === vehicleId)?.phase;
  }

  // ---- the model ----

  #vehicle(id: string, parkedMin: [number, number], awayMin: [number, number], now: number): SimVehicle {
    const v: SimVehicle = { id, phase: "parked", phaseEndsAt: 0, parkedMin, awayMin };
    v.phaseEndsAt = now + this.#minutes(parkedMin);
    this.#vehicles.push(v);
    return v;
  }

  #monitor(mac: string, deviceType: "BM2" | "BM6", name: string, vehicle: SimVehicle | undefined, capacityAh: number,
    soc: number, parkedLoadA: number, baseRssi: number, visibleFrom: number): SimMonitor {
    return {
      mac, deviceType, name, vehicle, capacityAh, soc, parkedLoadA, baseRssi, visibleFrom,
      visibleUntil: Infinity, tempC: this.#ambient(this.#clock.now()), currentA: -parkedLoadA, dischargedAh: 0,
    };
  }

  #minutes([min, max]: [number, number]): number {
    return (min + (max - min) * this.#clock.random()) * MINUTE;
  }

  #advance(): number {
    const now = this.#clock.now();
    const gap = now - this.#last;
    if (gap <= 0) return now;
    const steps = Math.min(MAX_STEPS, Math.ceil(gap / STEP_MS));
    const dt = gap / steps;
    for (let i = 1; i <= steps; i++) this.#step(this.#last + i * dt, dt);
    this.#last = now;
    return now;
  }

  #step(at: number, dtMs: number): void {
    this.#maybePasserBy(at, dtMs);
    for (const v of this.#vehicles) {
      if (at < v.phaseEndsAt) continue;
      v.phase = v.phase === "parked" ? "running" : v.phase === "running" ? "away" : "parked";
      v.phaseEndsAt = at + (v.phase === "parked" ? this.#minutes(v.parkedMin) : v.phase === "running" ? this.#minutes([2, 5]) : this.#minutes(v.awayMin));
    }
    const hours = dtMs / 3_600_000;
    for (const m of this.#monitors) {
      const engine = m.vehicle !== undefined && m.vehicle.phase !== "parked";
      // Alternator current tapers as the battery fills; parked, the loads drain it.
      m.currentA = engine ? Math.max(0.5, 0.25 * m.capacityAh * (1 - m.soc)) : -m.parkedLoadA;
      m.soc = Math.min(1, Math.max(0.02, m.soc + (m.currentA * hours) / m.capacityAh));
      if (m.currentA < 0) m.dischargedAh += -m.currentA * hours;
      const target = this.#ambient(at) + (engine ? 18 : 0) + 0.01 * m.currentA * m.currentA;
      m.tempC += (target - m.tempC) * (1 - Math.exp(-dtMs / (15 * MINUTE)));
    }
  }

  /** Daily ambient temperature: 8 C before dawn to 22 C mid-afternoon. */
  #ambient(at: number): number {
    const hourOfDay = (at / 3_600_000) % 24;
    return 15 + 7 * Math.sin(((hourOfDay - 9) / 24) * 2 * Math.PI);
  }

  #inRange(m: SimMonitor, now: number): boolean {
    return now >= m.visibleFrom && now < m.visibleUntil && m.vehicle?.phase !== "away";
  }

  #voltage(m: SimMonitor): number {
    const engine = m.vehicle !== undefined && m.vehicle.phase !== "parked";
    const base = engine ? 13.6 + 0.8 * (1 - m.soc) : 11.8 + 0.9 * m.soc - 0.02 * Math.abs(m.currentA);
    return base + 0.01 * (this.#clock.random() - 0.5);
  }

  #rssi(m: SimMonitor): number {
    return Math.round(m.baseRssi + 8 * (this.#clock.random() - 0.5));
  }

  /** Now and then (about once in 17 minutes) a passing vehicle's monitor shows up for a few minutes. */
  #maybePasserBy(now: number, dtMs: number): void {
    if (this.#passers >= MAX_PASSERS || this.#clock.random() >= 0.001 * (dtMs / 1000)) return;
    this.#passers++;
    const mac = simulatedMac(this.#deviceId, this.#passers, 0xc0);
    const m = this.#monitor(mac, "BM2", "Battery Monitor", undefined, 50, 0.6 + 0.3 * this.#clock.random(), 0.05, -88, now);
    m.visibleUntil = now + this.#minutes([2, 10]);
    this.#monitors.push(m);
    this.#appeared(m);
  }
}

/**
 * The gateway's buses, emulated: its fleet in the BLE air as BM2/BM6 monitors, and a
 * neighbour's phone that is no monitor (the driver passes it over). The emulated monitors
 * advertise ten times a second, so a short scan hears them all.
 */
/** What the dashboard may do to a simulated gateway's fleet: its first monitor. */
export function fleetFaults(e: { monitors: Map<string, EmulatedBatteryMonitor> }): Record<string, HardwareFault> {
  const first = (): EmulatedBatteryMonitor | undefined => e.monitors.values().next().value;
  return {
    gone: { label: "First monitor out of range / back", apply: () => { const m = first(); if (m) m.faults.gone = !m.faults.gone; } },
    garbled: { label: "First monitor sends three garbled reports", apply: () => { const m = first(); if (m) m.faults.garbled = 3; } },
  };
}

export function emulatedFleet(device: Device): { buses: Buses; radio: EmulatedBleRadio; monitors: Map<string, EmulatedBatteryMonitor>; fleet: SimulatedFleet } {
  const radio = new EmulatedBleRadio(device.timer);
  const monitors = new Map<string, EmulatedBatteryMonitor>();
  const fleet: SimulatedFleet = new SimulatedFleet(device, device.deviceId, (m) => {
    const monitor = new EmulatedBatteryMonitor({ model: m.deviceType, address: m.mac, name: m.name, timer: device.timer, physics: () => fleet.physics(m.mac) });
    if (radio.add(monitor)) monitors.set(m.mac, monitor);
  });
  radio.add({
    address: simulatedMac(device.deviceId, 0, 0x5c), services: [], connectable: () => true,
    advertising: () => ({ rssi: -80, data: { name: "Pixel 7" } }),
  });
  return { buses: { radio: { ...radio.provider, ...BOARD.radio.options, scan_ms: 400, connect_ms: 1000, report_ms: 2000 } }, radio, monitors, fleet };
}
