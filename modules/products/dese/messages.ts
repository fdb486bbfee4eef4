// The JSON the device publishes, one builder per message: telemetry, command_response,
// status, alert. Timestamps are UTC ISO 8601 from device.now().

import type { Json, JsonObject, CommandOutcome } from "../../device/commands.js";
import type { Alert } from "./alerts.js";
import { clip } from "./alerts.js";
import type { Readings } from "./sensors.js";
import { SENSORS } from "./sensors.js";

export const FIRMWARE_VERSION = "1.0.0";

export type StatusValue = "online" | "offline" | "error" | "maintenance";

/** UTC ISO 8601 with milliseconds, e.g. 2025-01-27T10:00:00.000Z. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

export interface DeviceInfo {
  battery?: number;
  signalStrength?: number;
}

function info(payload: JsonObject, device: DeviceInfo): void {
  if (device.battery !== undefined) payload.battery = Math.round(Math.min(100, Math.max(0, device.battery)));
  if (device.signalStrength !== undefined) payload.signal_strength = Math.round(Math.min(0, Math.max(-127, device.signalStrength)));
}

export function telemetryMessage(deviceId: string, org: string, readings: Readings, device: DeviceInfo, now: number): JsonObject {
  const sensors: JsonObject = {};
  for (const s of SENSORS) if (readings[s] !== undefined) sensors[s] = readings[s] as number;
  const metadata: JsonObject = {};
  info(metadata, device);
  metadata.firmware_version = FIRMWARE_VERSION;
  return { device_id: deviceId, timestamp: isoTime(now), organization_id: org, sensors, metadata };
}

export function statusMessage(status: StatusValue, device: DeviceInfo, now: number): JsonObject {
  const payload: JsonObject = { status };
  info(payload, device);
  payload.firmware_version = FIRMWARE_VERSION;
  payload.timestamp = isoTime(now);
  return payload;
}

/** The command's result, or its error as "<code>: <reason>" (error null on success, as the specification's example). */
export function responseMessage(outcome: CommandOutcome, now: number): JsonObject {
  const payload: JsonObject = { command_id: outcome.id as string, success: outcome.ok };
  if (outcome.result) payload.response = outcome.result;
  payload.error = outcome.ok ? null : clip(`${outcome.error?.code ?? "failed"}: ${outcome.error?.message ?? "failed"}`);
  payload.timestamp = isoTime(now);
  return payload;
}

export function alertMessage(alert: Alert, now: number): JsonObject {
  const payload: JsonObject = { severity: alert.severity, message: clip(alert.message) };
  if (alert.sensor !== undefined) payload.sensor = alert.sensor;
  if (alert.sensor !== undefined && alert.value !== undefined) {
    payload.value = alert.value;
    if (alert.threshold !== undefined) payload.threshold = alert.threshold;
  }
  payload.timestamp = isoTime(now);
  return payload as { [key: string]: Json };
}
