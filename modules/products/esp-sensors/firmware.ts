// The ESP Sensors node as its firmware image holds it: the product, its board (SHT31 on I2C,
// deep sleep with RTC memory) and the drivers on it. Nothing here is for the companion or the
// simulator (emulated.ts, index.ts).

import { optionDefaults } from "../../device/options.js";
import type { ProductFirmware } from "../../device/product.js";
import { OPTIONS } from "./options.js";
import { createEspSensors } from "./product.js";
import { BOARD, espSensorsHardware } from "./hardware.js";
import type { EspSensorsHardware } from "./hardware.js";

export const firmware: ProductFirmware<EspSensorsHardware> = {
  name: "esp-sensors",
  defaults: optionDefaults(OPTIONS),
  deviceId: (index) => `dht22-${String(index + 1).padStart(3, "0")}`,
  board: BOARD,
  hardware: espSensorsHardware,
  create: createEspSensors,
};
