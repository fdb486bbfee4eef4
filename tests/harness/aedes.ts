// An in-process aedes broker on a loopback port: fast, and observable from the test
// (broker events, authenticate hooks) where mosquitto is a black box.

import * as net from "node:net";
import { Aedes, type AedesOptions } from "aedes";

export interface AedesHandle {
  port: number;
  broker: Aedes;
  close(): Promise<void>;
}

/** Any AedesOptions (authenticate, authorizePublish, ...) are handed to the broker. */
export async function startAedes(options: AedesOptions = {}): Promise<AedesHandle> {
  const broker = await Aedes.createBroker(options);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    port,
    broker,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        // broker.close() ends clients politely; make sure none keeps the server open.
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closing;
    },
  };
}
