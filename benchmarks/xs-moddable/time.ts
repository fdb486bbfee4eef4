// Moddable's "time" module (Time.ticks, Time.delta) for Moddable's MQTT client under xsnap:
// ticks are the host's clock (real or virtual milliseconds). Bundled at bench time.

import { now } from "../../hosts/xsnap/bridge.js";

let clock: () => number = now;

/** Swaps the clock underneath (the profile's in-crank fake clock). */
export function useClock(f: () => number): void {
  clock = f;
}

const Time = {
  get ticks(): number {
    return clock();
  },
  delta(start: number, end: number): number {
    return end - start;
  },
};

export default Time;
