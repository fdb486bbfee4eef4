// The ESP Sensors node on emulated buses: the firmware part and the emulated SHT31, room and
// deep sleep (simulation.ts). What the lin image, `npm start`, the tests and the XS tier run.

import type { EmulatedProduct } from "../../device/product.js";
import type { EspSensorsHardware } from "./hardware.js";
import { firmware } from "./firmware.js";
import { emulatedNode, nodeFaults } from "./simulation.js";

export const emulated: EmulatedProduct<EspSensorsHardware> = {
  ...firmware,
  emulate: (device) => {
    const e = emulatedNode(device);
    return { buses: e.buses, faults: nodeFaults(e) };
  },
};
