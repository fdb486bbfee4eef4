// Battery Hawk as its firmware image holds it: the gateway, its board (the on-chip BLE radio)
// and the BM2/BM6 driver on it. Nothing here is for the companion or the simulator
// (emulated.ts, index.ts).

import type { Device } from "../../device/device.js";
import { optionDefaults } from "../../device/options.js";
import type { ProductFirmware } from "../../device/product.js";
import { OPTIONS } from "./options.js";
import { createBatteryHawk } from "./product.js";
import { BOARD, batteryHawkHardware } from "./hardware.js";
import type { MonitorRadio } from "./hardware.js";

export const firmware: ProductFirmware<MonitorRadio> = {
  name: "battery-hawk",
  defaults: optionDefaults(OPTIONS),

  /** The gateway's id (its MQTT client id); monitors are addressed by MAC. */
  deviceId: (index) => `hawk-gw-${String(index + 1).padStart(3, "0")}`,

  board: BOARD,
  hardware: batteryHawkHardware,

  // On a board there are no associations until configured or commanded.
  create: (device: Device, hardware: MonitorRadio) => createBatteryHawk(device, hardware, device.config),
};
