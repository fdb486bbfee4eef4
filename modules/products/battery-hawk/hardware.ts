// The BLE side of the gateway as an interface: a real host implements it over the ESP32's
// BLE stack (BM2/BM6 monitors), simulation.ts implements it for the simulator and tests.
// Values come as the monitor reports them; the gateway validates before publishing.

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
  /** The specification's disconnected example: error_code 1001, "Connection timeout". */
  | { ok: false; errorCode: number; errorMessage: string };

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
