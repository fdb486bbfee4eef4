// The MQTT client bound to Moddable's sockets, Timer and Preference: the firmware's one-liner,
// as hosts/node/client.ts is the desktop's.

import { MqttClient } from "../../modules/mqtt/client.js";
import type { ClientOptions } from "../../modules/mqtt/client.js";
import type { SocketProvider } from "../../modules/mqtt/io.js";
import { ResolvingTCP } from "./tcp.js";
import { ReportingTLS } from "./tls.js";
import { moddableTimer } from "./timer.js";

export type ModdableClientOptions = Omit<ClientOptions, "socket" | "timer"> & {
  /** The TLS socket's `secure` options (tls.ts's secureOptions()); TLS when set. */
  secure?: Record<string, unknown>;
};

export function socketProvider(secure?: Record<string, unknown>): SocketProvider {
  return secure ? { io: ReportingTLS, secure } : { io: ResolvingTCP };
}

export function createModdableClient(options: ModdableClientOptions): MqttClient {
  const { secure, ...rest } = options;
  return new MqttClient({ timer: moddableTimer, ...rest, socket: socketProvider(secure) });
}
