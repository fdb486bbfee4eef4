// The DESE product as the Node host, the tests and the companion see it: the emulated product
// (emulated.ts, over firmware.ts), the live-view filter, and commands built from `npm run cmd --
// dese <device> <command> key=value...`. No firmware image holds this file.

import type { Json, JsonObject, Validator } from "../../device/commands.js";
import { readOptions } from "../../device/options.js";
import type { CommandRequest, ProductDefinition } from "../../device/product.js";
import { schemaValidator } from "../../device/schema.js";
import { OPTIONS } from "./options.js";
import { deseTopics } from "./topics.js";
import { emulated } from "./emulated.js";
import {
  commandCalibrateSensor, commandReboot, commandResetConfig, commandSetChlorineTarget, commandSetPhTarget, commandSetPump,
} from "./validators.js";

const COMMANDS: Record<string, { usage: string; numeric: string[]; validate: Validator }> = {
  set_pump: {
    usage: "set_pump pump_id=<1 circulation|2 acid|3 base|4 chlorine> state=on|off [duration=<1-86400 s>]",
    numeric: ["pump_id", "duration"],
    validate: schemaValidator(commandSetPump),
  },
  set_ph_target: { usage: "set_ph_target target_ph=<0-14>", numeric: ["target_ph"], validate: schemaValidator(commandSetPhTarget) },
  set_chlorine_target: {
    usage: "set_chlorine_target target_chlorine=<0-20 ppm>",
    numeric: ["target_chlorine"],
    validate: schemaValidator(commandSetChlorineTarget),
  },
  reboot: { usage: "reboot", numeric: [], validate: schemaValidator(commandReboot) },
  reset_config: { usage: "reset_config", numeric: [], validate: schemaValidator(commandResetConfig) },
  calibrate_sensor: {
    usage: "calibrate_sensor sensor_type=ph|chlorine|temperature|orp|tds|flow_rate value=<reference reading>",
    numeric: ["value"],
    validate: schemaValidator(commandCalibrateSensor),
  },
};

let commandCount = 0;

export const definition: ProductDefinition = {
  ...emulated,
  topicFilter: (deviceId, config) => deseTopics(readOptions(OPTIONS, config).org, deviceId).all,
  example: { command: "set_pump", params: { pump_id: 1, state: "on", duration: 60 } },
  commands: Object.fromEntries(Object.entries(COMMANDS).map(([name, c]) => [name, c.usage])),
  command(deviceId, config, name, params): CommandRequest {
    const spec = COMMANDS[name];
    if (!spec) throw new RangeError(`unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(", ")}`);
    const parameters: JsonObject = {};
    for (const [key, value] of Object.entries(params)) {
      parameters[key] = spec.numeric.includes(key) && typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    }
    const now = Date.now();
    const commandId = `cmd-${now}-${(++commandCount).toString(36)}`;
    const { org } = readOptions(OPTIONS, config);
    // The backend names the organisation too: the device refuses a command for another one.
    const payload: JsonObject = { command_id: commandId, device_id: deviceId, organization_id: org, command: name };
    if (Object.keys(parameters).length) payload.parameters = parameters;
    payload.timestamp = new Date(now).toISOString();
    const invalid = spec.validate(payload);
    if (invalid) throw new RangeError(`${name}: ${invalid}\nusage: ${spec.usage}`);
    const topics = deseTopics(org, deviceId);
    return {
      topic: topics.commands.topic,
      payload,
      qos: topics.commands.qos,
      retain: topics.commands.retain,
      responseTopic: topics.commandResponse.topic,
      isResponse: (p: Json) => typeof p === "object" && p !== null && !Array.isArray(p) && p.command_id === commandId,
    };
  },
};
