// The profile of benchmarks/xs-moddable.ts, run inside XS. xsnap meters per crank, but its
// resetMeter(limit, index) returns the meter so far: read-and-restore gives an in-crank
// meter, whose own cost is calibrated and subtracted.
//   steps()  sub-steps of our client, each alone (a fresh setup per measurement, not metered)
//   fake()   a whole phase of either client on ./fake.ts's socket and timer: no bridge, so
//            what is left is the client (and the canned socket's few operations)

import MQTTClient from "moddable:mqttclient";
import { MqttClient } from "../../modules/mqtt/client.js";
import { Session } from "../../modules/mqtt/session.js";
import { encode, writePublish } from "../../modules/mqtt/encode.js";
import { Decoder } from "../../modules/mqtt/decode.js";
import { Emitter } from "../../modules/mqtt/emitter.js";
import { topicNameError } from "../../modules/mqtt/topic.js";
import { utf8Length } from "../../modules/mqtt/utf8.js";
import { prng } from "../../modules/device/prng.js";
import { call } from "../../hosts/xsnap/bridge.js";
import { xsTimer } from "../../hosts/xsnap/timer.js";
import { FakeSocket, fakeNow, fakeTimer, reset, settle, turns } from "./fake.js";
import { Resolver } from "./resolver.js";
import { Tcp419 } from "./tcp.js";
import { useTimer } from "./timer.js";
import { useClock } from "./time.js";

declare function currentMeterLimit(): number;
declare function resetMeter(limit: number, index: number): number;

function meter(): number {
  const limit = currentMeterLimit();
  const m = resetMeter(limit, 0);
  resetMeter(limit, m);
  return m;
}

function raw<C>(f: (c: C) => unknown, c: C): number {
  const a = meter();
  f(c);
  return meter() - a;
}

const CALIBRATION = raw(() => {}, undefined);

const CLIENT_ID = "xs-bench-0001";
const TOPIC = "xs/bench/telemetry";
const PAYLOAD = new TextEncoder().encode("x".repeat(64));
const CONNACK = Uint8Array.of(0x20, 2, 0, 0);
const PUBACK = Uint8Array.of(0x40, 2, 0, 1);
const SESSION = { clientId: CLIENT_ID, keepalive: 20 };

export interface Step {
  step: string;
  /** In a fresh worker, the first time. */
  first: number;
  /** The same again, with a fresh setup. */
  again: number;
}

function connected(): Session {
  const s = new Session(SESSION);
  s.transportUp(1000);
  for (let n = s.feed(CONNACK, 1000); n > 0; n--) s.next(1000);
  return s;
}

function ourClient(): MqttClient {
  return new MqttClient({ ...SESSION, host: "127.0.0.1", port: 1883, reconnect: false, socket: { io: FakeSocket }, timer: fakeTimer, now: fakeNow, random: prng(1) });
}

interface StepDef {
  name: string;
  setup(): unknown;
  f(c: unknown): unknown;
}

/** Our client's pieces, each alone: a setup (not measured) and the step. */
function definitions(): StepDef[] {
  const out: StepDef[] = [];
  const step = <C>(name: string, setup: () => C, f: (c: C) => unknown): void => {
    out.push({ name, setup, f: f as (c: unknown) => unknown });
  };
  const none = (): undefined => undefined;

  // the bridge (hosts/xsnap): what a socket write, a timer set or clear costs here
  step("bridge: one call round trip (a 'log' call)", none, () => call({ op: "log", line: "" }));
  step("bridge: xsTimer.set + xsTimer.clear (2 calls)", none, () => xsTimer.clear(xsTimer.set(() => {}, 1000)));

  // create + connect
  step("new MqttClient(options) [all of the below]", none, ourClient);
  step("  new Session(options)", none, () => new Session(SESSION));
  step("    encode(CONNECT)", none, () => encode({ type: 1, clientId: CLIENT_ID, clean: true, keepalive: 20 }));
  step("    new Decoder()", none, () => new Decoder());
  step("  new Emitter()", none, () => new Emitter());
  step("client.on('error', listener)", ourClient, (c) => c.on("error", () => {}));
  step("new Promise(executor) (connect(), publish(), #request)", none, () => new Promise((resolve, reject) => [resolve, reject]));
  step("socket options (built once per client): rest + spread + 3 closures", () => ({ io: FakeSocket }), (provider) => {
    const { io, ...providerOptions } = provider;
    return [io, { ...providerOptions, host: "127.0.0.1", port: 1883, format: "buffer", onReadable: (n: number) => n, onWritable: (n: number) => n, onError: (e: unknown) => e }];
  });
  step("session.transportUp()", () => new Session(SESSION), (s) => s.transportUp(1000));
  step("decoder.push(CONNACK)", () => new Decoder(), (d) => d.push(CONNACK));
  step("session.feed(CONNACK) + next() per packet", () => { const s = new Session(SESSION); s.transportUp(1000); return s; }, (s) => {
    for (let n = s.feed(CONNACK, 1000); n > 0; n--) s.next(1000);
  });

  // QoS 1 publish
  step("session.publish(QoS 1, 64 B) on a connected session", connected, (s) => s.publish(TOPIC, PAYLOAD, 1, false, 1000, 1));
  step("  topicNameError(topic)", none, () => topicNameError(TOPIC));
  step("  utf8Length(topic)", none, () => utf8Length(TOPIC));
  step("  writePublish(...) of the whole packet, topic validated", none, () => writePublish(TOPIC, TOPIC.length, PAYLOAD, 1, false, false, 1, true));
  step("decoder.push(PUBACK)", () => new Decoder(), (d) => d.push(PUBACK));
  step("session.feed(PUBACK) + next() per packet", () => {
    const s = connected();
    s.publish(TOPIC, PAYLOAD, 1, false, 1000, 1);
    return s;
  }, (s) => {
    for (let n = s.feed(PUBACK, 1000); n > 0; n--) s.next(1000);
  });
  step("new Map() + set + get + delete (#ops per request)", none, () => {
    const m = new Map<number, unknown>();
    m.set(1, m);
    m.get(1);
    m.delete(1);
  });
  step("Promise.resolve().then(closure) (what a microtask flush per turn would cost)", none, () => Promise.resolve().then(() => {}));
  step("actions array + a send action (#run per batch)", none, () => {
    const actions: { type: string; bytes?: Uint8Array }[] = [];
    actions.push({ type: "send", bytes: PAYLOAD });
    for (let i = 0; i < actions.length; i++) if (actions[i].type === "x") break;
  });
  step("Moddable: ArrayBuffer.fromString(topic) + length-prefixed copy", none, () => {
    const s = new Uint8Array((ArrayBuffer as unknown as { fromString(s: string): ArrayBuffer }).fromString(TOPIC));
    const r = new Uint8Array(s.length + 2);
    r[0] = s.length >> 8;
    r[1] = s.length;
    r.set(s, 2);
  });
  return out;
}

let defs: StepDef[] | undefined;

/** Every step measured in this crank, twice, each time after a fresh setup. */
export function steps(): Step[] {
  defs ??= definitions();
  return defs.map((d) => {
    const first = raw(d.f, d.setup()) - CALIBRATION;
    const again = raw(d.f, d.setup()) - CALIBRATION;
    return { step: d.name, first, again };
  });
}

let prepared: unknown;

/** Step `index`'s setup, in a crank of its own, so that the next crank's heap growth is the step's. */
export function setupStep(index: number): { count: number } {
  defs ??= definitions();
  prepared = defs[index]!.setup();
  return { count: defs.length };
}

/** What the last step returned, kept reachable. */
let kept: unknown;

/** Step `index` alone, on what setupStep() prepared; what it allocates stays reachable until the next setup. */
export function runStep(index: number): void {
  kept = defs![index]!.f(prepared);
}

let ours: MqttClient | undefined;
let mod: InstanceType<typeof MQTTClient> | undefined;
let waiter: { operation: number; resolve(): void } | undefined;

/**
 * One phase of a client on the fake socket and timer, in this crank. Returns the computrons
 * of the client (the harness's macrotask turns subtracted) and what that subtraction was.
 */
export async function fake(client: "ours" | "moddable", phase: "connect" | "publish"): Promise<{ compute: number; harness: number; written: number }> {
  if (phase === "connect") {
    reset();
    useTimer(fakeTimer);
    useClock(fakeNow);
  }
  FakeSocket.written = [];
  // One settle() turn with nothing to deliver: what each turn adds.
  const t = turns;
  const turn = (() => { const a = meter(); return settle().then(() => meter() - a - CALIBRATION); })();
  const turnCost = await turn;
  const t0 = turns;
  if (t0 - t !== 1) throw new Error("calibration turn");

  const a = meter();
  if (client === "ours") {
    if (phase === "connect") {
      ours = ourClient();
      ours.on("error", () => {});
      const p = ours.connect();
      await settle();
      await p;
    } else {
      const p = ours!.publish(TOPIC, PAYLOAD, { qos: 1 });
      await settle();
      await p;
    }
  } else {
    if (phase === "connect") {
      const p = new Promise<void>((resolve) => { waiter = { operation: MQTTClient.CONNACK, resolve }; });
      mod = new MQTTClient({
        socket: { io: Tcp419, base: FakeSocket },
        dns: { io: Resolver },
        host: "127.0.0.1",
        port: 1883,
        id: CLIENT_ID,
        keepAlive: 20_000,
        onControl(msg: { operation: number }) {
          const w = waiter;
          if (w && w.operation === msg.operation) {
            waiter = undefined;
            w.resolve();
          }
        },
      });
      await settle();
      await p;
    } else {
      const p = new Promise<void>((resolve) => { waiter = { operation: MQTTClient.PUBACK, resolve }; });
      mod!.write(PAYLOAD, { topic: TOPIC, QoS: 1, id: 1 });
      await settle();
      await p;
    }
  }
  const spent = meter() - a - CALIBRATION;
  const harness = (turns - t0) * turnCost;
  return { compute: spent - harness, harness, written: FakeSocket.written.reduce((n, w) => n + w.length, 0) };
}
