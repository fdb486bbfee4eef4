// A device's link as the simulator's faults see it: every socket the device opens goes
// through here, so the link can be cut (the device sees an error, as when a cable is pulled)
// or black-holed (bytes vanish both ways and nothing errors: only keepalive finds it dead).

import type { Socket, SocketClass, SocketOptions } from "../../modules/mqtt/io.js";

export class Link {
  #open = new Set<{ inner: Socket; fail(error: Error): void }>();
  /** While true, writes are swallowed and nothing arrives. */
  blackholed = false;

  /** `io` with this link's faults in between. */
  wrap(io: SocketClass): SocketClass {
    const link = this;
    return class implements Socket {
      readonly #inner: Socket;
      readonly #entry: { inner: Socket; fail(error: Error): void };
      #failed = false;

      constructor(options: SocketOptions) {
        this.#inner = new io({
          ...options,
          onReadable: (count: number) => {
            if (!link.blackholed) options.onReadable(count);
            else this.#inner.read(); // dropped on the floor
          },
        });
        this.#entry = {
          inner: this.#inner,
          fail: (error) => {
            if (this.#failed) return;
            this.#failed = true;
            options.onError(error);
          },
        };
        link.#open.add(this.#entry);
      }

      read(byteLength?: number): ArrayBuffer | undefined {
        return this.#inner.read(byteLength);
      }

      write(data: Uint8Array): number | void {
        if (link.blackholed) return undefined;
        return this.#inner.write(data);
      }

      close(): void {
        link.#open.delete(this.#entry);
        this.#inner.close();
      }
    };
  }

  /** Drops every open connection: each device socket reports an error. */
  cut(): void {
    for (const entry of [...this.#open]) {
      this.#open.delete(entry);
      entry.inner.close();
      entry.fail(new Error("link cut (simulated fault)"));
    }
  }
}
