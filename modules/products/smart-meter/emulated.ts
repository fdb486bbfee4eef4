// The smart meter on emulated buses: the firmware part and the emulated PZEM-004T, relay and
// household (simulation.ts). What the lin image, `npm start`, the tests and the XS tier run.

import type { EmulatedProduct } from "../../device/product.js";
import type { MeterHardware } from "./hardware.js";
import { firmware } from "./firmware.js";
import { emulatedMeter, meterFaults } from "./simulation.js";

export const emulated: EmulatedProduct<MeterHardware> = {
  ...firmware,
  emulate: (device) => {
    const e = emulatedMeter(device);
    return { buses: e.buses, faults: meterFaults(e) };
  },
};
