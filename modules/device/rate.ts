// One token bucket for every rate limit a device applies (log lines, alerts): `capacity`
// events back to back, then one more per `refillMs`. A clock that goes back (time set)
// restarts the refill period instead of granting or withholding tokens.

export class TokenBucket {
  readonly capacity: number;
  readonly refillMs: number;
  #tokens: number;
  #refilledAt: number;

  constructor(capacity: number, refillMs: number, now: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.refillMs = Math.max(1, refillMs);
    this.#tokens = this.capacity;
    this.#refilledAt = now;
  }

  /** Takes a token if one is available at `now`. */
  take(now: number): boolean {
    const elapsed = now - this.#refilledAt;
    if (elapsed >= this.refillMs) {
      const earned = Math.floor(elapsed / this.refillMs);
      this.#tokens = Math.min(this.capacity, this.#tokens + earned);
      this.#refilledAt = this.#tokens === this.capacity ? now : this.#refilledAt + earned * this.refillMs;
    } else if (elapsed < 0) {
      this.#refilledAt = now;
    }
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }
}
