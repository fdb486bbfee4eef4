// BM2 and BM6 battery monitors in the emulated air (ble.ts), speaking their published protocol
// (see modules/drivers/bm2bm6.ts): they advertise as "Battery Monitor" / "BM6" with service
// FFF0 while in range, take a connection, and send AES-128-CBC reports on FFF4: the BM2 as
// soon as notifications are on and then every `reportMs`, the BM6 once the encrypted
// D1 55 07 request arrives on FFF3 (first its echo, then the reading, then one per
// `reportMs`). What they measure comes from `physics()`, the simulation behind them;
// undefined means out of range. Faults, set by a test or the simulator: gone (neither
// advertising nor connectable), garbled or truncated reports, a connection dropped before
// the report, or a monitor that never reports.

import type { TimerLike } from "../mqtt/io.js";
import { Aes128, cbcDecrypt, cbcEncrypt } from "../drivers/aes128.js";
import { BM6_REQUEST, MONITOR_IV, MONITOR_KEYS, MONITOR_NOTIFY, MONITOR_SERVICE, MONITOR_WRITE } from "../drivers/bm2bm6.js";
import type { MonitorModel } from "../drivers/bm2bm6.js";
import type { AdvertisingData, EmulatedPeripheral, PeripheralLink, PeripheralService } from "./ble.js";

/** What the monitor measures now. */
export interface MonitorPhysics {
  /** V. */
  voltage: number;
  /** Percent. */
  state_of_charge: number;
  /** Degrees C (only the BM6 reports it). */
  temperature: number;
  /** dBm at the gateway. */
  rssi: number;
  /** The model's state code (BM2: 0, 1, 2, 4 or 8). */
  state?: number;
}

export interface MonitorFaults {
  /** Neither advertising nor taking connections (removed, battery disconnected). */
  gone: boolean;
  /** The next n reports have a byte corrupted in the air. */
  garbled: number;
  /** The next n reports are cut short. */
  truncated: number;
  /** The next n connections drop before the first report. */
  dropMidRead: number;
  /** Connected, it never reports. */
  silent: boolean;
}

const SERVICES: readonly PeripheralService[] = [{ uuid: MONITOR_SERVICE, characteristics: [MONITOR_WRITE, MONITOR_NOTIFY] }];

export class EmulatedBatteryMonitor implements EmulatedPeripheral {
  readonly address: string;
  readonly model: MonitorModel;
  readonly name: string;
  readonly services = SERVICES;
  readonly faults: MonitorFaults = { gone: false, garbled: 0, truncated: 0, dropMidRead: 0, silent: false };
  /** Reports sent, for tests. */
  reports = 0;
  readonly #timer: TimerLike;
  readonly #physics: () => MonitorPhysics | undefined;
  readonly #reportMs: number;
  readonly #aes: Aes128;
  /** The report timer per open connection (at most the central's connection limit). */
  readonly #links = new Map<PeripheralLink, unknown>();
  #counter = 0;

  constructor(options: { model: MonitorModel; address: string; name?: string; timer: TimerLike; physics: () => MonitorPhysics | undefined; reportMs?: number }) {
    this.model = options.model;
    this.address = options.address.toUpperCase();
    this.name = options.name ?? (options.model === "BM2" ? "Battery Monitor" : "BM6");
    this.#timer = options.timer;
    this.#physics = options.physics;
    this.#reportMs = options.reportMs ?? 1000;
    this.#aes = new Aes128(MONITOR_KEYS[options.model]);
  }

  advertising(): { rssi: number; data: AdvertisingData } | undefined {
    const now = this.faults.gone ? undefined : this.#physics();
    return now && { rssi: now.rssi, data: { name: this.name, services: [MONITOR_SERVICE] } };
  }

  connectable(): boolean {
    return !this.faults.gone && this.#physics() !== undefined;
  }

  connected(link: PeripheralLink): void {
    this.#links.set(link, undefined);
  }

  subscribed(link: PeripheralLink, characteristic: number): void {
    if (characteristic === MONITOR_NOTIFY && this.model === "BM2") this.#start(link);
  }

  written(link: PeripheralLink, characteristic: number, value: Uint8Array): void {
    if (characteristic !== MONITOR_WRITE || this.model !== "BM6" || value.length !== 16) return;
    const request = cbcDecrypt(this.#aes, MONITOR_IV, value);
    if (!request.every((b, i) => b === BM6_REQUEST[i])) return;
    const echo = BM6_REQUEST.slice();
    echo[3] = 0xff;
    link.notify(MONITOR_NOTIFY, cbcEncrypt(this.#aes, MONITOR_IV, echo));
    this.#start(link);
  }

  disconnected(link: PeripheralLink): void {
    this.#timer.clear(this.#links.get(link));
    this.#links.delete(link);
  }

  #start(link: PeripheralLink): void {
    if (this.faults.dropMidRead > 0) {
      this.faults.dropMidRead--;
      link.drop();
      return;
    }
    if (this.faults.silent || !this.#links.has(link)) return;
    this.#timer.clear(this.#links.get(link));
    const tick = () => {
      if (!link.open) return;
      const now = this.#physics();
      // Out of range the connection is lost, as the radio would lose it.
      if (!now || this.faults.gone) return link.drop();
      this.#links.set(link, this.#timer.set(tick, this.#reportMs));
      link.notify(MONITOR_NOTIFY, this.#report(now));
    };
    tick();
  }

  /** One encrypted report of `now`, with the faults applied. */
  #report(now: MonitorPhysics): Uint8Array {
    this.reports++;
    const p = new Uint8Array(16);
    const soc = Math.max(0, Math.min(100, Math.round(now.state_of_charge)));
    if (this.model === "BM2") {
      const v = Math.max(0, Math.min(4095, Math.round(now.voltage * 100)));
      p[0] = 0xf5;
      p[1] = v >> 4;
      p[2] = ((v & 0x0f) << 4) | ((now.state ?? 0) & 0x0f);
      p[3] = soc;
      // A running counter, as captured from real monitors.
      this.#counter = (this.#counter + 25) & 0xffff;
      p[4] = this.#counter >> 8;
      p[5] = this.#counter & 0xff;
    } else {
      const v = Math.max(0, Math.min(0xffff, Math.round(now.voltage * 100)));
      const t = Math.max(-255, Math.min(255, Math.round(now.temperature)));
      p.set([0xd1, 0x55, 0x07, t < 0 ? 1 : 0, Math.abs(t), (now.state ?? 0) & 0xff, soc, v >> 8, v & 0xff]);
    }
    const c = cbcEncrypt(this.#aes, MONITOR_IV, p);
    if (this.faults.garbled > 0) {
      this.faults.garbled--;
      c[0] ^= 0x5a;
    } else if (this.faults.truncated > 0) {
      this.faults.truncated--;
      return c.slice(0, 10);
    }
    return c;
  }
}
