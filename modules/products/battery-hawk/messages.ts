// Payloads of every message the gateway publishes, as the schemas define them (schemas/*.json).
// Pure functions of the gateway's state and a time; fields a monitor did not report are
// omitted, never null. Hardware values outside the schemas' ranges are dropped here.

import type { CommandOutcome, JsonObject } from "../../device/commands.js";
import type { BatteryInfo, MonitorAdvert } from "./hardware.js";
import type { MonitorState } from "./registry.js";
import { isDeviceType, normalizeMac } from "./ids.js";

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

function within(value: number | undefined, min: number, max: number): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= min && value <= max;
}

/**
 * A reading with every value rounded and inside the schema's range; a bad optional value is
 * dropped, a bad voltage (the one required value) makes the reading unusable: returns why.
 */
export function sanitizeReading(info: BatteryInfo): BatteryInfo | string {
  if (!within(info?.voltage, 0, 100)) return `implausible voltage ${String(info?.voltage)}`;
  const out: BatteryInfo = { voltage: round(info.voltage, 2) };
  if (within(info.current, -2000, 2000)) out.current = round(info.current, 2);
  if (within(info.temperature, -40, 125)) out.temperature = round(info.temperature, 1);
  if (within(info.state_of_charge, 0, 100)) out.state_of_charge = round(info.state_of_charge, 1);
  if (within(info.capacity, 0, 10000)) out.capacity = round(info.capacity, 1);
  if (within(info.cycles, 0, 1_000_000)) out.cycles = Math.floor(info.cycles);
  return out;
}

/** dBm as the schemas allow it (integer, -127..20), or undefined. */
export function rssiOf(value: unknown): number | undefined {
  return typeof value === "number" && within(Math.round(value), -127, 20) ? Math.round(value) : undefined;
}

/** Device reading. */
export function readingMessage(m: MonitorState, info: BatteryInfo, at: number): JsonObject {
  const msg: JsonObject = { device_id: m.mac, timestamp: isoTime(at), ...info } as JsonObject;
  if (info.current !== undefined) {
    const power = round(info.voltage * info.current, 2);
    if (within(power, -200000, 200000)) msg.power = power;
  }
  if (m.vehicleId) msg.vehicle_id = m.vehicleId;
  if (m.deviceType) msg.device_type = m.deviceType;
  return msg;
}

/** The fields of a device status that make it "changed" (everything but time and RSSI). */
export function statusKey(m: MonitorState): string {
  return JSON.stringify([m.connected, m.protocolVersion, m.lastCommand, m.deviceType, m.errorCode, m.errorMessage, m.vehicleId]);
}

/** Device status, with the error fields of a disconnected monitor. */
export function statusMessage(m: MonitorState, at: number): JsonObject {
  const msg: JsonObject = { device_id: m.mac, timestamp: isoTime(at), connected: m.connected };
  if (m.protocolVersion) msg.protocol_version = m.protocolVersion;
  if (m.lastCommand) msg.last_command = m.lastCommand;
  if (m.deviceType) msg.device_type = m.deviceType;
  if (m.errorCode !== undefined) msg.error_code = m.errorCode;
  if (m.errorMessage) msg.error_message = m.errorMessage;
  if (m.vehicleId) msg.vehicle_id = m.vehicleId;
  if (m.rssi !== undefined) msg.extra = { signal_strength: m.rssi };
  return msg;
}

/** Discovery of a newly seen monitor (fields per the schema). */
export function discoveryMessage(mac: string, advert: MonitorAdvert, at: number): JsonObject {
  const msg: JsonObject = { device_id: mac, timestamp: isoTime(at) };
  if (isDeviceType(advert.deviceType)) msg.device_type = advert.deviceType;
  if (typeof advert.name === "string" && advert.name.length >= 1 && advert.name.length <= 248) msg.name = advert.name;
  const rssi = rssiOf(advert.rssi);
  if (rssi !== undefined) msg.rssi = rssi;
  return msg;
}

/** Vehicle association event. */
export function associatedMessage(m: MonitorState, vehicleId: string, newVehicle: boolean, at: number): JsonObject {
  const msg: JsonObject = { device_id: m.mac, vehicle_id: vehicleId, timestamp: isoTime(at), new_vehicle: newVehicle };
  if (m.deviceType) msg.device_type = m.deviceType;
  return msg;
}

export interface SystemState {
  running: boolean;
  /** Omitted in the will: it is made at connect time, and the link dies later. */
  uptimeSeconds?: number;
  version?: string;
  components: Record<string, string>;
}

/** System status; no storage block: the gateway has no InfluxDB. */
export function systemStatusMessage(s: SystemState, at: number): JsonObject {
  const core: JsonObject = { running: s.running };
  if (s.uptimeSeconds !== undefined) core.uptime_seconds = s.uptimeSeconds;
  if (s.version !== undefined) core.version = s.version;
  return { timestamp: isoTime(at), core, components: { ...s.components } };
}

/** System shutdown notice. */
export function shutdownMessage(reason: string, at: number): JsonObject {
  return { status: "shutting_down", reason, timestamp: isoTime(at) };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const COMMAND_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The answer to one command message, naming the gateway that answers (gatewayId passed
 * isGatewayId); the request's ids are echoed only when valid, so bad input is never repeated.
 */
export function responseMessage(outcome: CommandOutcome, at: number, gatewayId: string): JsonObject {
  const msg: JsonObject = {
    request_id: outcome.id !== null && REQUEST_ID.test(outcome.id) ? outcome.id : null,
    command: outcome.command !== null && COMMAND_NAME.test(outcome.command) ? outcome.command : null,
    gateway_id: gatewayId,
    success: outcome.ok,
  };
  const mac = outcome.request ? normalizeMac(outcome.request.device_id) : undefined;
  if (mac && outcome.request?.device_id === mac) msg.device_id = mac;
  if (outcome.ok && outcome.result) msg.result = outcome.result;
  if (!outcome.ok) {
    const text = outcome.error?.message || "failed";
    msg.error = { code: outcome.error?.code ?? "failed", message: text.length > 255 ? `${text.slice(0, 252)}...` : text };
  }
  msg.timestamp = isoTime(at);
  return msg;
}
