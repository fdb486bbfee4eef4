// Moddable's "timer" module (Timer.set/repeat/clear) for Moddable's MQTT client under
// xsnap, on hosts/xsnap's host-driven timer (real or virtual clock). Bundled at bench time.

import { xsTimer } from "../../hosts/xsnap/timer.js";
import type { TimerLike } from "../../modules/mqtt/io.js";

let backend: TimerLike = xsTimer;

/** Swaps the timer underneath (the profile's in-crank fake timer). */
export function useTimer(timer: TimerLike): void {
  backend = timer;
}

/** A repeating timer: an object, as Moddable's is (its MQTT client keeps state on it). */
interface Repeat {
  id: unknown;
  [key: string]: unknown;
}

const Timer = {
  set(callback: (timer?: unknown) => void, ms = 0): unknown {
    const id = backend.set(() => callback(id), ms);
    return id;
  },
  repeat(callback: (timer: Repeat) => void, interval: number): Repeat {
    const timer: Repeat = { id: undefined };
    const fire = (): void => {
      timer.id = backend.set(fire, interval);
      callback(timer);
    };
    timer.id = backend.set(fire, interval);
    return timer;
  },
  clear(timer: unknown): void {
    if (timer === undefined || timer === null) return;
    backend.clear(typeof timer === "object" ? (timer as Repeat).id : timer);
  },
};

export default Timer;
