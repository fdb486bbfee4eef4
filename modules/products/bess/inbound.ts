// Requests on the fixed-purpose topics (control/config, system/reset, firmware/update): the
// same outcomes as the device layer's command dispatch (modules/device/commands.ts), for a
// topic that names its action instead of a "command" field. Never throws.

import { decodeUtf8 } from "../../mqtt/utf8.js";
import type { CommandOutcome, JsonObject, Validator } from "../../device/commands.js";

export interface InboundSpec {
  /** The action's name in outcomes and messages, e.g. "config". */
  name: string;
  /** Checked first; an error here is invalid_request (e.g. addressed to another device). */
  envelope?: Validator;
  /** The message's schema; an error here is invalid_parameters. */
  validate: Validator;
  /** Applies it; throwing gives a "failed" outcome with the message. */
  run(request: JsonObject): JsonObject | void | Promise<JsonObject | void>;
}

export async function handleInbound(spec: InboundSpec, payload: Uint8Array): Promise<CommandOutcome> {
  const fail = (id: string | null, code: NonNullable<CommandOutcome["error"]>["code"], message: string, request?: JsonObject): CommandOutcome => {
    const outcome: CommandOutcome = { id, command: spec.name, ok: false, error: { code, message } };
    if (request) outcome.request = request;
    return outcome;
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(decodeUtf8(payload, 0, payload.length));
  } catch (e) {
    return fail(null, "malformed_json", `payload is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return fail(null, "invalid_request", "payload must be a JSON object");
  const request = parsed as JsonObject;
  const id = typeof request.request_id === "string" ? request.request_id : null;
  const envelopeError = spec.envelope?.(request);
  if (envelopeError) return fail(id, "invalid_request", envelopeError, request);
  const invalid = spec.validate(request);
  if (invalid) return fail(id, "invalid_parameters", invalid, request);
  try {
    const result = await spec.run(request);
    const outcome: CommandOutcome = { id, command: spec.name, ok: true, request };
    if (result) outcome.result = result;
    return outcome;
  } catch (e) {
    return fail(id, "failed", e instanceof Error ? e.message : String(e), request);
  }
}
