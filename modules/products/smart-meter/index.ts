// The smart-meter product as the Node host, the tests and the companion (`npm run cmd`) see it:
// the emulated product (emulated.ts, over firmware.ts) and the companion's part, its command.
// No firmware image holds this file.

import type { Json, JsonObject } from "../../device/commands.js";
import type { CommandRequest, ProductDefinition } from "../../device/product.js";
import { schemaValidator } from "../../device/schema.js";
import type { MeterHardware } from "./hardware.js";
import { meterFilter, meterRoutes } from "./topics.js";
import { commandBalance } from "./validators.js";
import { emulated } from "./emulated.js";

const USAGE = {
  balance: "balance balance=<units, 0 to 1e9> [timestamp=<ms since epoch, default now>]",
} as const;

const validateBalance = schemaValidator(commandBalance);

/** A number from a CLI value ("10.5") or a JSON number. */
function numeric(value: Json | undefined): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

export const definition: ProductDefinition<MeterHardware> = {
  ...emulated,
  // The meter number is a topic level already: no root option is needed for many meters.
  topicFilter: (deviceId) => meterFilter(meterRoutes(deviceId)),
  commands: USAGE,
  example: { command: "balance", params: { balance: 10.5 } },
  command(deviceId: string, _config: Readonly<Record<string, string>>, name: string, params: JsonObject): CommandRequest {
    if (name !== "balance") throw new RangeError(`unknown command "${name}"; commands: ${Object.values(USAGE).join(" | ")}`);
    const routes = meterRoutes(deviceId);
    const unknown = Object.keys(params).filter((k) => k !== "balance" && k !== "timestamp");
    if (unknown.length) throw new RangeError(`unknown parameter ${unknown.join(", ")}; usage: ${USAGE.balance}`);
    const payload: JsonObject = {};
    if (params.balance !== undefined) payload.balance = numeric(params.balance) ?? params.balance;
    payload.timestamp = params.timestamp === undefined ? Date.now() : numeric(params.timestamp) ?? params.timestamp;
    const invalid = validateBalance(payload);
    if (invalid) throw new RangeError(`${invalid}; usage: ${USAGE.balance}`);
    return {
      ...routes.commandBalance,
      payload,
      responseTopic: routes.balance.topic,
      // The balance report carries no command id: any report from this meter answers.
      isResponse: (p) => typeof p === "object" && p !== null && !Array.isArray(p) && p.meterNo === deviceId && typeof p.balance === "number",
    };
  },
};
