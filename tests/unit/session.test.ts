// The sans-IO session as event -> action scripts: every test feeds events (transport up/down,
// broker bytes, API calls, the time) and asserts the exact actions and packets that come out.

import assert from "node:assert/strict";
import * as P from "../../modules/mqtt/packets.js";
import type { Packet, QoS } from "../../modules/mqtt/packets.js";
import { Session } from "../../modules/mqtt/session.js";
import type { Action, SessionOptions } from "../../modules/mqtt/session.js";
import type { MqttError } from "../../modules/mqtt/errors.js";
import type { StoredMessage } from "../../modules/mqtt/io.js";
import { acts, bytes, connack, decodeAll, prng, sendParts, sent, show, wire } from "./fakes.js";

// ---- script helpers ----

/** A session that has sent CONNECT at t=0 and received an accepting CONNACK. */
function online(options: Partial<SessionOptions> = {}, sessionPresent = false): Session {
  const s = new Session({ clientId: "c", ...options });
  s.transportUp(0);
  assert.deepEqual(acts(s.received(wire(connack(sessionPresent)), 0)), [`connected sp=${sessionPresent ? 1 : 0}`]);
  return s;
}

/** Broker packets in, actions out (compact form). */
function rx(s: Session, now: number, ...packets: Packet[]): string[] {
  return acts(s.received(wire(...packets), now));
}

/** session.publish's first four arguments. */
function msg(topic: string, payload: string, qos: QoS = 0, retain = false): [string, Uint8Array, QoS, boolean] {
  return [topic, bytes(payload), qos, retain];
}

const puback = (id: number): Packet => ({ type: P.PUBACK, id });
const pubrec = (id: number): Packet => ({ type: P.PUBREC, id });
const pubrel = (id: number): Packet => ({ type: P.PUBREL, id });
const pubcomp = (id: number): Packet => ({ type: P.PUBCOMP, id });
const suback = (id: number, ...granted: number[]): Packet => ({ type: P.SUBACK, id, granted });
const unsuback = (id: number): Packet => ({ type: P.UNSUBACK, id });
const publish = (topic: string, payload: string, qos: QoS = 0, id?: number, dup = false): Packet => {
  const p: P.PublishPacket = { type: P.PUBLISH, topic, payload: bytes(payload), qos, retain: false, dup };
  if (id !== undefined) p.id = id;
  return p;
};

/** The error carried by the single close or reject action. */
function errorOf(actions: Action[]): MqttError {
  const found = actions.filter((a) => a.type === "close" || a.type === "reject") as { error?: MqttError }[];
  assert.equal(found.length, 1, `one close/reject expected in ${JSON.stringify(acts(actions))}`);
  assert.ok(found[0].error, "the action carries an error");
  return found[0].error;
}

describe("Session", () => {
  describe("connecting", () => {
    it("sends CONNECT with client id, clean flag, keepalive, will and credentials on transportUp", () => {
      const s = new Session({
        clientId: "dev-1", clean: false, keepalive: 10, username: "user", password: "pw",
        will: { topic: "status/dev-1", payload: "offline", qos: 1, retain: true },
      });
      assert.equal(s.state, "offline");
      const a = s.transportUp(0);
      assert.equal(s.state, "connecting");
      assert.deepEqual(acts(a), ["send CONNECT dev-1 clean=0 ka=10 will=status/dev-1:offline:q1:retain user=user pass=pw"]);
      const [connect] = sent(a) as P.ConnectPacket[];
      assert.deepEqual([...(connect.password as Uint8Array)], [...bytes("pw")]);
    });

    it("asks a will given as a function at every connect; one it cannot encode is reported and the last good CONNECT goes", () => {
      let n = 0;
      let bad = false;
      const s = new Session({ clientId: "w", will: () => (bad ? { topic: "bad/+", payload: "x" } : { topic: "st/w", payload: `off ${++n}`, retain: true }) });
      assert.equal(n, 0, "not asked before a connect");
      assert.deepEqual(acts(s.transportUp(0)), ["send CONNECT w clean=1 ka=60 will=st/w:off 1:q0:retain"]);
      s.transportDown(1);
      assert.deepEqual(acts(s.transportUp(2)), ["send CONNECT w clean=1 ka=60 will=st/w:off 2:q0:retain"]);
      s.transportDown(3);
      bad = true;
      assert.deepEqual(acts(s.transportUp(4)), ["error INVALID_ARGUMENT", "send CONNECT w clean=1 ka=60 will=st/w:off 2:q0:retain"]);
    });

    it("defaults to a clean session, keepalive 60 and no will or credentials", () => {
      const s = new Session({ clientId: "d" });
      assert.deepEqual(acts(s.transportUp(0)), ["send CONNECT d clean=1 ka=60"]);
    });

    it("accepts binary passwords and a QoS 0 will without retain", () => {
      const s = new Session({ clientId: "b", username: "u", password: Uint8Array.of(0, 255, 7), will: { topic: "w", payload: Uint8Array.of(1, 2) } });
      const [connect] = sent(s.transportUp(0)) as P.ConnectPacket[];
      assert.deepEqual([...(connect.password as Uint8Array)], [0, 255, 7]);
      assert.deepEqual(connect.will && { ...connect.will, payload: [...connect.will.payload] }, { topic: "w", payload: [1, 2], qos: 0, retain: false });
    });

    it("rejects an invalid will or keepalive at construction", () => {
      assert.throws(() => new Session({ clientId: "x", will: { topic: "a/#", payload: "" } }), (e: MqttError) => e.code === "INVALID_ARGUMENT");
      assert.throws(() => new Session({ clientId: "x", keepalive: 70_000 }), (e: MqttError) => e.code === "INVALID_ARGUMENT");
      assert.throws(() => new Session({ clientId: "", clean: false }), (e: MqttError) => e.clause === "MQTT-3.1.3-7");
    });

    it("reports an accepting CONNACK as 'connected' with the session-present flag", () => {
      const s = new Session({ clientId: "c", clean: false });
      s.transportUp(0);
      assert.deepEqual(rx(s, 1, connack(true)), ["connected sp=1"]);
      assert.equal(s.state, "connected");
    });

    for (const [rc, code] of [[1, "CONNECT_FAILED"], [2, "CONNECT_FAILED"], [3, "CONNECT_FAILED"], [4, "AUTHENTICATION_FAILED"], [5, "AUTHENTICATION_FAILED"]] as const) {
      it(`closes with ${code} on CONNACK return code ${rc}`, () => {
        const s = new Session({ clientId: "c" });
        s.transportUp(0);
        const a = s.received(wire(connack(false, rc)), 1);
        assert.deepEqual(acts(a), [`close ${code}`]);
        assert.match(errorOf(a).message, new RegExp(`CONNACK ${rc}`));
        assert.equal(s.state, "offline");
        assert.equal(s.deadline(), undefined);
      });
    }

    it("closes with TIMEOUT when no CONNACK arrives within connectTimeoutMs", () => {
      const s = new Session({ clientId: "c", connectTimeoutMs: 5000 });
      s.transportUp(100);
      assert.equal(s.deadline(), 5100);
      assert.deepEqual(acts(s.tick(5099)), []);
      assert.deepEqual(acts(s.tick(5100)), ["close TIMEOUT"]);
      assert.equal(s.state, "offline");
      assert.deepEqual(acts(s.tick(99_999)), []);
    });

    for (const first of [publish("t", "x"), { type: P.PINGRESP } as Packet, suback(1, 0), puback(1)]) {
      it(`closes with PROTOCOL_ERROR [MQTT-3.2.0-1] when ${P.PACKET_NAMES[first.type]} comes before CONNACK`, () => {
        const s = new Session({ clientId: "c" });
        s.transportUp(0);
        const a = s.received(wire(first, connack()), 1);
        assert.deepEqual(acts(a), ["close PROTOCOL_ERROR"]); // nothing delivered, the CONNACK behind it ignored
        assert.equal(errorOf(a).clause, "MQTT-3.2.0-1");
        assert.equal(s.state, "offline");
      });
    }

    it("closes with MALFORMED_PACKET on malformed bytes and stays usable for a new connection", () => {
      const s = online();
      const a = s.received(Uint8Array.of(0xf0, 0x00), 5); // reserved packet type 15
      assert.deepEqual(acts(a), ["close MALFORMED_PACKET"]);
      assert.equal(s.state, "offline");
      assert.deepEqual(acts(s.received(wire(publish("t", "late")), 6)), [], "bytes after the close are ignored");
      assert.deepEqual(acts(s.transportUp(10)), ["send CONNECT c clean=1 ka=60"]);
      assert.deepEqual(rx(s, 11, connack()), ["connected sp=0"]);
      assert.deepEqual(rx(s, 12, publish("t", "ok")), ["message PUBLISH t q0 'ok'"]);
    });

    it("closes with MALFORMED_PACKET on a malformed CONNACK", () => {
      const s = new Session({ clientId: "c" });
      s.transportUp(0);
      assert.deepEqual(acts(s.received(Uint8Array.of(0x20, 3, 0, 0, 0), 1)), ["close MALFORMED_PACKET"]);
    });

    it("discards a partial packet from the previous connection", () => {
      const s = new Session({ clientId: "c" });
      s.transportUp(0);
      assert.deepEqual(acts(s.received(Uint8Array.of(0x30, 10, 0), 1)), []); // the start of a PUBLISH
      s.transportDown(2);
      s.transportUp(3);
      assert.deepEqual(rx(s, 4, connack()), ["connected sp=0"]);
    });
  });

  describe("outgoing publishes", () => {
    it("QoS 0: one PUBLISH carrying the op, no store", () => {
      const s = online();
      assert.deepEqual(acts(s.publish(...msg("t/0", "hi", 0, true), 1, 7)), ["send PUBLISH t/0 q0 retain 'hi' op=7"]);
      assert.deepEqual(acts(s.publish(...msg("t/0", ""), 1)), ["send PUBLISH t/0 q0 ''"]);
      assert.equal(s.inflight, 0);
    });

    it("QoS 1: stored with its id when sent, resolved and unstored only on PUBACK", () => {
      const s = online();
      assert.deepEqual(acts(s.publish(...msg("t/1", "x", 1), 1, 8)), ["store seq=1 id=1", "send PUBLISH t/1 q1 #1 'x'"]);
      assert.deepEqual(rx(s, 2, puback(2)), [], "another id");
      assert.deepEqual(rx(s, 2, pubcomp(1)), [], "PUBCOMP does not complete QoS 1");
      assert.deepEqual(rx(s, 3, puback(1)), ["unstore seq=1", "resolve 8"]);
      assert.deepEqual(rx(s, 4, puback(1)), [], "a second PUBACK is ignored");
      assert.equal(s.inflight, 0);
    });

    it("QoS 2: PUBREC -> stored as released + PUBREL; resolved and unstored only on PUBCOMP", () => {
      const s = online();
      assert.deepEqual(acts(s.publish(...msg("t/2", "y", 2), 1, 9)), ["store seq=1 id=1", "send PUBLISH t/2 q2 #1 'y'"]);
      assert.deepEqual(rx(s, 2, puback(1)), [], "PUBACK does not complete QoS 2");
      assert.deepEqual(rx(s, 2, pubcomp(1)), [], "PUBCOMP before PUBREC does not complete it");
      assert.deepEqual(rx(s, 3, pubrec(1)), ["store seq=1 id=1 rel", "send PUBREL #1"]);
      assert.deepEqual(rx(s, 4, pubrec(1)), ["send PUBREL #1"], "a repeated PUBREC is answered, not re-stored");
      assert.deepEqual(rx(s, 5, pubcomp(1)), ["unstore seq=1", "resolve 9"]);
      assert.deepEqual(rx(s, 6, pubcomp(1)), []);
      assert.equal(s.inflight, 0);
    });

    it("answers PUBREC for an unknown id with PUBREL [MQTT-4.3.3-1]", () => {
      const s = online();
      assert.deepEqual(rx(s, 1, pubrec(77)), ["send PUBREL #77"]);
    });

    it("rejects invalid topics and QoS with INVALID_ARGUMENT and the clause", () => {
      const s = online();
      for (const [topic, qos, clause] of [["a/+", 0, "MQTT-3.3.2-2"], ["a/#", 1, "MQTT-3.3.2-2"], ["", 0, "MQTT-4.7.3-1"], ["a", 3, "MQTT-3.3.1-4"]] as const) {
        const a = s.publish(topic, new Uint8Array(0), qos as QoS, false, 1, 4);
        assert.deepEqual(acts(a), ["reject 4 INVALID_ARGUMENT"]);
        assert.equal(errorOf(a).clause, clause);
      }
    });

    it("never allocates id 0 nor one still in flight, across 70,000 QoS 1 publishes acknowledged out of order", function () {
      this.timeout(60_000);
      const rand = prng(0x5eed);
      const WINDOW = 100;
      const s = online({ inflightWindow: WINDOW, outbox: { maxMessages: 1000 } });
      const inUse = new Map<number, "pub" | "sub">();
      const ops = new Set<number>();
      let nextOp = 1, resolved = 0, allocations = 0, wraps = 0, lastId = 0, maxId = 0, subscribes = 0;
      const apply = (actions: Action[]) => {
        for (const a of actions) {
          if (a.type === "send") {
            for (const p of decodeAll(sendParts(a))) {
              if (p.type !== P.PUBLISH && p.type !== P.SUBSCRIBE) continue;
              const id = p.id as number;
              assert.ok(id >= 1 && id <= 0xffff, `id ${id} in 1..65535`);
              assert.ok(!inUse.has(id), `id ${id} allocated while still in flight (${inUse.get(id)})`);
              inUse.set(id, p.type === P.PUBLISH ? "pub" : "sub");
              if (id < lastId) wraps++;
              lastId = id;
              maxId = Math.max(maxId, id);
              allocations++;
            }
          } else if (a.type === "resolve") {
            assert.ok(ops.delete(a.op as number), `op ${a.op} resolved once`);
            resolved++;
          } else if (a.type === "reject" || a.type === "close") {
            assert.fail(`unexpected ${acts([a])}`);
          }
        }
        assert.ok(s.inflight <= WINDOW);
      };
      // One SUBSCRIBE stays unacknowledged throughout: the ids must wrap around past it.
      apply(s.subscribe([{ topic: "held", qos: 1 }], 0, nextOp));
      ops.add(nextOp++);
      const held = [...inUse.keys()][0];
      assert.equal(held, 1);
      const ackRandom = () => {
        const ids = [...inUse.keys()].filter((id) => id !== held);
        const id = ids[Math.floor(rand() * ids.length)];
        const kind = inUse.get(id);
        inUse.delete(id);
        apply(s.received(wire(kind === "pub" ? puback(id) : suback(id, 1)), 0));
      };
      let published = 0;
      while (published < 70_000) {
        if (s.queued < 50 && rand() < 0.55) {
          const op = nextOp++;
          ops.add(op);
          apply(s.publish("s", new Uint8Array(0), 1, false, 0, op));
          published++;
          if (published % 5000 === 0) {
            const sop = nextOp++;
            ops.add(sop);
            apply(s.subscribe([{ topic: `f/${published}`, qos: 1 }], 0, sop));
            subscribes++;
          }
        } else if (inUse.size > 1) {
          ackRandom();
        }
      }
      while (inUse.size > 1) ackRandom();
      assert.deepEqual([...inUse.keys()], [held]);
      inUse.delete(held);
      apply(s.received(wire(suback(held, 1)), 0));
      assert.equal(s.queued, 0);
      assert.equal(s.inflight, 0);
      assert.equal(resolved, 70_000 + subscribes + 1);
      assert.equal(ops.size, 0);
      assert.equal(allocations, 70_000 + subscribes + 1);
      assert.equal(maxId, 0xffff, "ids reach 65535");
      assert.equal(wraps, 1, "ids wrap around once, back to low numbers");
    });

    it("gives SUBSCRIBE and UNSUBSCRIBE ids no publish in flight uses", () => {
      const s = online();
      assert.deepEqual(sent(s.publish(...msg("a", "1", 1), 0)).map(show), ["PUBLISH a q1 #1 '1'"]);
      assert.deepEqual(sent(s.publish(...msg("a", "2", 2), 0)).map(show), ["PUBLISH a q2 #2 '2'"]);
      assert.deepEqual(sent(s.subscribe([{ topic: "x", qos: 0 }], 0)).map(show), ["SUBSCRIBE #3 x:0"]);
      assert.deepEqual(sent(s.publish(...msg("a", "3", 1), 0)).map(show), ["PUBLISH a q1 #4 '3'"]);
      assert.deepEqual(sent(s.unsubscribe(["x"], 0)).map(show), ["UNSUBSCRIBE #5 x"]);
    });

    it("with every id in flight (window 65535), a SUBSCRIBE waits for a free id instead of spinning", function () {
      this.timeout(60_000);
      const s = online({ inflightWindow: 0xffff, outbox: { maxMessages: 10 } });
      for (let i = 1; i <= 0xffff; i++) s.publish("s", new Uint8Array(0), 1, false, 0);
      assert.equal(s.inflight, 0xffff);
      assert.deepEqual(acts(s.subscribe([{ topic: "x", qos: 1 }], 0, 1)), [], "no id free: nothing sent yet");
      assert.deepEqual(acts(s.publish(...msg("s", "q", 1), 0, 2)), ["store seq=65536 id=-"], "queued, not sent");
      assert.deepEqual(rx(s, 0, puback(300)), ["unstore seq=300", "send SUBSCRIBE #300 x:1"]);
      assert.deepEqual(rx(s, 0, suback(300, 1)), ["suback x 1", "resolve 1 [1]", "store seq=65536 id=300", "send PUBLISH s q1 #300 'q'"]);
    });
  });

  describe("inflight window and ordering", () => {
    it("holds the third QoS 1 publish until a PUBACK, and a QoS 0 publish behind it", () => {
      const s = online({ inflightWindow: 2 });
      assert.deepEqual(acts(s.publish(...msg("t", "A", 1), 0, 1)), ["store seq=1 id=1", "send PUBLISH t q1 #1 'A'"]);
      assert.deepEqual(acts(s.publish(...msg("t", "B", 1), 0, 2)), ["store seq=2 id=2", "send PUBLISH t q1 #2 'B'"]);
      assert.deepEqual(acts(s.publish(...msg("t", "C", 1), 0, 3)), ["store seq=3 id=-"], "queued (and stored without an id)");
      assert.deepEqual(acts(s.publish(...msg("t", "D", 0), 0, 4)), [], "QoS 0 waits behind C");
      assert.deepEqual(acts(s.publish(...msg("t", "E", 2), 0, 5)), ["store seq=5 id=-"]);
      assert.equal(s.queued, 3);
      assert.deepEqual(rx(s, 1, puback(2)), [
        "unstore seq=2", "resolve 2",
        "store seq=3 id=3", "send PUBLISH t q1 #3 'C'",
        "send PUBLISH t q0 'D' op=4",
      ]);
      assert.deepEqual(rx(s, 2, puback(1)), ["unstore seq=1", "resolve 1", "store seq=5 id=4", "send PUBLISH t q2 #4 'E'"]);
      assert.equal(s.queued, 0);
      assert.equal(s.inflight, 2);
    });

    it("a released QoS 2 message still occupies the window until PUBCOMP", () => {
      const s = online({ inflightWindow: 1 });
      s.publish(...msg("t", "A", 2), 0, 1);
      assert.deepEqual(acts(s.publish(...msg("t", "B", 1), 0, 2)), ["store seq=2 id=-"]);
      assert.deepEqual(rx(s, 1, pubrec(1)), ["store seq=1 id=1 rel", "send PUBREL #1"]);
      assert.deepEqual(rx(s, 2, pubcomp(1)), ["unstore seq=1", "resolve 1", "store seq=2 id=2", "send PUBLISH t q1 #2 'B'"]);
    });
  });

  describe("incoming publishes", () => {
    it("QoS 0 is delivered; QoS 1 is delivered and PUBACKed", () => {
      const s = online();
      assert.deepEqual(rx(s, 1, publish("in/0", "a")), ["message PUBLISH in/0 q0 'a'"]);
      assert.deepEqual(rx(s, 1, publish("in/1", "b", 1, 5)), ["message PUBLISH in/1 q1 #5 'b'", "send PUBACK #5"]);
      assert.deepEqual(rx(s, 1, publish("in/1", "b", 1, 5, true)), ["message PUBLISH in/1 q1 #5 dup 'b'", "send PUBACK #5"], "QoS 1 may repeat");
    });

    it("delivers several packets of one chunk in order", () => {
      const s = online();
      assert.deepEqual(rx(s, 1, publish("a", "1"), publish("b", "2", 1, 1), publish("c", "3")), [
        "message PUBLISH a q0 '1'", "message PUBLISH b q1 #1 '2'", "send PUBACK #1", "message PUBLISH c q0 '3'",
      ]);
    });

    it("QoS 2 is delivered once: a DUP before PUBREL only re-sends PUBREC; after PUBREL the id is new", () => {
      const s = online();
      assert.deepEqual(rx(s, 1, publish("in/2", "m", 2, 7)), ["message PUBLISH in/2 q2 #7 'm'", "send PUBREC #7"]);
      assert.deepEqual(rx(s, 2, publish("in/2", "m", 2, 7, true)), ["send PUBREC #7"]);
      assert.deepEqual(rx(s, 3, pubrel(7)), ["send PUBCOMP #7"]);
      assert.deepEqual(rx(s, 4, pubrel(7)), ["send PUBCOMP #7"], "a repeated PUBREL is still completed");
      assert.deepEqual(rx(s, 5, publish("in/2", "n", 2, 7)), ["message PUBLISH in/2 q2 #7 'n'", "send PUBREC #7"]);
    });

    it("remembers a pending PUBREL id across a reconnect with sessionPresent=1", () => {
      const s = online({ clean: false });
      assert.deepEqual(rx(s, 1, publish("in", "m", 2, 9)), ["message PUBLISH in q2 #9 'm'", "send PUBREC #9"]);
      s.transportDown(2);
      s.transportUp(3);
      assert.deepEqual(rx(s, 4, connack(true)), ["connected sp=1"]);
      assert.deepEqual(rx(s, 5, publish("in", "m", 2, 9, true)), ["send PUBREC #9"], "not delivered twice");
      assert.deepEqual(rx(s, 6, pubrel(9)), ["send PUBCOMP #9"]);
    });

    /** Delivered, released and answered; then two quick reconnects, as in the mosquitto 2.0 bug. */
    function releasedThenReconnected(): Session {
      const s = online({ clean: false });
      assert.deepEqual(rx(s, 1, publish("in", "m", 2, 9)), ["message PUBLISH in q2 #9 'm'", "send PUBREC #9"]);
      assert.deepEqual(rx(s, 2, pubrel(9)), ["send PUBCOMP #9"]);
      for (const t of [3, 5]) {
        s.transportDown(t);
        s.transportUp(t);
        // A PINGREQ asks the broker to prove it processed PUBCOMP #9; cut before its PINGRESP.
        assert.deepEqual(rx(s, t + 1, connack(true)), ["connected sp=1", "send PINGREQ"]);
      }
      return s;
    }

    it("does not redeliver a released message that the broker re-sends as DUP PUBLISH [MQTT-4.3.3-1]", () => {
      const s = releasedThenReconnected();
      assert.deepEqual(rx(s, 7, publish("in", "m", 2, 9, true)), ["send PUBREC #9"], "retransmission, not news");
      assert.deepEqual(rx(s, 8, pubrel(9)), ["send PUBCOMP #9"]);
    });

    it("delivers a DUP PUBLISH that reuses a released id for a different message", () => {
      const s = releasedThenReconnected();
      assert.deepEqual(rx(s, 7, publish("in", "other", 2, 9, true)), ["message PUBLISH in q2 #9 dup 'other'", "send PUBREC #9"]);
    });

    it("delivers a first transmission (DUP=0) that reuses a released id, even with the same content", () => {
      const s = releasedThenReconnected();
      assert.deepEqual(rx(s, 7, publish("in", "m", 2, 9)), ["message PUBLISH in q2 #9 'm'", "send PUBREC #9"]);
    });

    it("forgets pending PUBREL ids when the broker has no session (sessionPresent=0)", () => {
      const s = online({ clean: false });
      rx(s, 1, publish("in", "m", 2, 9));
      s.transportDown(2);
      s.transportUp(3);
      assert.deepEqual(rx(s, 4, connack(false)), ["connected sp=0"]);
      assert.deepEqual(rx(s, 5, publish("in", "m2", 2, 9)), ["message PUBLISH in q2 #9 'm2'", "send PUBREC #9"]);
    });
  });

  describe("resuming a session", () => {
    /** A QoS 1, B QoS 2, C QoS 2 with PUBREC for C only; then the link drops. */
    function threeInFlight(options: Partial<SessionOptions> = {}) {
      const s = online({ clean: false, ...options });
      assert.deepEqual(acts(s.publish(...msg("a", "A", 1), 0, 1)), ["store seq=1 id=1", "send PUBLISH a q1 #1 'A'"]);
      assert.deepEqual(acts(s.publish(...msg("b", "B", 2), 0, 2)), ["store seq=2 id=2", "send PUBLISH b q2 #2 'B'"]);
      assert.deepEqual(acts(s.publish(...msg("c", "C", 2), 0, 3)), ["store seq=3 id=3", "send PUBLISH c q2 #3 'C'"]);
      assert.deepEqual(rx(s, 1, pubrec(3)), ["store seq=3 id=3 rel", "send PUBREL #3"]);
      assert.deepEqual(acts(s.transportDown(2)), []);
      assert.equal(s.state, "offline");
      return s;
    }

    it("with sessionPresent=1 re-sends A and B with DUP and the same ids, then PUBREL C, before new messages [MQTT-4.4.0-1]", () => {
      const s = threeInFlight();
      assert.deepEqual(acts(s.publish(...msg("d", "D", 1), 3, 4)), ["store seq=4 id=-"]);
      assert.deepEqual(acts(s.publish(...msg("e", "E", 0), 3, 5)), []);
      assert.deepEqual(acts(s.transportUp(4)), ["send CONNECT c clean=0 ka=60"]);
      assert.deepEqual(rx(s, 5, connack(true)), [
        "connected sp=1",
        "send PUBLISH a q1 #1 dup 'A'",
        "send PUBLISH b q2 #2 dup 'B'",
        "send PUBREL #3",
        "store seq=4 id=4", "send PUBLISH d q1 #4 'D'",
        "send PUBLISH e q0 'E' op=5",
      ]);
      assert.deepEqual(rx(s, 6, puback(1)), ["unstore seq=1", "resolve 1"]);
      assert.deepEqual(rx(s, 6, pubrec(2)), ["store seq=2 id=2 rel", "send PUBREL #2"]);
      assert.deepEqual(rx(s, 6, pubcomp(2)), ["unstore seq=2", "resolve 2"]);
      assert.deepEqual(rx(s, 6, pubcomp(3)), ["unstore seq=3", "resolve 3"]);
      assert.deepEqual(rx(s, 6, puback(4)), ["unstore seq=4", "resolve 4"]);
      assert.equal(s.inflight, 0);
    });

    it("with sessionPresent=1 and a full window, new messages wait until the resumed ones are acknowledged", () => {
      const s = threeInFlight({ inflightWindow: 3 });
      s.publish(...msg("d", "D", 1), 3, 4);
      s.publish(...msg("e", "E", 0), 3, 5);
      s.transportUp(4);
      assert.deepEqual(rx(s, 5, connack(true)), ["connected sp=1", "send PUBLISH a q1 #1 dup 'A'", "send PUBLISH b q2 #2 dup 'B'", "send PUBREL #3"]);
      assert.deepEqual(rx(s, 6, puback(1)), ["unstore seq=1", "resolve 1", "store seq=4 id=4", "send PUBLISH d q1 #4 'D'", "send PUBLISH e q0 'E' op=5"]);
    });

    it("resends the resumed messages again with DUP after a second drop", () => {
      const s = threeInFlight();
      s.transportUp(3);
      rx(s, 4, connack(true));
      s.transportDown(5);
      s.transportUp(6);
      assert.deepEqual(rx(s, 7, connack(true)), ["connected sp=1", "send PUBLISH a q1 #1 dup 'A'", "send PUBLISH b q2 #2 dup 'B'", "send PUBREL #3"]);
    });

    it("with sessionPresent=0 resolves the PUBREC'd message, re-sends the others as new ahead of the queue, and resubscribes in one SUBSCRIBE", () => {
      const s = online({ clean: false });
      assert.deepEqual(acts(s.subscribe([{ topic: "s/1", qos: 1 }, { topic: "s/2", qos: 0 }], 0, 10)), ["send SUBSCRIBE #1 s/1:1,s/2:0"]);
      assert.deepEqual(rx(s, 0, suback(1, 1, 0)), ["suback s/1 1", "suback s/2 0", "resolve 10 [1,0]"]);
      assert.deepEqual(acts(s.subscribe([{ topic: "s/3", qos: 2 }], 0, 11)), ["send SUBSCRIBE #2 s/3:2"]);
      assert.deepEqual(rx(s, 0, suback(2, 2)), ["suback s/3 2", "resolve 11 [2]"]);
      s.publish(...msg("a", "A", 1), 0, 1); // #3
      s.publish(...msg("b", "B", 2), 0, 2); // #4
      s.publish(...msg("c", "C", 2), 0, 3); // #5
      assert.deepEqual(rx(s, 1, pubrec(5)), ["store seq=3 id=5 rel", "send PUBREL #5"]);
      s.transportDown(2);
      assert.deepEqual(acts(s.publish(...msg("d", "D", 1), 3, 4)), ["store seq=4 id=-"]);
      s.transportUp(4);
      assert.deepEqual(rx(s, 5, connack(false)), [
        "connected sp=0",
        "unstore seq=3", "resolve 3",
        "send SUBSCRIBE #6 s/1:1,s/2:0,s/3:2",
        "store seq=1 id=7", "send PUBLISH a q1 #7 'A'",
        "store seq=2 id=8", "send PUBLISH b q2 #8 'B'",
        "store seq=4 id=9", "send PUBLISH d q1 #9 'D'",
      ]);
      assert.deepEqual(rx(s, 6, suback(6, 1, 0, 2)), ["suback s/1 1", "suback s/2 0", "suback s/3 2"]);
      assert.deepEqual(rx(s, 6, puback(7)), ["unstore seq=1", "resolve 1"]);
    });
  });

  describe("outbox while offline", () => {
    it("queues publishes made before connecting and drains them in order after CONNACK", () => {
      const s = new Session({ clientId: "c" });
      assert.deepEqual(acts(s.publish(...msg("o", "1", 0), 0, 1)), []);
      assert.deepEqual(acts(s.publish(...msg("o", "2", 1), 0, 2)), ["store seq=2 id=-"]);
      assert.deepEqual(acts(s.publish(...msg("o", "3", 2), 0, 3)), ["store seq=3 id=-"]);
      s.transportUp(1);
      assert.deepEqual(acts(s.publish(...msg("o", "4", 0), 1, 4)), [], "still queued while connecting");
      assert.equal(s.queued, 4);
      assert.deepEqual(rx(s, 2, connack()), [
        "connected sp=0",
        "send PUBLISH o q0 '1' op=1",
        "store seq=2 id=1", "send PUBLISH o q1 #1 '2'",
        "store seq=3 id=2", "send PUBLISH o q2 #2 '3'",
        "send PUBLISH o q0 '4' op=4",
      ]);
      assert.equal(s.queued, 0);
    });

    it("maxMessages with reject-new: the new publish is rejected QUEUE_FULL and nothing is stored", () => {
      const s = new Session({ clientId: "c", outbox: { maxMessages: 2 } });
      s.publish(...msg("o", "1", 1), 0, 1);
      s.publish(...msg("o", "2", 0), 0, 2);
      assert.deepEqual(acts(s.publish(...msg("o", "3", 1), 0, 3)), ["reject 3 QUEUE_FULL"]);
      assert.equal(s.queued, 2);
      s.transportUp(1);
      assert.deepEqual(rx(s, 2, connack()), ["connected sp=0", "store seq=1 id=1", "send PUBLISH o q1 #1 '1'", "send PUBLISH o q0 '2' op=2"]);
    });

    it("maxMessages with drop-oldest: the oldest is rejected QUEUE_FULL and unstored, the new one accepted", () => {
      const s = new Session({ clientId: "c", outbox: { maxMessages: 2, overflow: "drop-oldest" } });
      s.publish(...msg("o", "1", 1), 0, 1);
      s.publish(...msg("o", "2", 0), 0, 2);
      assert.deepEqual(acts(s.publish(...msg("o", "3", 2), 0, 3)), ["unstore seq=1", "reject 1 QUEUE_FULL", "store seq=3 id=-"]);
      assert.deepEqual(acts(s.publish(...msg("o", "4", 0), 0, 4)), ["reject 2 QUEUE_FULL"], "a dropped QoS 0 has nothing to unstore");
      s.transportUp(1);
      assert.deepEqual(rx(s, 2, connack()), ["connected sp=0", "store seq=3 id=1", "send PUBLISH o q2 #1 '3'", "send PUBLISH o q0 '4' op=4"]);
    });

    it("maxBytes with reject-new and drop-oldest", () => {
      const r = new Session({ clientId: "c", outbox: { maxBytes: 10 } });
      r.publish(...msg("o", "aaaa", 1), 0, 1);
      r.publish(...msg("o", "bbbb", 1), 0, 2);
      assert.deepEqual(acts(r.publish(...msg("o", "ccc", 1), 0, 3)), ["reject 3 QUEUE_FULL"]);
      assert.deepEqual(acts(r.publish(...msg("o", "cc", 1), 0, 4)), ["store seq=4 id=-"], "exactly 10 bytes fit (the rejected publish used up seq 3)");

      const d = new Session({ clientId: "c", outbox: { maxBytes: 10, overflow: "drop-oldest" } });
      d.publish(...msg("o", "aaaa", 1), 0, 1);
      d.publish(...msg("o", "bbbb", 1), 0, 2);
      assert.deepEqual(acts(d.publish(...msg("o", "ccccc", 1), 0, 3)), ["unstore seq=1", "reject 1 QUEUE_FULL", "store seq=3 id=-"]);
      assert.deepEqual(acts(d.publish(...msg("o", "x".repeat(11), 1), 0, 4)), ["reject 4 QUEUE_FULL"], "larger than the whole outbox: nothing dropped");
      assert.equal(d.queued, 2);
    });

    it("queueQos0 false rejects offline QoS 0 publishes with DISCONNECTED but queues QoS 1", () => {
      const s = new Session({ clientId: "c", outbox: { queueQos0: false } });
      assert.deepEqual(acts(s.publish(...msg("o", "0", 0), 0, 1)), ["reject 1 DISCONNECTED"]);
      assert.deepEqual(acts(s.publish(...msg("o", "1", 1), 0, 2)), ["store seq=2 id=-"]);
      s.transportUp(1);
      assert.deepEqual(acts(s.publish(...msg("o", "0", 0), 1, 3)), ["reject 3 DISCONNECTED"], "connecting is not connected");
      rx(s, 2, connack());
      assert.deepEqual(acts(s.publish(...msg("o", "0", 0), 3, 4)), ["send PUBLISH o q0 '0' op=4"]);
    });
  });

  describe("subscribe and unsubscribe", () => {
    it("resolves on SUBACK with the granted QoS", () => {
      const s = online();
      assert.deepEqual(acts(s.subscribe([{ topic: "a/+", qos: 1 }, { topic: "b/#", qos: 2 }], 1, 5)), ["send SUBSCRIBE #1 a/+:1,b/#:2"]);
      assert.deepEqual(rx(s, 2, suback(2, 0)), [], "another id");
      assert.deepEqual(rx(s, 2, suback(1, 1, 0)), ["suback a/+ 1", "suback b/# 0", "resolve 5 [1,0]"]);
      assert.deepEqual([...s.subscriptions].map(([f, w]) => [f, w.qos]), [["a/+", 1], ["b/#", 2]]);
    });

    it("rejects SUBSCRIBE_FAILED with .granted when the broker refuses a filter, and keeps it wanted", () => {
      const s = online();
      s.subscribe([{ topic: "x", qos: 1 }, { topic: "y", qos: 0 }], 1, 5);
      const a = s.received(wire(suback(1, 0x80, 0)), 2);
      assert.deepEqual(acts(a), ["suback x 128 retry=1000", "suback y 0", "reject 5 SUBSCRIBE_FAILED"]);
      assert.deepEqual((errorOf(a) as MqttError & { granted?: number[] }).granted, [0x80, 0]);
      assert.deepEqual([...s.subscriptions].map(([f, w]) => [f, w.state]), [["x", "refused"], ["y", "granted"]]);
    });

    it("rejects PROTOCOL_ERROR [MQTT-3.8.4-5] on a SUBACK with the wrong number of codes", () => {
      const s = online();
      s.subscribe([{ topic: "x", qos: 1 }, { topic: "y", qos: 0 }], 1, 5);
      const a = s.received(wire(suback(1, 1)), 2);
      assert.deepEqual(acts(a), ["reject 5 PROTOCOL_ERROR"]);
      assert.equal(errorOf(a).clause, "MQTT-3.8.4-5");
    });

    it("resolves UNSUBSCRIBE on UNSUBACK and does not resubscribe the filter later", () => {
      const s = online({ clean: false });
      s.subscribe([{ topic: "a", qos: 1 }, { topic: "b", qos: 0 }], 0, 1);
      rx(s, 0, suback(1, 1, 0));
      assert.deepEqual(acts(s.unsubscribe(["a"], 1, 2)), ["send UNSUBSCRIBE #2 a"]);
      assert.deepEqual(rx(s, 2, suback(2, 0)), [], "a SUBACK does not answer an UNSUBSCRIBE");
      assert.deepEqual(rx(s, 2, unsuback(2)), ["resolve 2"]);
      s.transportDown(3);
      s.transportUp(4);
      assert.deepEqual(rx(s, 5, connack(false)), ["connected sp=0", "send SUBSCRIBE #3 b:0"]);
    });

    it("re-sends a SUBSCRIBE in flight when the link drops and resolves its op on the new SUBACK", () => {
      const s = online({ clean: false });
      assert.deepEqual(acts(s.subscribe([{ topic: "x", qos: 1 }], 1, 7)), ["send SUBSCRIBE #1 x:1"]);
      s.transportDown(2);
      s.transportUp(3);
      assert.deepEqual(rx(s, 4, connack(true)), ["connected sp=1", "send SUBSCRIBE #2 x:1"]);
      assert.deepEqual(rx(s, 5, suback(1, 1)), [], "the old id is gone");
      assert.deepEqual(rx(s, 5, suback(2, 1)), ["suback x 1", "resolve 7 [1]"]);
    });

    it("after a drop into a new session, re-sends the in-flight SUBSCRIBE once, after the others", () => {
      const s = online({ clean: false });
      s.subscribe([{ topic: "a", qos: 0 }], 0, 1);
      rx(s, 0, suback(1, 0));
      assert.deepEqual(acts(s.subscribe([{ topic: "x", qos: 1 }], 1, 7)), ["send SUBSCRIBE #2 x:1"]);
      s.transportDown(2);
      s.transportUp(3);
      assert.deepEqual(rx(s, 4, connack(false)), ["connected sp=0", "send SUBSCRIBE #3 a:0", "send SUBSCRIBE #4 x:1"]);
      assert.deepEqual(rx(s, 5, suback(3, 0), suback(4, 1)), ["suback a 0", "suback x 1", "resolve 7 [1]"]);
    });

    it("sends a SUBSCRIBE made while offline once after CONNACK", () => {
      const s = new Session({ clientId: "c" });
      assert.deepEqual(acts(s.subscribe([{ topic: "x", qos: 1 }], 0, 3)), []);
      assert.deepEqual(acts(s.unsubscribe(["y"], 0, 4)), []);
      s.transportUp(1);
      assert.deepEqual(rx(s, 2, connack()), ["connected sp=0", "send SUBSCRIBE #1 x:1", "send UNSUBSCRIBE #2 y"]);
      assert.deepEqual(rx(s, 3, suback(1, 1), unsuback(2)), ["suback x 1", "resolve 3 [1]", "resolve 4"]);
    });

    it("rejects invalid filters with INVALID_ARGUMENT and the clause, sending nothing", () => {
      const s = online();
      const cases: [string, string][] = [["a/#/b", "MQTT-4.7.1-2"], ["a#", "MQTT-4.7.1-2"], ["a+", "MQTT-4.7.1-3"], ["", "MQTT-4.7.3-1"]];
      for (const [topic, clause] of cases) {
        const a = s.subscribe([{ topic: "ok", qos: 0 }, { topic, qos: 0 }], 0, 1);
        assert.deepEqual(acts(a), ["reject 1 INVALID_ARGUMENT"]);
        assert.equal(errorOf(a).clause, clause);
        const u = s.unsubscribe([topic], 0, 2);
        assert.deepEqual(acts(u), ["reject 2 INVALID_ARGUMENT"]);
        assert.equal(errorOf(u).clause, clause);
      }
      assert.equal(errorOf(s.subscribe([], 0, 3)).clause, "MQTT-3.8.3-3");
      assert.equal(errorOf(s.unsubscribe([], 0, 4)).clause, "MQTT-3.10.3-2");
      assert.equal(errorOf(s.subscribe([{ topic: "a", qos: 3 as QoS }], 0, 5)).clause, "MQTT-3.8.3-4");
      assert.equal(s.subscriptions.size, 0);
    });

    it("a rejected UNSUBSCRIBE leaves the subscriptions as they were", () => {
      const s = online({ clean: false });
      s.subscribe([{ topic: "a", qos: 1 }], 0, 1);
      rx(s, 0, suback(1, 1));
      assert.deepEqual(acts(s.unsubscribe(["a", "bad/#/x"], 0, 2)), ["reject 2 INVALID_ARGUMENT"]);
      assert.deepEqual([...s.subscriptions].map(([f, w]) => [f, w.qos]), [["a", 1]]);
      s.transportDown(1);
      s.transportUp(2);
      assert.deepEqual(rx(s, 3, connack(false)), ["connected sp=0", "send SUBSCRIBE #2 a:1"]);
    });

    it("rejects a 257th pending SUBSCRIBE with QUEUE_FULL and does not remember its filter", () => {
      const s = new Session({ clientId: "c" });
      for (let i = 0; i < 256; i++) assert.deepEqual(acts(s.subscribe([{ topic: `t/${i}`, qos: 0 }], 0, i)), []);
      assert.deepEqual(acts(s.subscribe([{ topic: "late", qos: 0 }], 0, 999)), ["reject 999 QUEUE_FULL"]);
      assert.equal(s.subscriptions.has("late"), false);
      assert.deepEqual(acts(s.unsubscribe(["t/0"], 0, 998)), ["reject 998 QUEUE_FULL"]);
      assert.equal(s.subscriptions.has("t/0"), true);
    });
  });

  describe("keepalive (keepalive 10 s, pingTimeoutMs 3 s)", () => {
    const ka = { keepalive: 10, pingTimeoutMs: 3000 };

    it("pings after 10 s idle, PINGRESP clears it, a missing PINGRESP closes with TIMEOUT", () => {
      const s = online(ka);
      assert.equal(s.deadline(), 10_000);
      assert.deepEqual(acts(s.tick(9_999)), []);
      assert.deepEqual(acts(s.tick(10_000)), ["send PINGREQ"]);
      assert.equal(s.deadline(), 13_000);
      assert.deepEqual(acts(s.tick(12_999)), [], "no second PINGREQ while one is outstanding");
      assert.deepEqual(rx(s, 11_000, { type: P.PINGRESP }), []);
      assert.equal(s.deadline(), 20_000, "keepalive after the older of last sent (PINGREQ, 10 s) and last received (PINGRESP, 11 s)");
      assert.deepEqual(acts(s.tick(13_000)), []);
      assert.deepEqual(acts(s.tick(20_000)), ["send PINGREQ"]);
      assert.equal(s.deadline(), 23_000);
      assert.deepEqual(acts(s.tick(22_999)), []);
      assert.deepEqual(acts(s.tick(23_000)), ["close TIMEOUT"]);
      assert.equal(s.state, "offline");
      assert.equal(s.deadline(), undefined);
    });

    it("traffic in both directions postpones the ping", () => {
      const s = online(ka);
      s.publish(...msg("t", "x"), 6_000);
      rx(s, 7_000, publish("in", "y"));
      assert.equal(s.deadline(), 16_000);
      assert.deepEqual(acts(s.tick(10_000)), []);
      assert.deepEqual(acts(s.tick(15_999)), []);
      assert.deepEqual(acts(s.tick(16_000)), ["send PINGREQ"]);
    });

    it("pings when either direction has been idle a keepalive (receive-only and send-only traffic)", () => {
      // Observed: the next ping is due keepalive after the older of last-sent and last-received.
      const r = online(ka);
      rx(r, 6_000, publish("in", "y"));
      assert.equal(r.deadline(), 10_000, "we have sent nothing since CONNECT at 0");
      assert.deepEqual(acts(r.tick(10_000)), ["send PINGREQ"]);

      const w = online(ka);
      w.publish(...msg("t", "x"), 6_000);
      assert.equal(w.deadline(), 10_000, "we have received nothing since CONNACK at 0");
      assert.deepEqual(acts(w.tick(10_000)), ["send PINGREQ"]);
    });

    it("keepalive 0 disables pings; pingTimeoutMs defaults to min(keepalive, 10 s)", () => {
      const s = online({ keepalive: 0 });
      assert.equal(s.deadline(), undefined);
      assert.deepEqual(acts(s.tick(1e9)), []);
      assert.equal(new Session({ clientId: "c", keepalive: 5 }).pingTimeoutMs, 5000);
      assert.equal(new Session({ clientId: "c", keepalive: 60 }).pingTimeoutMs, 10_000);
    });

    it("a PINGREQ from the broker is a protocol error", () => {
      const s = online(ka);
      assert.deepEqual(rx(s, 1, { type: P.PINGREQ }), ["close PROTOCOL_ERROR"]);
    });
  });

  describe("restore()", () => {
    const m = (seq: number, topic: string, qos: 1 | 2, extra: Partial<StoredMessage> = {}): StoredMessage =>
      ({ seq, topic, payload: bytes(topic.slice(-1)), qos, retain: false, ...extra });
    const stored = () => [
      m(5, "r/a", 1, { id: 10 }),
      m(6, "r/b", 2, { id: 11, released: true }),
      m(7, "r/c", 1),
      m(3, "r/d", 2, { id: 12, retain: true }),
    ];

    it("resumes messages with ids (DUP, or PUBREL when released) on sessionPresent=1 and sends the rest anew first", () => {
      const s = new Session({ clientId: "c", clean: false });
      s.restore(stored());
      assert.equal(s.inflight, 3);
      assert.equal(s.queued, 1);
      assert.deepEqual(acts(s.publish(...msg("r/n", "n", 1), 0, 1)), ["store seq=8 id=-"], "seq continues after the largest restored");
      s.transportUp(1);
      assert.deepEqual(rx(s, 2, connack(true)), [
        "connected sp=1",
        "send PUBLISH r/d q2 #12 dup retain 'd'",
        "send PUBLISH r/a q1 #10 dup 'a'",
        "send PUBREL #11",
        "store seq=7 id=1", "send PUBLISH r/c q1 #1 'c'",
        "store seq=8 id=2", "send PUBLISH r/n q1 #2 'n'",
      ]);
      assert.deepEqual(rx(s, 3, puback(10)), ["unstore seq=5"]);
      assert.deepEqual(rx(s, 3, pubcomp(11)), ["unstore seq=6"]);
      assert.deepEqual(rx(s, 3, pubrec(12)), ["store seq=3 id=12 rel", "send PUBREL #12"]);
      assert.deepEqual(rx(s, 3, puback(2)), ["unstore seq=8", "resolve 1"]);
    });

    it("on sessionPresent=0 completes the released one and sends the others anew, in seq order", () => {
      const s = new Session({ clientId: "c", clean: false });
      s.restore(stored());
      s.transportUp(1);
      assert.deepEqual(rx(s, 2, connack(false)), [
        "connected sp=0",
        "unstore seq=6",
        "store seq=3 id=1", "send PUBLISH r/d q2 #1 retain 'd'",
        "store seq=5 id=2", "send PUBLISH r/a q1 #2 'a'",
        "store seq=7 id=3", "send PUBLISH r/c q1 #3 'c'",
      ]);
    });

    it("queues a restored message whose id is already taken", () => {
      const s = new Session({ clientId: "c", clean: false });
      s.restore([m(1, "x/a", 1, { id: 4 }), m(2, "x/b", 1, { id: 4 })]);
      assert.equal(s.inflight, 1);
      assert.equal(s.queued, 1);
      s.transportUp(0);
      assert.deepEqual(rx(s, 1, connack(true)), ["connected sp=1", "send PUBLISH x/a q1 #4 dup 'a'", "store seq=2 id=1", "send PUBLISH x/b q1 #1 'b'"]);
    });
  });

  describe("disconnect()", () => {
    it("sends DISCONNECT then close; later requests wait for the next connection", () => {
      const s = online();
      assert.deepEqual(acts(s.disconnect(1, 3)), ["send DISCONNECT", "close", "resolve 3"]);
      assert.equal(s.state, "disconnecting");
      assert.deepEqual(acts(s.publish(...msg("t", "x", 1), 2, 4)), ["store seq=1 id=-"]);
      assert.deepEqual(acts(s.subscribe([{ topic: "t", qos: 0 }], 2, 5)), []);
      assert.deepEqual(acts(s.unsubscribe(["u"], 2, 6)), []);
      assert.equal(s.deadline(), undefined);
      s.transportDown(3);
      s.transportUp(4);
      assert.deepEqual(rx(s, 4, connack(false)), ["connected sp=0", "send SUBSCRIBE #1 t:0", "send UNSUBSCRIBE #2 u", "store seq=1 id=3", "send PUBLISH t q1 #3 'x'"]);
    });

    it("only closes when not connected", () => {
      const s = new Session({ clientId: "c" });
      s.transportUp(0);
      assert.deepEqual(acts(s.disconnect(1)), ["close"]);
    });
  });

  describe("packets only a server may receive", () => {
    const serverOnly: Packet[] = [
      { type: P.SUBSCRIBE, id: 1, subscriptions: [{ topic: "a", qos: 0 }] },
      { type: P.UNSUBSCRIBE, id: 1, topics: ["a"] },
      { type: P.PINGREQ },
      { type: P.CONNECT, clientId: "evil", clean: true, keepalive: 0 },
      { type: P.DISCONNECT },
      connack(),
    ];
    for (const p of serverOnly) {
      it(`closes with PROTOCOL_ERROR on ${show(p)} from the broker`, () => {
        const s = online();
        const a = s.received(wire(p, publish("after", "x")), 1);
        assert.deepEqual(acts(a), ["close PROTOCOL_ERROR"], "and the PUBLISH behind it is not delivered");
        assert.equal(errorOf(a).clause, "MQTT-4.8.0-1");
        assert.equal(s.state, "offline");
      });
    }
  });
});

describe("Session: the core's contract (issue 9)", () => {
  describe("exactly-once inbound QoS 2 in bounded memory", () => {
    /** Delivers id `id` as a new QoS 2 message and releases it; returns the actions' summary. */
    function deliverAndRelease(s: Session, id: number, now = 1): string[] {
      return [...rx(s, now, publish("in", `m${id}`, 2, id)), ...rx(s, now, pubrel(id))];
    }

    it("remembers a released id until a PINGRESP proves the broker processed its PUBCOMP, whatever the burst", () => {
      const s = online({ clean: false, qos2Memory: 8, keepalive: 0 });
      const delivered = new Map<string, number>();
      const count = (actions: string[]) => {
        for (const a of actions) if (a.startsWith("message")) delivered.set(a, (delivered.get(a) ?? 0) + 1);
      };
      // 20 messages released in one burst: at 4 released a PINGREQ goes out; at 8 remembered
      // the rest are left unacknowledged (no PUBREC) for the broker to send again.
      const skipped: number[] = [];
      for (let id = 1; id <= 20; id++) {
        const a = rx(s, 1, publish("in", `m${id}`, 2, id));
        count(a);
        if (!a.some((x) => x.startsWith("send PUBREC"))) skipped.push(id);
        else rx(s, 1, pubrel(id));
      }
      assert.deepEqual(skipped, [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
      assert.deepEqual(s.qos2Remembered, { awaiting: 0, released: 8 });
      // Cut before the PINGRESP: mosquitto 2.0 re-sends released ids as DUP PUBLISH, and the skipped ones.
      for (const t of [2, 3]) {
        s.transportDown(t);
        s.transportUp(t);
        assert.deepEqual(rx(s, t, connack(true)), ["connected sp=1", "send PINGREQ"]);
      }
      for (let id = 1; id <= 20; id++) {
        const a = rx(s, 4, publish("in", `m${id}`, 2, id, true));
        count(a);
        if (a.some((x) => x.startsWith("send PUBREC"))) rx(s, 4, pubrel(id));
      }
      assert.equal([...delivered.values()].every((n) => n === 1), true, `no message twice: ${JSON.stringify([...delivered])}`);
      assert.ok(s.qos2Remembered.awaiting + s.qos2Remembered.released <= 8, "never more than qos2Memory ids");
    });

    it("forgets released ids confirmed by a PINGRESP, then reconnects once so skipped messages come again", () => {
      const s = online({ clean: false, qos2Memory: 4, keepalive: 0 });
      assert.deepEqual(deliverAndRelease(s, 1), ["message PUBLISH in q2 #1 'm1'", "send PUBREC #1", "send PUBCOMP #1"]);
      assert.deepEqual(deliverAndRelease(s, 2), ["message PUBLISH in q2 #2 'm2'", "send PUBREC #2", "send PUBCOMP #2", "send PINGREQ"]);
      deliverAndRelease(s, 3);
      deliverAndRelease(s, 4);
      assert.deepEqual(rx(s, 1, publish("in", "m5", 2, 5)), [], "full: not delivered, not acknowledged");
      assert.deepEqual(rx(s, 2, { type: P.PINGRESP }), ["close QUEUE_FULL"], "room again: reconnect so the broker re-sends #5");
      assert.deepEqual(s.qos2Remembered, { awaiting: 0, released: 2 }, "#3 and #4 were released after the PINGREQ");
    });

    it("a re-sent PUBREL needs a new confirmation: its PUBCOMP may have been lost", () => {
      const s = online({ clean: false, qos2Memory: 2, keepalive: 0 });
      assert.deepEqual(deliverAndRelease(s, 7).slice(-1), ["send PINGREQ"]);
      assert.deepEqual(rx(s, 2, { type: P.PINGRESP }), []);
      assert.deepEqual(s.qos2Remembered, { awaiting: 0, released: 0 });
      s.transportDown(3);
      s.transportUp(3);
      // Nothing left to confirm: no PINGREQ; the broker re-sends PUBREL #7 anyway (unknown id).
      assert.deepEqual(rx(s, 3, connack(true)), ["connected sp=1"]);
      assert.deepEqual(rx(s, 3, pubrel(7)), ["send PUBCOMP #7"]);
    });
  });

  describe("an oversize inbound PUBLISH is skipped, acknowledged and reported; the link stays up", () => {
    const big = (qos: QoS, id?: number, dup = false) => publish("big/one", "x".repeat(2000), qos, id, dup);

    it("QoS 0, 1 and 2, without buffering it", () => {
      const s = online({ maxPacketSize: 1024 });
      assert.deepEqual(rx(s, 1, big(0)), ["error PACKET_TOO_LARGE"]);
      assert.deepEqual(rx(s, 1, big(1, 3)), ["error PACKET_TOO_LARGE", "send PUBACK #3"]);
      const a = s.received(wire(big(2, 4)), 1);
      assert.deepEqual(acts(a), ["error PACKET_TOO_LARGE", "send PUBREC #4"]);
      const e = (a[0] as { error: MqttError }).error;
      assert.equal(e.topic, "big/one");
      assert.equal(e.size, 1 + 2 + 2 + 7 + 2 + 2000);
      assert.deepEqual(rx(s, 1, big(2, 4, true)), ["send PUBREC #4"], "a re-send before PUBREL is not reported again");
      assert.deepEqual(rx(s, 1, pubrel(4), publish("small", "ok", 1, 5)), ["send PUBCOMP #4", "message PUBLISH small q1 #5 'ok'", "send PUBACK #5"]);
      assert.equal(s.state, "connected");
    });

    it("split across many small chunks, the decoder holds only the topic", () => {
      const s = online({ maxPacketSize: 1024 });
      const bytes = wire(big(1, 9), publish("after", "a", 1, 10));
      const out: string[] = [];
      for (let i = 0; i < bytes.length; i += 7) out.push(...acts(s.received(bytes.subarray(i, i + 7), 1)));
      assert.deepEqual(out, ["error PACKET_TOO_LARGE", "send PUBACK #9", "message PUBLISH after q1 #10 'a'", "send PUBACK #10"]);
    });

    it("any other packet over the limit still closes the connection", () => {
      const s = online({ maxPacketSize: 16 });
      s.subscribe([{ topic: "x", qos: 0 }], 0, 1);
      assert.deepEqual(rx(s, 1, suback(1, ...new Array(40).fill(0))), ["close PACKET_TOO_LARGE"]);
    });
  });

  describe("a refused subscription stays wanted", () => {
    it("is retried with backoff, on every reconnect, and forgotten by unsubscribe", () => {
      const s = online({ clean: false, keepalive: 0, resubscribe: { initialMs: 100, maxMs: 400 } });
      s.subscribe([{ topic: "x", qos: 1 }], 0, 1);
      assert.deepEqual(rx(s, 0, suback(1, 0x80)), ["suback x 128 retry=100", "reject 1 SUBSCRIBE_FAILED"]);
      assert.equal(s.deadline(), 100);
      assert.deepEqual(acts(s.tick(99)), []);
      assert.deepEqual(acts(s.tick(100)), ["send SUBSCRIBE #2 x:1"]);
      assert.deepEqual(rx(s, 100, suback(2, 0x80)), ["suback x 128 retry=200"]);
      // A reconnect with the session kept asks again at once, without waiting for the timer.
      s.transportDown(150);
      s.transportUp(150);
      assert.deepEqual(rx(s, 150, connack(true)), ["connected sp=1", "send SUBSCRIBE #3 x:1"]);
      assert.deepEqual(rx(s, 150, suback(3, 0x80)), ["suback x 128 retry=400"]);
      assert.deepEqual(rx(s, 150, suback(3, 0x80)), [], "a stray SUBACK changes nothing");
      s.unsubscribe(["x"], 151, 2);
      assert.equal(s.subscriptions.has("x"), false);
      assert.equal(s.deadline(), undefined, "no retry after unsubscribe");
      assert.deepEqual(acts(s.tick(10_000)), []);
    });
  });

  describe("validate before mutate", () => {
    it("a topic or filter over 65,535 UTF-8 bytes is refused before anything changes, online or not", () => {
      const long = "é".repeat(40_000); // 80,000 bytes in UTF-8, 40,000 code units
      for (const s of [online(), new Session({ clientId: "c" })]) {
        assert.deepEqual(acts(s.publish(long, new Uint8Array(1), 1, false, 0, 1)), ["reject 1 INVALID_ARGUMENT"]);
        assert.deepEqual(acts(s.subscribe([{ topic: long, qos: 0 }], 0, 2)), ["reject 2 INVALID_ARGUMENT"]);
        assert.deepEqual(acts(s.unsubscribe([long], 0, 3)), ["reject 3 INVALID_ARGUMENT"]);
        assert.equal(s.inflight + s.queued + s.subscriptions.size, 0);
      }
    });

    it("non-string topics and non-byte payloads from plain JavaScript are INVALID_ARGUMENT", () => {
      const s = online();
      const bad = (...args: unknown[]) => acts((s.publish as (...a: unknown[]) => Action[])(...args, 0, 1));
      assert.deepEqual(bad(5, new Uint8Array(1), 0, false), ["reject 1 INVALID_ARGUMENT"]);
      assert.deepEqual(bad("t", "text", 0, false), ["reject 1 INVALID_ARGUMENT"]);
      assert.deepEqual(bad("t", new Uint8Array(1), 0, "yes"), ["reject 1 INVALID_ARGUMENT"]);
      assert.deepEqual(bad("t", new Uint8Array(1), "1", false), ["reject 1 INVALID_ARGUMENT"]);
      assert.deepEqual(acts(s.subscribe([7] as never, 0, 2)), ["reject 2 INVALID_ARGUMENT"]);
      assert.deepEqual(acts(s.unsubscribe([1, 2] as never, 0, 3)), ["reject 3 INVALID_ARGUMENT"]);
      assert.equal(s.queued + s.inflight, 0);
    });
  });

  describe("MQTT 3.1", () => {
    it("sends MQIsdp level 3 and refuses a client id over 23 characters", () => {
      const s = new Session({ clientId: "c31", protocolVersion: 3, keepalive: 30 });
      const [send] = s.transportUp(0) as unknown as [{ bytes: Uint8Array }];
      assert.deepEqual([...send.bytes.subarray(0, 12)], [0x10, 17, 0, 6, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x70, 3, 2]);
      assert.throws(() => new Session({ clientId: "x".repeat(24), protocolVersion: 3 }), /1 to 23/);
    });

    it("with clean false resumes in-flight exchanges and subscribes again, as the CONNACK cannot say", () => {
      const s = online({ clientId: "c31", protocolVersion: 3, clean: false });
      s.subscribe([{ topic: "a", qos: 1 }], 0, 1);
      rx(s, 0, suback(1, 1));
      s.publish(...msg("t", "p", 1), 0, 2);
      s.transportDown(1);
      s.transportUp(1);
      assert.deepEqual(rx(s, 1, connack(false)), ["connected sp=0", "send PUBLISH t q1 #2 dup 'p'", "send SUBSCRIBE #3 a:1"]);
    });
  });
});
