// What the sensor node drives, on which buses: a Sensirion SHT31 temperature/humidity sensor
// on I2C, and deep sleep with its retained (RTC) memory. The same drivers run on the board's
// buses and on the emulated ones (simulation.ts).

import type { Device } from "../../device/device.js";
import type { BoardSpec, Buses, I2C419, IoProvider } from "../../drivers/io.js";
import { Sht3x, SHT3X_ADDRESS } from "../../drivers/sht3x.js";
import { DeepSleep } from "../../drivers/sleep.js";
import type { DeepSleep419, Sleeper } from "../../drivers/sleep.js";

/** One measurement in degrees Celsius and percent relative humidity. */
export interface ClimateReading {
  celsius: number;
  humidity: number;
}

export interface ClimateSensor {
  /** Measures once; rejects when the sensor does not answer or its answer fails its CRC. */
  read(): Promise<ClimateReading>;
}

export interface EspSensorsHardware {
  sensor: ClimateSensor;
  /** Deep sleep between wakes, and the retained memory the reconnect state lives in. */
  sleeper: Sleeper;
}

export const BOARD: BoardSpec = {
  sensor: {
    kind: "i2c",
    options: { data: 21, clock: 22, hz: 100_000, address: SHT3X_ADDRESS },
    doc: "SHT31 breakout: SDA to GPIO 21, SCL to GPIO 22, VIN 3.3 V, ADDR low (0x44); the breakout's pull-ups",
  },
  sleep: { kind: "sleep", options: {}, doc: "deep sleep woken by the RTC timer; RTC memory keeps the reconnect state" },
};

export function espSensorsHardware(buses: Buses, device: Device): EspSensorsHardware {
  const sht = new Sht3x({ sensor: buses.sensor as IoProvider<I2C419>, timer: device.timer });
  return {
    sensor: {
      async read() {
        const s = await sht.sample();
        return { celsius: s.thermometer.temperature, humidity: s.hygrometer.humidity };
      },
    },
    sleeper: new DeepSleep({ sleep: buses.sleep as IoProvider<DeepSleep419> }),
  };
}
