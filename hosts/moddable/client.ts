// The MQTT client bound to Moddable's sockets, Timer and Preference: the firmware's one-liner,
// as hosts/node/client.ts is the desktop's.

import Resource from "Resource";
import { MqttClient } from "../../modules/mqtt/client.js";
import type { ClientOptions } from "../../modules/mqtt/client.js";
import type { SocketProvider } from "../../modules/mqtt/io.js";
import { ResolvingTCP } from "./tcp.js";
import { ReportingTLS } from "./tls.js";
import { moddableTimer } from "./timer.js";

export type ModdableClientOptions = Omit<ClientOptions, "socket" | "timer"> & {
  /** Name of a DER certificate resource (from certs/) that signs the broker's certificate; TLS when set. */
  caResource?: string;
  /** TLS server name when it differs from host. */
  serverName?: string;
};

export function socketProvider(caResource?: string, serverName?: string): SocketProvider {
  if (!caResource) return { io: ResolvingTCP };
  const secure: Record<string, unknown> = { certificate: new Resource(caResource) };
  if (serverName) secure.serverName = serverName;
  return { io: ReportingTLS, secure };
}

export function createModdableClient(options: ModdableClientOptions): MqttClient {
  const { caResource, serverName, ...rest } = options;
  return new MqttClient({ timer: moddableTimer, ...rest, socket: socketProvider(caResource, serverName) });
}
