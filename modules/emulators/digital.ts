// An emulated GPIO pin, as embedded:io/digital: a driver writes an output and reads it back;
// the emulator's owner (a part's model) sees every level, can drive an input, and can make the
// pin stick (a welded relay contact: read-back no longer follows writes).

import type { Digital419 } from "../drivers/io.js";

export interface PinHooks {
  /** Before a driver's write takes effect: a model catches up on the level it had. */
  beforeWrite?(): void;
  /** After a driver's write: a model learns of the new level at once. */
  afterWrite?(): void;
}

export class EmulatedPin {
  readonly #hooks: PinHooks;
  level: 0 | 1 = 0;
  /** While set, reads return this whatever was written. */
  stuck: 0 | 1 | undefined = undefined;
  /** Every level written, in order (bounded to the last 64). */
  readonly writes: (0 | 1)[] = [];

  /** The ECMA-419 class for this pin: `{ io: pin.io, pin: 23, mode: "output" }` (one class, bound to this pin). */
  readonly io: new (options: Record<string, unknown>) => Digital419 = DigitalIO.bind(null, this);

  constructor(hooks: PinHooks = {}) {
    this.#hooks = hooks;
  }

  /** A driver's write: the level, remembered, between the owner's hooks. */
  drive(value: 0 | 1): void {
    this.#hooks.beforeWrite?.();
    this.level = value ? 1 : 0;
    this.writes.push(this.level);
    if (this.writes.length > 64) this.writes.shift();
    this.#hooks.afterWrite?.();
  }
}

class DigitalIO implements Digital419 {
  readonly #pin: EmulatedPin;
  #closed = false;

  constructor(pin: EmulatedPin, _options: Record<string, unknown>) {
    this.#pin = pin;
  }

  read(): 0 | 1 {
    if (this.#closed) throw new Error("closed");
    return this.#pin.stuck ?? this.#pin.level;
  }

  write(value: 0 | 1): void {
    if (this.#closed) throw new Error("closed");
    this.#pin.drive(value);
  }

  close(): void {
    this.#closed = true;
  }
}
