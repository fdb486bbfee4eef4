// Inbound commands on smartmeter/{meterNo}/command/<name>: the topic names the command and
// the payload is validated against its schema with the generated validator, so the meter
// checks exactly what the schema files say. Never throws: every bad message becomes an
// outcome with the device layer's error codes (modules/device/commands.ts).

import type { CommandErrorCode, Validator } from "../../device/commands.js";
import { schemaValidator } from "../../device/schema.js";
import { decodeUtf8 } from "../../mqtt/utf8.js";
import { commandBalance } from "./validators.js";

export interface BalanceCommand {
  balance: number;
  timestamp: number;
}

export type Inbound =
  | { ok: true; command: "balance"; value: BalanceCommand }
  | { ok: false; command: string; code: CommandErrorCode; message: string };

const validateBalance: Validator = schemaValidator(commandBalance);

export function parseCommand(command: string, payload: Uint8Array): Inbound {
  if (command !== "balance") return { ok: false, command, code: "unknown_command", message: `unknown command "${command}"` };
  let body: unknown;
  try {
    body = JSON.parse(decodeUtf8(payload, 0, payload.length));
  } catch (e) {
    return { ok: false, command, code: "malformed_json", message: `payload is not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, command, code: "invalid_request", message: "payload must be a JSON object" };
  }
  const invalid = validateBalance(body);
  if (invalid) return { ok: false, command, code: "invalid_parameters", message: invalid };
  return { ok: true, command: "balance", value: body as BalanceCommand };
}
