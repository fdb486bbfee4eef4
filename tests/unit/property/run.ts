// Runs one seeded schedule: the real MqttClient (and its Session) over the in-memory network,
// the scripted broker, the fake clock; invariants after every step, then a quiesce phase and
// the end-of-schedule checks. Deterministic for a seed: a failure replays with PROPERTY_SEED.

import { MqttClient } from "../../../modules/mqtt/client.js";
import type { ClientOptions } from "../../../modules/mqtt/client.js";
import type { TimerLike } from "../../../modules/mqtt/io.js";
import { FakeClock, prng } from "../fakes.js";
import { Broker, Network } from "./broker.js";
import type { Config, Step, View } from "./generator.js";
import { GRANTS, fmtStep, genConfig, nextStep } from "./generator.js";
import { Model, validFilters, validPublishOptions, validTopicName } from "./model.js";
import type { Tracker, Violation } from "./model.js";

/**
 * The write-buffer limit each schedule asks for (SessionOptions.maxUnwritten: past it, the
 * client holds publishes in the outbox and stops reading), and the slack allowed over it: one
 * packet the client was already writing plus the acknowledgements of one chunk it had read.
 * The client's own maxUnwritten, when it reports one, is what is checked.
 */
export const WRITE_BUFFER_LIMIT = 2048;
export const WRITE_BUFFER_SLACK = 1024;

export interface RunResult {
  seed: number;
  config: Config;
  /** The steps and (verbose runs) what happened; empty when the schedule passed. */
  trace: string[];
  violations: Violation[];
}

/** Rejections nobody handled (an exception thrown inside the client's own promise callbacks). */
export const unhandled: unknown[] = [];

const textBytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const oneLine = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).split("\n")[0];
/** Stable part of an error message, for grouping: numbers elided. */
const shape = (e: unknown): string => oneLine(e).replace(/\d+/g, "N").slice(0, 60);

export async function runSchedule(seed: number, verbose = false): Promise<RunResult> {
  return new Schedule(seed, verbose).run();
}

class Schedule {
  readonly seed: number;
  readonly verbose: boolean;
  readonly gen: () => number;
  readonly cfg: Config;
  readonly model: Model;
  readonly clock = new FakeClock();
  readonly broker: Broker;
  readonly net: Network;
  readonly client: MqttClient;
  /** Steps (formatted only when a report needs them) and, when verbose, packets and events. */
  readonly trace: (string | Step)[] = [];
  /** Session "send" bytes since the current socket came up. */
  emitted = 0;
  #pubSeq = 0;
  #lastDisconnect: Tracker | undefined;

  constructor(seed: number, verbose: boolean) {
    this.seed = seed;
    this.verbose = verbose;
    this.gen = prng(seed);
    this.cfg = genConfig(this.gen);
    const cfg = this.cfg;
    const model = (this.model = new Model(cfg));
    this.broker = new Broker(cfg, prng(seed ^ 0x5bd1e995), model);
    const guard = (where: string, f: () => void): void => this.guard(where, f);
    this.net = new Network(cfg, this.broker, model, guard);
    this.net.wanted = () => model.wanted;
    this.net.onUp = () => { this.emitted = 0; };
    if (verbose) this.broker.note = (s) => this.trace.push(s);

    const clock = this.clock;
    const timer: TimerLike = {
      set: (callback, delayMs) => clock.timer.set(() => this.guard("timer", callback), delayMs),
      clear: (handle) => clock.timer.clear(handle),
    };
    const options: ClientOptions & { maxUnwritten?: number } = {
      maxUnwritten: WRITE_BUFFER_LIMIT, clientId: "dev", host: "broker.test", socket: { io: this.net.io }, timer, now: () => clock.now,
      random: prng(seed ^ 0x2545f491), clean: cfg.clean, keepalive: cfg.keepalive, connectTimeoutMs: cfg.connectTimeoutMs,
      reconnect: cfg.reconnect, inflightWindow: cfg.inflightWindow, maxPacketSize: cfg.maxPacketSize, outbox: { ...cfg.outbox },
    };
    if (cfg.pingTimeoutMs !== undefined) options.pingTimeoutMs = cfg.pingTimeoutMs;
    this.client = new MqttClient(options);
    this.#meter(this.client.session);
    model.stopping = () => this.#lastDisconnect?.state === "pending";
    model.clientConnected = () => this.client.connected;

    this.client.on("message", (m) => {
      this.note(`  . message ${m.topic} q${m.qos}${m.dup ? " dup" : ""}`);
      model.delivered(m.topic, m.payload, m.qos);
    });
    this.client.on("disconnected", (d) => {
      this.note(`  . disconnected ${d.error?.code ?? "-"} ${d.reconnectInMs ?? "(no retry)"}`);
      model.disconnected(d.reconnectInMs, d.error?.code);
    });
    this.client.on("connected", (c) => {
      this.note(`  . connected sp=${c.sessionPresent ? 1 : 0}`);
      model.connected();
    });
    this.client.on("error", (e) => this.note(`  . error ${e.code}: ${e.message}`));
  }

  note(s: string): void {
    if (this.verbose) this.trace.push(s);
  }

  guard(where: string, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.model.violation(`escape:${where}:${shape(e)}`, `${where} threw ${oneLine(e)}\n${(e as Error)?.stack ?? ""}`);
    }
  }

  /**
   * Counts the bytes of every "send" action the session returns (outermost calls only, up to a
   * "close" in the batch), so the client's unwritten buffer is emitted - written.
   */
  #meter(session: object): void {
    let depth = 0;
    const proto = Object.getPrototypeOf(session) as object;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, name);
      if (name === "constructor" || !d || typeof d.value !== "function") continue;
      const f = d.value as (...args: unknown[]) => unknown;
      Object.defineProperty(session, name, {
        configurable: true, writable: true,
        value: (...args: unknown[]): unknown => {
          depth++;
          let r: unknown;
          try {
            r = f.apply(session, args);
          } finally {
            depth--;
          }
          if (depth === 0 && Array.isArray(r)) {
            for (const a of r as { type?: string; bytes?: Uint8Array; payload?: Uint8Array }[]) {
              if (a?.type === "close") break;
              if (a?.type === "send") this.emitted += (a.bytes?.length ?? 0) + (a.payload?.length ?? 0);
            }
          }
          return r;
        },
      });
    }
  }

  get unwritten(): number {
    const s = this.net.current;
    return s && s.state === "up" ? this.emitted - this.net.written : 0;
  }

  view(): View {
    const b = this.broker;
    const s = this.net.current;
    return {
      wanted: this.model.wanted,
      opening: s?.state === "opening",
      up: s?.state === "up",
      awaitingConnack: b.awaitingConnack,
      connected: b.connected,
      owed: b.conn?.owed.length ?? 0,
      subscriptions: b.session?.subscriptions.size ?? 0,
      brokerInflight: b.inflightToClient,
      released: b.ghostCandidates,
      hasSession: !!b.session,
      stalled: this.net.stalled,
    };
  }

  async run(): Promise<RunResult> {
    const { model } = this;
    for (let i = 0; i < this.cfg.steps && !model.violations.length; i++) {
      model.step = i;
      const step = nextStep(this.gen, this.view());
      this.trace.push(step);
      this.apply(step);
      await this.pump();
      this.checkStep();
    }
    if (!model.violations.length) await this.quiesce();
    await new Promise((resolve) => setImmediate(resolve));
    for (const e of unhandled.splice(0)) model.violation(`escape:unhandled-rejection:${shape(e)}`, `${oneLine(e)}\n${(e as Error)?.stack ?? ""}`);
    let i = 0;
    const trace = model.violations.length ? this.trace.map((t) => (typeof t === "string" ? t : `${i++}: ${fmtStep(t)}`)) : [];
    return { seed: this.seed, config: this.cfg, trace, violations: model.violations };
  }

  // ---- steps ----

  apply(s: Step): void {
    const { client, model, broker, net } = this;
    switch (s.kind) {
      case "connect":
        return this.connect();
      case "disconnect": {
        // From here the client handles nothing more it reads on this socket, even if
        // connect() is called again before the socket is closed.
        if (net.current) net.current.stopped = true;
        const stop = model.stop("disconnect");
        const mark = model.mark();
        this.guard("disconnect", () => {
          const t = model.track("disconnect", "disconnect()", client.disconnect(), mark);
          stop.tracker = t;
          this.#lastDisconnect = t;
        });
        return;
      }
      case "abort":
        model.stop("abort");
        return this.guard("abort", () => client.abort());
      case "publish": {
        const tag = `p${++this.#pubSeq}`;
        let payload: unknown;
        if (s.payload.as === "invalid") payload = s.payload.value;
        else {
          const text = s.payload.pad ? `${tag}:${"x".repeat(s.payload.pad)}` : tag;
          payload = s.payload.as === "text" ? text : textBytes(text);
        }
        return this.publish(tag, s.topic, payload, s.options);
      }
      case "burst":
        for (let i = 0; i < s.count; i++) {
          const tag = `p${++this.#pubSeq}`;
          this.publish(tag, i % 2 ? "a/b" : "b", `${tag}:${"y".repeat(s.pad)}`, { qos: s.qos });
        }
        return;
      case "subscribe":
      case "unsubscribe": {
        const valid = s.kind === "subscribe" ? validFilters(s.filters, s.qos) : validFilters(s.filters, undefined);
        const filters = valid ? (Array.isArray(s.filters) ? [...s.filters] : [s.filters]) as string[] : undefined;
        const label = `${s.kind}(${JSON.stringify(s.filters) ?? "undefined"})`;
        const mark = model.mark();
        this.guard(s.kind, () => {
          const result = s.kind === "subscribe"
            ? client.subscribe(s.filters as string, { qos: s.qos as 0 })
            : client.unsubscribe(s.filters as string);
          const t = model.track(s.kind, label, result, mark, filters ? { valid, filters } : { valid });
          if (filters) model.filterOp(s.kind, filters, t);
        });
        return;
      }
      case "connack":
        return broker.connack(s.returnCode);
      case "answer":
        return broker.answer(s.count);
      case "inbound":
        broker.inbound(s.qos, s.reuseId, s.lost);
        return;
      case "flood":
        return broker.flood(s.count);
      case "dupResend":
        return broker.dupResend();
      case "ghost":
        return broker.ghost(s.oldest);
      case "oversize":
        return broker.oversize(s.qos);
      case "brokerRestart":
        return broker.restart();
      case "establish":
        return net.establish();
      case "refuseTcp": {
        const c = net.current;
        if (c?.state === "opening") net.cut(c, "ECONNREFUSED");
        return;
      }
      case "failNextOpen":
        net.failNextOpen = true;
        return;
      case "cut":
        return net.cut(net.current, s.error);
      case "stall":
        net.stalled = true;
        return;
      case "resume":
        net.stalled = false;
        net.grant = s.grant;
        if (net.current?.state === "up") net.writable(net.current, s.grant);
        return;
      case "advance":
        return this.advance(s.ms);
      case "advanceToTimer":
        return this.advance(Math.max(0, this.clock.pending[0] ?? 1000));
    }
  }

  connect(): void {
    this.model.connectCalled();
    const mark = this.model.mark();
    this.guard("connect", () => { this.model.track("connect", "connect()", this.client.connect(), mark); });
  }

  publish(tag: string, topic: unknown, payload: unknown, options: unknown): void {
    const valid = validTopicName(topic) && (typeof payload === "string" || payload instanceof Uint8Array) && validPublishOptions(options);
    const qos = valid ? ((options as { qos?: number } | undefined)?.qos ?? 0) : undefined;
    const label = `publish ${tag} q${qos ?? "?"}${valid ? ` ${topic as string}` : ""}`;
    const mark = this.model.mark();
    this.guard("publish", () => {
      const result = this.client.publish(topic as string, payload as string, options as { qos: 0 });
      this.model.track("publish", label, result, mark, qos === undefined ? { valid, tag } : { valid, tag, qos });
    });
  }

  advance(ms: number): void {
    this.guard("clock", () => this.clock.advance(ms));
  }

  /** Lets microtasks run and the transport move: refills the write budget, cooperative answers. */
  async pump(): Promise<void> {
    for (let i = 0; i < 64; i++) {
      await null;
      await null;
      await null;
      let progress = this.net.refill();
      if (this.broker.cooperative) {
        if (this.net.current?.state === "opening") {
          this.net.establish();
          progress = true;
        }
        if (this.broker.autoRespond()) progress = true;
      }
      if (!progress) return;
    }
  }

  // ---- invariants after every step ----

  checkStep(): void {
    const { model, cfg } = this;
    model.checkInvalidSettled();
    const session = this.client.session as unknown as { queued?: number; inflight?: number; queuedBytes?: number; maxUnwritten?: number };
    const unwritten = this.unwritten;
    const bound = (session.maxUnwritten ?? WRITE_BUFFER_LIMIT) + WRITE_BUFFER_SLACK;
    if (unwritten > bound) {
      model.violation("bound:write-buffer", `${unwritten} bytes queued for the socket, bound ${bound} (maxUnwritten + one packet's slack)`);
    }
    if (typeof session.queued === "number" && session.queued > cfg.outbox.maxMessages) {
      model.violation("bound:outbox-messages", `${session.queued} messages queued, maxMessages ${cfg.outbox.maxMessages}`);
    }
    if (typeof session.queuedBytes === "number" && session.queuedBytes > cfg.outbox.maxBytes) {
      model.violation("bound:outbox-bytes", `${session.queuedBytes} payload bytes queued, maxBytes ${cfg.outbox.maxBytes}`);
    }
    if (typeof session.inflight === "number" && session.inflight > cfg.inflightWindow) {
      model.violation("bound:inflight-window", `${session.inflight} publishes in flight, inflightWindow ${cfg.inflightWindow}`);
    }
  }

  // ---- the end ----

  /** Advances the clock to the next timer (at least 1 ms, at most `cap`). */
  tick(cap = 1000): void {
    const next = this.clock.pending[0];
    this.advance(Math.min(cap, Math.max(1, next ?? cap)));
  }

  async quiesce(): Promise<void> {
    const { model, broker, net } = this;
    model.step = -1;
    this.trace.push("quiesce: broker cooperative, link writable, clock runs");
    broker.cooperative = true;
    net.failNextOpen = false;
    net.stalled = false;
    net.grant = GRANTS.large;
    if (net.current?.state === "up") net.writable(net.current, net.grant);

    // 1. A stopped client finishes stopping: everything pending at the stop settles.
    if (!model.wanted) {
      for (let i = 0; i < 8; i++) {
        await this.pump();
        this.tick();
      }
      await new Promise((resolve) => setImmediate(resolve));
      model.checkStopsSettled();
      if (model.violations.length) return;
      this.trace.push("quiesce: connect()");
      this.connect();
    }

    // 2. Connected to a cooperative broker, everything completes: no lost wake-up.
    if (!(await this.settle())) return;
    this.checkStep();

    // Every QoS 1/2 message the client accepted reached the broker. (With "drop-oldest", a
    // message rejected CLOSED at a stop may since have been dropped to make room, silently:
    // its promise had settled.)
    for (const t of model.acceptedQos12()) {
      if (t.state === "rejected" && this.cfg.outbox.overflow === "drop-oldest") continue;
      if (!model.brokerReceived.has(t.tag as string)) {
        model.violation(`lost-message:q${t.qos}-${t.state === "resolved" ? "resolved" : "closed"}`,
          `${t.label} (step ${t.step}, ${t.state}${t.code ? " " + t.code : ""}) never reached the broker`);
      }
    }
    broker.finishResume();

    // The broker's subscriptions are what the application asked for; give the client time,
    // then one reconnect, to retry what the broker refused.
    let mismatch = this.subscriptionMismatch();
    if (mismatch.length) {
      for (let i = 0; i < 24; i++) {
        this.tick(5000);
        await this.pump();
      }
      if (await this.settle()) mismatch = this.subscriptionMismatch();
    }
    if (mismatch.length) {
      this.trace.push("quiesce: cut the link once");
      net.cut(net.current, "ECONNRESET");
      if (await this.settle()) mismatch = this.subscriptionMismatch();
    }
    if (mismatch.length) this.trace.push(`quiesce: subscriptions still differ`);
    for (const [kind, detail] of mismatch) model.violation(kind, detail);
  }

  /** Drives the client to a stable connection; records a lost-wake-up violation if it never gets there. */
  async settle(): Promise<boolean> {
    let reasons: [string, string][] = [];
    let reconnects = 0;
    for (let round = 0; round < 80; round++) {
      await this.pump();
      reasons = this.unstable();
      if (!reasons.length) return true;
      if (this.model.violations.length) return false;
      // The client may give up (reconnect off, attempts used up): the application connects again.
      if (!this.model.wanted && reconnects++ < 2) {
        this.trace.push("quiesce: connect() again");
        this.connect();
        continue;
      }
      this.tick();
    }
    await new Promise((resolve) => setImmediate(resolve));
    reasons = this.unstable();
    if (!reasons.length) return true;
    const [kind] = reasons[0];
    this.model.violation(kind, "after quiesce (cooperative broker, link up, clock advanced): " + reasons.map(([, d]) => d).join("; "));
    return false;
  }

  /** Why the client is not at rest on a live connection: [kind, detail] pairs, most telling first. */
  unstable(): [string, string][] {
    const { model, broker, client, net } = this;
    const out: [string, string][] = [];
    const pending = model.pending();
    for (const t of pending.slice(0, 4)) {
      out.push([`lost-wakeup:pending-${t.kind === "publish" ? `publish-q${t.qos}` : t.kind}`, `${t.label} (step ${t.step}) pending`]);
    }
    if (!model.wanted) out.push(["lost-wakeup:gave-up", "the client gave up even against a cooperative broker"]);
    if (!client.connected || net.current?.state !== "up" || !broker.connected) out.push(["lost-wakeup:not-connected", "not connected"]);
    const session = client.session as unknown as { queued?: number; inflight?: number };
    if (session.queued) out.push(["lost-wakeup:client-outbox", `${session.queued} messages still queued in the client`]);
    if (session.inflight) out.push(["lost-wakeup:client-inflight", `${session.inflight} publishes still in flight in the client`]);
    const s = broker.session;
    if (s) {
      const stuck = [...s.out.values()];
      const normal = stuck.filter((m) => !m.oversize);
      if (normal.length) out.push(["lost-wakeup:broker-inflight", `broker messages never acknowledged: ${normal.map((m) => `${m.tag} q${m.qos} #${m.id} ${m.stage}`).join(", ")}`]);
      else if (stuck.length) out.push(["oversize-unacked", `oversize messages never acknowledged, so the broker keeps them in flight: ${stuck.map((m) => `${m.tag} q${m.qos}`).join(", ")}`]);
      if (s.exchanges.size) out.push(["lost-wakeup:client-exchanges", `client exchanges open at the broker: ${[...s.exchanges].map(([id, e]) => `#${id} ${e.kind} ${e.tag ?? ""}`).join(", ")}`]);
    }
    if (this.unwritten > 0) out.push(["lost-wakeup:unwritten", `${this.unwritten} bytes never written`]);
    return out;
  }

  subscriptionMismatch(): [string, string][] {
    const have = this.broker.session?.subscriptions ?? new Map<string, number>();
    const out: [string, string][] = [];
    for (const [filter, want] of this.model.expectedSubscriptions()) {
      if (want === true && !have.has(filter)) {
        out.push([this.model.refused.has(filter) ? "subscription:refused-not-retried" : "subscription:missing",
          `the application subscribed to ${filter}${this.model.refused.has(filter) ? " (refused once by the broker)" : ""} but the broker has no such subscription`]);
      } else if (want === false && have.has(filter)) {
        out.push(["subscription:unexpected", `the application unsubscribed from ${filter} but the broker still has it`]);
      }
    }
    return out;
  }
}
