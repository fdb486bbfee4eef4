// The simulator's hardware (lin): a relay that remembers its state and a "deep sleep"
// that waits on a timer and calls wake. hosts/moddable/esp32/hardware.ts replaces this
// module on the board (see manifest.json).

import Timer from "timer";
import { SimulatedRelay } from "../../modules/device/hardware.js";
import type { Relay, Sleeper } from "../../modules/device/hardware.js";

export function makeRelay(_pin: number): Relay {
  return new SimulatedRelay();
}

export const sleeper: Sleeper = {
  sleep(ms: number, wake: () => void): void {
    Timer.set(wake, ms);
  },
};
