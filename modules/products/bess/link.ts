// Connection trouble, reported with the specified error table: each distinct
// error of an outage once on bess/status/error and bess/logs/error, repeats only counted, and
// one status/info line when the link is back. A broker that stays away for hours therefore
// costs a handful of messages, not one per reconnect attempt.

import type { MqttError } from "../../mqtt/errors.js";
import { seedError, StatusCode } from "./codes.js";

export interface LinkReporter {
  status(isError: boolean, code: number, message: string): void;
  log(level: 1 | 2 | 3, message: string): void;
}

export class LinkErrors {
  readonly #out: LinkReporter;
  /** Error codes already reported in this outage (at most one per client error code). */
  readonly #reported = new Set<string>();
  #failures = 0;
  #lastError = "";

  constructor(out: LinkReporter) {
    this.#out = out;
  }

  /** Failures since the link was last up. */
  get failures(): number {
    return this.#failures;
  }

  error(e: MqttError): void {
    this.#failures++;
    const seed = seedError(e.code);
    this.#lastError = seed.name;
    if (this.#reported.has(e.code)) return;
    this.#reported.add(e.code);
    const message = `${seed.name}: ${e.message}. ${seed.action}`;
    this.#out.status(true, seed.code, message);
    this.#out.log(1, message);
  }

  connected(): void {
    this.#out.log(3, "Connected to MQTT broker");
    if (this.#failures > 0) {
      this.#out.status(false, StatusCode.reconnected, `Reconnected to MQTT broker after ${this.#failures} error(s), last ${this.#lastError}`);
    }
    this.reset();
  }

  reset(): void {
    this.#reported.clear();
    this.#failures = 0;
    this.#lastError = "";
  }
}
