// The prepaid smart meter as its firmware image holds it: the product, its board and the
// drivers on it. Nothing here is for the companion or the simulator (emulated.ts, index.ts).

import { optionDefaults } from "../../device/options.js";
import type { ProductFirmware } from "../../device/product.js";
import { OPTIONS } from "./options.js";
import { BOARD, meterHardware } from "./hardware.js";
import type { MeterHardware } from "./hardware.js";
import { createSmartMeter } from "./product.js";

export const firmware: ProductFirmware<MeterHardware> = {
  name: "smart-meter",
  defaults: optionDefaults(OPTIONS),
  deviceId: (index) => `METER${String(index + 1).padStart(3, "0")}`,
  board: BOARD,
  hardware: meterHardware,
  create: createSmartMeter,
};
