// The brokers Moddable's MQTT scenarios need, started on loopback: an anonymous mosquitto
// with a TLS listener (the "foreign" endpoint for plain MQTT), and one requiring a password.

import { Mosquitto, freePort } from "./mosquitto.js";
import { makeCerts } from "./certs.js";
import type { ScenarioBroker } from "../scenarios/moddable-mqtt.js";

export interface ScenarioBrokers {
  broker: ScenarioBroker;
  dispose(): Promise<void>;
}

export async function startScenarioBrokers(): Promise<ScenarioBrokers> {
  const certs = await makeCerts();
  const open = await Mosquitto.start({ tls: { certs } });
  const user = "scenario";
  const password = "readwrite";
  const auth = await Mosquitto.start({ passwordFile: { username: user, password } });
  return {
    broker: {
      host: "127.0.0.1",
      port: open.port,
      authPort: auth.port,
      user,
      password,
      refusedPort: await freePort(),
      foreignPort: open.tlsPort as number,
      badHost: "no-such-host.invalid",
    },
    async dispose() {
      await Promise.all([open.dispose(), auth.dispose()]);
    },
  };
}
