// One set of typed error codes for the whole stack. The first eight are the BESS
// specification's error table (BESS_MQTT_ERR_<code>); the rest name protocol and
// resource failures precisely. The cause, when there is one, is kept.

export type ErrorCode =
  | "INIT_FAILED"
  | "CONNECT_FAILED"
  | "SUBSCRIBE_FAILED"
  | "PUBLISH_FAILED"
  | "DISCONNECTED"
  | "TIMEOUT"
  | "AUTHENTICATION_FAILED"
  | "TLS_FAILED"
  | "MALFORMED_PACKET"
  | "PROTOCOL_ERROR"
  | "PACKET_TOO_LARGE"
  | "QUEUE_FULL"
  | "INVALID_ARGUMENT"
  | "CLOSED"
  /** A fault of our own caught at a callback boundary; the connection is reset. */
  | "INTERNAL_ERROR";

export class MqttError extends Error {
  // A field, not an assignment: on XS, preloaded modules freeze Error.prototype, and
  // assigning an inherited read-only property throws (the "override mistake").
  override readonly name = "MqttError";
  readonly code: ErrorCode;
  /** The specification clause a check enforces, e.g. "MQTT-3.3.1-4". */
  readonly clause: string | undefined;
  override readonly cause: unknown;
  /** PACKET_TOO_LARGE for a skipped inbound PUBLISH: its topic ("" when too long to keep) and size. */
  topic?: string;
  size?: number;
  /** SUBSCRIBE_FAILED: the broker's return code per filter. */
  granted?: number[];

  constructor(code: ErrorCode, message: string, clause?: string, cause?: unknown) {
    super(clause ? `${message} [${clause}]` : message);
    this.code = code;
    this.clause = clause;
    this.cause = cause;
  }
}

export function malformed(message: string, clause?: string): MqttError {
  return new MqttError("MALFORMED_PACKET", message, clause);
}
