// A TimerLike (Moddable's Timer.set/Timer.clear) whose clock is the host's: set() asks
// the host to send a "timer" event after `ms`, real or virtual.

import type { TimerLike } from "../../modules/mqtt/io.js";
import { call, on } from "./bridge.js";

const callbacks = new Map<number, () => void>();
let nextId = 1;

on("timer", (event) => {
  const callback = callbacks.get(event.id);
  if (!callback) return; // cleared after the host had queued it
  callbacks.delete(event.id);
  callback();
});

export const xsTimer: TimerLike = {
  set(callback: () => void, delayMs: number): number {
    const id = nextId++;
    callbacks.set(id, callback);
    call({ op: "timer", id, ms: Math.max(0, delayMs) });
    return id;
  },
  clear(handle: unknown): void {
    const id = handle as number;
    if (!callbacks.delete(id)) return;
    call({ op: "clear", id });
  },
};

/** Resolves after `ms` of the host's clock. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => { xsTimer.set(resolve, ms); });
}
