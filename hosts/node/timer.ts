// Moddable's Timer shape over setTimeout. The timers stay ref'd on purpose: a client with a
// pending keepalive or reconnect should keep the process alive, as it keeps a device busy.

import type { TimerLike } from "../../modules/mqtt/io.js";

export const nodeTimer: TimerLike = {
  set(callback: () => void, delayMs: number): unknown {
    return setTimeout(callback, delayMs);
  },
  clear(handle: unknown): void {
    if (handle !== undefined && handle !== null) clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};
