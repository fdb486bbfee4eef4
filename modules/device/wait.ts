// A wait with an upper bound on the host's timer: goodbyes, flushes and shutdowns must end
// even when the broker or the link never answers.

import type { TimerLike } from "../mqtt/io.js";

/** Resolves true when `work` settles (fulfilled or rejected) within `ms`, false when the time ran out. */
export function within(timer: TimerLike, work: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const handle = timer.set(() => resolve(false), ms);
    const done = (): void => {
      timer.clear(handle);
      resolve(true);
    };
    work.then(done, done);
  });
}
