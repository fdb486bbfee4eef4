// Battery Hawk as the hosts and the companion (`npm run cmd`) see it.

import type { JsonObject } from "../../device/commands.js";
import type { CommandRequest, ProductDefinition, ProductHost } from "../../device/product.js";
import { DEFAULTS } from "./config.js";
import { createBatteryHawk } from "./gateway.js";
import { isPrefix, isVehicleId, normalizeMac } from "./ids.js";
import { HawkTopics } from "./topics.js";
import { SIMULATED_ASSOCIATIONS, SimulatedMonitors } from "./simulation.js";

const COMMANDS: Readonly<Record<string, string>> = {
  read_data: "read_data mac=AA:BB:CC:DD:EE:FF [request_id=...]   read one monitor now (fresh reading and status)",
  associate: "associate mac=AA:BB:CC:DD:EE:FF vehicle_id=my_vehicle [request_id=...]   assign a monitor to a vehicle",
};

let requests = 0;

function topicsFor(config: Readonly<Record<string, string>>): HawkTopics {
  const prefix = config.prefix ?? DEFAULTS.prefix;
  if (!isPrefix(prefix)) throw new RangeError(`prefix must be 1-64 letters, digits, _ or -: "${prefix}"`);
  return new HawkTopics(prefix);
}

export const definition: ProductDefinition = {
  name: "battery-hawk",
  defaults: DEFAULTS,

  /** The gateway's id (its MQTT client id); monitors are addressed by MAC. */
  deviceId(index: number): string {
    return `hawk-gw-${String(index + 1).padStart(3, "0")}`;
  },

  simulate(host: ProductHost) {
    // The simulated fleet's associations unless the host configures some (hosts pass the empty default).
    const associations = host.config.associations || SIMULATED_ASSOCIATIONS;
    return createBatteryHawk(host, new SimulatedMonitors(host), { ...host.config, associations });
  },

  topicFilter(_deviceId: string, config: Readonly<Record<string, string>>): string {
    return topicsFor(config).all;
  },

  commands: COMMANDS,

  // The simulated family car's starter battery monitor (simulation.ts).
  example: { command: "read_data", params: { mac: "A4:C1:38:00:00:01" } },

  command(_deviceId: string, config: Readonly<Record<string, string>>, name: string, params: JsonObject): CommandRequest {
    const usage = COMMANDS[name];
    if (!usage) throw new RangeError(`unknown command "${name}"; commands:\n  ${Object.values(COMMANDS).join("\n  ")}`);
    const topics = topicsFor(config);
    const mac = normalizeMac(params.mac ?? params.device_id);
    if (!mac) throw new RangeError(`mac must be a MAC address such as AA:BB:CC:DD:EE:FF\nusage: ${usage}`);
    const requestId = params.request_id === undefined ? `cmd-${Date.now().toString(36)}-${++requests}` : String(params.request_id);
    if (!/^[A-Za-z0-9._:-]{1,64}$/.test(requestId)) throw new RangeError(`request_id must be 1-64 of A-Z a-z 0-9 . _ : -\nusage: ${usage}`);
    const payload: JsonObject = { request_id: requestId, command: name, device_id: mac };
    const allowed = name === "associate" ? ["mac", "device_id", "vehicle_id", "request_id"] : ["mac", "device_id", "request_id"];
    const extra = Object.keys(params).filter((k) => !allowed.includes(k));
    if (extra.length) throw new RangeError(`unknown parameter ${extra.join(", ")}\nusage: ${usage}`);
    if (name === "associate") {
      if (!isVehicleId(params.vehicle_id)) throw new RangeError(`vehicle_id must be 1-64 letters, digits, _ or -\nusage: ${usage}`);
      payload.vehicle_id = params.vehicle_id;
    }
    return {
      topic: topics.command,
      payload,
      qos: 1,
      responseTopic: topics.commandResponse,
      isResponse: (p) => typeof p === "object" && p !== null && !Array.isArray(p) && p.request_id === requestId,
    };
  },
};

export { createBatteryHawk } from "./gateway.js";
export { SimulatedMonitors } from "./simulation.js";
export type { BatteryMonitorRadio } from "./hardware.js";
