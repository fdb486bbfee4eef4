// The specification's reconnection strategy as pure functions of persisted state, so it
// survives deep sleep and is testable on any clock:
//
// - While attempt_count < max_attempts, connecting is allowed; within one wake the node makes
//   these attempts back to back, without delay, until one succeeds or
//   attempt_count reaches max_attempts.
// - From then on each further attempt waits
//   min(min_interval * backoff_factor ^ (attempt_count - max_attempts), max_interval)
//   seconds after the last attempt. Wakes before that skip the broker
//   entirely; a wake after it makes one attempt, which on failure raises
//   attempt_count and so the next wait.
// - Success resets attempt_count to 0.
// - If the clock reads earlier than the last attempt (RTC lost), the wait counts as over.
// - With reconnect.enabled false every wake makes one attempt and the state is left alone.
//
// Where it persists: in retained (RTC) memory, written after every attempt at no cost, and in
// flash (settings), written only when the state changes in a way that matters: while the
// count is 0 the time of the last attempt does not, so a node that connects every wake never
// writes flash for it. After a power loss the retained memory is gone and flash has the state.

import type { ReconnectConfig } from "./settings.js";

/** Where the state persists, apart from the configuration so saving it never rewrites that. */
export const RECONNECT_KEY = "esprc";

/** Its record in retained memory: [attempt_count, last_attempt_time] at this word. */
export const RETAINED_AT = 0;
export const RETAINED_COUNT = 2;

/** What persists across deep sleep. Times in whole seconds since the epoch, as the specification's. */
export interface ReconnectState {
  attempt_count: number;
  last_attempt_time: number;
}

export const INITIAL_RECONNECT_STATE: ReconnectState = { attempt_count: 0, last_attempt_time: 0 };

/** attempt_count stops growing here: the wait is long capped by then, and the number stays small. */
const MAX_COUNT_ABOVE_LIMIT = 64;

/** Seconds to wait after the last attempt before the next one; 0 while attempts are free. */
export function backoffInterval(p: ReconnectConfig, attemptCount: number): number {
  if (attemptCount < p.max_attempts) return 0;
  const wait = p.min_interval * Math.pow(p.backoff_factor, attemptCount - p.max_attempts);
  return Math.min(Number.isFinite(wait) ? wait : p.max_interval, p.max_interval);
}

export interface Decision {
  attempt: boolean;
  /** Seconds until an attempt is allowed (0 when it is). */
  waitS: number;
}

export function decide(p: ReconnectConfig, s: ReconnectState, nowS: number): Decision {
  if (!p.enabled) return { attempt: true, waitS: 0 };
  const interval = backoffInterval(p, s.attempt_count);
  const since = nowS - s.last_attempt_time;
  if (interval === 0 || since < 0 || since >= interval) return { attempt: true, waitS: 0 };
  return { attempt: false, waitS: interval - since };
}

export function afterAttempt(p: ReconnectConfig, s: ReconnectState, success: boolean, nowS: number): ReconnectState {
  if (!p.enabled) return s;
  if (success) return { attempt_count: 0, last_attempt_time: nowS };
  return { attempt_count: Math.min(s.attempt_count + 1, p.max_attempts + MAX_COUNT_ABOVE_LIMIT), last_attempt_time: nowS };
}

/** True when another attempt may follow at once in the same wake. */
export function retryNow(p: ReconnectConfig, s: ReconnectState): boolean {
  return p.enabled && s.attempt_count < p.max_attempts;
}

/** False when flash already holds a state that behaves the same. */
export function worthSaving(stored: ReconnectState, state: ReconnectState): boolean {
  return stored.attempt_count !== state.attempt_count || (state.attempt_count > 0 && stored.last_attempt_time !== state.last_attempt_time);
}

export function toRetained(s: ReconnectState): number[] {
  return [s.attempt_count, s.last_attempt_time];
}

/** The retained record as a state; undefined when there is none. */
export function fromRetained(words: number[] | undefined): ReconnectState | undefined {
  return words && loadReconnectState({ attempt_count: words[0], last_attempt_time: words[1] });
}

/** A stored state that is not well-formed reads as the initial one. */
export function loadReconnectState(stored: unknown): ReconnectState {
  const s = stored as Partial<ReconnectState> | undefined;
  return s && Number.isInteger(s.attempt_count) && (s.attempt_count as number) >= 0 && Number.isFinite(s.last_attempt_time)
    ? { attempt_count: s.attempt_count as number, last_attempt_time: s.last_attempt_time as number }
    : { ...INITIAL_RECONNECT_STATE };
}
