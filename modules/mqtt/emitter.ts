// A minimal typed event emitter (Node's EventEmitter is not available on XS).
// A listener that throws is reported through onListenerError and never stops the others.

export type Listener<A extends unknown[]> = (...args: A) => void;

export class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  #listeners: { [K in keyof Events]?: Listener<Events[K]>[] } = {};
  onListenerError: (error: unknown) => void = () => {};

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    (this.#listeners[event] ??= []).push(listener);
    return this;
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const wrapper: Listener<Events[K]> = (...args) => {
      this.off(event, wrapper);
      listener(...args);
    };
    return this.on(event, wrapper);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this.#listeners[event];
    if (list) {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    }
    return this;
  }

  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    const list = this.#listeners[event];
    if (!list) return;
    // A copy, so a listener may remove itself; indexed: XS runs an iterator for for-of.
    const copy = list.slice();
    for (let i = 0; i < copy.length; i++) {
      const listener = copy[i];
      try {
        listener(...args);
      } catch (e) {
        this.onListenerError(e);
      }
    }
  }

  listenerCount<K extends keyof Events>(event: K): number {
    return this.#listeners[event]?.length ?? 0;
  }
}
