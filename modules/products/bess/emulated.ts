// The BESS controller on emulated buses: the firmware part and the emulated BMS, converter
// and pack (simulation.ts). What the lin image, `npm start`, the tests and the XS tier run.

import type { EmulatedProduct } from "../../device/product.js";
import type { BessHardware } from "./hardware.js";
import { firmware } from "./firmware.js";
import { bessFaults, emulateBess } from "./simulation.js";

export const emulated: EmulatedProduct<BessHardware> = {
  ...firmware,
  emulate: (device) => {
    const e = emulateBess(device);
    return { buses: e.buses, faults: bessFaults(e) };
  },
};
