// The MQTT client bound to Node's sockets and timers: the desktop host's one-liner.

import { MqttClient } from "../../modules/mqtt/client.js";
import type { ClientOptions } from "../../modules/mqtt/client.js";
import type { SocketClass } from "../../modules/mqtt/io.js";
import { TCPSocket } from "./tcp.js";
import { TLSSocket } from "./tls.js";
import type { SecureOptions } from "./tls.js";
import { nodeTimer } from "./timer.js";

export type NodeClientOptions = Omit<ClientOptions, "socket" | "timer"> & {
  /** TLS settings; when present the connection is TLS. */
  secure?: SecureOptions;
  timer?: ClientOptions["timer"];
  /** Puts something between the client and its sockets (the simulator's link faults). */
  link?: (io: SocketClass) => SocketClass;
};

export function createNodeClient(options: NodeClientOptions): MqttClient {
  const { secure, link, ...rest } = options;
  const io = (secure ? TLSSocket : TCPSocket) as unknown as SocketClass;
  const socket = secure ? { io: link ? link(io) : io, secure } : { io: link ? link(io) : io };
  return new MqttClient({ timer: nodeTimer, ...rest, socket: socket as ClientOptions["socket"] });
}
