// What the sensor node drives: a temperature/humidity sensor (a DHT22 on the board) and the
// power control that puts it into deep sleep between wake cycles.

import type { Sleeper } from "../../device/hardware.js";

/** One measurement in degrees Celsius and percent relative humidity. */
export interface ClimateReading {
  celsius: number;
  humidity: number;
}

export interface ClimateSensor {
  /** Measures once; throws when the sensor does not answer (a DHT22 misses now and then). */
  read(): ClimateReading;
}

/** A Sleeper whose pending wake can be cancelled: the simulator's; deep sleep cannot be undone. */
export interface CancellableSleeper extends Sleeper {
  cancel?(): void;
}

export interface EspSensorsHardware {
  sensor: ClimateSensor;
  sleeper: CancellableSleeper;
}
