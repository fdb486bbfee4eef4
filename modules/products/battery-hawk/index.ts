// Battery Hawk as the hosts and the companion (`npm run cmd`) see it.

import type { JsonObject } from "../../device/commands.js";
import type { Device } from "../../device/device.js";
import { optionDefaults, readOptions } from "../../device/options.js";
import type { CommandRequest, ProductDefinition } from "../../device/product.js";
import { isGatewayId, isVehicleId, normalizeMac } from "./ids.js";
import { OPTIONS } from "./options.js";
import { createBatteryHawk } from "./product.js";
import { BOARD, batteryHawkHardware } from "./hardware.js";
import type { MonitorRadio } from "./hardware.js";
import { emulatedFleet, fleetFaults, simulatedAssociations, simulatedMac } from "./simulation.js";
import { HawkTopics } from "./topics.js";

const COMMANDS: Readonly<Record<string, string>> = {
  read_data: "read_data mac=AA:BB:CC:DD:EE:FF [request_id=...]   read one monitor now (fresh reading and status)",
  associate: "associate mac=AA:BB:CC:DD:EE:FF vehicle_id=my_vehicle [request_id=...]   assign a monitor to a vehicle",
};

let requests = 0;
/** Devices whose buses emulate() made, so create() gives them the simulated fleet's associations. */
const emulated = new WeakSet<Device>();

function topicsFor(config: Readonly<Record<string, string>>): HawkTopics {
  const o = readOptions(OPTIONS, config);
  return new HawkTopics(o.prefix, o.root);
}

function deviceId(index: number): string {
  return `hawk-gw-${String(index + 1).padStart(3, "0")}`;
}

export const definition: ProductDefinition<MonitorRadio> = {
  name: "battery-hawk",
  defaults: optionDefaults(OPTIONS),

  /** The gateway's id (its MQTT client id); monitors are addressed by MAC. */
  deviceId,

  board: BOARD,
  hardware: batteryHawkHardware,
  emulate(device: Device) {
    emulated.add(device);
    const e = emulatedFleet(device);
    return { buses: e.buses, faults: fleetFaults(e) };
  },

  create(device: Device, hardware: MonitorRadio) {
    // On the emulated fleet its associations apply unless the host configures some (hosts
    // pass the empty default); on a board there are none until configured or commanded.
    const associations = device.config.associations || (emulated.has(device) ? simulatedAssociations(device.deviceId) : "");
    return createBatteryHawk(device, hardware, { ...device.config, associations });
  },

  topicFilter(_deviceId: string, config: Readonly<Record<string, string>>): string {
    return topicsFor(config).all;
  },

  commands: COMMANDS,

  // The first simulated gateway's family-car starter battery monitor (simulation.ts).
  example: { command: "read_data", params: { mac: simulatedMac(deviceId(0), 1) } },

  command(gatewayId: string, config: Readonly<Record<string, string>>, name: string, params: JsonObject): CommandRequest {
    const usage = COMMANDS[name];
    if (!usage) throw new RangeError(`unknown command "${name}"; commands:\n  ${Object.values(COMMANDS).join("\n  ")}`);
    if (!isGatewayId(gatewayId)) throw new RangeError(`gateway id must be 1-64 of A-Z a-z 0-9 . _ : -, such as ${deviceId(0)}: "${gatewayId}"`);
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
