// Pump control: set_pump's optional duration becomes one auto-off timer per pump (host.timer),
// and a dosing interlock stops a dosing pump once the reading reaches its set-point, so
// "pump on" moves the water towards the target and never past it.

import type { TimerLike } from "../../mqtt/io.js";
import type { DeseHardware } from "./hardware.js";
import { PUMPS } from "./hardware.js";
import type { Readings } from "./sensors.js";

export interface SetPoints {
  ph: number;
  chlorine: number;
}

/** Why a dosing pump must not run at these readings and set-points, or undefined when it may. */
export function dosingBlocked(pump: number, readings: Readings, targets: SetPoints): string | undefined {
  const { ph, chlorine } = readings;
  if (pump === PUMPS.acid && ph !== undefined && ph <= targets.ph) return `pH ${ph} is at or below the target ${targets.ph}`;
  if (pump === PUMPS.base && ph !== undefined && ph >= targets.ph) return `pH ${ph} is at or above the target ${targets.ph}`;
  if (pump === PUMPS.chlorine && chlorine !== undefined && chlorine >= targets.chlorine) {
    return `chlorine ${chlorine} ppm is at or above the target ${targets.chlorine} ppm`;
  }
  return undefined;
}

export class PumpControl {
  readonly #hardware: DeseHardware;
  readonly #timer: TimerLike;
  readonly #log: (line: string) => void;
  /** At most one auto-off timer per pump. */
  readonly #offTimers = new Map<number, unknown>();

  constructor(hardware: DeseHardware, timer: TimerLike, log: (line: string) => void) {
    this.#hardware = hardware;
    this.#timer = timer;
    this.#log = log;
  }

  /** Switches a pump; with a duration (s) an "on" turns itself off again. A new command replaces the old timer. */
  set(id: number, on: boolean, durationS?: number): void {
    this.#cancel(id);
    this.#hardware.setPump(id, on);
    if (on && durationS !== undefined) {
      this.#offTimers.set(id, this.#timer.set(() => {
        this.#offTimers.delete(id);
        this.#hardware.setPump(id, false);
        this.#log(`pump ${id} off after ${durationS} s`);
      }, durationS * 1000));
    }
  }

  /** Stops dosing pumps whose set-point is reached; returns the ids stopped. */
  interlock(readings: Readings, targets: SetPoints): number[] {
    const stopped: number[] = [];
    for (const id of [PUMPS.acid, PUMPS.base, PUMPS.chlorine]) {
      if (!this.#hardware.pumps.includes(id) || !this.#hardware.pumpOn(id)) continue;
      const why = dosingBlocked(id, readings, targets);
      if (why) {
        this.set(id, false);
        this.#log(`pump ${id} stopped: ${why}`);
        stopped.push(id);
      }
    }
    return stopped;
  }

  /** Every pump off and every timer cleared (boot, stop). */
  allOff(): void {
    for (const id of this.#hardware.pumps) {
      this.#cancel(id);
      if (this.#hardware.pumpOn(id)) this.#hardware.setPump(id, false);
    }
  }

  #cancel(id: number): void {
    const t = this.#offTimers.get(id);
    if (t !== undefined) this.#timer.clear(t);
    this.#offTimers.delete(id);
  }
}
