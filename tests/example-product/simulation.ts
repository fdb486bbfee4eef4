// The thermostat's buses, emulated: a room that warms while the heater relay is closed and
// cools towards 12 °C otherwise, read by the TMP36 on an emulated ADC channel.

import type { Device } from "../../modules/device/device.js";
import type { Buses } from "../../modules/drivers/io.js";
import { EmulatedAnalog } from "../../modules/emulators/analog.js";
import { EmulatedPin } from "../../modules/emulators/digital.js";

export function emulatedRoom(device: Device): Buses {
  const heater = new EmulatedPin();
  let celsius = 16;
  let at = device.now();
  const sensor = new EmulatedAnalog({
    volts: () => {
      const now = device.now();
      const hours = (now - at) / 3_600_000;
      at = now;
      celsius += hours * (heater.level ? 3 : (12 - celsius) * 0.5);
      return 0.5 + celsius / 100;
    },
  });
  return { sensor: { io: sensor.io, pin: 34 }, heater: { io: heater.io, pin: 23, mode: "output" } };
}
