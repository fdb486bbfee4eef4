// What the thermostat drives: a TMP36 temperature sensor on an ADC pin (0.5 V at 0 °C, 10 mV
// per °C) and a heater relay on a GPIO. The drivers take their buses, real or emulated.

import type { Analog419, Buses, BoardSpec, Digital419, IoProvider } from "../../modules/drivers/io.js";

export interface ThermostatHardware {
  /** °C, or throws when the sensor does not answer. */
  temperature(): number;
  heat(on: boolean): void;
}

export const BOARD: BoardSpec = {
  sensor: { kind: "analog", options: { pin: 34 }, doc: "TMP36 output" },
  heater: { kind: "digital", options: { pin: 23, mode: "output" }, doc: "heater relay coil driver" },
};

export function thermostatHardware(buses: Buses): ThermostatHardware {
  const open = <T>(p: IoProvider): T => new p.io({ ...p }) as T;
  const sensor = open<Analog419>(buses.sensor);
  const heater = open<Digital419>(buses.heater);
  return {
    temperature: () => {
      const volts = (sensor.read() / ((1 << sensor.resolution) - 1)) * 3.3;
      return Math.round((volts - 0.5) * 1000) / 10;
    },
    heat: (on) => heater.write(on ? 1 : 0),
  };
}
