// Reconnect delays: exponential backoff with full jitter, as a pure function of the
// attempt number and an injected random source (XS's Math.random is unseeded on some
// targets, and tests need determinism).

export interface BackoffOptions {
  /** Ceiling of the first delay. Default 1 s. */
  initialMs?: number;
  /** Largest ceiling. Default 60 s. */
  maxMs?: number;
  /** Growth of the ceiling per attempt. Default 2. */
  factor?: number;
  /** Attempts before giving up; 0 retries forever (default). */
  maxAttempts?: number;
}

export const BACKOFF_DEFAULTS: Required<BackoffOptions> = { initialMs: 1000, maxMs: 60_000, factor: 2, maxAttempts: 0 };

/** The ceiling for attempt n (1-based): min(maxMs, initialMs * factor^(n-1)). */
export function backoffCeiling(attempt: number, options: BackoffOptions = {}): number {
  const o = { ...BACKOFF_DEFAULTS, ...options };
  const exp = o.initialMs * Math.pow(o.factor, Math.max(0, attempt - 1));
  return Math.min(o.maxMs, Number.isFinite(exp) ? exp : o.maxMs);
}

/** Full jitter: uniform in [0, ceiling). `random` returns values in [0, 1). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeiling(attempt, options));
}

/** Whether another attempt is allowed after `attempt` failures. */
export function shouldRetry(attempt: number, options: BackoffOptions = {}): boolean {
  const max = options.maxAttempts ?? BACKOFF_DEFAULTS.maxAttempts;
  return max === 0 || attempt < max;
}
