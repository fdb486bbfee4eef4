// What the gateway needs from its radio, as an interface, and the radio itself: the BM2/BM6
// driver (modules/drivers/bm2bm6.ts) on the board's BLE client. On a board that is the ESP32's
// on-chip radio; elsewhere the emulated air (simulation.ts). Values come as the monitor
// reports them; the gateway validates before publishing.

import type { Device } from "../../device/device.js";
import { BatteryMonitors, MonitorError } from "../../drivers/bm2bm6.js";
import type { BoardSpec, Buses } from "../../drivers/io.js";

/** What the specification calls BatteryInfo: one decoded monitor reading. */
export interface BatteryInfo {
  /** V. */
  voltage: number;
  /** A, positive while charging. */
  current?: number;
  /** Degrees Celsius. */
  temperature?: number;
  /** Percent. */
  state_of_charge?: number;
  /** Ah. */
  capacity?: number;
  cycles?: number;
}

/** One monitor seen advertising during a scan. */
export interface MonitorAdvert {
  /** As the BLE stack reports it; validated by the gateway. */
  mac: string;
  /** Model, e.g. BM2 or BM6. */
  deviceType?: string;
  /** Advertised name. */
  name?: string;
  /** dBm. */
  rssi?: number;
}

export type ReadOutcome =
  | { ok: true; info: BatteryInfo; rssi?: number; protocolVersion?: string }
  /**
   * The specification's disconnected example: error_code 1001, "Connection timeout".
   * `connected`: the monitor was reached, its data was not usable (a corrupt report).
   */
  | { ok: false; errorCode: number; errorMessage: string; connected?: boolean };

export interface BatteryMonitorRadio {
  /** One BLE scan: the monitors advertising now. */
  scan(): Promise<MonitorAdvert[]>;
  /** Connects to the monitor if needed and reads one BatteryInfo. Never called concurrently. */
  read(mac: string): Promise<ReadOutcome>;
}

/** Error codes the gateway itself reports in a device status. */
export const ERROR_CONNECTION_TIMEOUT = 1001;
export const ERROR_INVALID_READING = 1002;
export const ERROR_RADIO_FAILED = 1003;
/** The monitor answered with a report that does not decrypt to a valid packet. */
export const ERROR_CORRUPT_REPORT = 1004;
/** The connection dropped before the monitor's report came. */
export const ERROR_CONNECTION_LOST = 1005;

/** The one bus: the on-chip BLE radio, as a central. Options are the driver's timeouts. */
export const BOARD: BoardSpec = {
  radio: {
    kind: "ble",
    options: { scan_ms: 3000, connect_ms: 5000, report_ms: 5000 },
    doc: "on-chip Bluetooth LE (BLEClient), central to the BM2/BM6 monitors; no pins",
  },
};

/** The driver's outcome as the gateway reports it (error codes above). */
export function outcomeOf(error: unknown): Extract<ReadOutcome, { ok: false }> {
  const kind = error instanceof MonitorError ? error.kind : "radio";
  switch (kind) {
    case "absent":
    case "timeout":
      return { ok: false, errorCode: ERROR_CONNECTION_TIMEOUT, errorMessage: "Connection timeout" };
    case "disconnected":
      return { ok: false, errorCode: ERROR_CONNECTION_LOST, errorMessage: "Connection lost during read" };
    case "corrupt":
      return { ok: false, errorCode: ERROR_CORRUPT_REPORT, errorMessage: "Corrupt report (does not decrypt to a reading)", connected: true };
    case "unsupported":
      return { ok: false, errorCode: ERROR_RADIO_FAILED, errorMessage: "Not a BM2/BM6 (no FFF0 service)", connected: true };
    default:
      return { ok: false, errorCode: ERROR_RADIO_FAILED, errorMessage: "radio error" };
  }
}

/** The gateway's radio on the BM2/BM6 driver; a failed read's detail goes to the log. */
export class MonitorRadio implements BatteryMonitorRadio {
  readonly driver: BatteryMonitors;
  readonly #log: (line: string) => void;

  constructor(driver: BatteryMonitors, log: (line: string) => void) {
    this.driver = driver;
    this.#log = log;
  }

  async scan(): Promise<MonitorAdvert[]> {
    return (await this.driver.scan()).map((s) => ({ mac: s.mac, deviceType: s.model, name: s.name, rssi: s.rssi }));
  }

  async read(mac: string): Promise<ReadOutcome> {
    try {
      const r = await this.driver.read(mac);
      const info: BatteryInfo = { voltage: r.voltage, state_of_charge: r.state_of_charge };
      if (r.temperature !== undefined) info.temperature = r.temperature;
      return { ok: true, info, rssi: r.rssi };
    } catch (e) {
      this.#log(`battery-hawk: read ${mac}: ${e instanceof Error ? e.message : String(e)}`);
      return outcomeOf(e);
    }
  }
}

/** The board's option, overridden by the host (`radio_scan_ms=...`) as a number or its text. */
function ms(value: unknown, fallback: number): number {
  const n = typeof value === "string" ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) ? n : fallback;
}

/** The driver on the radio bus. */
export function batteryHawkHardware(buses: Buses, device: Device): MonitorRadio {
  const bus = buses.radio;
  const defaults = BOARD.radio.options as Record<string, number>;
  const driver = new BatteryMonitors({
    ble: bus, timer: device.timer,
    scan_ms: ms(bus.scan_ms, defaults.scan_ms), connect_ms: ms(bus.connect_ms, defaults.connect_ms), report_ms: ms(bus.report_ms, defaults.report_ms),
  });
  return new MonitorRadio(driver, (line) => device.log(line));
}
