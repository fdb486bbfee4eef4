// TLS over ResolvingTCP with the SDK's `embedded:io/socket/tcp/tls`, reporting why a
// connection failed: the SDK socket calls onError() without a reason, and its handshake
// throws when the broker's certificate does not verify. The reason is caught below it (in
// ResolvingTCP's guard) and handed to the client as a TLS error.

import TLSSocket from "embedded:io/socket/tcp/tls";
import type { Socket, SocketOptions } from "../../modules/mqtt/io.js";
import { ResolvingTCP } from "./tcp.js";

export class ReportingTLS implements Socket {
  readonly #tls: Socket;
  #failure: unknown;

  constructor(options: SocketOptions) {
    const onError = options.onError;
    this.#tls = new (TLSSocket as unknown as new (o: object) => Socket)({
      ...options,
      TCP: { io: ResolvingTCP },
      guard: (e: unknown) => { this.#failure ??= e; },
      onError: () => {
        const cause = this.#failure;
        onError(cause === undefined ? undefined : new Error(`TLS handshake failed: ${cause instanceof Error ? cause.message : String(cause)}`));
      },
    });
  }

  read(byteLength?: number): ArrayBuffer | undefined {
    return this.#tls.read(byteLength);
  }

  write(data: Uint8Array): number | void {
    return this.#tls.write(data);
  }

  close(): void {
    this.#tls.close();
  }
}
