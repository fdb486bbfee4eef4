// The BESS product as the Node host, the tests and the companion (`npm run cmd`) see it: the
// emulated product (emulated.ts, over firmware.ts) and the companion's part, its commands. No
// firmware image holds this file.

import type { CommandRequest, ProductDefinition } from "../../device/product.js";
import type { Json, JsonObject } from "../../device/commands.js";
import { readOptions } from "../../device/options.js";
import { schemaValidator } from "../../device/schema.js";
import type { CompiledSchema } from "../../device/schema.js";
import type { Route } from "../../device/topics.js";
import { controlCommand, controlConfig, systemReset, firmwareUpdate } from "./validators.js";
import { OPTIONS } from "./options.js";
import { allTopics, answerTopics, bessRoutes } from "./topics.js";
import type { BessRoutes } from "./topics.js";
import { SETTING_NAMES } from "./settings.js";
import { emulated } from "./emulated.js";

const COMMANDS = {
  set_mode: "mode=charge|discharge|idle [power_limit_kw=0-15000] [soc_min=0-100] [request_id=ID]",
  config: "[telemetry_interval_ms=1000-3600000] [log_level=0-5] [reconnect_interval_ms=1000-3600000] [max_reconnect_attempts=N] [request_id=ID]",
  reset: "[reset_type=restart|factory_reset] [delay_ms=0-60000] [request_id=ID]",
  firmware_update: "version=X.Y.Z url=https://... sha256=<64 hex> [size_bytes=N] [request_id=ID]",
} as const;
type CommandName = keyof typeof COMMANDS;

/** Parameters each command takes (anything else is refused rather than silently dropped). */
const PARAMS: Record<CommandName, readonly string[]> = {
  set_mode: ["mode", "power_limit_kw", "soc_min", "params", "request_id"],
  config: [...SETTING_NAMES, "request_id"],
  reset: ["reset_type", "delay_ms", "request_id"],
  firmware_update: ["version", "url", "sha256", "size_bytes", "request_id"],
};

const validate = {
  set_mode: schemaValidator(controlCommand as CompiledSchema),
  config: schemaValidator(controlConfig as CompiledSchema),
  reset: schemaValidator(systemReset as CompiledSchema),
  firmware_update: schemaValidator(firmwareUpdate as CompiledSchema),
};

let sequence = 0;

function routesOf(config: Readonly<Record<string, string>>): BessRoutes {
  return bessRoutes(readOptions(OPTIONS, config).root);
}

export const definition: ProductDefinition = {
  ...emulated,
  topicFilter: (_deviceId, config) => allTopics(routesOf(config)),
  commands: COMMANDS,
  // The specification's own example.
  example: { command: "set_mode", params: { mode: "discharge", power_limit_kw: 25, soc_min: 20 } },
  command(deviceId, config, name, params): CommandRequest {
    if (!(name in COMMANDS)) {
      throw new RangeError(`unknown bess command "${name}"; commands: ${Object.keys(COMMANDS).join(", ")}`);
    }
    const command = name as CommandName;
    const usage = `usage: ${command} ${COMMANDS[command]}`;
    const unknown = Object.keys(params).filter((k) => !PARAMS[command].includes(k));
    if (unknown.length) throw new RangeError(`${command} takes no ${unknown.join(", ")}; ${usage}`);
    const routes = routesOf(config);
    const requestId = typeof params.request_id === "string" ? params.request_id : `${command}-${Date.now().toString(36)}-${++sequence}`;
    // The topics are shared by every controller: device_id makes only this one act.
    let payload: JsonObject;
    let route: Route;
    switch (command) {
      case "set_mode": {
        const nested = typeof params.params === "object" && params.params !== null && !Array.isArray(params.params) ? params.params : {};
        const modeParams: JsonObject = { ...nested };
        if (params.power_limit_kw !== undefined) modeParams.power_limit_kw = params.power_limit_kw;
        if (params.soc_min !== undefined) modeParams.soc_min = params.soc_min;
        payload = { command: "set_mode", mode: params.mode ?? null, request_id: requestId, device_id: deviceId };
        if (Object.keys(modeParams).length) payload.params = modeParams;
        route = routes.controlCommand;
        break;
      }
      case "config":
        payload = { ...params, request_id: requestId, device_id: deviceId };
        route = routes.controlConfig;
        break;
      case "reset":
        payload = { reset_type: "restart", ...params, request_id: requestId, device_id: deviceId };
        route = routes.systemReset;
        break;
      case "firmware_update":
        payload = { ...params, request_id: requestId, device_id: deviceId };
        route = routes.firmwareUpdate;
        break;
    }
    const invalid = validate[command](payload);
    if (invalid) throw new RangeError(`${invalid}; ${usage}`);
    return {
      topic: route.topic,
      payload,
      qos: route.qos,
      retain: route.retain,
      // Outcomes arrive on status/info (accepted) or status/error (rejected), with the request_id.
      responseTopic: answerTopics(routes),
      isResponse: (response: Json) =>
        typeof response === "object" && response !== null && !Array.isArray(response) && response.request_id === requestId,
    };
  },
};
