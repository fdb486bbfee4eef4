// DESE on emulated buses: the firmware part and the emulated probes, pumps and water
// (simulation.ts). What the lin image, `npm start`, the tests and the XS tier run.

import type { EmulatedProduct } from "../../device/product.js";
import { firmware } from "./firmware.js";
import { EmulatedWater, waterFaults } from "./simulation.js";

export const emulated: EmulatedProduct = {
  ...firmware,
  emulate: (device) => {
    const e = new EmulatedWater(device);
    return { buses: e.buses, faults: waterFaults(e) };
  },
};
