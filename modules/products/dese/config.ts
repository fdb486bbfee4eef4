// The config message on the shared dispatcher: JSON parse, the address check (device_id and an
// optional organization_id), config.schema.json, then one atomic settings update. Config has
// no name field and no answer topic: the product dispatches it as "config" and turns the
// outcome into a log line and an alert.

import { CommandDispatcher } from "../../device/commands.js";
import type { JsonObject } from "../../device/commands.js";
import { schemaValidator } from "../../device/schema.js";
import type { Settings } from "../../device/settings.js";
import { addressError } from "./commands.js";
import { patchFor } from "./settings.js";
import type { ConfigMessage, DeseSettings } from "./settings.js";
import { config as configSchema } from "./validators.js";

export const CONFIG = "config";

/** A dispatcher whose one command, CONFIG, applies a config message; its result names the keys changed. */
export function createConfigDispatcher(org: string, deviceId: string, settings: Settings<DeseSettings>): CommandDispatcher {
  return new CommandDispatcher({
    idField: "device_id",
    nameField: "config",
    validateEnvelope: (value) => addressError(value as JsonObject, org, deviceId),
  }).register(CONFIG, {
    validate: schemaValidator(configSchema),
    run: (request) => {
      const result = settings.update(patchFor((request as unknown as ConfigMessage).config, settings.value));
      if (!result.ok) throw new Error(result.error);
      return { changed: result.changed as string[] };
    },
  });
}
