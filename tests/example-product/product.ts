// The thermostat: heats to its set point, reports every `interval` seconds, keeps a retained
// status (offline by will), and takes `set_point` commands. Everything MQTT goes through the
// Device: the product never sees a client.

import { CommandDispatcher } from "../../modules/device/commands.js";
import type { JsonObject } from "../../modules/device/commands.js";
import type { Device } from "../../modules/device/device.js";
import { readOptions } from "../../modules/device/options.js";
import type { Product } from "../../modules/device/product.js";
import { Periodic } from "../../modules/device/scheduler.js";
import { schemaValidator } from "../../modules/device/schema.js";
import type { ThermostatHardware } from "./hardware.js";
import { OPTIONS } from "./options.js";
import { topicsFor } from "./topics.js";
import { command } from "./validators.js";

export function createThermostat(device: Device, hardware: ThermostatHardware): Product {
  const options = readOptions(OPTIONS, device.config);
  const topics = topicsFor(device.deviceId);
  let setPoint = options.set_point;
  let heating = false;

  const control = (): void => {
    heating = hardware.temperature() < setPoint;
    hardware.heat(heating);
  };
  const report = new Periodic(device.timer, options.interval * 1000, () => {
    control();
    void device.publish({ ...topics.telemetry, payload: { temperature: hardware.temperature(), heating, timestamp: device.now() } });
  });

  const dispatcher = new CommandDispatcher({ idField: "id", nameField: "command" }).register("set_point", {
    validate: schemaValidator(command),
    run: (request) => {
      setPoint = request.celsius as number;
      control();
      return { set_point: setPoint };
    },
  });
  device.route({
    ...topics.command,
    dispatcher,
    respond: (o) => {
      const payload: JsonObject = o.ok ? { id: o.id, ok: true, set_point: setPoint } : { id: o.id, ok: false, error: `${o.error?.code}: ${o.error?.message}` };
      return { ...topics.response, payload };
    },
  });

  return {
    start() {
      control();
      device.connect({
        clientId: `thermostat-${device.deviceId}`,
        clean: true,
        keepalive: 60,
        status: { ...topics.status, online: () => ({ state: "online", set_point: setPoint }), offline: () => ({ state: "offline" }) },
      });
      report.start();
    },
    async stop() {
      report.stop();
      hardware.heat(false);
      await device.disconnect(() => device.publish({ ...topics.status, payload: { state: "offline" } }));
    },
  };
}
