// The BESS controller as its firmware image holds it: the product, its board and the drivers
// on it. Nothing here is for the companion or the simulator (emulated.ts, index.ts).

import type { ProductFirmware } from "../../device/product.js";
import { optionDefaults } from "../../device/options.js";
import { createBess } from "./product.js";
import { BOARD, bessHardware } from "./hardware.js";
import type { BessHardware } from "./hardware.js";
import { OPTIONS } from "./options.js";

export const firmware: ProductFirmware<BessHardware> = {
  name: "bess",
  defaults: optionDefaults(OPTIONS),
  deviceId: (index) => `bess_controller_${String(index + 1).padStart(3, "0")}`,
  board: BOARD,
  hardware: bessHardware,
  create: createBess,
};
