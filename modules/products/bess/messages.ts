// The specified message formats, built from values: pure functions returning Publications
// with the topic, QoS and retain flag of the generated table. Telemetry, status and alarm
// timestamps are whole seconds; CloudWatch logs are milliseconds, as the specification shows.

import type { Publication } from "../../device/device.js";
import type { JsonObject } from "../../device/commands.js";
import type { LogEntry } from "../../device/logs.js";
import type { BessReading } from "./hardware.js";
import type { BessRoutes } from "./topics.js";

/** The specification formats text into a 256-byte buffer; the schemas cap messages at 255 characters. */
export const MAX_TEXT = 255;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const COMPONENT = /^[A-Za-z0-9_.-]{1,32}$/;

export function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

export function text(s: string): string {
  const t = s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT - 3)}...` : s;
  return t.length === 0 ? "-" : t;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  const r = Math.round(x * f) / f;
  return r === 0 ? 0 : r; // no -0 in JSON
}

export function telemetry(routes: BessRoutes, deviceId: string, nowMs: number, r: BessReading): Publication {
  const temps = r.moduleTemps;
  const max = Math.max(...temps);
  const min = Math.min(...temps);
  const avg = temps.reduce((a, b) => a + b, 0) / temps.length;
  return {
    ...routes.telemetry,
    payload: {
      timestamp: seconds(nowMs),
      device_id: deviceId,
      electrical: { voltage: round(r.voltage, 2), current: round(r.current, 2), power_kw: round(r.powerKw, 3) },
      battery: { soc: round(r.soc, 1), soh: round(r.soh, 2) },
      thermal: { max_temp: round(max, 1), min_temp: round(min, 1), avg_temp: round(avg, 1) },
    },
  };
}

/** request_id (ours) ties an outcome to the request it answers. */
export function status(routes: BessRoutes, deviceId: string, nowMs: number, isError: boolean, code: number, message: string,
  requestId?: string | null): Publication {
  const payload: JsonObject = { timestamp: seconds(nowMs), device_id: deviceId, code, message: text(message), is_error: isError };
  if (typeof requestId === "string" && REQUEST_ID.test(requestId)) payload.request_id = requestId;
  return { ...(isError ? routes.statusError : routes.statusInfo), payload };
}

/** Route by severity: 1 info, 2 warning, 3-4 critical. */
export function alarmRoute(routes: BessRoutes, severity: number): BessRoutes[keyof BessRoutes] {
  return severity >= 3 ? routes.alarmCritical : severity === 2 ? routes.alarmWarning : routes.alarmInfo;
}

export function alarm(routes: BessRoutes, deviceId: string, nowMs: number, a: { code: number; message: string; severity: 1 | 2 | 3 | 4; moduleId: number }): Publication {
  return {
    ...alarmRoute(routes, a.severity),
    payload: { timestamp: seconds(nowMs), device_id: deviceId, code: a.code, message: text(a.message), severity: a.severity, module_id: a.moduleId },
  };
}

/** CloudWatch's fields, ms timestamps; the route follows the level (debug and verbose go to info). */
export function log(routes: BessRoutes, deviceId: string, entry: LogEntry): Publication {
  return {
    ...(entry.level === 1 ? routes.logError : entry.level === 2 ? routes.logWarning : routes.logInfo),
    payload: {
      timestamp: Math.floor(entry.at),
      device_id: deviceId,
      level: entry.level,
      component: COMPONENT.test(entry.component) ? entry.component : "firmware",
      message: text(entry.message),
    },
  };
}

/** Retained on bess/status/connection; the offline form is also the Last Will, which has no timestamp (the broker sends it later). */
export function connection(deviceId: string, online: boolean, nowMs?: number): JsonObject {
  const payload: JsonObject = { device_id: deviceId, status: online ? "online" : "offline" };
  if (nowMs !== undefined) payload.timestamp = seconds(nowMs);
  return payload;
}
