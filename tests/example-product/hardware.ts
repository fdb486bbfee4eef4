// What the thermostat drives: a temperature sensor and a heater relay.

export interface ThermostatHardware {
  /** °C, or throws when the sensor does not answer. */
  temperature(): number;
  heat(on: boolean): void;
}
