// Moddable's Timer is already the TimerLike shape the client expects.

import Timer from "timer";
import type { TimerLike } from "../../modules/mqtt/io.js";

export const moddableTimer: TimerLike = {
  set(callback: () => void, delayMs: number): unknown {
    return Timer.set(callback, delayMs);
  },
  clear(handle: unknown): void {
    Timer.clear(handle as ReturnType<typeof Timer.set>);
  },
};
