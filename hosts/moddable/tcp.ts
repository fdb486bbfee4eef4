// The ECMA-419 TCP socket with host-name resolution: Moddable's `embedded:io/socket/tcp`
// takes only a dotted IPv4 `address`, so names are resolved with Net.resolve first.
// Implements the Socket contract of modules/mqtt/io.ts; also the TCP layer under TLS.
// A callback that throws (the SDK's TLS socket throws from its handshake when a certificate
// does not verify) would abort the XS VM from inside the socket's event; instead the socket
// is closed and the error reported through onError, and through `guard` when the layer
// above (hosts/moddable/tls.ts) wants the reason.

import TCP from "embedded:io/socket/tcp";
import Net from "net";
import type { Socket, SocketOptions } from "../../modules/mqtt/io.js";

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export class ResolvingTCP implements Socket {
  #socket: TCP | undefined;
  #closed = false;
  #options: SocketOptions;

  constructor(options: SocketOptions) {
    this.#options = options;
    const host = String(options.host ?? options.address ?? "");
    if (!host) throw new TypeError("host required");
    if (IPV4.test(host)) {
      this.#open(host);
      return;
    }
    Net.resolve(host, (_name: string, address?: string) => {
      if (this.#closed) return;
      if (!address) {
        this.#closed = true;
        options.onError?.(new Error(`cannot resolve ${host}`));
        return;
      }
      this.#open(address);
    });
  }

  #open(address: string): void {
    const options = this.#options;
    try {
      this.#socket = new TCP({
        address,
        port: options.port,
        nodelay: true,
        format: "buffer",
        onReadable: (count: number) => this.#guarded(() => options.onReadable(count)),
        onWritable: (count: number) => this.#guarded(() => options.onWritable(count)),
        onError: () => {
          this.#closed = true;
          options.onError(new Error(`connection to ${address}:${options.port} failed or closed`));
        },
      });
    } catch (e) {
      this.#closed = true;
      options.onError(e);
    }
  }

  #guarded(callback: () => void): void {
    if (this.#closed) return;
    try {
      callback();
    } catch (e) {
      (this.#options.guard as ((error: unknown) => void) | undefined)?.(e);
      this.close();
      this.#options.onError(e);
    }
  }

  read(byteLength?: number): ArrayBuffer | undefined {
    const socket = this.#socket;
    if (!socket) return undefined;
    const data = byteLength === undefined ? socket.read() : socket.read(byteLength);
    return data as ArrayBuffer | undefined;
  }

  write(data: Uint8Array): number | void {
    return (this.#socket as unknown as { write(d: Uint8Array): number }).write(data);
  }

  close(): void {
    this.#closed = true;
    this.#socket?.close();
    this.#socket = undefined;
  }
}
