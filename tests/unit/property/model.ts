// The reference model and the invariants. It knows what the application asked for (a
// tracker per API promise, the subscriptions it wants), what the broker did (through the
// Monitor calls the fake broker makes) and what the client delivered, and it records a
// Violation the moment an invariant breaks. The settle rules it enforces are the client's
// contract:
//
//   publish QoS 0   resolves once its bytes are handed to the socket; rejects INVALID_ARGUMENT
//                   (bad arguments), QUEUE_FULL, or CLOSED/DISCONNECTED.
//   publish QoS 1/2 resolves on PUBACK / PUBCOMP; stays pending across connection losses while
//                   the client reconnects; rejects CLOSED on disconnect()/abort()/give-up (the
//                   message stays in the outbox and is sent after the next connect()).
//   subscribe       resolves on SUBACK; rejects SUBSCRIBE_FAILED when the broker refuses a filter
//                   (the filter stays wanted and the client retries it); CLOSED on a stop.
//   unsubscribe     resolves on UNSUBACK; rejects CLOSED on a stop.
//   connect()       resolves on CONNACK; rejects when the client gives up, on disconnect(), abort().
//   disconnect()    always resolves.
//   Nothing stays pending after disconnect()/abort()/give-up.
//
// A "stop" is disconnect(), abort(), or the client giving up (a "disconnected" event with no
// reconnectInMs while the application still wanted the connection).

import type { Config } from "./generator.js";

export interface Violation {
  /** Stable short name: failures are grouped by it. */
  kind: string;
  detail: string;
  step: number;
}

export type TrackerKind = "connect" | "disconnect" | "publish" | "subscribe" | "unsubscribe";

export interface Tracker {
  kind: TrackerKind;
  label: string;
  step: number;
  /** The arguments were valid (by the model's own rules, not the client's). */
  valid: boolean;
  qos?: number;
  tag?: string;
  filters?: string[];
  state: "pending" | "resolved" | "rejected";
  code?: string;
  /** Pending when a stop happened: must settle (reject, or QoS 0 resolve) and never resolve later. */
  doomedBy?: Stop;
  stopsAtCreate: number;
  createdWhileStopping: boolean;
  /** The fact sequence number when the call was made. */
  seqAtCall: number;
  connectedAtCall: boolean;
}

export type Mark = Pick<Tracker, "stopsAtCreate" | "createdWhileStopping" | "seqAtCall" | "connectedAtCall">;

export interface Stop {
  reason: "disconnect" | "abort" | "give-up";
  step: number;
  /** Facts numbered up to this one happened before the stop. */
  seq: number;
  /** For disconnect(): its own promise; the stop completes when it resolves. */
  tracker?: Tracker;
}

interface InboundMessage {
  tag: string;
  qos: number;
  topic: string;
  oversize: boolean;
  delivered: number;
}

/** What the fake broker tells the model. */
export interface Monitor {
  violation(kind: string, detail: string): void;
  /** The broker decoded a PUBLISH from the client. */
  clientPublish(tag: string, qos: number, dup: boolean): void;
  /** An acknowledgement reached the client (and was processed). */
  pubackDelivered(tag: string): void;
  pubrecDelivered(tag: string): void;
  pubcompDelivered(tag: string): void;
  connackDelivered(sessionPresent: boolean): void;
  subackDelivered(filters: string[], granted: number[]): void;
  unsubackDelivered(): void;
  /** The broker sent a new message (each with a unique tag in its payload). */
  brokerSent(tag: string, qos: number, topic: string, oversize: boolean): void;
  /** The client acknowledged a broker message: PUBACK for QoS 1, PUBREC for QoS 2. */
  brokerMessageAcked(tag: string): void;
  /** Whether what reaches the client now is processed (false once a stop began). */
  readonly processing: boolean;
}

export const tagOf = (text: string): string => {
  const i = text.indexOf(":");
  return i < 0 ? text : text.slice(0, i);
};

/** Tags are "p<n>" for client publishes, "m<n>"/"o<n>" for broker messages; n orders them. */
export const tagSeq = (tag: string): number => Number(tag.slice(1));

// ---- argument validity, by the MQTT rules, independent of the client's own checks ----

function validUtf8(s: string): boolean {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return false;
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
      bytes += 4;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
    else bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
  }
  return bytes <= 0xffff;
}

export function validTopicName(t: unknown): t is string {
  return typeof t === "string" && t.length > 0 && !/[+#]/.test(t) && validUtf8(t);
}

export function validTopicFilter(f: unknown): f is string {
  if (typeof f !== "string" || f.length === 0 || !validUtf8(f)) return false;
  const levels = f.split("/");
  return levels.every((l, i) => (l.includes("#") ? l === "#" && i === levels.length - 1 : !l.includes("+") || l === "+"));
}

const validQos = (q: unknown): boolean => q === 0 || q === 1 || q === 2;

export function validPublishOptions(o: unknown): boolean {
  if (o === undefined) return true;
  if (typeof o !== "object" || o === null) return false;
  const { qos, retain } = o as { qos?: unknown; retain?: unknown };
  return (qos === undefined || validQos(qos)) && (retain === undefined || typeof retain === "boolean");
}

export function validFilters(filters: unknown, qos: unknown): filters is string | string[] {
  const list = Array.isArray(filters) ? filters : [filters];
  return list.length > 0 && list.every(validTopicFilter) && (qos === undefined || validQos(qos));
}

// ---- the model ----

/** Kind prefixes not recorded (PROPERTY_IGNORE): to look past known defects, never by default. */
const ignored: string[] = [];
export function ignoreKinds(prefixes: string[]): void {
  ignored.splice(0, ignored.length, ...prefixes.filter((p) => p.length));
}

export class Model {
  readonly cfg: Config;
  readonly violations: Violation[] = [];
  /** Step index, for attribution; -1 = quiesce. */
  step = 0;
  readonly trackers: Tracker[] = [];
  wanted = false;
  readonly stops: Stop[] = [];
  /** Calls with invalid arguments made in the current step: they must settle within it. */
  readonly invalidThisStep: Tracker[] = [];

  // Broker facts, each numbered in order so that a resolution can be placed before or after a
  // stop (the promise callback that reports it runs later, in a microtask).
  #seq = 0;
  /** tag -> the fact's number. */
  readonly brokerReceived = new Map<string, number>();
  readonly pubacked = new Map<string, number>();
  readonly pubrecd = new Map<string, number>();
  readonly pubcomped = new Map<string, number>();
  /** QoS 2 messages the broker PUBREC'd whose session was then lost: complete without PUBCOMP. */
  readonly recdThenSessionLost = new Map<string, number>();
  readonly connacks: number[] = [];
  readonly subacks: number[] = [];
  readonly unsubacks: number[] = [];
  readonly refused = new Set<string>();
  readonly inbound = new Map<string, InboundMessage>();

  /** Filter operations in call order: what the broker's subscriptions must end as. */
  readonly #filterOps = new Map<string, { op: "subscribe" | "unsubscribe"; tracker: Tracker }[]>();
  /** Set by the runner: whether a socket of the client is still open (a disconnect in progress). */
  stopping = (): boolean => false;
  /** Set by the runner: whether the client reports itself connected. */
  clientConnected = (): boolean => false;

  constructor(cfg: Config) {
    this.cfg = cfg;
  }

  violation(kind: string, detail: string): void {
    if (ignored.length && ignored.some((p) => kind.startsWith(p))) return;
    this.violations.push({ kind, detail, step: this.step });
  }

  get processing(): boolean {
    return this.wanted;
  }

  // ---- API calls and their promises ----

  /** The facts a tracker compares against, taken just before the API call. */
  mark(): Mark {
    return {
      stopsAtCreate: this.stops.length, createdWhileStopping: !this.wanted && this.stopping(),
      seqAtCall: this.#seq, connectedAtCall: this.clientConnected(),
    };
  }

  /** Follows the promise an API call returned; `mark` was taken before the call. */
  track(kind: TrackerKind, label: string, result: unknown, mark: Mark, extra: Partial<Tracker> = {}): Tracker {
    const t: Tracker = { kind, label, step: this.step, valid: true, state: "pending", ...mark, ...extra };
    // A stop during the call itself (a give-up inside connect(), say) dooms it too.
    if (this.stops.length > mark.stopsAtCreate) t.doomedBy = this.stops[this.stops.length - 1];
    this.trackers.push(t);
    if (!t.valid) this.invalidThisStep.push(t);
    if (!(result instanceof Promise)) {
      this.violation(`api:${kind}-not-a-promise`, `${label} returned ${typeof result}, not a Promise`);
      t.state = "rejected";
      return t;
    }
    result.then((v) => this.#settled(t, "resolved", v), (e) => this.#settled(t, "rejected", e));
    return t;
  }

  filterOp(op: "subscribe" | "unsubscribe", filters: string[], tracker: Tracker): void {
    for (const f of filters) {
      let ops = this.#filterOps.get(f);
      if (!ops) this.#filterOps.set(f, (ops = []));
      ops.push({ op, tracker });
    }
  }

  connectCalled(): void {
    // Stops that have completed must have settled everything pending at them.
    for (const t of this.trackers) {
      if (t.state === "pending" && t.doomedBy && (t.doomedBy.reason !== "disconnect" || t.doomedBy.tracker?.state !== "pending")) {
        this.violation(`pending-after-stop:${this.#kindKey(t)}`,
          `${t.label} (step ${t.step}) is still pending at connect(), after ${t.doomedBy.reason} at step ${t.doomedBy.step}`);
      }
    }
    this.wanted = true;
  }

  stop(reason: Stop["reason"]): Stop {
    const s: Stop = { reason, step: this.step, seq: this.#seq };
    this.stops.push(s);
    this.wanted = false;
    for (const t of this.trackers) if (t.state === "pending" && !t.doomedBy) t.doomedBy = s;
    return s;
  }

  #kindKey(t: Tracker): string {
    return t.kind === "publish" ? `publish-q${t.qos ?? "?"}` : t.kind;
  }

  #settled(t: Tracker, state: "resolved" | "rejected", v: unknown): void {
    t.state = state;
    const key = this.#kindKey(t);
    const where = `${t.label} (step ${t.step})`;
    if (state === "rejected") {
      const code = (v as { code?: unknown })?.code;
      t.code = typeof code === "string" ? code : `non-MqttError ${String(v)}`;
    }
    if (!t.valid) {
      if (state === "resolved" || t.code !== "INVALID_ARGUMENT") {
        this.violation(`settle:${t.kind}-invalid-args`, `${where} has invalid arguments but ${state === "resolved" ? "resolved" : `rejected ${t.code}`}`);
      }
      return;
    }
    if (t.code === "INVALID_ARGUMENT") {
      this.violation(`settle:${t.kind}-valid-args-rejected`, `${where} has valid arguments but rejected INVALID_ARGUMENT`);
      return;
    }
    const stoppedSince = this.stops.length > t.stopsAtCreate || t.createdWhileStopping;
    if (state === "resolved") {
      const seq = this.#checkResolution(t, v, key, where);
      if (seq !== undefined && t.doomedBy && seq > t.doomedBy.seq) {
        this.violation(`settle:${key}-resolved-after-stop`, `${where} resolved after ${t.doomedBy.reason} at step ${t.doomedBy.step}; it must reject CLOSED then`);
      }
      return;
    }
    // rejected
    const code = t.code as string;
    const allowed: Record<TrackerKind, string[]> = {
      publish: t.qos === 0 ? ["QUEUE_FULL", "CLOSED", "DISCONNECTED"] : ["QUEUE_FULL", "CLOSED"],
      subscribe: ["SUBSCRIBE_FAILED", "CLOSED", "QUEUE_FULL"],
      unsubscribe: ["CLOSED", "QUEUE_FULL"],
      connect: [],
      disconnect: [],
    };
    if (t.kind === "disconnect") {
      this.violation("settle:disconnect-rejected", `${where} rejected ${code}; disconnect() always resolves`);
    } else if (t.kind === "connect") {
      if (!stoppedSince) this.violation("settle:connect-rejected-while-wanted", `${where} rejected ${code} while the client still retries`);
    } else if (!allowed[t.kind].includes(code)) {
      this.violation(`settle:${key}-rejected-${code}`, `${where} rejected ${code}, not one of ${allowed[t.kind].join("/")}`);
    } else if (code === "CLOSED" && !stoppedSince) {
      this.violation(`settle:${key}-closed-while-wanted`, `${where} rejected CLOSED with no disconnect()/abort()/give-up since it was made`);
    } else if (code === "SUBSCRIBE_FAILED" && !(t.filters ?? []).some((f) => this.refused.has(f))) {
      this.violation("settle:subscribe-failed-unrefused", `${where} rejected SUBSCRIBE_FAILED but the broker never refused ${t.filters?.join(",")}`);
    }
  }

  /**
   * Checks that the fact a resolution needs happened; returns the earliest fact number that
   * justifies it (undefined when nothing does, or nothing is needed).
   */
  #checkResolution(t: Tracker, v: unknown, key: string, where: string): number | undefined {
    const after = (list: number[]): number | undefined => list.find((n) => n > t.seqAtCall);
    switch (t.kind) {
      case "publish": {
        const tag = t.tag as string;
        if (t.qos === 0) {
          const seq = this.brokerReceived.get(tag);
          if (seq === undefined) this.violation(`settle:${key}-resolved-early`, `${where} resolved before its bytes were written`);
          return undefined; // a QoS 0 message written while disconnecting may resolve
        }
        const seq = t.qos === 1 ? this.pubacked.get(tag) : this.pubcomped.get(tag) ?? this.recdThenSessionLost.get(tag);
        if (seq === undefined) {
          this.violation(`settle:${key}-resolved-early`, `${where} resolved before ` +
            (t.qos === 1 ? "the broker's PUBACK for it" : "the broker's PUBCOMP for it (or its PUBREC and then a lost session)"));
        }
        return seq;
      }
      case "subscribe": {
        const n = t.filters?.length ?? 0;
        const seq = after(this.subacks);
        if (!Array.isArray(v) || v.length !== n || !v.every((g) => g === 0 || g === 1 || g === 2)) {
          this.violation("settle:subscribe-bad-value", `${where} resolved with ${JSON.stringify(v)}, not ${n} granted QoS`);
        } else if (seq === undefined) {
          this.violation("settle:subscribe-resolved-early", `${where} resolved with no SUBACK since the call`);
        }
        return seq;
      }
      case "unsubscribe": {
        const seq = after(this.unsubacks);
        if (seq === undefined) this.violation("settle:unsubscribe-resolved-early", `${where} resolved with no UNSUBACK since the call`);
        return seq;
      }
      case "connect": {
        if (t.connectedAtCall) return undefined;
        const seq = after(this.connacks);
        if (seq === undefined) this.violation("settle:connect-resolved-early", `${where} resolved with no accepting CONNACK since the call`);
        return seq;
      }
      case "disconnect":
        return undefined;
    }
  }

  /** Called from the client's "disconnected" event. */
  disconnected(reconnectInMs: number | undefined, code: string | undefined): void {
    if (code === "PACKET_TOO_LARGE") {
      this.violation("oversize-closes-connection", "an inbound packet larger than maxPacketSize closed the connection (PACKET_TOO_LARGE)");
    }
    if (reconnectInMs === undefined) {
      if (this.wanted) this.stop("give-up");
    } else if (!this.wanted) {
      this.violation("reconnect-after-stop", `"disconnected" announces a reconnect in ${reconnectInMs} ms after a stop`);
    }
  }

  connected(): void {
    if (!this.wanted) this.violation("connected-after-stop", `"connected" emitted after a stop`);
  }

  // ---- inbound messages ----

  delivered(topic: string, payload: Uint8Array, qos: number): void {
    const tag = tagOf(String.fromCharCode(...payload.subarray(0, 12)));
    const m = this.inbound.get(tag);
    if (!m) {
      this.violation("delivery:unknown-message", `delivered a message the broker never sent: ${topic} '${tag}'`);
      return;
    }
    if (m.topic !== topic) this.violation("delivery:wrong-topic", `${tag} delivered on ${topic}, sent on ${m.topic}`);
    if (m.oversize) this.violation("delivery:oversize", `${tag} is larger than maxPacketSize but was delivered`);
    m.delivered++;
    if (m.delivered > 1 && m.qos !== 1) {
      this.violation(`delivery:q${m.qos}-duplicate`, `QoS ${m.qos} message ${tag} delivered ${m.delivered} times (qos field ${qos})`);
    }
  }

  // ---- Monitor: what the broker reports ----

  clientPublish(tag: string, _qos: number, _dup: boolean): void {
    if (!this.brokerReceived.has(tag)) this.brokerReceived.set(tag, ++this.#seq);
  }
  pubackDelivered(tag: string): void {
    if (!this.pubacked.has(tag)) this.pubacked.set(tag, ++this.#seq);
  }
  pubrecDelivered(tag: string): void {
    if (!this.pubrecd.has(tag)) this.pubrecd.set(tag, ++this.#seq);
  }
  pubcompDelivered(tag: string): void {
    if (!this.pubcomped.has(tag)) this.pubcomped.set(tag, ++this.#seq);
  }
  connackDelivered(sessionPresent: boolean): void {
    const seq = ++this.#seq;
    this.connacks.push(seq);
    if (!sessionPresent) {
      for (const tag of this.pubrecd.keys()) if (!this.pubcomped.has(tag) && !this.recdThenSessionLost.has(tag)) this.recdThenSessionLost.set(tag, seq);
    }
  }
  subackDelivered(filters: string[], granted: number[]): void {
    this.subacks.push(++this.#seq);
    granted.forEach((g, i) => { if (g === 0x80) this.refused.add(filters[i]); });
  }
  unsubackDelivered(): void {
    this.unsubacks.push(++this.#seq);
  }
  brokerSent(tag: string, qos: number, topic: string, oversize: boolean): void {
    this.inbound.set(tag, { tag, qos, topic, oversize, delivered: 0 });
  }
  brokerMessageAcked(tag: string): void {
    const m = this.inbound.get(tag);
    if (m && !m.oversize && m.delivered === 0) {
      this.violation(`delivery:q${m.qos}-acked-undelivered`, `the client acknowledged QoS ${m.qos} message ${tag} without delivering it`);
    }
  }

  /** After each step: calls with invalid arguments were rejected at once, not queued. */
  checkInvalidSettled(): void {
    for (const t of this.invalidThisStep) {
      if (t.state === "pending") this.violation(`settle:${t.kind}-invalid-args-accepted`, `${t.label} (step ${t.step}) has invalid arguments but is still pending (accepted)`);
    }
    this.invalidThisStep.length = 0;
  }

  // ---- end-of-schedule checks ----

  /** After the stop was flushed out: everything pending at a stop has settled. */
  checkStopsSettled(): void {
    for (const t of this.trackers) {
      if (t.state !== "pending") continue;
      if (t.kind === "disconnect") this.violation("pending-after-stop:disconnect", `${t.label} (step ${t.step}) never resolved`);
      else if (t.doomedBy) {
        this.violation(`pending-after-stop:${this.#kindKey(t)}`,
          `${t.label} (step ${t.step}) still pending after ${t.doomedBy.reason} at step ${t.doomedBy.step} and quiesce`);
      }
    }
  }

  pending(): Tracker[] {
    return this.trackers.filter((t) => t.state === "pending");
  }

  /** Filters the broker must (true), must not (false) or may (undefined) hold at the end. */
  expectedSubscriptions(): Map<string, boolean | undefined> {
    const out = new Map<string, boolean | undefined>();
    for (const [filter, ops] of this.#filterOps) {
      let state: boolean | undefined = false;
      for (const { op, tracker: t } of ops) {
        if (t.state === "pending") state = undefined;
        else if (t.code === "INVALID_ARGUMENT" || (t.code === "QUEUE_FULL" && !t.doomedBy)) continue; // refused: no effect
        else if (op === "subscribe") state = t.state === "resolved" || t.code === "SUBSCRIBE_FAILED" ? true : state === true ? true : undefined;
        else state = t.state === "resolved" ? false : state === false ? false : undefined;
      }
      out.set(filter, state);
    }
    return out;
  }

  /**
   * QoS 1/2 publishes the client accepted: resolved, or pending at a stop and then rejected
   * CLOSED (kept in the outbox). One rejected CLOSED when made, while disconnecting, was refused.
   */
  acceptedQos12(): Tracker[] {
    return this.trackers.filter((t) => t.kind === "publish" && t.valid && (t.qos === 1 || t.qos === 2) &&
      (t.state === "resolved" || (t.code === "CLOSED" && t.doomedBy !== undefined)));
  }
}
