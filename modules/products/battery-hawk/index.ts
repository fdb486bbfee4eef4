// Battery Hawk as the Node host, the tests and the companion (`npm run cmd`) see it: the
// emulated gateway (emulated.ts, over firmware.ts) and the companion's part, its commands. No
// firmware image holds this file.

import type { JsonObject } from "../../device/commands.js";
import { readOptions } from "../../device/options.js";
import type { CommandRequest, ProductDefinition } from "../../device/product.js";
import { isGatewayId, isVehicleId, normalizeMac } from "./ids.js";
import { OPTIONS } from "./options.js";
import type { MonitorRadio } from "./hardware.js";
import { HawkTopics } from "./topics.js";
import { simulatedMac } from "./simulation.js";
import { emulated } from "./emulated.js";

const COMMANDS: Readonly<Record<string, string>> = {
  read_data: "read_data mac=AA:BB:CC:DD:EE:FF [request_id=...]   read one monitor now (fresh reading and status)",
  associate: "associate mac=AA:BB:CC:DD:EE:FF vehicle_id=my_vehicle [request_id=...]   assign a monitor to a vehicle",
};

let requests = 0;

function topicsFor(config: Readonly<Record<string, string>>): HawkTopics {
  const o = readOptions(OPTIONS, config);
  return new HawkTopics(o.prefix, o.root);
}

export const definition: ProductDefinition<MonitorRadio> = {
  ...emulated,

  topicFilter(_deviceId: string, config: Readonly<Record<string, string>>): string {
    return topicsFor(config).all;
  },

  commands: COMMANDS,

  // The first simulated gateway's family-car starter battery monitor (simulation.ts).
  example: { command: "read_data", params: { mac: simulatedMac(emulated.deviceId(0), 1) } },

  command(gatewayId: string, config: Readonly<Record<string, string>>, name: string, params: JsonObject): CommandRequest {
    const usage = COMMANDS[name];
    if (!usage) throw new RangeError(`unknown command "${name}"; commands:\n  ${Object.values(COMMANDS).join("\n  ")}`);
    if (!isGatewayId(gatewayId)) throw new RangeError(`gateway id must be 1-64 of A-Z a-z 0-9 . _ : -, such as ${emulated.deviceId(0)}: "${gatewayId}"`);
    const { gateway } = topicsFor(config);
    const mac = normalizeMac(params.mac ?? params.device_id);
    if (!mac) throw new RangeError(`mac must be a MAC address such as AA:BB:CC:DD:EE:FF\nusage: ${usage}`);
    const requestId = params.request_id === undefined ? `cmd-${Date.now().toString(36)}-${++requests}` : String(params.request_id);
    if (!/^[A-Za-z0-9._:-]{1,64}$/.test(requestId)) throw new RangeError(`request_id must be 1-64 of A-Z a-z 0-9 . _ : -\nusage: ${usage}`);
    const allowed = name === "associate" ? ["mac", "device_id", "vehicle_id", "request_id"] : ["mac", "device_id", "request_id"];
    const extra = Object.keys(params).filter((k) => !allowed.includes(k));
    if (extra.length) throw new RangeError(`unknown parameter ${extra.join(", ")}\nusage: ${usage}`);
    // The gateway's id goes along: gateways sharing the command topic leave it to that one.
    const payload: JsonObject = { request_id: requestId, command: name, gateway_id: gatewayId, device_id: mac };
    if (name === "associate") {
      if (!isVehicleId(params.vehicle_id)) throw new RangeError(`vehicle_id must be 1-64 letters, digits, _ or -\nusage: ${usage}`);
      payload.vehicle_id = params.vehicle_id;
    }
    return {
      topic: gateway.commandReadData.topic,
      payload,
      qos: gateway.commandReadData.qos,
      responseTopic: gateway.commandResponse.topic,
      // This request's answer from this gateway about this monitor, nobody else's.
      isResponse: (p) => typeof p === "object" && p !== null && !Array.isArray(p) &&
        p.request_id === requestId && p.gateway_id === gatewayId && p.device_id === mac,
    };
  },
};
