// The thermostat as hosts and the companion see it.

import type { CommandRequest, ProductDefinition } from "../../modules/device/product.js";
import { optionDefaults } from "../../modules/device/options.js";
import { OPTIONS } from "./options.js";
import { createThermostat } from "./product.js";
import { BOARD, thermostatHardware } from "./hardware.js";
import { emulatedRoom } from "./simulation.js";
import { topicsFor } from "./topics.js";

export const definition: ProductDefinition = {
  name: "thermostat",
  defaults: optionDefaults(OPTIONS),
  deviceId: (index) => `t${String(index + 1).padStart(3, "0")}`,
  board: BOARD,
  hardware: (buses) => thermostatHardware(buses),
  emulate: (device) => ({ buses: emulatedRoom(device) }),
  create: createThermostat,
  topicFilter: (deviceId) => `thermostat/${deviceId}/#`,
  commands: { set_point: "set_point celsius=<5 to 30>" },
  example: { command: "set_point", params: { celsius: 21 } },
  command(deviceId, _config, name, params): CommandRequest {
    if (name !== "set_point") throw new RangeError(`unknown command "${name}"; commands: set_point`);
    const topics = topicsFor(deviceId);
    const id = `cmd-${Date.now()}`;
    return {
      ...topics.command, payload: { id, command: name, ...params }, responseTopic: topics.response.topic,
      isResponse: (p) => typeof p === "object" && p !== null && !Array.isArray(p) && p.id === id,
    };
  },
};
