// `npm start`: the desktop host's main job. Starts an embedded aedes broker on 127.0.0.1
// (or uses --broker mqtt://host:port / MQTT_URL), boots a demo device built on the MQTT
// client, and prints a live view of the traffic. Until the product issue lands, the
// device is a demo: retained status with a will, QoS 1 telemetry, commands answered.
//
//   npm start -- [--broker mqtt://host:port] [--port 1883] [--interval 2000] [--duration 0]

import net from "node:net";
import { Aedes } from "aedes";
import { createNodeClient } from "./client.js";
import type { MqttClient, Message } from "../../modules/mqtt/client.js";

interface Args { broker?: string; port: number; interval: number; duration: number }

function parseArgs(argv: string[]): Args {
  const args: Args = { broker: process.env.MQTT_URL, port: 1883, interval: 2000, duration: 0 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--broker") args.broker = value, i++;
    else if (flag === "--port") args.port = Number(value), i++;
    else if (flag === "--interval") args.interval = Number(value), i++;
    else if (flag === "--duration") args.duration = Number(value), i++;
    else if (flag === "--help" || flag === "-h") {
      console.log("npm start -- [--broker mqtt://host:port] [--port 1883] [--interval ms] [--duration s]");
      process.exit(0);
    } else throw new Error(`unknown option ${flag}`);
  }
  return args;
}

function listen(server: net.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE" && port !== 0) resolve(listen(server, 0));
      else reject(e);
    });
    server.listen(port, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

const decoder = new TextDecoder();
function show(direction: string, topic: string, payload: Uint8Array, qos: number, retain: boolean): void {
  const time = new Date().toISOString().slice(11, 23);
  const body = decoder.decode(payload);
  console.log(`${time} ${direction} ${topic} q${qos}${retain ? " retained" : ""} ${body.length > 120 ? body.slice(0, 117) + "..." : body}`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let host = "127.0.0.1";
  let port = args.port;
  let stopBroker = async () => {};
  if (args.broker) {
    const url = new URL(args.broker);
    host = url.hostname;
    port = Number(url.port || 1883);
  } else {
    const broker = await Aedes.createBroker();
    const server = net.createServer(broker.handle);
    port = await listen(server, args.port);
    broker.on("publish", (packet, client) => {
      if (client && !packet.topic.startsWith("$SYS")) show("broker", packet.topic, packet.payload as Uint8Array, packet.qos, packet.retain);
    });
    stopBroker = () => new Promise((resolve) => server.close(() => broker.close(() => resolve())));
  }
  console.log(`broker mqtt://${host}:${port}${args.broker ? "" : " (embedded aedes)"}`);

  const id = "demo-001";
  const device: MqttClient = createNodeClient({
    host, port, clientId: id, clean: false, keepalive: 30,
    will: { topic: `demo/${id}/status`, payload: JSON.stringify({ state: "offline" }), qos: 1, retain: true },
  });
  device.on("connected", ({ sessionPresent }) => console.log(`device ${id} connected (session present: ${sessionPresent})`));
  device.on("disconnected", ({ error, reconnectInMs }) => console.log(`device ${id} disconnected: ${error?.message ?? "by request"}${reconnectInMs !== undefined ? `, retry in ${reconnectInMs} ms` : ""}`));
  device.on("error", (e) => console.log(`device ${id} error ${e.code}: ${e.message}`));

  await device.connect();
  await device.publish(`demo/${id}/status`, JSON.stringify({ state: "online" }), { qos: 1, retain: true });
  await device.subscribe(`demo/${id}/command`, { qos: 1 }, (m: Message) => {
    let reply: object;
    try {
      const command = JSON.parse(decoder.decode(m.payload)) as { id?: unknown; command?: unknown };
      reply = { id: command.id ?? null, success: command.command === "ping", result: command.command === "ping" ? "pong" : undefined,
        error: command.command === "ping" ? undefined : `unknown command ${JSON.stringify(command.command)}` };
    } catch (e) {
      reply = { id: null, success: false, error: `malformed JSON: ${(e as Error).message}` };
    }
    device.publish(`demo/${id}/response`, JSON.stringify(reply), { qos: 1 }).catch(() => {});
  });

  let seq = 0;
  const telemetry = setInterval(() => {
    const reading = { seq: ++seq, ts: Date.now(), temperature: +(21 + Math.sin(seq / 5)).toFixed(2) };
    device.publish(`demo/${id}/telemetry`, JSON.stringify(reading), { qos: 1 }).catch((e) => console.log(`telemetry: ${e.message}`));
  }, args.interval);

  if (args.broker) {
    const monitor = createNodeClient({ host, port, clientId: `monitor-${process.pid}` });
    await monitor.connect();
    await monitor.subscribe("demo/#", { qos: 1 }, (m) => show("monitor", m.topic, m.payload, m.qos, m.retain));
  }

  const stop = async () => {
    clearInterval(telemetry);
    await device.publish(`demo/${id}/status`, JSON.stringify({ state: "offline" }), { qos: 1, retain: true }).catch(() => {});
    await device.disconnect();
    await stopBroker();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  if (args.duration > 0) setTimeout(stop, args.duration * 1000);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
