// A relay with contact feedback over two ECMA-419 digital pins: the coil driver on an output,
// and a sense input wired to an auxiliary contact (or an optocoupler on the switched side).
// ESP32 digital outputs cannot be read back (embedded:io/digital refuses "can't read output"),
// and a coil level says nothing about a welded contact: only the sense pin shows whether the
// relay followed. `closed` reads it; `stuck` compares it with what was last commanded, once
// the contact has had time to move.

import type { Digital419, IoProvider } from "./io.js";

export interface SensedRelayOptions {
  /** The coil driver: `{ io: Digital, pin: 23, mode: Digital.Output }`. */
  coil: IoProvider<Digital419>;
  /** The feedback contact: `{ io: Digital, pin: 22, mode: Digital.InputPullDown }`; 1 = closed. */
  sense: IoProvider<Digital419>;
  /** The host's clock, ms: read-back is only judged `settleMs` after a command. */
  now: () => number;
  /** How long the contact may take to follow; default 50 ms (relays switch in 5..20 ms). */
  settleMs?: number;
  /** Coil driven by a low level (many relay boards). */
  activeLow?: boolean;
}

export class SensedRelay {
  readonly #coil: Digital419;
  readonly #sense: Digital419;
  readonly #now: () => number;
  readonly #settleMs: number;
  readonly #activeLow: boolean;
  #commanded = false;
  #commandedAt = Number.NEGATIVE_INFINITY;

  constructor(options: SensedRelayOptions) {
    this.#now = options.now;
    this.#settleMs = options.settleMs ?? 50;
    this.#activeLow = options.activeLow ?? false;
    this.#coil = new options.coil.io({ ...options.coil });
    this.#sense = new options.sense.io({ ...options.sense });
    this.#drive(false); // a known state: open until the owner says otherwise
  }

  /** What was last commanded. */
  get on(): boolean {
    return this.#commanded;
  }

  /** The contact as sensed now. */
  get closed(): boolean {
    return this.#sense.read() === 1;
  }

  /** Drives the coil; the contact follows within settleMs (see `stuck`). */
  set(on: boolean): void {
    if (on === this.#commanded) return;
    this.#drive(on);
  }

  /**
   * "closed" or "open" when the contact has not followed the command within settleMs
   * (a welded or a dead relay), undefined when it agrees or is still moving.
   */
  get stuck(): "closed" | "open" | undefined {
    if (this.#now() - this.#commandedAt < this.#settleMs) return undefined;
    const closed = this.closed;
    if (closed === this.#commanded) return undefined;
    return closed ? "closed" : "open";
  }

  close(): void {
    this.#coil.close();
    this.#sense.close();
  }

  #drive(on: boolean): void {
    this.#coil.write(on !== this.#activeLow ? 1 : 0);
    this.#commanded = on;
    this.#commandedAt = this.#now();
  }
}
