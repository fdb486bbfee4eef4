// The gateway's configuration, from the host's text key/values over DEFAULTS. Intervals and
// limits that make no sense are a RangeError at start (the gateway would misbehave silently);
// association entries with an invalid MAC or vehicle id are skipped and reported, never used.

import { isPrefix, isVehicleId, normalizeMac } from "./ids.js";

export const DEFAULTS: Readonly<Record<string, string>> = {
  /** Seed line 29 (the YAML sample at line 284 says batteryhawk; the text says battery_hawk). */
  prefix: "battery_hawk",
  /** How often every monitor is read (a reading per monitor per cycle). */
  poll_interval_ms: "10000",
  /** How often the gateway scans for monitors (discovery). */
  scan_interval_ms: "30000",
  /** Heartbeat of the retained system status while connected. */
  status_interval_ms: "60000",
  /** Most monitors tracked; also bounds vehicles and caches. */
  max_monitors: "32",
  /** Monitor-to-vehicle assignments: "MAC=vehicle_id,MAC=vehicle_id". Commands may change them (persisted). */
  associations: "",
  /** Offline outbox (QoS >= 1 messages waiting for the broker): most messages, then oldest dropped. */
  outbox_max_messages: "200",
  outbox_max_bytes: "65536",
  /** Firmware version reported in the system status. */
  version: "1.0.0",
  /** MQTT keepalive, s (seed line 286). */
  keepalive: "60",
  /** How long to wait for the broker to accept a connection, s (seed line 287). */
  timeout: "10",
};

export interface HawkConfig {
  prefix: string;
  pollIntervalMs: number;
  scanIntervalMs: number;
  statusIntervalMs: number;
  maxMonitors: number;
  /** Validated associations, MAC (upper case) -> vehicle id. */
  associations: Map<string, string>;
  outboxMaxMessages: number;
  outboxMaxBytes: number;
  version: string;
  keepaliveS: number;
  timeoutMs: number;
}

export function parseConfig(values: Readonly<Record<string, string>>, report: (problem: string) => void): HawkConfig {
  const v = { ...DEFAULTS, ...values };
  if (!isPrefix(v.prefix)) throw new RangeError(`prefix must be 1-64 letters, digits, _ or - (one topic level): "${v.prefix}"`);
  if (!/^[0-9]+\.[0-9]+\.[0-9]+$/.test(v.version)) throw new RangeError(`version must be x.y.z: "${v.version}"`);
  const maxMonitors = integer(v, "max_monitors", 1, 1000);
  return {
    prefix: v.prefix,
    pollIntervalMs: integer(v, "poll_interval_ms", 100, 86_400_000),
    scanIntervalMs: integer(v, "scan_interval_ms", 100, 86_400_000),
    statusIntervalMs: integer(v, "status_interval_ms", 100, 86_400_000),
    maxMonitors,
    associations: parseAssociations(v.associations, maxMonitors, report),
    outboxMaxMessages: integer(v, "outbox_max_messages", 1, 100_000),
    outboxMaxBytes: integer(v, "outbox_max_bytes", 1024, 16 * 1024 * 1024),
    version: v.version,
    keepaliveS: integer(v, "keepalive", 5, 65535),
    timeoutMs: integer(v, "timeout", 1, 600) * 1000,
  };
}

function integer(values: Record<string, string>, key: string, min: number, max: number): number {
  const text = values[key];
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new RangeError(`${key} must be an integer from ${min} to ${max}: "${text}"`);
  return n;
}

/** "MAC=vehicle,MAC=vehicle" -> Map; bad entries are reported and left out. */
export function parseAssociations(text: string, max: number, report: (problem: string) => void): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const [macText, vehicle, extra] = entry.split("=");
    const mac = normalizeMac(macText?.trim());
    const vehicleId = vehicle?.trim();
    if (!mac || !isVehicleId(vehicleId) || extra !== undefined) {
      report(`association "${entry}" ignored: expected AA:BB:CC:DD:EE:FF=vehicle_id (vehicle id: 1-64 letters, digits, _ or -)`);
    } else if (out.size >= max && !out.has(mac)) {
      report(`association "${entry}" ignored: more than max_monitors (${max})`);
    } else {
      out.set(mac, vehicleId);
    }
  }
  return out;
}
