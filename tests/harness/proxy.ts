// A loopback TCP proxy for fault injection: a link that goes silent (blackhole) or
// connections that die abruptly (cutAll), between a client and a broker.

import * as net from "node:net";

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

export class Proxy {
  readonly targetPort: number;
  #server: net.Server;
  #pairs = new Set<Pair>();
  #blackholed = false;

  private constructor(server: net.Server, targetPort: number) {
    this.#server = server;
    this.targetPort = targetPort;
  }

  static async start(targetPort: number, targetHost = "127.0.0.1"): Promise<Proxy> {
    const server = net.createServer();
    const proxy = new Proxy(server, targetPort);
    server.on("connection", (client) => proxy.#accept(client, targetHost));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Client connections currently open through the proxy. */
  get connections(): number {
    return this.#pairs.size;
  }

  get blackholed(): boolean {
    return this.#blackholed;
  }

  /**
   * Stop moving bytes either way while keeping every socket open: a dead link. Bytes are
   * held (the sockets are paused, so TCP backs up) rather than dropped, as TCP would
   * retransmit them once the link returns; resume() delivers them.
   */
  blackhole(): void {
    this.#blackholed = true;
    for (const { client, upstream } of this.#pairs) {
      client.pause();
      upstream.pause();
    }
  }

  resume(): void {
    this.#blackholed = false;
    for (const { client, upstream } of this.#pairs) {
      client.resume();
      upstream.resume();
    }
  }

  /** Kill every current connection abruptly (RST to the client, as a crashed peer would). */
  cutAll(): void {
    for (const pair of [...this.#pairs]) {
      this.#pairs.delete(pair);
      if (typeof pair.client.resetAndDestroy === "function") pair.client.resetAndDestroy();
      else pair.client.destroy();
      pair.upstream.destroy();
    }
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket, host: string): void {
    const upstream = net.connect({ host, port: this.targetPort });
    const pair: Pair = { client, upstream };
    this.#pairs.add(pair);
    const end = () => {
      if (!this.#pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      socket.on("error", end);
      socket.on("close", end);
    }
    const held = () => this.#blackholed;
    forward(client, upstream, held);
    forward(upstream, client, held);
    if (this.#blackholed) {
      client.pause();
      upstream.pause();
    }
  }
}

// Hand-rolled pipe: stream.pipe() resumes on drain, which would undo a blackhole.
function forward(from: net.Socket, to: net.Socket, held: () => boolean): void {
  from.on("data", (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once("drain", () => {
        if (!held()) from.resume();
      });
    }
  });
  from.on("end", () => to.end());
}
