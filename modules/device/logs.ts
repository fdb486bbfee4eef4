// Structured logs shared by the products: a level, a component and a message, written to
// the host's local log always and published (through a product-supplied formatter) when
// the level is at or above the minimum and the link is up.
//
// Levels are ESP-IDF's esp_log_level_t: 0 none, 1 error, 2 warning, 3 info, 4 debug,
// 5 verbose. "At or above" means at least as important: minLevel 3 publishes 1, 2 and 3.
//
// Nothing is buffered: a line is published at once or not at all, so memory stays bounded.
// A token bucket (`burst` lines, refilled at one line per `refillMs`) limits the rate, so a
// log storm cannot flood the link. Policy when the bucket is empty: the line is dropped and
// counted; the next time a token is available (the next line, or a call to flush()) a
// warning "N log lines dropped" is published first, then normal lines resume.
// While the link is down lines are only written locally (the BESS seed publishes only
// `if (bess_mqtt_is_connected())`, line 277); they are not counted as dropped.

import type { Publication } from "./device.js";
import { TokenBucket } from "./rate.js";

export const LogLevel = { none: 0, error: 1, warning: 2, info: 3, debug: 4, verbose: 5 } as const;
export type Level = 1 | 2 | 3 | 4 | 5;

export interface LogEntry {
  level: Level;
  component: string;
  message: string;
  /** host.now() when logged, in ms. */
  at: number;
}

export interface LogsOptions {
  now(): number;
  /** The product's message for a line, or undefined to publish nothing. */
  format(entry: LogEntry): Publication | undefined;
  /** Sends a publication; failures are the publisher's to report (and must not log through here). */
  publish(p: Publication): unknown;
  /** Local sink (console, trace): every line, whatever the level or rate. */
  local?(line: string): void;
  /** Whether the link is up; lines are not published while it is down. Default: always up. */
  connected?(): boolean;
  /** Most verbose level published (0 publishes nothing). Default 3 (info). */
  minLevel?: number;
  /** Bucket size: lines that may go out back to back. Default 20. */
  burst?: number;
  /** One more line allowed per this many ms. Default 500 (2 lines/s sustained). */
  refillMs?: number;
  /** Component of the "N log lines dropped" line. Default "logger". */
  component?: string;
}

export class Logs {
  readonly #options: LogsOptions;
  readonly #bucket: TokenBucket;
  /** Lines dropped by the rate limit since the last "dropped" line. */
  #pendingDropped = 0;
  /** Lines dropped by the rate limit, ever. */
  dropped = 0;
  /** Lines published. */
  published = 0;
  minLevel: number;

  constructor(options: LogsOptions) {
    this.#options = options;
    this.#bucket = new TokenBucket(options.burst ?? 20, options.refillMs ?? 500, options.now());
    this.minLevel = options.minLevel ?? LogLevel.info;
  }

  error(component: string, message: string): void {
    this.log(1, component, message);
  }

  warning(component: string, message: string): void {
    this.log(2, component, message);
  }

  info(component: string, message: string): void {
    this.log(3, component, message);
  }

  debug(component: string, message: string): void {
    this.log(4, component, message);
  }

  log(level: Level, component: string, message: string): void {
    const at = this.#options.now();
    try {
      this.#options.local?.(`${LEVEL_NAMES[level]} ${component}: ${message}`);
    } catch {
      // a failing console must not stop the device
    }
    if (level > this.minLevel || !this.#linkUp()) return;
    if (!this.#flushDropped(at)) {
      this.#count();
      return;
    }
    if (!this.#take(at)) {
      this.#count();
      return;
    }
    this.#send({ level, component, message, at });
  }

  /** Publishes the pending "N dropped" line if the bucket allows; call it periodically. */
  flush(): void {
    if (this.#linkUp()) this.#flushDropped(this.#options.now());
  }

  /** True when nothing dropped is waiting to be announced (after announcing it if possible). */
  #flushDropped(at: number): boolean {
    if (this.#pendingDropped === 0) return true;
    if (LogLevel.warning > this.minLevel) {
      this.#pendingDropped = 0; // warnings are not published at this level: nothing to announce
      return true;
    }
    if (!this.#take(at)) return false;
    const n = this.#pendingDropped;
    this.#pendingDropped = 0;
    this.#send({ level: 2, component: this.#options.component ?? "logger", message: `${n} log line${n === 1 ? "" : "s"} dropped (rate limit)`, at });
    return true;
  }

  #count(): void {
    this.#pendingDropped++;
    this.dropped++;
  }

  #take(at: number): boolean {
    return this.#bucket.take(at);
  }

  #linkUp(): boolean {
    return this.#options.connected?.() ?? true;
  }

  #send(entry: LogEntry): void {
    const p = this.#options.format(entry);
    if (!p) return;
    this.published++;
    try {
      this.#options.publish(p);
    } catch {
      // a publisher that throws must not take the caller down; it reports its own failures
    }
  }
}

const LEVEL_NAMES: Record<Level, string> = { 1: "E", 2: "W", 3: "I", 4: "D", 5: "V" };
