// An emulated GPIO pin, as embedded:io/digital: a driver writes an output and reads it back;
// the emulator's owner (a part's model) sees every level, can drive an input, and can make the
// pin stick (a welded relay contact: read-back no longer follows writes).

import type { Digital419 } from "../drivers/io.js";

export class EmulatedPin {
  level: 0 | 1 = 0;
  /** While set, reads return this whatever was written. */
  stuck: 0 | 1 | undefined = undefined;
  /** Every level written, in order (bounded to the last 64). */
  readonly writes: (0 | 1)[] = [];

  /** The ECMA-419 class for this pin: `{ io: pin.io, pin: 23, mode: "output" }`. */
  get io(): new (options: Record<string, unknown>) => Digital419 {
    const pin = this;
    return class implements Digital419 {
      #closed = false;
      read(): 0 | 1 {
        if (this.#closed) throw new Error("closed");
        return pin.stuck ?? pin.level;
      }
      write(value: 0 | 1): void {
        if (this.#closed) throw new Error("closed");
        pin.level = value ? 1 : 0;
        pin.writes.push(pin.level);
        if (pin.writes.length > 64) pin.writes.shift();
      }
      close(): void {
        this.#closed = true;
      }
    };
  }
}
