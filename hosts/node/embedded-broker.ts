// The simulator's embedded broker: aedes on 127.0.0.1, which can be stopped and started again
// on the same port (a broker restart, as a fault on demand). Each start is a fresh aedes: what
// it held (retained messages, persistent sessions) is gone, as after a restart without
// persistence. The tap sees every PUBLISH exactly as a client sent it, and the wills the
// broker publishes (without a client id).

import * as net from "node:net";
import { Aedes } from "aedes";

export type PublishTap = (packet: { topic: string; payload: Uint8Array; qos: number; retain: boolean }, clientId: string | undefined) => void;

export class EmbeddedBroker {
  port = 0;
  #aedes: Aedes | undefined;
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
  readonly #tap: PublishTap;

  constructor(tap: PublishTap) {
    this.#tap = tap;
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  /** Listens on `port` (0: any free one; a taken preferred port falls back to a free one the first time). */
  async start(port = this.port): Promise<number> {
    if (this.#server) return this.port;
    const aedes = await Aedes.createBroker();
    aedes.on("publish", (packet, client) => {
      // Without a client it is the broker's own: a will, or $SYS statistics (not shown).
      if (!client && packet.topic.startsWith("$SYS")) return;
      this.#tap({ topic: packet.topic, payload: packet.payload as Uint8Array, qos: packet.qos, retain: packet.retain }, client?.id);
    });
    const server = net.createServer((socket) => {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
      aedes.handle(socket);
    });
    const fallback = this.port === 0; // only the first start may move; a restart keeps its port
    this.port = await listen(server, port, fallback);
    this.#aedes = aedes;
    this.#server = server;
    return this.port;
  }

  /** Closes every connection and stops listening. */
  async stop(): Promise<void> {
    const aedes = this.#aedes;
    const server = this.#server;
    if (!aedes || !server) return;
    this.#aedes = undefined;
    this.#server = undefined;
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function listen(server: net.Server, port: number, fallback: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE" && port !== 0 && fallback) resolve(listen(server, 0, false));
      else reject(e);
    });
    server.listen(port, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}
