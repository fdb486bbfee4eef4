// Command dispatch shared by the products: parse the JSON, find the command, validate it
// against its schema, run its handler, and produce one outcome the product turns into its
// own response format. Nothing a broker sends can throw out of here: malformed JSON, an
// unknown command, an invalid value or a failing handler each become an error outcome.

import { decodeUtf8 } from "../mqtt/utf8.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Returns undefined when the value is valid, otherwise why not (e.g. an ajv error text). */
export type Validator = (value: unknown) => string | undefined;

export type CommandErrorCode = "malformed_json" | "invalid_request" | "unknown_command" | "invalid_parameters" | "failed";

export interface CommandOutcome {
  /** The request's id (request_id, command_id, ...) when one could be read, else null. */
  id: string | null;
  /** The command name when one could be read, else null. */
  command: string | null;
  ok: boolean;
  result?: JsonObject;
  error?: { code: CommandErrorCode; message: string };
  /** The parsed request, when it parsed. */
  request?: JsonObject;
}

export interface CommandSpec {
  /** Validates the whole request (envelope and parameters), usually a schema's validator. */
  validate?: Validator;
  /** Runs the command; throwing (or rejecting) gives a "failed" outcome with the message. */
  run(request: JsonObject): JsonObject | void | Promise<JsonObject | void>;
}

export interface CommandFormat {
  /** Field holding the request id, e.g. "request_id" or "command_id". */
  idField: string;
  /** Field holding the command name, e.g. "command". */
  nameField: string;
  /** Checks the envelope before the command is looked up. */
  validateEnvelope?: Validator;
}

export class CommandDispatcher {
  readonly #format: CommandFormat;
  readonly #commands = new Map<string, CommandSpec>();

  constructor(format: CommandFormat) {
    this.#format = format;
  }

  register(name: string, spec: CommandSpec): this {
    this.#commands.set(name, spec);
    return this;
  }

  get names(): string[] {
    return [...this.#commands.keys()];
  }

  /** Handles one command message's payload; never throws. */
  dispatch(payload: Uint8Array): Promise<CommandOutcome> {
    return this.#dispatch(payload);
  }

  /**
   * The same, for a topic that names its action (e.g. bess/system/reset): runs command `name`
   * whatever the payload's name field says.
   */
  dispatchAs(name: string, payload: Uint8Array): Promise<CommandOutcome> {
    return this.#dispatch(payload, name);
  }

  async #dispatch(payload: Uint8Array, fixedName?: string): Promise<CommandOutcome> {
    const parsed = this.#parse(payload);
    if ("error" in parsed) return fixedName === undefined ? parsed.error : { ...parsed.error, command: fixedName };
    const { body, id } = parsed;
    const name = fixedName ?? parsed.name;
    const envelopeError = this.#format.validateEnvelope?.(body);
    if (envelopeError) return fail(id, name, "invalid_request", envelopeError, body);
    const spec = name === null ? undefined : this.#commands.get(name);
    if (!spec) {
      return fail(id, name, "unknown_command", name === null ? `missing "${this.#format.nameField}"` : `unknown command "${name}"`, body);
    }
    const invalid = spec.validate?.(body);
    if (invalid) return fail(id, name, "invalid_parameters", invalid, body);
    try {
      const result = await spec.run(body);
      const outcome: CommandOutcome = { id, command: name, ok: true, request: body };
      if (result) outcome.result = result;
      return outcome;
    } catch (e) {
      return fail(id, name, "failed", message(e), body);
    }
  }

  /** A "failed" outcome for a command that will not run (the device is busy), with its id when it has one. */
  refuse(payload: Uint8Array, reason: string): CommandOutcome {
    const parsed = this.#parse(payload);
    return "error" in parsed ? parsed.error : fail(parsed.id, parsed.name, "failed", reason, parsed.body);
  }

  #parse(payload: Uint8Array): { body: JsonObject; id: string | null; name: string | null } | { error: CommandOutcome } {
    let request: unknown;
    try {
      request = JSON.parse(decodeUtf8(payload, 0, payload.length));
    } catch (e) {
      return { error: fail(null, null, "malformed_json", `payload is not JSON: ${message(e)}`) };
    }
    if (typeof request !== "object" || request === null || Array.isArray(request)) {
      return { error: fail(null, null, "invalid_request", "payload must be a JSON object") };
    }
    const body = request as JsonObject;
    const rawId = body[this.#format.idField];
    const id = typeof rawId === "string" || typeof rawId === "number" ? String(rawId) : null;
    const rawName = body[this.#format.nameField];
    return { body, id, name: typeof rawName === "string" ? rawName : null };
  }
}

function fail(id: string | null, command: string | null, code: CommandErrorCode, text: string, request?: JsonObject): CommandOutcome {
  const outcome: CommandOutcome = { id, command, ok: false, error: { code, message: text } };
  if (request) outcome.request = request;
  return outcome;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
