// Seeded schedules for the model-based property test: a client configuration and, one at a
// time, the next step given a small view of the current state (so that, say, a CONNACK is
// mostly generated when the broker holds an unanswered CONNECT). Everything is drawn from
// the repo's prng, so a seed replays exactly.

import type { QoS } from "../../../modules/mqtt/packets.js";

export type Rng = () => number;

export const int = (r: Rng, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
export const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
export const chance = (r: Rng, p: number): boolean => r() < p;

// ---- the schedule's configuration ----

export interface Config {
  steps: number;
  clean: boolean;
  /** Seconds, 0 = off. */
  keepalive: number;
  pingTimeoutMs: number | undefined;
  connectTimeoutMs: number;
  reconnect: false | { initialMs: number; maxMs: number; factor: number; maxAttempts: number };
  inflightWindow: number;
  maxPacketSize: number;
  outbox: { maxMessages: number; maxBytes: number; overflow: "reject-new" | "drop-oldest"; queueQos0: boolean };
  /** Probability the (uncooperative) broker refuses a filter in a SUBSCRIBE. */
  refuseRate: number;
  /** Bytes per onWritable when the transport is not stalled. */
  grant: number;
  /** write() returns the bytes still writable (Moddable) instead of undefined (ECMA-419). */
  returnsRemaining: boolean;
}

export const GRANTS = { small: [1, 7, 16, 40], normal: 1460, large: 65_536 } as const;

export function genConfig(r: Rng): Config {
  return {
    steps: int(r, 10, 40),
    clean: chance(r, 0.5),
    keepalive: chance(r, 0.4) ? 0 : int(r, 1, 10),
    pingTimeoutMs: chance(r, 0.5) ? undefined : int(r, 200, 3000),
    connectTimeoutMs: int(r, 500, 5000),
    reconnect: chance(r, 0.2) ? false : {
      initialMs: int(r, 10, 500), maxMs: 2000, factor: 2, maxAttempts: chance(r, 0.7) ? 0 : int(r, 1, 3),
    },
    inflightWindow: chance(r, 0.2) ? 16 : int(r, 1, 4),
    maxPacketSize: int(r, 256, 1024),
    outbox: {
      maxMessages: chance(r, 0.1) ? 1000 : int(r, 1, 8),
      maxBytes: chance(r, 0.1) ? 1 << 20 : int(r, 32, 600),
      overflow: chance(r, 0.5) ? "reject-new" : "drop-oldest",
      queueQos0: chance(r, 0.85),
    },
    refuseRate: chance(r, 0.5) ? 0 : 0.2 + r() * 0.3,
    grant: chance(r, 0.2) ? pick(r, GRANTS.small) : chance(r, 0.75) ? GRANTS.normal : GRANTS.large,
    returnsRemaining: chance(r, 0.5),
  };
}

// ---- steps ----

/** How a publish payload is made: a string or bytes carrying a unique tag, or an invalid value. */
export type PayloadSpec = { as: "text" | "bytes"; pad: number } | { as: "invalid"; value: unknown };

export type Step =
  // application
  | { kind: "connect" }
  | { kind: "disconnect" }
  | { kind: "abort" }
  | { kind: "publish"; topic: unknown; payload: PayloadSpec; options: unknown }
  | { kind: "burst"; count: number; qos: QoS; pad: number }
  | { kind: "subscribe"; filters: unknown; qos: unknown }
  | { kind: "unsubscribe"; filters: unknown }
  // broker
  | { kind: "connack"; returnCode: number }
  | { kind: "answer"; count: number }
  | { kind: "inbound"; qos: QoS; reuseId: boolean; lost: boolean }
  | { kind: "flood"; count: number }
  | { kind: "dupResend" }
  | { kind: "ghost"; oldest: boolean }
  | { kind: "oversize"; qos: QoS }
  | { kind: "brokerRestart" }
  // transport
  | { kind: "establish" }
  | { kind: "refuseTcp" }
  | { kind: "failNextOpen" }
  | { kind: "cut"; error: string | undefined }
  | { kind: "stall" }
  | { kind: "resume"; grant: number }
  // clock
  | { kind: "advance"; ms: number }
  | { kind: "advanceToTimer" };

/** What the generator may look at. */
export interface View {
  /** The application wants a connection (connect() called, no stop since). */
  wanted: boolean;
  /** A socket exists whose TCP connection is not up yet. */
  opening: boolean;
  /** The link is up. */
  up: boolean;
  /** The broker holds a CONNECT it has not answered. */
  awaitingConnack: boolean;
  /** The broker accepted the connection on the current link. */
  connected: boolean;
  /** Responses the broker owes the client. */
  owed: number;
  /** Broker session: subscriptions, messages in flight to the client, released QoS 2 messages it may re-send. */
  subscriptions: number;
  brokerInflight: number;
  released: number;
  hasSession: boolean;
  stalled: boolean;
}

export const LEVELS = ["a", "b", "c"] as const;
export const FILTERS = ["a", "a/b", "a/+", "a/#", "+/b", "#", "b/c", "c", "+", "b/#"] as const;
const INVALID_TOPICS: unknown[] = ["", "a/+", "a/#", "#", "+", "a\u0000b", "a\ud800", 42, null, undefined, {}, Uint8Array.of(97)];
const INVALID_FILTERS: unknown[] = ["", "a/#/b", "a+", "#/a", "a/b#", "a\u0000", 42, null, undefined, {}, []];
const INVALID_PAYLOADS: unknown[] = [42, null, undefined, {}, [1, 2]];
const INVALID_QOS: unknown[] = [3, -1, "1", 1.5];

export function topic(r: Rng): string {
  const n = int(r, 1, 3);
  let t = pick(r, LEVELS) as string;
  for (let i = 1; i < n; i++) t += "/" + pick(r, LEVELS);
  return t;
}

function publishStep(r: Rng): Step {
  const t: unknown = chance(r, 0.05) ? pick(r, INVALID_TOPICS) : topic(r);
  let payload: PayloadSpec;
  if (chance(r, 0.03)) payload = { as: "invalid", value: pick(r, INVALID_PAYLOADS) };
  else payload = { as: chance(r, 0.7) ? "text" : "bytes", pad: chance(r, 0.1) ? int(r, 100, 300) : chance(r, 0.5) ? 0 : int(r, 1, 40) };
  let options: unknown;
  const q = r();
  if (q < 0.03) options = { qos: pick(r, INVALID_QOS) };
  else if (q < 0.2) options = undefined;
  else options = { qos: pick(r, [0, 1, 2] as const), retain: chance(r, 0.1) };
  return { kind: "publish", topic: t, payload, options };
}

function filters(r: Rng): unknown {
  if (chance(r, 0.06)) return chance(r, 0.5) ? pick(r, INVALID_FILTERS) : [pick(r, FILTERS), pick(r, INVALID_FILTERS)];
  if (chance(r, 0.6)) return pick(r, FILTERS);
  const n = int(r, 1, 3);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = pick(r, FILTERS);
    if (!out.includes(f)) out.push(f);
  }
  return out;
}

/** Step makers, in the order of the weights computed by `weights`. */
const MAKERS: ((r: Rng, v: View) => Step)[] = [
  // application
  () => ({ kind: "connect" }),
  () => ({ kind: "disconnect" }),
  () => ({ kind: "abort" }),
  (r) => publishStep(r),
  (r) => ({ kind: "burst", count: int(r, 15, 40), qos: chance(r, 0.7) ? 0 : pick(r, [1, 2] as const), pad: int(r, 100, 200) }),
  (r) => ({ kind: "subscribe", filters: filters(r), qos: chance(r, 0.03) ? pick(r, INVALID_QOS) : pick(r, [0, 1, 2, 2] as const) }),
  (r) => ({ kind: "unsubscribe", filters: filters(r) }),
  // broker
  () => ({ kind: "connack", returnCode: 0 }),
  (r) => ({ kind: "connack", returnCode: int(r, 1, 5) }),
  (r) => ({ kind: "answer", count: int(r, 1, 3) }),
  () => ({ kind: "answer", count: Infinity }),
  (r, v) => ({ kind: "inbound", qos: pick(r, [0, 1, 2, 2] as const), reuseId: chance(r, 0.25), lost: v.connected && chance(r, 0.08) }),
  (r) => ({ kind: "flood", count: int(r, 60, 90) }),
  () => ({ kind: "dupResend" }),
  (r) => ({ kind: "ghost", oldest: chance(r, 0.6) }),
  (r) => ({ kind: "oversize", qos: pick(r, [0, 1, 2] as const) }),
  () => ({ kind: "brokerRestart" }),
  // transport
  () => ({ kind: "establish" }),
  () => ({ kind: "refuseTcp" }),
  () => ({ kind: "failNextOpen" }),
  (r) => ({ kind: "cut", error: pick(r, [undefined, "ECONNRESET", "ETIMEDOUT", "EPIPE"]) }),
  () => ({ kind: "stall" }),
  (r) => ({ kind: "resume", grant: chance(r, 0.4) ? pick(r, GRANTS.small) : chance(r, 0.7) ? GRANTS.normal : GRANTS.large }),
  // clock
  (r) => ({ kind: "advance", ms: int(r, 1, 600) }),
  () => ({ kind: "advanceToTimer" }),
  (r) => ({ kind: "advance", ms: int(r, 5_000, 30_000) }),
];

const weightsBuffer = new Float64Array(MAKERS.length);

/** The weight of each maker in `v`: zero for steps that make no sense there. */
function weights(v: View): Float64Array {
  const w = weightsBuffer;
  let i = 0;
  // application
  w[i++] = v.wanted ? 0.3 : 4; // connect
  w[i++] = v.wanted ? 0.8 : 0.2; // disconnect
  w[i++] = v.wanted ? 0.5 : 0.1; // abort
  w[i++] = 10; // publish
  w[i++] = 0.25; // burst
  w[i++] = 3; // subscribe
  w[i++] = 1.2; // unsubscribe
  // broker
  w[i++] = v.awaitingConnack ? 12 : 0; // CONNACK accept
  w[i++] = v.awaitingConnack ? 1.5 : 0; // CONNACK refuse
  w[i++] = v.owed ? 8 : 0; // answer a few
  w[i++] = v.owed ? 4 : 0; // answer all
  // (the broker only sends on topics the client's subscriptions match)
  w[i++] = !v.subscriptions ? 0 : v.connected ? 5 : v.hasSession ? 0.5 : 0; // new message
  w[i++] = v.connected && v.subscriptions ? 0.4 : 0; // flood
  w[i++] = v.connected && v.brokerInflight ? 2 : 0; // DUP re-send
  w[i++] = v.connected && v.released ? 3 : 0; // ghost
  w[i++] = v.connected && v.subscriptions ? 0.5 : 0; // oversize
  w[i++] = 0.2; // broker restart
  // transport
  w[i++] = v.opening ? 10 : 0; // establish
  w[i++] = v.opening ? 1 : 0; // refuse TCP
  w[i++] = 0.15; // fail next open
  w[i++] = v.up ? 1.2 : 0; // cut
  w[i++] = v.up && !v.stalled ? 0.8 : 0; // stall
  w[i++] = v.stalled ? 2 : 0.5; // resume
  // clock
  w[i++] = 3; // advance a little
  w[i++] = 2.5; // to the next timer
  w[i++] = 0.5; // advance a lot
  return w;
}

/** The next step: a weighted choice among the steps that make sense in `v`. */
export function nextStep(r: Rng, v: View): Step {
  const w = weights(v);
  let total = 0;
  for (let i = 0; i < w.length; i++) total += w[i];
  let x = r() * total;
  for (let i = 0; i < w.length; i++) {
    if (x < w[i]) return MAKERS[i](r, v);
    x -= w[i];
  }
  return MAKERS[3](r, v);
}

// ---- trace formatting ----

export function fmtValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v instanceof Uint8Array) return `Uint8Array[${v.length}]`;
  if (v === undefined) return "undefined";
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

export function fmtStep(s: Step): string {
  switch (s.kind) {
    case "publish": {
      const p = s.payload.as === "invalid" ? fmtValue(s.payload.value) : `${s.payload.as}+${s.payload.pad}`;
      return `publish(${fmtValue(s.topic)}, ${p}, ${fmtValue(s.options)})`;
    }
    case "burst":
      return `burst ${s.count} x q${s.qos} (+${s.pad})`;
    case "subscribe":
      return `subscribe(${fmtValue(s.filters)}, {qos: ${fmtValue(s.qos)}})`;
    case "unsubscribe":
      return `unsubscribe(${fmtValue(s.filters)})`;
    case "connack":
      return s.returnCode === 0 ? "broker: CONNACK accept" : `broker: CONNACK refuse rc=${s.returnCode}`;
    case "answer":
      return `broker: answer ${s.count === Infinity ? "all" : s.count} owed`;
    case "inbound":
      return `broker: new message q${s.qos}${s.reuseId ? " reusing a released id" : ""}${s.lost ? ", then link cut before delivery" : ""}`;
    case "flood":
      return `broker: flood ${s.count} x q2`;
    case "dupResend":
      return "broker: DUP re-send of an in-flight message";
    case "ghost":
      return `broker: DUP re-send of a released QoS 2 message, PUBCOMP unconfirmed (${s.oldest ? "oldest" : "random"})`;
    case "oversize":
      return `broker: oversize q${s.qos} message`;
    case "brokerRestart":
      return "broker: restart (session lost, link cut)";
    case "cut":
      return `net: cut link${s.error ? ` (${s.error})` : ""}`;
    case "resume":
      return `net: writable, grant ${s.grant}`;
    case "advance":
      return `clock: +${s.ms} ms`;
    case "advanceToTimer":
      return "clock: to next timer";
    case "establish": case "refuseTcp": case "failNextOpen": case "stall":
      return `net: ${s.kind}`;
    default:
      return s.kind;
  }
}
