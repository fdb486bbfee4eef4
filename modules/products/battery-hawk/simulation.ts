// Simulated BLE battery monitors on a couple of vehicles, physically plausible and driven
// only by the device's clock and seeded random source (no timers): every scan or read first
// advances the model to now().
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

import { fnv1a } from "../../device/hash.js";
import type { BatteryInfo, BatteryMonitorRadio, MonitorAdvert, ReadOutcome } from "./hardware.js";
import { ERROR_CONNECTION_TIMEOUT } from "./hardware.js";

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

interface SimMonitor {
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

export class SimulatedMonitors implements BatteryMonitorRadio {
  readonly #clock: SimulationClock;
  readonly #deviceId: string;
  readonly #vehicles: SimVehicle[] = [];
  readonly #monitors: SimMonitor[];
  #last: number;
  #passers = 0;

  /** `clock` is the Device (its now() and seeded random()); `deviceId` names the fleet's MACs. */
  constructor(clock: SimulationClock, deviceId: string) {
    this.#clock = clock;
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
  }

  async scan(): Promise<MonitorAdvert[]> {
    const now = this.#advance();
    this.#maybePasserBy(now);
    return this.#monitors.filter((m) => this.#inRange(m, now)).map((m) => ({
      mac: m.mac, deviceType: m.deviceType, name: m.name, rssi: this.#rssi(m),
    }));
  }

  async read(mac: string): Promise<ReadOutcome> {
    const now = this.#advance();
    const m = this.#monitors.find((x) => x.mac === mac);
    if (!m || !this.#inRange(m, now)) return { ok: false, errorCode: ERROR_CONNECTION_TIMEOUT, errorMessage: "Connection timeout" };
    return { ok: true, info: this.#reading(m), rssi: this.#rssi(m), protocolVersion: "1.0" };
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

  #reading(m: SimMonitor): BatteryInfo {
    const info: BatteryInfo = {
      voltage: Math.round(this.#voltage(m) * 100) / 100,
      temperature: Math.round(m.tempC * 10) / 10,
      state_of_charge: Math.round(m.soc * 100),
      capacity: m.capacityAh,
    };
    // BM6 monitors also measure current and count cycles; BM2s do not.
    if (m.deviceType === "BM6") {
      info.current = Math.round(m.currentA * 100) / 100;
      info.cycles = Math.floor(m.dischargedAh / m.capacityAh);
    }
    return info;
  }

  #rssi(m: SimMonitor): number {
    return Math.round(m.baseRssi + 8 * (this.#clock.random() - 0.5));
  }

  /** Now and then a passing vehicle's monitor shows up for a few minutes. */
  #maybePasserBy(now: number): void {
    if (this.#passers >= MAX_PASSERS || this.#clock.random() >= 0.03) return;
    this.#passers++;
    const mac = simulatedMac(this.#deviceId, this.#passers, 0xc0);
    const m = this.#monitor(mac, "BM2", "Battery Monitor", undefined, 50, 0.6 + 0.3 * this.#clock.random(), 0.05, -88, now);
    m.visibleUntil = now + this.#minutes([2, 10]);
    this.#monitors.push(m);
  }
}
