// The DESE water-quality controller as its firmware image holds it: the product, its board and
// the drivers on it. Nothing here is for the companion or the simulator (emulated.ts, index.ts).

import { optionDefaults } from "../../device/options.js";
import type { ProductFirmware } from "../../device/product.js";
import { OPTIONS } from "./options.js";
import { BOARD, deseHardware } from "./hardware.js";
import { createDese } from "./product.js";

export const firmware: ProductFirmware = {
  name: "dese",
  defaults: optionDefaults(OPTIONS),
  deviceId: (index) => `esp32-${String(index + 1).padStart(3, "0")}`,
  board: BOARD,
  hardware: deseHardware,
  create: createDese,
};
