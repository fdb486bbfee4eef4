// The six commands on the device layer's dispatcher. Each request is validated by its
// generated schema validator (picked by "command", as index.json's match says) plus the checks
// a schema cannot make (the pump is fitted, the reference value is in the sensor's range); a
// command addressed to another organisation or device is refused before anything runs.
// A command_id seen recently is not run twice (QoS 1 redelivery, a backend retry after its
// 30 s timeout): the first result is answered again, marked duplicate.

import { CommandDispatcher } from "../../device/commands.js";
import type { JsonObject, Validator } from "../../device/commands.js";
import { schemaValidator } from "../../device/schema.js";
import type { Settings } from "../../device/settings.js";
import type { DeseHardware } from "./hardware.js";
import { PUMPS } from "./hardware.js";
import type { PumpControl } from "./pumps.js";
import { dosingBlocked } from "./pumps.js";
import type { Readings, SensorName } from "./sensors.js";
import type { DeseSettings } from "./settings.js";
import { DEFAULT_SETTINGS, calibrationTargetError } from "./settings.js";
import {
  commandCalibrateSensor, commandReboot, commandResetConfig, commandSetChlorineTarget, commandSetPhTarget, commandSetPump,
} from "./validators.js";

/** command_id as command_response.schema.json accepts it. */
export const COMMAND_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Why a command or config message is not for this device: its `device_id`, or its optional
 * `organization_id`, names another one. Undefined when it is addressed here (or names neither:
 * the schemas require device_id, and the topic already carries the organisation).
 */
export function addressError(message: JsonObject, org: string, deviceId: string): string | undefined {
  const { device_id: device, organization_id: organization } = message;
  if (typeof organization === "string" && organization !== org) {
    return `organization_id: "${organization}" is not this device's organisation (${org})`;
  }
  if (typeof device === "string" && device !== deviceId) return `device_id: "${device}" is not this device (${deviceId})`;
  return undefined;
}

export interface CommandContext {
  org: string;
  deviceId: string;
  hardware: DeseHardware;
  pumps: PumpControl;
  settings: Settings<DeseSettings>;
  /** A fresh, calibrated reading of every sensor. */
  read(): Readings;
  /** Calibrates a sensor against a reference value (maintenance status meanwhile). */
  calibrate(sensor: SensorName, value: number): Promise<JsonObject>;
  /** Restarts the device once the reboot's response is out. */
  requestReboot(): void;
  /** Waits for the pump's feedback to settle, records any fault, and says where the feedback is stuck (undefined: it followed). */
  verifyPump(id: number): Promise<"on" | "off" | undefined>;
}

/** The last few command ids and their results, oldest dropped first. */
export class RecentCommands {
  readonly limit: number;
  readonly #results = new Map<string, JsonObject>();

  constructor(limit = 16) {
    this.limit = limit;
  }

  get(id: string): JsonObject | undefined {
    return this.#results.get(id);
  }

  remember(id: string, result: JsonObject): void {
    this.#results.delete(id);
    this.#results.set(id, result);
    while (this.#results.size > this.limit) this.#results.delete(this.#results.keys().next().value as string);
  }

  clear(): void {
    this.#results.clear();
  }
}

function both(...validators: Validator[]): Validator {
  return (value) => {
    for (const v of validators) {
      const error = v(value);
      if (error) return error;
    }
    return undefined;
  };
}

function params(request: JsonObject): JsonObject {
  return (request.parameters ?? {}) as JsonObject;
}

export function createDispatcher(ctx: CommandContext, recent: RecentCommands): CommandDispatcher {
  const dispatcher = new CommandDispatcher({
    idField: "command_id",
    nameField: "command",
    validateEnvelope: (value) => {
      const r = value as JsonObject;
      if (typeof r.command_id !== "string" || !COMMAND_ID.test(r.command_id)) {
        return "command_id: must be a string of 1 to 64 letters, digits or . _ : -";
      }
      return addressError(r, ctx.org, ctx.deviceId);
    },
  });

  // Runs a command once per command_id; a repeat answers the first result.
  const once = (run: (request: JsonObject) => JsonObject | Promise<JsonObject>) => async (request: JsonObject) => {
    const id = request.command_id as string;
    const earlier = recent.get(id);
    if (earlier) return { ...earlier, duplicate: true };
    const result = await run(request);
    recent.remember(id, result);
    return result;
  };

  const pumpFitted: Validator = (value) => {
    const p = params(value as JsonObject);
    if (!ctx.hardware.pumps.includes(p.pump_id as number)) {
      return `parameters.pump_id: no pump ${String(p.pump_id)} (fitted: ${ctx.hardware.pumps.join(", ")})`;
    }
    if (p.state === "off" && p.duration !== undefined) return "parameters.duration: only applies to state \"on\"";
    return undefined;
  };
  const referenceInRange: Validator = (value) => {
    const p = params(value as JsonObject);
    return calibrationTargetError(p.sensor_type as SensorName, p.value as number);
  };

  dispatcher.register("set_pump", {
    validate: both(schemaValidator(commandSetPump), pumpFitted),
    run: once(async (request) => {
      const p = params(request);
      const id = p.pump_id as number;
      const on = p.state === "on";
      const duration = p.duration as number | undefined;
      if (on && id !== PUMPS.circulation) {
        const s = ctx.settings.value;
        const blocked = dosingBlocked(id, ctx.read(), { ph: s.ph_target, chlorine: s.chlorine_target });
        if (blocked) throw new Error(`pump ${id} not started: ${blocked}`);
      }
      ctx.pumps.set(id, on, duration);
      const stuck = await ctx.verifyPump(id);
      if (stuck !== undefined) {
        // A pump that cannot be seen running is not left commanded on.
        if (on) ctx.pumps.set(id, false);
        throw new Error(`pump ${id} did not switch ${on ? "on" : "off"}: its feedback says ${stuck}`);
      }
      const result: JsonObject = { pump_id: id, pump_state: on ? "on" : "off" };
      if (on && duration !== undefined) result.pump_duration = duration;
      return result;
    }),
  });

  dispatcher.register("set_ph_target", {
    validate: schemaValidator(commandSetPhTarget),
    run: once((request) => {
      const target = params(request).target_ph as number;
      const r = ctx.settings.update({ ph_target: target });
      if (!r.ok) throw new Error(r.error);
      return { target_ph: target };
    }),
  });

  dispatcher.register("set_chlorine_target", {
    validate: schemaValidator(commandSetChlorineTarget),
    run: once((request) => {
      const target = params(request).target_chlorine as number;
      const r = ctx.settings.update({ chlorine_target: target });
      if (!r.ok) throw new Error(r.error);
      return { target_chlorine: target };
    }),
  });

  dispatcher.register("reboot", {
    validate: schemaValidator(commandReboot),
    run: once(() => {
      ctx.requestReboot();
      return { rebooting: true };
    }),
  });

  dispatcher.register("reset_config", {
    validate: schemaValidator(commandResetConfig),
    run: once(() => {
      ctx.settings.reset();
      return { config: { ...DEFAULT_SETTINGS } as unknown as JsonObject };
    }),
  });

  dispatcher.register("calibrate_sensor", {
    validate: both(schemaValidator(commandCalibrateSensor), referenceInRange),
    run: once((request) => {
      const p = params(request);
      return ctx.calibrate(p.sensor_type as SensorName, p.value as number);
    }),
  });

  return dispatcher;
}
