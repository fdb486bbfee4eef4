// Battery Hawk on emulated buses: the firmware part and the emulated BLE radio with its fleet
// of BM2/BM6 monitors (simulation.ts). What the lin image, `npm start`, the tests and the XS
// tier run.

import type { Device } from "../../device/device.js";
import type { EmulatedProduct } from "../../device/product.js";
import type { MonitorRadio } from "./hardware.js";
import { firmware } from "./firmware.js";
import { createBatteryHawk } from "./product.js";
import { emulatedFleet, fleetFaults, simulatedAssociations } from "./simulation.js";

/** Devices whose buses emulate() made, so create() gives them the simulated fleet's associations. */
const emulatedDevices = new WeakSet<Device>();

export const emulated: EmulatedProduct<MonitorRadio> = {
  ...firmware,
  emulate(device: Device) {
    emulatedDevices.add(device);
    const e = emulatedFleet(device);
    return { buses: e.buses, faults: fleetFaults(e) };
  },
  create(device: Device, hardware: MonitorRadio) {
    // On the emulated fleet its associations apply unless the host configures some (hosts
    // pass the empty default); on other buses there are none until configured or commanded.
    const associations = device.config.associations || (emulatedDevices.has(device) ? simulatedAssociations(device.deviceId) : "");
    return createBatteryHawk(device, hardware, { ...device.config, associations });
  },
};
