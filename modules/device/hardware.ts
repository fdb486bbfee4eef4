// The hardware the products drive, as interfaces: each host implements them for real
// (hosts/moddable/esp32) and for the simulator (hosts/moddable, hosts/node).

/** The smart meter's load relay. */
export interface Relay {
  readonly on: boolean;
  set(on: boolean): void;
}

/** Power control for duty-cycled nodes (esp-sensors). */
export interface Sleeper {
  /**
   * Sleeps for `ms`. On a device this is deep sleep: RAM is lost and the program starts
   * again from the top, so state must be persisted first and `wake` is never called.
   * A simulator calls `wake` instead of restarting.
   */
  sleep(ms: number, wake: () => void): void;
}

/** A relay that only remembers its state, for simulators and tests. */
export class SimulatedRelay implements Relay {
  #on = false;
  readonly changes: boolean[] = [];
  get on(): boolean {
    return this.#on;
  }
  set(on: boolean): void {
    if (on === this.#on) return;
    this.#on = on;
    this.changes.push(on);
  }
}
