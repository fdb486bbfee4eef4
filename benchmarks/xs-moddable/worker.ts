/// <reference path="../../hosts/xsnap/xsnap-globals.d.ts" />
// XS side of benchmarks/xs-moddable.ts: our MqttClient and Moddable's ECMA-419 MQTT client
// ($MODDABLE/examples/io/tcp/mqttclient/mqttclient.js, resolved as "moddable:mqttclient"
// when the benchmark bundles this file) on the same bridge: hosts/xsnap's socket (Moddable's
// through ./tcp.ts), timer and clock. Jobs, answered by hosts/xsnap/jobs.ts as main.ts's are:
//   ours.connect / ours.publish / ours.disconnect    our client, as tests/xs/meters.test.ts drives it
//   mod.connect / mod.publish / mod.disconnect       Moddable's client, the same exchange
//   noop                                             the bridge alone
//   profile.steps / profile.fake                     the profile (./profile.ts), metered inside one crank

import MQTTClient from "moddable:mqttclient";
import { MqttClient } from "../../modules/mqtt/client.js";
import type { ClientOptions } from "../../modules/mqtt/client.js";
import type { QoS } from "../../modules/mqtt/packets.js";
import { prng } from "../../modules/device/prng.js";
import { now } from "../../hosts/xsnap/bridge.js";
import { serveJobs } from "../../hosts/xsnap/jobs.js";
import type { Job } from "../../hosts/xsnap/jobs.js";
import { XsSocket } from "../../hosts/xsnap/socket.js";
import { xsTimer } from "../../hosts/xsnap/timer.js";
import { Tcp419 } from "./tcp.js";
import { Resolver } from "./resolver.js";
import { fake, runStep, setupStep, steps } from "./profile.js";

// XS builtins of Moddable's runtime that xsnap lacks; native there as here (TextEncoder and
// TextDecoder are native in xsnap).
const G = globalThis as unknown as {
  ArrayBuffer: { fromString?: (s: string) => ArrayBuffer };
  String: { fromArrayBuffer?: (b: ArrayBuffer) => string };
};
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
G.ArrayBuffer.fromString ??= (s: string) => utf8.encode(s).buffer as ArrayBuffer;
G.String.fromArrayBuffer ??= (b: ArrayBuffer) => fromUtf8.decode(new Uint8Array(b));


let ours: MqttClient | undefined;
const errors: string[] = [];

type Moddable = InstanceType<typeof MQTTClient>;
let mod: Moddable | undefined;
/** What Moddable's client is waiting for: the control packet's operation (and id). */
let modWaiter: { operation: number; id?: number; resolve(): void } | undefined;

const jobs: Record<string, Job> = {
  noop() {},

  // Each job returns its client's one promise, as the mod.* jobs return theirs: an async
  // wrapper would add a promise and an await to our side of the meter only.
  "ours.connect"(args) {
    if (ours) throw new Error("our client exists");
    const options = args.options as Omit<ClientOptions, "socket" | "timer" | "now" | "random">;
    const client = new MqttClient({ ...options, socket: { io: XsSocket }, timer: xsTimer, now, random: prng(1) });
    ours = client;
    client.on("error", (error) => { errors.push(error.code); });
    return client.connect() as Promise<unknown> as Promise<void>; // its { sessionPresent } is no job result
  },

  "ours.publish"(args, payload) {
    return ours!.publish(args.topic as string, payload, { qos: args.qos as QoS });
  },

  async "ours.disconnect"() {
    const client = ours!;
    ours = undefined;
    await client.disconnect();
    return { result: { errors } };
  },

  "mod.connect"(args) {
    if (mod) throw new Error("Moddable's client exists");
    const o = args.options as { host: string; port: number; id: string; keepAlive: number };
    return new Promise<void>((resolve, reject) => {
      modWaiter = { operation: MQTTClient.CONNACK, resolve };
      mod = new MQTTClient({
        socket: { io: Tcp419 },
        dns: { io: Resolver },
        host: o.host,
        port: o.port,
        id: o.id,
        keepAlive: o.keepAlive,
        onControl(msg: { operation: number; id?: number }) {
          const w = modWaiter;
          if (w && w.operation === msg.operation && (w.id === undefined || w.id === msg.id)) {
            modWaiter = undefined;
            w.resolve();
          }
        },
        onError() {
          errors.push("moddable: error");
          reject(new Error("Moddable's client failed"));
        },
      });
    });
  },

  "mod.publish"(args, payload) {
    const client = mod!;
    const id = args.id as number | undefined;
    return new Promise<void>((resolve) => {
      if (args.qos) modWaiter = { operation: MQTTClient.PUBACK, id, resolve };
      const options: Record<string, unknown> = { topic: args.topic, QoS: args.qos };
      if (id !== undefined) options.id = id;
      client.write(payload, options);
      if (!args.qos) resolve();
    });
  },

  "mod.disconnect"() {
    const client = mod!;
    mod = undefined;
    client.write(null, { operation: MQTTClient.DISCONNECT });
    client.close();
    return { result: { errors } };
  },

  /** Sub-steps of our client, each alone, metered inside this crank. */
  "profile.steps"() {
    return { result: steps() };
  },

  /** Step args.index's setup, then (a job of its own, whose crank's heap growth is the step's) the step. */
  "profile.setup"(args) {
    return { result: setupStep(args.index as number) };
  },
  "profile.run"(args) {
    runStep(args.index as number);
  },

  /** One phase of a client on the in-XS fake socket and timer (no bridge), metered inside this crank. */
  async "profile.fake"(args) {
    return { result: await fake(args.client as "ours" | "moddable", args.phase as "connect" | "publish") };
  },
};

serveJobs(jobs);
