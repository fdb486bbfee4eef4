// The four-digit codes carried by status and alarm messages. The specification shows 1001 (a
// status), 3001/3002 (thermal alarms) and names its error table without numbers; the
// numbering of everything else is ours, grouped by the first digit:
//   1xxx status (info)      2xxx request rejected     3xxx thermal alarms
//   4xxx battery alarms     5xxx MQTT errors (specified table, in its order)   6xxx protective actions
//   7xxx the RS-485 line to the BMS and the converter

import type { CommandErrorCode } from "../../device/commands.js";
import type { ErrorCode } from "../../mqtt/errors.js";

export const StatusCode = {
  started: 1000,
  modeChanged: 1010,
  configApplied: 1020,
  resetAccepted: 1030,
  firmwareNoticed: 1040,
  reconnected: 1050,
  bmsRestored: 1060,
} as const;

/** A rejected control/config/reset/firmware message: the device layer's outcome codes. */
export const RequestErrorCode: Record<CommandErrorCode, number> = {
  malformed_json: 2000,
  invalid_parameters: 2001,
  unknown_command: 2002,
  invalid_request: 2003,
  failed: 2004,
};

export const AlarmCode = {
  /** Module temperature above the warning threshold, severity 2 (as specified). */
  temperatureWarning: 3001,
  /** Above the critical threshold, severity 4, then a thermal shutdown (as specified). */
  temperatureCritical: 3002,
  socLow: 4001,
  socCritical: 4002,
  socFull: 4003,
  /** From the BMS's own flags (conditions.ts BMS_CONDITIONS), and the cell spread threshold. */
  underTemperature: 3003,
  temperatureImbalance: 3004,
  overChargeCurrent: 4004,
  overDischargeCurrent: 4005,
  overVoltage: 4006,
  underVoltage: 4007,
  cellImbalance: 4008,
  bmsFault: 4009,
  /** No usable BMS reading for BMS_FAILURE_THRESHOLD readings in a row (severity 3). */
  bmsLost: 7000,
} as const;

export const ActionCode = {
  /** The specification's emergency_thermal_shutdown(module_id). */
  thermalShutdown: 6001,
  /** The converter set to idle while the BMS cannot be read. */
  bmsLostShutdown: 6002,
} as const;

/** Why BMS readings failed, on status/error when they reach the threshold. */
export const BusErrorCode = {
  /** The BMS did not answer (timeout, or the line closed). */
  timeout: 7001,
  closed: 7001,
  busy: 7001,
  /** Its answers were corrupted: bad CRC, wrong length or address. */
  crc: 7002,
  frame: 7002,
  /** It refused the read (a Modbus exception). */
  exception: 7003,
  /** It answered values no pack can have. */
  range: 7004,
} as const;
export type BusErrorKind = keyof typeof BusErrorCode;

/** The specified error table, BESS_MQTT_ERR_<name>, numbered 5001-5008 in its order. */
export const MQTT_ERRORS = {
  INIT_FAILED: 5001,
  CONNECT_FAILED: 5002,
  SUBSCRIBE_FAILED: 5003,
  PUBLISH_FAILED: 5004,
  DISCONNECTED: 5005,
  TIMEOUT: 5006,
  AUTHENTICATION_FAILED: 5007,
  TLS_FAILED: 5008,
} as const;
export type SeedErrorName = keyof typeof MQTT_ERRORS;

/**
 * The specified error for each of the client's error codes. The client names a few failures
 * more precisely than the specified table; each goes to its nearest entry.
 */
export const SEED_ERROR_FOR: Record<ErrorCode, SeedErrorName> = {
  INIT_FAILED: "INIT_FAILED",
  CONNECT_FAILED: "CONNECT_FAILED",
  SUBSCRIBE_FAILED: "SUBSCRIBE_FAILED",
  PUBLISH_FAILED: "PUBLISH_FAILED",
  DISCONNECTED: "DISCONNECTED",
  TIMEOUT: "TIMEOUT",
  AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED",
  TLS_FAILED: "TLS_FAILED",
  // The broker sent something we cannot accept: the connection is dropped.
  MALFORMED_PACKET: "DISCONNECTED",
  PROTOCOL_ERROR: "DISCONNECTED",
  CLOSED: "DISCONNECTED",
  // A fault of ours caught at a callback: the connection is reset.
  INTERNAL_ERROR: "DISCONNECTED",
  // A message that could not be queued or sent.
  PACKET_TOO_LARGE: "PUBLISH_FAILED",
  QUEUE_FULL: "PUBLISH_FAILED",
  INVALID_ARGUMENT: "PUBLISH_FAILED",
};

/** The specified recommended action (the table's last column), for the status message. */
export const SEED_ERROR_ACTION: Record<SeedErrorName, string> = {
  INIT_FAILED: "Check memory and configuration",
  CONNECT_FAILED: "Verify network connectivity and credentials",
  SUBSCRIBE_FAILED: "Check topic permissions and broker connectivity",
  PUBLISH_FAILED: "Verify connectivity and QoS settings",
  DISCONNECTED: "Reconnect or wait for automatic reconnection",
  TIMEOUT: "Adjust timeout or check network latency",
  AUTHENTICATION_FAILED: "Verify certificates and credentials",
  TLS_FAILED: "Check certificate validity and TLS configuration",
};

export function seedError(code: ErrorCode): { name: `BESS_MQTT_ERR_${SeedErrorName}`; code: number; action: string } {
  const seed = SEED_ERROR_FOR[code] ?? "INIT_FAILED";
  return { name: `BESS_MQTT_ERR_${seed}`, code: MQTT_ERRORS[seed], action: SEED_ERROR_ACTION[seed] };
}
