// Moddable's own MQTT test scenarios (moddable/tests/modules/network/mqtt in the SDK),
// ported to our client. Portable: no Node APIs, so the same file runs on Node, on XS
// (tests/xs) and in the Moddable simulator (hosts/moddable/scenarios).
//
// Moddable's versions talk to test.mosquitto.org; ours take a local broker from the host.

import type { MqttClient, ClientOptions, Message } from "../../modules/mqtt/client.js";
import { MqttError } from "../../modules/mqtt/errors.js";
import { decodeUtf8 } from "../../modules/mqtt/utf8.js";

/** The brokers a scenario may use; the runner starts them. */
export interface ScenarioBroker {
  host: string;
  /** Anonymous access. */
  port: number;
  /** Requires user and password. */
  authPort: number;
  user: string;
  password: string;
  /** Nothing listens here: the connection is refused. */
  refusedPort: number;
  /** Something listens here that does not speak plain MQTT (a TLS listener). */
  foreignPort: number;
  /** A host name that does not resolve. */
  badHost: string;
}

/** What a platform provides to run the scenarios. */
export interface ScenarioHost {
  broker: ScenarioBroker;
  /** A client bound to the platform's sockets and timer. */
  client(options: Omit<ClientOptions, "socket" | "timer">): MqttClient;
  /** Resolves after `ms` milliseconds of the platform's time. */
  delay(ms: number): Promise<void>;
  /** Unique per call within a run, for client ids and topics. */
  unique(): string;
}

export interface Scenario {
  name: string;
  run(host: ScenarioHost): Promise<void>;
}

/** How long the "nothing else happens" scenarios watch for something to happen. */
const QUIET_MS = 300;
/** Upper bound for an expected event. */
const WAIT_MS = 5_000;

function fail(message: string): never {
  throw new Error(message);
}

function text(payload: Uint8Array): string {
  return decodeUtf8(payload, 0, payload.length);
}

/** Resolves with the first message matching `test`; rejects after WAIT_MS. */
function nextMessage(host: ScenarioHost, client: MqttClient, test: (m: Message) => boolean = () => true): Promise<Message> {
  return new Promise((resolve, reject) => {
    let done = false;
    const off = (): void => { done = true; client.off("message", listener); };
    const listener = (m: Message): void => {
      if (done || !test(m)) return;
      off();
      resolve({ ...m, payload: m.payload.slice() });
    };
    client.on("message", listener);
    host.delay(WAIT_MS).then(() => {
      if (done) return;
      off();
      reject(new Error(`no message within ${WAIT_MS} ms`));
    });
  });
}

/** Expects `promise` to reject with an MqttError whose code is one of `codes`. */
async function rejectsWith(promise: Promise<unknown>, codes: string[]): Promise<MqttError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof MqttError && codes.includes(e.code)) return e;
    fail(`expected ${codes.join(" or ")}, got ${e instanceof MqttError ? e.code : String(e)}`);
  }
  return fail(`expected ${codes.join(" or ")}, but it succeeded`);
}

function open(host: ScenarioHost, options: Partial<Omit<ClientOptions, "socket" | "timer">> = {}): MqttClient {
  const c = host.client({
    host: host.broker.host,
    port: host.broker.port,
    clientId: `scn-${host.unique()}`,
    reconnect: false,
    connectTimeoutMs: WAIT_MS,
    ...options,
  });
  c.on("error", () => {}); // scenarios check outcomes, not the error stream
  return c;
}

/** Records what a client does after a point, to assert it does nothing. */
function watch(client: MqttClient): { connected: number; messages: string[] } {
  const seen = { connected: 0, messages: [] as string[] };
  client.on("connected", () => { seen.connected++; });
  client.on("message", (m) => { seen.messages.push(text(m.payload)); });
  return seen;
}

export const scenarios: Scenario[] = [
  {
    // mqtt-echo.js: subscribe to a topic tree, publish into it, receive the same message.
    name: "echo",
    async run(host) {
      const c = open(host);
      try {
        await c.connect();
        const topic = `moddable/mqtt/test_${host.unique()}`;
        const body = `echo ${host.unique()} ${Math.random()}`;
        await c.subscribe(`${topic}/#`);
        const got = nextMessage(host, c);
        await c.publish(`${topic}/value`, body);
        const m = await got;
        if (m.topic !== `${topic}/value`) fail(`wrong topic ${m.topic}`);
        if (text(m.payload) !== body) fail(`wrong payload ${text(m.payload)}`);
      } finally {
        await c.disconnect();
      }
    },
  },
  {
    // mqtt-will.js: a client that drops without DISCONNECT has its will published.
    name: "will",
    async run(host) {
      const topic = `moddable/mqtt/will_${host.unique()}`;
      const willMsg = "disconnected!";
      const dev = open(host, { will: { topic, payload: willMsg, qos: 0, retain: false } });
      const verifier = open(host);
      try {
        await dev.connect();
        await verifier.connect();
        await verifier.subscribe(topic);
        const got = nextMessage(host, verifier);
        dev.abort();
        const m = await got;
        if (m.topic !== topic || text(m.payload) !== willMsg) fail(`unexpected will ${m.topic}/${text(m.payload)}`);
      } finally {
        await verifier.disconnect();
      }
    },
  },
  {
    // mqtt-unsubscribe.js: after unsubscribing from a, only b's message arrives.
    name: "unsubscribe",
    async run(host) {
      const c = open(host);
      try {
        await c.connect();
        const topic = `moddable/mqtt/test_${host.unique()}`;
        const seen: string[] = [];
        c.on("message", (m) => { seen.push(`${m.topic.slice(topic.length + 1)}=${text(m.payload)}`); });
        await c.subscribe(`${topic}/a`);
        await c.subscribe(`${topic}/b`);
        const first = nextMessage(host, c, (m) => m.topic === `${topic}/a`);
        await c.publish(`${topic}/a`, "1");
        await first;
        await c.unsubscribe(`${topic}/a`);
        const last = nextMessage(host, c, (m) => m.topic === `${topic}/b`);
        await c.publish(`${topic}/a`, "2");
        await c.publish(`${topic}/b`, "3");
        await last;
        if (seen.join(",") !== "a=1,b=3") fail(`received ${seen.join(",")}`);
      } finally {
        await c.disconnect();
      }
    },
  },
  {
    // mqtt-close-immediate.js: closed before the connection exists, nothing ever happens.
    name: "close-immediate",
    async run(host) {
      const c = open(host);
      const seen = watch(c);
      const connecting = rejectsWith(c.connect(), ["CLOSED"]);
      await c.disconnect();
      await connecting;
      await host.delay(QUIET_MS);
      if (seen.connected) fail("connected after disconnect()");
      if (c.connected) fail("reports connected");
    },
  },
  {
    // mqtt-close-ready.js: subscribe, publish and close at once; the echo is never delivered.
    name: "close-ready",
    async run(host) {
      const c = open(host);
      await c.connect();
      const seen = watch(c);
      const topic = `moddable/mqtt/test_${host.unique()}`;
      void c.subscribe(`${topic}/#`).catch(() => {});
      void c.publish(`${topic}/value`, "ready").catch(() => {});
      await c.disconnect();
      await host.delay(QUIET_MS);
      if (seen.messages.length) fail(`message after disconnect(): ${seen.messages.join(",")}`);
    },
  },
  {
    // mqtt-close-message.js: closing inside a message handler stops delivery at once,
    // even for messages already received in the same read.
    name: "close-message",
    async run(host) {
      const c = open(host);
      await c.connect();
      const topic = `moddable/mqtt/test_${host.unique()}`;
      const body = `m${host.unique()}`;
      const seen: string[] = [];
      let closed = false;
      c.on("message", (m) => {
        const s = text(m.payload);
        seen.push(s);
        if (closed) return;
        if (s === body + "b") {
          closed = true;
          void c.disconnect();
        }
      });
      await c.subscribe(`${topic}/#`);
      for (const suffix of ["", "a", "b", "c", "d"]) void c.publish(`${topic}/value`, body + suffix).catch(() => {});
      for (let waited = 0; !closed && waited < WAIT_MS; waited += 50) await host.delay(50);
      if (!closed) fail(`never received ${body}b; received ${seen.join(",")}`);
      await host.delay(QUIET_MS);
      const expected = [body, body + "a", body + "b"].join(",");
      if (seen.join(",") !== expected) fail(`received ${seen.join(",")}, expected ${expected}`);
    },
  },
  {
    // mqtt-auth-success.js
    name: "auth-success",
    async run(host) {
      const { authPort, user, password } = host.broker;
      const c = open(host, { port: authPort, username: user, password });
      await c.connect();
      await c.disconnect();
    },
  },
  {
    // mqtt-auth-fail.js
    name: "auth-fail",
    async run(host) {
      const { authPort, user, password } = host.broker;
      const c = open(host, { port: authPort, username: user, password: password + "-x" });
      const seen = watch(c);
      await rejectsWith(c.connect(), ["AUTHENTICATION_FAILED"]);
      if (seen.connected) fail("connected with a wrong password");
    },
  },
  {
    // mqtt-bad-endpoint.js: a port where nothing listens.
    name: "bad-endpoint-refused",
    async run(host) {
      const c = open(host, { port: host.broker.refusedPort });
      await rejectsWith(c.connect(), ["CONNECT_FAILED"]);
    },
  },
  {
    // mqtt-bad-endpoint.js: a port that listens but speaks another protocol (Moddable's
    // version used port 80 of an HTTP server); here a TLS listener.
    name: "bad-endpoint-foreign",
    async run(host) {
      const c = open(host, { port: host.broker.foreignPort, connectTimeoutMs: 2_000 });
      const seen = watch(c);
      await rejectsWith(c.connect(), ["DISCONNECTED", "TIMEOUT", "MALFORMED_PACKET", "PROTOCOL_ERROR"]);
      if (seen.connected) fail("connected to a non-MQTT endpoint");
    },
  },
  {
    // mqtt-bad-host.js
    name: "bad-host",
    async run(host) {
      const c = open(host, { host: host.broker.badHost });
      await rejectsWith(c.connect(), ["CONNECT_FAILED"]);
    },
  },
];
