// What the gateway knows about each monitor, in a bounded map: at most max_monitors entries
// (configured associations first, then discoveries). A monitor beyond the limit is refused
// (reported, not tracked): the newest is dropped so known monitors keep their history.

import type { BatteryInfo } from "./hardware.js";

export interface MonitorState {
  readonly mac: string;
  deviceType?: string;
  name?: string;
  vehicleId?: string;
  /** Seen in a scan during this run, so its discovery was published. */
  discovered: boolean;
  connected: boolean;
  rssi?: number;
  protocolVersion?: string;
  lastCommand?: string;
  errorCode?: number;
  errorMessage?: string;
  /** Last valid reading and when it was taken (host.now()). */
  reading?: BatteryInfo;
  readingAt?: number;
  /** The status fields last published, so a status goes out only when they change. */
  publishedStatus?: string;
}

export class MonitorRegistry {
  readonly max: number;
  readonly #monitors = new Map<string, MonitorState>();

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.#monitors.size;
  }

  get(mac: string): MonitorState | undefined {
    return this.#monitors.get(mac);
  }

  /** The monitor's entry, created if there is room; undefined when the registry is full. */
  add(mac: string): MonitorState | undefined {
    const known = this.#monitors.get(mac);
    if (known) return known;
    if (this.#monitors.size >= this.max) return undefined;
    const created: MonitorState = { mac, discovered: false, connected: false };
    this.#monitors.set(mac, created);
    return created;
  }

  all(): MonitorState[] {
    return [...this.#monitors.values()];
  }

  ofVehicle(vehicleId: string): MonitorState[] {
    return this.all().filter((m) => m.vehicleId === vehicleId);
  }
}
