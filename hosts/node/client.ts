// The MQTT client bound to Node's sockets and timers: the desktop host's one-liner.

import { MqttClient } from "../../modules/mqtt/client.js";
import type { ClientOptions } from "../../modules/mqtt/client.js";
import { TCPSocket } from "./tcp.js";
import { TLSSocket } from "./tls.js";
import type { SecureOptions } from "./tls.js";
import { nodeTimer } from "./timer.js";

export type NodeClientOptions = Omit<ClientOptions, "socket" | "timer"> & {
  /** TLS settings; when present the connection is TLS. */
  secure?: SecureOptions;
  timer?: ClientOptions["timer"];
};

export function createNodeClient(options: NodeClientOptions): MqttClient {
  const { secure, ...rest } = options;
  const socket = secure ? { io: TLSSocket, secure } : { io: TCPSocket };
  return new MqttClient({ timer: nodeTimer, ...rest, socket: socket as ClientOptions["socket"] });
}
