// A scripted MQTT 3.1.1 broker for one client, and the in-memory network between them.
//
// The broker decodes what the client writes (modules/mqtt/decode.ts), keeps a session
// across connections when the client asks for one (clean=false): its own QoS 1/2 messages
// in flight to the client, the client's QoS 1/2 exchanges not yet complete, subscriptions,
// and the QoS 2 messages it has released (for its mosquitto-2.0-style misbehaviour: re-sending
// a released message as a DUP PUBLISH). It answers only when a step tells it to ("owed"
// responses, in order), unless `cooperative`, when it answers everything at once.
//
// The misbehaviour is bounded the way a real broker's is: it re-sends a released message only
// while the client cannot know the broker processed that PUBCOMP, i.e. until the client has
// read the broker's answer to some packet it sent after the PUBCOMP (a PINGRESP, say). A
// client that remembers released ids until then is exactly-once; one that forgets earlier is not.
//
// While decoding it checks what only the wire shows: well-formed packets, CONNECT first,
// packet ids unique among the client's exchanges in flight, DUP re-sends carrying the same
// message, and after CONNACK with session present the re-sends of every unacknowledged
// publish, in original order, before any new PUBLISH [MQTT-4.4.0-1].
//
// The broker's view of what the client knows follows what the client read: an answer counts
// as received when the client reads its last byte (not while it is stopping), and as "maybe"
// if the client closes the connection in the same turn (it may have stopped part-way).

import * as P from "../../../modules/mqtt/packets.js";
import type { Packet, PublishPacket, QoS } from "../../../modules/mqtt/packets.js";
import { encode } from "../../../modules/mqtt/encode.js";
import { Decoder } from "../../../modules/mqtt/decode.js";
import type { Socket, SocketClass, SocketOptions } from "../../../modules/mqtt/io.js";
import { topicMatches } from "../../../modules/mqtt/topic.js";
import type { Config, Rng } from "./generator.js";
import { int, pick, LEVELS } from "./generator.js";
import type { Monitor } from "./model.js";
import { tagOf, tagSeq } from "./model.js";
import { showControl } from "../fakes.js";

const latin1 = (bytes: Uint8Array, max = 16): string => String.fromCharCode(...bytes.subarray(0, max));
const textBytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

// ---- broker state ----

/** A broker -> client QoS 1/2 message not yet complete. */
interface OutMessage {
  id: number;
  tag: string;
  topic: string;
  payload: Uint8Array;
  qos: 1 | 2;
  /** queued: never sent; sent: PUBLISH sent; rec: PUBREC received, PUBREL sent or owed. */
  stage: "queued" | "sent" | "rec";
  oversize: boolean;
  /** A released message re-sent against the spec. */
  ghost: boolean;
  /** Released: the number of the client's PUBCOMP among the packets the broker received. */
  pubcompSeq?: number;
}

/** A client -> broker exchange not yet complete (publishes are session state). */
interface Exchange {
  kind: "pub1" | "pub2" | "sub" | "unsub";
  tag?: string;
  /** pub2: "rec" once the client read the broker's PUBREC. */
  stage: "pub" | "rec";
  /** The client read that PUBREC but closed the connection within the same read: maybe unhandled. */
  uncertain?: boolean;
}

class BrokerSession {
  readonly subscriptions = new Map<string, QoS>();
  readonly out = new Map<number, OutMessage>();
  /** Released QoS 2 messages by id, oldest first: candidates for a ghost re-send. */
  readonly released = new Map<number, OutMessage>();
  /** The client has read the broker's answer to its packet number this: PUBCOMPs up to it are confirmed. */
  confirmedThrough = 0;
  readonly exchanges = new Map<number, Exchange>();
  /** QoS 2 ids whose PUBCOMP the client read but may not have handled: it may send PUBREL again. */
  readonly pubrelMayRepeat = new Set<number>();
  nextId = 1;
}

interface Mark {
  /** Offset just past a packet. */
  end: number;
  f: () => void;
  uncertain?: () => void;
}

interface Owed {
  packet: Packet;
  /** The number of the client packet this answers, if any. */
  answers?: number;
  /** Runs once the client has read the packet (while not stopping). */
  onDelivered?: () => void;
  /** Runs after onDelivered if the client closed the connection in the same callback. */
  onUncertain?: () => void;
}

type ResendForm = "publish" | "pubrel" | "either";

/** The re-send check after CONNACK with session present. */
interface Resume {
  /** id -> the form the re-send must take. */
  expected: Map<number, ResendForm>;
  seen: Set<number>;
  lastSeq: number;
}

interface Connection {
  socket: LinkSocket;
  decoder: Decoder;
  connect?: P.ConnectPacket;
  answered: boolean;
  accepted: boolean;
  disconnected: boolean;
  owed: Owed[];
  resume?: Resume;
}

export class Broker {
  readonly cfg: Config;
  readonly rng: Rng;
  readonly monitor: Monitor;
  /** Answer everything at once, refuse nothing, misbehave never (quiesce). */
  cooperative = false;
  session: BrokerSession | undefined;
  conn: Connection | undefined;
  net!: Network;
  #tags = 0;
  /** Packets received from the client, numbered over the broker's life; the current one. */
  #received = 0;
  /** Set by the runner to note things in a verbose trace. */
  note: ((s: string) => void) | undefined;

  constructor(cfg: Config, rng: Rng, monitor: Monitor) {
    this.cfg = cfg;
    this.rng = rng;
    this.monitor = monitor;
  }

  // ---- link events ----

  linkUp(socket: LinkSocket): void {
    this.conn = { socket, decoder: new Decoder({ maxPacketSize: 1 << 20 }), answered: false, accepted: false, disconnected: false, owed: [] };
  }

  linkDown(socket: LinkSocket): void {
    const c = this.conn;
    if (!c || c.socket !== socket) return;
    this.conn = undefined;
    const s = this.session;
    if (!s) return;
    if (c.accepted && c.connect?.clean) {
      this.session = undefined; // a clean session lasts as long as the connection [MQTT-3.1.2-6]
      return;
    }
    // SUBSCRIBE/UNSUBSCRIBE ids belong to the connection, not the session.
    for (const [id, e] of s.exchanges) if (e.kind === "sub" || e.kind === "unsub") s.exchanges.delete(id);
  }

  // ---- client -> broker ----

  fromClient(socket: LinkSocket, data: Uint8Array): void {
    const c = this.conn;
    if (!c || c.socket !== socket) return;
    const packets: Packet[] = [];
    let error: unknown;
    try {
      c.decoder.push(data, packets);
    } catch (e) {
      error = e;
    }
    for (const p of packets) this.#handle(c, p);
    if (error) this.monitor.violation("wire:malformed", `the client wrote malformed bytes: ${(error as Error).message}`);
  }

  #handle(c: Connection, p: Packet): void {
    this.note?.(`  client> ${showPacket(p)}`);
    ++this.#received;
    const v = (kind: string, detail: string): void => this.monitor.violation(kind, detail);
    if (c.disconnected) return v("wire:after-disconnect", `${P.PACKET_NAMES[p.type]} after DISCONNECT`);
    if (!c.connect) {
      if (p.type !== P.CONNECT) return v("wire:not-connect-first", `first packet is ${P.PACKET_NAMES[p.type]} [MQTT-3.1.0-1]`);
      c.connect = p;
      if (p.clean !== this.cfg.clean) v("wire:clean-flag", `CONNECT clean=${p.clean}, configured ${this.cfg.clean}`);
      return;
    }
    if (p.type === P.CONNECT) return v("wire:second-connect", "a second CONNECT [MQTT-3.1.0-2]");
    if (p.type === P.DISCONNECT) {
      c.disconnected = true;
      return;
    }
    if (!c.accepted) return v("wire:before-connack", `${P.PACKET_NAMES[p.type]} before the CONNACK`);
    const s = this.session as BrokerSession;
    this.#resumeCheck(c, s, p);
    switch (p.type) {
      case P.PUBLISH:
        return this.#publish(c, s, p);
      case P.PUBREL: {
        const e = s.exchanges.get(p.id);
        if (!e || e.kind !== "pub2") {
          if (!s.pubrelMayRepeat.delete(p.id)) v("wire:pubrel-unknown-id", `PUBREL #${p.id} for no QoS 2 exchange in flight`);
        } else if (e.stage === "pub") v("wire:pubrel-before-pubrec", `PUBREL #${p.id} (${e.tag}) before the client received a PUBREC for it`);
        const tag = e?.tag;
        return this.#owe(c, { type: P.PUBCOMP, id: p.id }, () => {
          if (e && s.exchanges.get(p.id) === e) s.exchanges.delete(p.id);
          if (tag) this.monitor.pubcompDelivered(tag);
        }, () => s.pubrelMayRepeat.add(p.id));
      }
      case P.SUBSCRIBE: {
        this.#newId(s, p.id, "SUBSCRIBE");
        const e: Exchange = { kind: "sub", stage: "pub" };
        s.exchanges.set(p.id, e);
        const granted = p.subscriptions.map((sub) => {
          if (!this.cooperative && this.rng() < this.cfg.refuseRate) return P.SUBACK_FAILURE;
          s.subscriptions.set(sub.topic, sub.qos);
          return sub.qos;
        });
        const filters = p.subscriptions.map((x) => x.topic);
        return this.#owe(c, { type: P.SUBACK, id: p.id, granted }, () => {
          if (s.exchanges.get(p.id) === e) s.exchanges.delete(p.id);
          this.monitor.subackDelivered(filters, granted);
        });
      }
      case P.UNSUBSCRIBE: {
        this.#newId(s, p.id, "UNSUBSCRIBE");
        const e: Exchange = { kind: "unsub", stage: "pub" };
        s.exchanges.set(p.id, e);
        for (const t of p.topics) s.subscriptions.delete(t);
        return this.#owe(c, { type: P.UNSUBACK, id: p.id }, () => {
          if (s.exchanges.get(p.id) === e) s.exchanges.delete(p.id);
          this.monitor.unsubackDelivered();
        });
      }
      case P.PINGREQ:
        return this.#owe(c, { type: P.PINGRESP });
      case P.PUBACK: {
        const m = s.out.get(p.id);
        if (m && m.qos === 1 && m.stage === "sent") {
          s.out.delete(p.id);
          this.monitor.brokerMessageAcked(m.tag);
        }
        return;
      }
      case P.PUBREC: {
        const m = s.out.get(p.id);
        if (!m || m.qos !== 2 || m.stage === "queued") return;
        if (m.stage === "sent") {
          m.stage = "rec";
          this.monitor.brokerMessageAcked(m.tag);
        }
        return this.#owe(c, { type: P.PUBREL, id: p.id });
      }
      case P.PUBCOMP: {
        const m = s.out.get(p.id);
        if (m && m.qos === 2 && m.stage === "rec") {
          s.out.delete(p.id);
          s.released.delete(p.id);
          m.pubcompSeq = this.#received;
          s.released.set(p.id, m);
        }
        return;
      }
      default:
        return v("wire:server-packet", `the client sent ${P.PACKET_NAMES[p.type]}`);
    }
  }

  #publish(c: Connection, s: BrokerSession, p: PublishPacket): void {
    const tag = tagOf(latin1(p.payload));
    this.monitor.clientPublish(tag, p.qos, p.dup);
    if (p.qos === 0) return;
    const id = p.id as number;
    const kind = p.qos === 1 ? "pub1" : "pub2";
    let e = s.exchanges.get(id);
    if (e && (!p.dup || e.kind !== kind || e.tag !== tag)) {
      this.monitor.violation("wire:id-in-use", `PUBLISH ${tag} q${p.qos}${p.dup ? " dup" : ""} #${id} while #${id} is in flight for ${e.tag ?? e.kind} [MQTT-2.3.1-2]`);
      e = undefined;
    } else if (e && e.stage === "rec" && e.kind === "pub2" && !e.uncertain) {
      this.monitor.violation("wire:publish-after-pubrec", `PUBLISH ${tag} q2 dup #${id} re-sent after the client received its PUBREC (PUBREL expected) [MQTT-4.3.3]`);
    }
    if (!e) {
      e = { kind, tag, stage: "pub" };
      s.exchanges.set(id, e);
    }
    const ex = e;
    if (p.qos === 1) {
      this.#owe(c, { type: P.PUBACK, id }, () => {
        if (s.exchanges.get(id) === ex) s.exchanges.delete(id);
        this.monitor.pubackDelivered(tag);
      });
    } else {
      this.#owe(c, { type: P.PUBREC, id }, () => {
        if (s.exchanges.get(id) === ex) {
          ex.stage = "rec";
          ex.uncertain = false;
        }
        this.monitor.pubrecDelivered(tag);
      }, () => { ex.uncertain = true; });
    }
  }

  #newId(s: BrokerSession, id: number, what: string): void {
    const e = s.exchanges.get(id);
    if (e) this.monitor.violation("wire:id-in-use", `${what} #${id} while #${id} is in flight for ${e.tag ?? e.kind} [MQTT-2.3.1-2]`);
  }

  #resumeCheck(c: Connection, s: BrokerSession, p: Packet): void {
    const r = c.resume;
    if (!r) return;
    let id = 0;
    let form: "publish" | "pubrel" | undefined;
    let tag: string | undefined;
    if (p.type === P.PUBLISH && p.dup && p.qos > 0) {
      id = p.id as number;
      form = "publish";
      tag = tagOf(latin1(p.payload));
    } else if (p.type === P.PUBREL && (r.expected.get(p.id) ?? "publish") !== "publish" && !r.seen.has(p.id)) {
      id = p.id;
      form = "pubrel";
      tag = s.exchanges.get(id)?.tag;
    }
    // A PUBREL whose PUBCOMP the client may not have processed (read in the turn it closed)
    // is a legitimate re-send of an exchange the broker already finished.
    if (!form && p.type === P.PUBREL && s.pubrelMayRepeat.has(p.id)) return;
    if (!form) {
      // Acknowledgements of the broker's messages, pings and (un)subscriptions may come
      // first; a new PUBLISH or a PUBREL that is no re-send ends the re-sends.
      if (p.type !== P.PUBLISH && p.type !== P.PUBREL) return;
      const missing = [...r.expected].filter(([i]) => !r.seen.has(i));
      if (missing.length) {
        this.monitor.violation("resume:missing-resend", `after CONNACK session present, ${P.PACKET_NAMES[p.type]} came before re-sending ` +
          missing.map(([i, f]) => `${formName(f)} #${i} ${s.exchanges.get(i)?.tag ?? ""}`).join(", ") + " [MQTT-4.4.0-1]");
      }
      c.resume = undefined;
      return;
    }
    const want = r.expected.get(id);
    if (want && want !== "either" && want !== form) {
      this.monitor.violation("resume:wrong-form", `re-sent #${id} as ${formName(form)}, expected ${formName(want)}`);
    }
    r.seen.add(id);
    const seq = tag ? tagSeq(tag) : NaN;
    if (seq <= r.lastSeq) {
      this.monitor.violation("resume:order", `re-sent ${tag} #${id} after a message accepted later [MQTT-4.4.0-1]`);
    }
    if (seq > r.lastSeq) r.lastSeq = seq;
  }

  /** At the end of a schedule: re-sends still missing after CONNACK with session present. */
  finishResume(): void {
    const c = this.conn;
    const r = c?.resume;
    if (!c || !r) return;
    const missing = [...r.expected].filter(([i]) => !r.seen.has(i));
    if (missing.length) {
      this.monitor.violation("resume:missing-resend", `after CONNACK session present, never re-sent ` +
        missing.map(([i, f]) => `${formName(f)} #${i} ${this.session?.exchanges.get(i)?.tag ?? ""}`).join(", ") + " [MQTT-4.4.0-1]");
    }
    c.resume = undefined;
  }

  #owe(c: Connection, packet: Packet, onDelivered?: () => void, onUncertain?: () => void): void {
    c.owed.push({ packet, answers: this.#received, onDelivered, onUncertain });
  }

  // ---- broker steps ----

  get awaitingConnack(): boolean {
    return !!this.conn?.connect && !this.conn.answered;
  }

  get connected(): boolean {
    return !!this.conn?.accepted;
  }

  connack(returnCode: number): void {
    const c = this.conn;
    if (!c || !c.connect || c.answered) return;
    c.answered = true;
    if (returnCode !== 0) {
      this.#send(c, [{ packet: { type: P.CONNACK, sessionPresent: false, returnCode } }]);
      this.net.cut(c.socket, undefined); // the server closes after a refusal [MQTT-3.2.2-5]
      return;
    }
    let sessionPresent = false;
    if (c.connect.clean || !this.session) this.session = new BrokerSession();
    else sessionPresent = true;
    c.accepted = true;
    const s = this.session;
    const batch: Owed[] = [{ packet: { type: P.CONNACK, sessionPresent, returnCode: 0 }, onDelivered: () => this.monitor.connackDelivered(sessionPresent) }];
    if (sessionPresent) {
      const expected = new Map<number, ResendForm>();
      for (const [id, e] of s.exchanges) {
        if (e.kind === "pub1" || e.kind === "pub2") expected.set(id, e.stage === "pub" ? "publish" : e.uncertain ? "either" : "pubrel");
      }
      c.resume = { expected, seen: new Set(), lastSeq: -Infinity };
      // The broker's own re-sends, in order [MQTT-4.4.0-1].
      for (const m of s.out.values()) batch.push({ packet: this.#resendPacket(m) });
      // mosquitto 2.0 after quick reconnects: released QoS 2 messages again, as DUP.
      const ghosts = this.#unconfirmed(s);
      if (ghosts.length && !this.cooperative && this.rng() < 0.5) {
        const x = this.rng();
        for (const m of x < 0.2 ? ghosts : [x < 0.6 ? ghosts[0] : pick(this.rng, ghosts)]) batch.push({ packet: this.#ghostPacket(s, m) });
      }
    }
    this.#send(c, batch);
  }

  /** Released messages whose PUBCOMP the client cannot know the broker processed, oldest first. */
  #unconfirmed(s: BrokerSession): OutMessage[] {
    return [...s.released.values()].filter((m) => (m.pubcompSeq ?? 0) > s.confirmedThrough && !s.out.has(m.id));
  }

  /** Puts a released message back in flight as a ghost and returns its DUP PUBLISH. */
  #ghostPacket(s: BrokerSession, m: OutMessage): Packet {
    s.released.delete(m.id);
    s.out.set(m.id, { ...m, stage: "sent", ghost: true });
    return { type: P.PUBLISH, topic: m.topic, payload: m.payload, qos: 2, retain: false, dup: true, id: m.id };
  }

  #resendPacket(m: OutMessage): Packet {
    if (m.stage === "rec") return { type: P.PUBREL, id: m.id };
    const dup = m.stage === "sent";
    m.stage = "sent";
    return { type: P.PUBLISH, topic: m.topic, payload: m.payload, qos: m.qos, retain: false, dup, id: m.id };
  }

  /** Sends the first `count` owed responses, in order. */
  answer(count: number): void {
    const c = this.conn;
    if (!c || !c.owed.length) return;
    this.#send(c, c.owed.splice(0, Math.min(count, c.owed.length)));
  }

  /** A new message to the client on a topic its subscriptions match; false when there is none. */
  inbound(qosWanted: QoS, reuseId: boolean, lost: boolean, size = 0): boolean {
    const s = this.session;
    if (!s || !s.subscriptions.size) return false;
    const [filter, granted] = pick(this.rng, [...s.subscriptions]);
    const topic = topicFor(this.rng, filter);
    const qos = Math.min(qosWanted, granted) as QoS;
    const n = ++this.#tags;
    const oversize = size > 0;
    const text = oversize ? `o${n}:` + "x".repeat(size) : `m${n}`;
    const tag = tagOf(text);
    const payload = textBytes(text);
    this.monitor.brokerSent(tag, qos, topic, oversize);
    const c = this.conn;
    const online = !!c?.accepted;
    if (qos === 0) {
      if (online && lost) this.net.cut(c!.socket, "ECONNRESET");
      else if (online) this.#send(c as Connection, [{ packet: { type: P.PUBLISH, topic, payload, qos, retain: false, dup: false } }]);
      return true;
    }
    const id = this.#allocate(s, reuseId);
    const m: OutMessage = { id, tag, topic, payload, qos, stage: "queued", oversize, ghost: false };
    s.released.delete(id);
    s.out.set(id, m);
    if (online) {
      const packet = this.#resendPacket(m);
      if (lost) this.net.cut(c!.socket, "ECONNRESET"); // written to the broker's socket, never delivered
      else this.#send(c as Connection, [{ packet }]);
    }
    return true;
  }

  /** `count` new QoS 2 messages (if a subscription grants QoS 2) in one burst. */
  flood(count: number): void {
    for (let i = 0; i < count; i++) if (!this.inbound(2, false, false)) return;
  }

  oversize(qos: QoS): void {
    this.inbound(qos, false, false, this.cfg.maxPacketSize + int(this.rng, 1, 100));
  }

  /** Re-sends an in-flight message with DUP, as a broker may after a reconnect. */
  dupResend(): void {
    const c = this.conn;
    const s = this.session;
    if (!c?.accepted || !s) return;
    const sent = [...s.out.values()].filter((m) => m.stage === "sent");
    if (!sent.length) return;
    const m = pick(this.rng, sent);
    this.#send(c, [{ packet: { type: P.PUBLISH, topic: m.topic, payload: m.payload, qos: m.qos, retain: false, dup: true, id: m.id } }]);
  }

  /** mosquitto 2.0: re-sends a QoS 2 message the client already released, as a DUP PUBLISH. */
  ghost(oldest: boolean): void {
    const c = this.conn;
    const s = this.session;
    if (!c?.accepted || !s || this.cooperative) return;
    const candidates = this.#unconfirmed(s);
    if (!candidates.length) return;
    const m = oldest ? candidates[0] : pick(this.rng, candidates);
    this.#send(c, [{ packet: this.#ghostPacket(s, m) }]);
  }

  /** The broker restarts without persistence: the session is gone, the link drops. */
  restart(): void {
    this.session = undefined;
    if (this.conn) this.net.cut(this.conn.socket, "ECONNRESET");
  }

  #allocate(s: BrokerSession, reuse: boolean): number {
    if (reuse) {
      const free = [...s.released.keys()].filter((id) => !s.out.has(id));
      if (free.length) return pick(this.rng, free);
    }
    for (;;) {
      const id = s.nextId;
      s.nextId = id === 0xffff ? 1 : id + 1;
      if (!s.out.has(id)) return id;
    }
  }

  /** Cooperative mode: answers a CONNECT and everything owed; true if it sent anything. */
  autoRespond(): boolean {
    const c = this.conn;
    if (!c) return false;
    if (c.connect && !c.answered) {
      this.connack(0);
      return true;
    }
    if (c.owed.length) {
      this.answer(Infinity);
      return true;
    }
    return false;
  }

  /**
   * Writes packets to the client. A packet's onDelivered runs when the client has read its
   * last byte while not stopping (the client handles what it reads; after a stop it must not).
   */
  #send(c: Connection, batch: Owed[]): void {
    const encoded = batch.map((o) => encode(o.packet));
    let total = 0;
    for (const e of encoded) total += e.length;
    const all = new Uint8Array(total);
    const marks: Mark[] = [];
    let o = 0;
    const s = this.session;
    for (let i = 0; i < batch.length; i++) {
      all.set(encoded[i], o);
      o += encoded[i].length;
      const { answers, onDelivered, onUncertain: uncertain } = batch[i];
      if (answers === undefined) {
        if (onDelivered) marks.push({ end: o, f: onDelivered, uncertain });
        continue;
      }
      const f = (): void => {
        if (s && answers > s.confirmedThrough) s.confirmedThrough = answers;
        onDelivered?.();
      };
      marks.push({ end: o, f, uncertain });
    }
    if (this.note) for (const b of batch) this.note(`  broker> ${showPacket(b.packet)}`);
    this.net.deliver(c.socket, all, marks, this.rng);
  }

  /** What the generator sees: released messages the broker may still re-send (misbehaving). */
  get ghostCandidates(): number {
    return this.session ? this.#unconfirmed(this.session).length : 0;
  }

  get inflightToClient(): number {
    let n = 0;
    if (this.session) for (const m of this.session.out.values()) if (m.stage === "sent") n++;
    return n;
  }
}

const formName = (f: ResendForm): string => (f === "publish" ? "PUBLISH" : f === "pubrel" ? "PUBREL" : "PUBLISH or PUBREL");

/** A topic matching `filter`, built from the generator's levels. */
function topicFor(r: Rng, filter: string): string {
  const levels: string[] = [];
  for (const l of filter.split("/")) {
    if (l === "+") levels.push(pick(r, LEVELS));
    else if (l === "#") {
      const n = int(r, 0, 2);
      for (let i = 0; i < n; i++) levels.push(pick(r, LEVELS));
    } else levels.push(l);
  }
  if (!levels.length) levels.push(pick(r, LEVELS));
  const t = levels.join("/");
  return topicMatches(filter, t) ? t : filter.replace(/[+#]/g, "a");
}

export function showPacket(p: Packet): string {
  switch (p.type) {
    case P.CONNECT:
      return `CONNECT clean=${p.clean ? 1 : 0} ka=${p.keepalive}`;
    case P.PUBLISH:
      return `PUBLISH ${p.topic} q${p.qos}${p.id !== undefined ? ` #${p.id}` : ""}${p.dup ? " dup" : ""} ${tagOf(latin1(p.payload))}` +
        (p.payload.length > 16 ? ` (${p.payload.length} B)` : "");
    default:
      return showControl(p);
  }
}

// ---- the network ----

/** Wraps a callback the fake invokes: anything thrown out of the client is a violation. */
export type Guard = (where: string, f: () => void) => void;

export class LinkSocket implements Socket {
  /** The application called disconnect() while this socket was current. */
  stopped = false;
  readonly net: Network;
  readonly options: SocketOptions;
  readonly index: number;
  state: "opening" | "up" | "dead" = "opening";
  closedByClient = false;
  /** Bytes the client may still write since the last onWritable. */
  budget = 0;
  #inbox: Uint8Array[] = [];
  /** Bytes pushed to / read by the client over this socket's life, and callbacks by offset. */
  #pushed = 0;
  #read = 0;
  #marks: Mark[] = [];
  /**
   * Marks fired in the current synchronous turn. The client handles what it reads in the turn
   * it reads it, unless it closes the connection within that turn: then it may have stopped
   * part-way, and these packets may be unhandled.
   */
  #recent: Mark[] = [];

  constructor(net: Network, options: SocketOptions, index: number) {
    this.net = net;
    this.options = options;
    this.index = index;
  }

  read(byteLength?: number): ArrayBuffer | undefined {
    if (!this.#inbox.length || this.state !== "up") return undefined;
    let available = 0;
    for (const c of this.#inbox) available += c.length;
    const n = Math.min(byteLength ?? available, available);
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const first = this.#inbox[0];
      const take = Math.min(first.length, n - o);
      out.set(take === first.length ? first : first.subarray(0, take), o);
      o += take;
      if (take === first.length) this.#inbox.shift();
      else this.#inbox[0] = first.subarray(take);
    }
    this.#read += n;
    while (this.#marks.length && this.#marks[0].end <= this.#read) {
      const m = this.#marks.shift() as Mark;
      if (this.net.monitor.processing && !this.stopped) {
        m.f();
        if (!this.#recent.length) queueMicrotask(() => { this.#recent.length = 0; });
        this.#recent.push(m);
      }
    }
    return out.buffer;
  }

  write(data: Uint8Array): number | void {
    const v = this.net.monitor;
    if (this.state !== "up") {
      v.violation("socket:write-when-not-up", `write of ${data.length} bytes on a socket that is ${this.closedByClient ? "closed" : this.state}`);
      return 0;
    }
    if (data.length > this.budget) {
      v.violation("socket:write-over-budget", `wrote ${data.length} bytes with ${this.budget} announced writable`);
    }
    this.budget = Math.max(0, this.budget - data.length);
    this.net.written += data.length;
    this.net.broker.fromClient(this, data);
    return this.net.cfg.returnsRemaining ? this.budget : undefined;
  }

  close(): void {
    if (this.closedByClient) return;
    this.closedByClient = true;
    if (this.state !== "dead") {
      this.state = "dead";
      for (const m of this.#recent) m.uncertain?.();
      this.#recent.length = 0;
      this.net.broker.linkDown(this);
    }
  }

  /** Bytes for the client (announced by onReadable), with callbacks at offsets within them. */
  push(chunk: Uint8Array, marks: Mark[], base: number): void {
    for (const m of marks) this.#marks.push({ ...m, end: this.#pushed - base + m.end });
    this.#pushed += chunk.length;
    this.#inbox.push(chunk);
  }
}

export class Network {
  readonly cfg: Config;
  readonly broker: Broker;
  readonly monitor: Monitor;
  readonly guard: Guard;
  readonly io: SocketClass;
  readonly sockets: LinkSocket[] = [];
  stalled = false;
  grant: number;
  failNextOpen = false;
  /** Bytes written on the current socket, for the write-buffer meter. */
  written = 0;
  /** Called when a socket becomes connected, before its first onWritable. */
  onUp: () => void = () => {};
  /** Whether the application wants a connection (a socket opened otherwise is a violation). */
  wanted: () => boolean = () => true;

  constructor(cfg: Config, broker: Broker, monitor: Monitor, guard: Guard) {
    this.cfg = cfg;
    this.broker = broker;
    this.monitor = monitor;
    this.guard = guard;
    this.grant = cfg.grant;
    broker.net = this;
    // A constructor function returning the socket: `new io(options)` yields it.
    const net = this;
    this.io = function (options: SocketOptions) {
      return net.#open(options);
    } as unknown as SocketClass;
  }

  #open(options: SocketOptions): LinkSocket {
    if (!this.wanted()) this.monitor.violation("socket:opened-after-stop", "a socket was opened after disconnect()/abort()/give-up");
    const live = this.sockets.filter((s) => s.state !== "dead");
    if (live.length) this.monitor.violation("socket:two-open", `a new socket while socket ${live[0].index} is still ${live[0].state}`);
    if (this.failNextOpen) {
      this.failNextOpen = false;
      throw new Error("EHOSTUNREACH (fake)");
    }
    const s = new LinkSocket(this, options, this.sockets.length);
    this.sockets.push(s);
    return s;
  }

  get current(): LinkSocket | undefined {
    return this.sockets[this.sockets.length - 1];
  }

  /** TCP connected: the first onWritable. */
  establish(): void {
    const s = this.current;
    if (!s || s.state !== "opening") return;
    s.state = "up";
    this.written = 0;
    this.onUp();
    this.broker.linkUp(s);
    this.writable(s, this.grant);
  }

  writable(s: LinkSocket, count: number): void {
    s.budget = count;
    this.guard("onWritable", () => s.options.onWritable(count));
  }

  /** Re-announces the budget when the client used some and the link is not stalled. */
  refill(): boolean {
    const s = this.current;
    if (!s || s.state !== "up" || this.stalled || s.budget >= this.grant) return false;
    this.writable(s, this.grant);
    return true;
  }

  /** The connection fails (peer reset, refused, broker closed it): onError. */
  cut(s: LinkSocket | undefined = this.current, code: string | undefined): void {
    if (!s || s.state === "dead" || s.closedByClient) return;
    s.state = "dead";
    this.broker.linkDown(s);
    const error = code ? Object.assign(new Error(`${code} (fake)`), { code }) : undefined;
    this.guard("onError", () => s.options.onError(error));
  }

  /** Hands bytes to the client in one or a few chunks, each announced by onReadable. */
  deliver(s: LinkSocket, bytes: Uint8Array, marks: Mark[], r: Rng): void {
    if (s.state !== "up") return;
    const cuts: number[] = [];
    if (bytes.length > 1 && r() < 0.3) {
      const n = int(r, 1, 3);
      for (let i = 0; i < n; i++) cuts.push(int(r, 1, bytes.length - 1));
      cuts.sort((a, b) => a - b);
    }
    cuts.push(bytes.length);
    let from = 0;
    for (const to of cuts) {
      if (to <= from) continue;
      if (s.state !== "up") break;
      const chunk = bytes.slice(from, to);
      s.push(chunk, marks.filter((m) => m.end > from && m.end <= to), from);
      this.guard("onReadable", () => s.options.onReadable(chunk.length));
      from = to;
    }
  }
}
