// Work a device must do one job at a time (commands, configuration changes, firmware
// requests), in arrival order. Bounded: at most `limit` jobs wait; add() refuses beyond it
// and the caller answers "busy". A job that throws or rejects is reported and the queue goes
// on: one failure never skips the jobs behind it.

export class SerialQueue {
  readonly limit: number;
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;
  readonly #onError: (error: unknown) => void;

  constructor(limit: number, onError: (error: unknown) => void) {
    this.limit = Math.max(1, limit);
    this.#onError = onError;
  }

  /** Jobs queued or running. */
  get pending(): number {
    return this.#pending;
  }

  /** Queues a job; false (and nothing queued) when `limit` jobs are already waiting. */
  add(job: () => unknown): boolean {
    if (this.#pending >= this.limit) return false;
    this.#pending++;
    this.#tail = this.#tail
      .then(job)
      .catch((e) => {
        try {
          this.#onError(e);
        } catch {
          // a reporter must not break the chain
        }
      })
      .then(() => { this.#pending--; });
    return true;
  }

  /** Resolves when every job queued so far has finished. */
  idle(): Promise<void> {
    return this.#tail;
  }
}
