// The Node host's platform pieces against real peers on loopback: TCP/TLS sockets
// (echo server, mosquitto, node TLS server), the file outbox store, and the test harness
// itself (mosquitto restart, fault-injecting proxy).

import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import type { Socket, SocketOptions, StoredMessage } from "../../modules/mqtt/io.js";
import { FileStore } from "../../hosts/node/file-store.js";
import { flushAll } from "../../hosts/node/file-writer.js";
import { TCPSocket } from "../../hosts/node/tcp.js";
import { nodeTimer } from "../../hosts/node/timer.js";
import { TLSSocket, type SecureOptions } from "../../hosts/node/tls.js";
import { startAedes } from "../harness/aedes.js";
import { makeCerts, type Certs } from "../harness/certs.js";
import { freePort, Mosquitto } from "../harness/mosquitto.js";
import { Proxy } from "../harness/proxy.js";

/** A socket whose callbacks become events, with everything read kept. */
class Probe extends EventEmitter {
  socket: Socket;
  received: Buffer[] = [];
  errors: unknown[] = [];
  writableCounts: number[] = [];
  thisWasSocket = true;

  constructor(open: (options: SocketOptions) => Socket, options: Partial<SocketOptions> & { port: number }) {
    super();
    const probe = this;
    this.socket = open({
      host: "127.0.0.1",
      format: "buffer",
      ...options,
      onWritable(this: Socket, count: number) {
        probe.thisWasSocket &&= this === probe.socket;
        probe.writableCounts.push(count);
        probe.emit("writable", count);
      },
      onReadable(this: Socket, count: number) {
        probe.thisWasSocket &&= this === probe.socket;
        const data = this.read();
        assert.ok(data, `onReadable(${count}) but read() returned nothing`);
        assert.equal(data.byteLength, count);
        probe.received.push(Buffer.from(data));
        probe.emit("data");
      },
      onError(this: Socket, error?: unknown) {
        probe.thisWasSocket &&= this === probe.socket;
        probe.errors.push(error);
        probe.emit("failed", error);
      },
    } as SocketOptions);
  }

  get text(): string {
    return Buffer.concat(this.received).toString();
  }

  async connected(): Promise<number> {
    if (this.writableCounts.length) return this.writableCounts[0]!;
    const [count] = await raceFailure(this, "writable");
    return count as number;
  }

  async failure(): Promise<NodeJS.ErrnoException> {
    if (this.errors.length) return this.errors[0] as NodeJS.ErrnoException;
    const [error] = await once(this, "failed");
    return error as NodeJS.ErrnoException;
  }

  /** Resolves once at least n bytes have arrived. */
  async bytes(n: number): Promise<Buffer> {
    while (Buffer.concat(this.received).length < n) await raceFailure(this, "data");
    return Buffer.concat(this.received);
  }
}

// Waits for an event, but rejects if the socket fails first, so a test never hangs.
async function raceFailure(probe: Probe, event: string): Promise<unknown[]> {
  const ac = new AbortController();
  try {
    return await Promise.race([
      once(probe, event, { signal: ac.signal }),
      once(probe, "failed", { signal: ac.signal }).then(([error]) => {
        throw new Error(`socket failed while awaiting ${event}: ${String((error as Error)?.message ?? error)}`, { cause: error });
      }),
    ]);
  } finally {
    ac.abort();
  }
}

const tcp = (options: SocketOptions) => new TCPSocket(options);
const tlsOpen = (secure: SecureOptions) => (options: SocketOptions) => new TLSSocket({ ...options, secure });

/** A minimal MQTT 3.1.1 CONNECT, to prove bytes flow end to end through TLS. */
function connectPacket(clientId: string, cleanSession = true): Uint8Array {
  const id = Buffer.from(clientId);
  const body = Buffer.concat([
    Buffer.from([0, 4]), Buffer.from("MQTT"), Buffer.from([4, cleanSession ? 0x02 : 0x00, 0, 60]),
    Buffer.from([id.length >> 8, id.length & 0xff]), id,
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** Sends CONNECT and returns the CONNACK's [sessionPresent, returnCode]. */
async function mqttConnect(probe: Probe, clientId: string, cleanSession = true): Promise<[number, number]> {
  await probe.connected();
  probe.socket.write(connectPacket(clientId, cleanSession));
  const reply = await probe.bytes(4);
  assert.equal(reply[0], 0x20, "CONNACK");
  return [reply[2]!, reply[3]!];
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

describe("node host: TCPSocket", () => {
  let server: net.Server;
  let port: number;
  const peers = new Set<net.Socket>();

  before(async () => {
    server = net.createServer((socket) => {
      peers.add(socket);
      socket.once("close", () => peers.delete(socket));
      socket.on("error", () => {});
      socket.pipe(socket); // echo
    });
    port = await listen(server);
  });
  after(async () => {
    for (const peer of peers) peer.destroy();
    server.close();
  });

  it("streams 100 KB through an echo server in budget-sized writes", async () => {
    const payload = Buffer.alloc(100 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + (i >> 8)) & 0xff;
    let offset = 0;
    let largest = 0;
    const probe = new Probe(tcp, { port });
    const pump = (count: number) => {
      let budget = count;
      while (offset < payload.length && budget > 0) {
        const size = Math.min(budget, payload.length - offset);
        largest = Math.max(largest, size);
        const left = probe.socket.write(payload.subarray(offset, offset + size));
        assert.equal(typeof left, "number");
        assert.equal(left, budget - size);
        budget = left as number;
        offset += size;
      }
    };
    probe.on("writable", pump);
    assert.equal(await probe.connected(), 16 * 1024);
    const echoed = await probe.bytes(payload.length);
    assert.equal(offset, payload.length);
    assert.equal(largest, 16 * 1024, "writes were sized by the budget");
    assert.ok(echoed.equals(payload), "echo is identical");
    assert.ok(probe.writableCounts.length > 2, "onWritable refilled the budget");
    assert.ok(probe.thisWasSocket, "callbacks are invoked with this = socket");
    assert.deepEqual(probe.errors, []);
    probe.socket.close();
  });

  it("refuses writes before connect and beyond the budget", async () => {
    const probe = new Probe(tcp, { port });
    assert.throws(() => probe.socket.write(new Uint8Array(1)), /not connected/);
    const budget = await probe.connected();
    assert.throws(() => probe.socket.write(new Uint8Array(budget + 1)), RangeError);
    assert.equal(probe.socket.write(new Uint8Array(budget)), 0);
    assert.throws(() => probe.socket.write(new Uint8Array(1)), RangeError);
    await probe.bytes(budget);
    probe.socket.close();
  });

  it("reads queued bytes in pieces, across chunks", async () => {
    let count = 0;
    let socket!: Socket;
    const readable = new Promise<void>((resolve) => {
      socket = new TCPSocket({
        host: "127.0.0.1", port, format: "buffer",
        onWritable(this: Socket) {
          if (count++ === 0) this.write(Buffer.from("hello world"));
        },
        onReadable(n) {
          if (n >= 11) resolve(); // leave it queued
        },
        onError() {},
      });
    });
    await readable;
    const text = (b: ArrayBuffer | undefined) => Buffer.from(b!).toString();
    assert.equal(text(socket.read(5)), "hello");
    assert.equal(text(socket.read(1)), " ");
    assert.equal(text(socket.read(100)), "world");
    assert.equal(socket.read(), undefined);
    socket.close();
  });

  it("accepts address as an alias of host", async () => {
    const probe = new Probe((o) => new TCPSocket({ ...o, host: undefined, address: "127.0.0.1" } as never), { port });
    await probe.connected();
    probe.socket.close();
  });

  it("reports a peer close through onError exactly once", async () => {
    const closer = net.createServer((socket) => socket.end());
    const closerPort = await listen(closer);
    try {
      const probe = new Probe(tcp, { port: closerPort });
      const error = await probe.failure();
      assert.match(String(error?.message), /closed by peer/);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(probe.errors.length, 1);
      assert.throws(() => probe.socket.write(new Uint8Array(1)), /closed/);
    } finally {
      closer.close();
    }
  });

  it("reports a refused connection through onError with the node error", async () => {
    const probe = new Probe(tcp, { port: await freePort() });
    const error = await probe.failure();
    assert.equal(error.code, "ECONNREFUSED");
    assert.deepEqual(probe.writableCounts, []);
  });

  it("close() still delivers every byte write() accepted, even to a peer that is not reading yet", async () => {
    // The peer reads nothing until the client has closed, so the kernel's buffers fill and
    // written bytes wait inside node: exactly what a DISCONNECT after a burst looks like.
    let peer!: net.Socket;
    const slow = net.createServer((s) => { peer = s; s.pause(); });
    const slowPort = await listen(slow);
    try {
      const probe = new Probe(tcp, { port: slowPort });
      let written = 0;
      let stalled!: () => void;
      const stall = new Promise<void>((resolve) => { stalled = resolve; });
      let quiet: ReturnType<typeof setTimeout> | undefined;
      const chunk = Buffer.alloc(16 * 1024, 7);
      probe.on("writable", (count: number) => {
        let budget = count;
        while (budget > 0) {
          const size = Math.min(budget, chunk.length);
          budget = probe.socket.write(chunk.subarray(0, size)) as number;
          written += size;
        }
        clearTimeout(quiet);
        quiet = setTimeout(stalled, 200); // no budget back for a while: the buffers are full
      });
      await stall;
      probe.socket.close();
      let received = 0;
      peer.on("data", (d: Buffer) => { received += d.length; });
      const ended = once(peer, "end");
      peer.resume();
      await ended;
      assert.equal(received, written);
    } finally {
      peer?.destroy();
      slow.close();
    }
  });

  it("close() suppresses further callbacks", async () => {
    const probe = new Probe(tcp, { port });
    await probe.connected();
    probe.socket.write(Buffer.from("x"));
    probe.socket.close();
    probe.socket.close(); // idempotent
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(probe.received, []);
    assert.deepEqual(probe.errors, []);
  });
});

describe("node host: TLSSocket", () => {
  let certs: Certs;
  const brokers: Mosquitto[] = [];
  let plain: Mosquitto;
  let mutual: Mosquitto;

  before(async () => {
    certs = await makeCerts();
    [plain, mutual] = await Promise.all([
      Mosquitto.start({ tls: { certs } }),
      Mosquitto.start({ tls: { certs, requireClientCert: true } }),
    ]);
    brokers.push(plain, mutual);
  });
  after(async () => {
    await Promise.all(brokers.map((b) => b.dispose()));
    fs.rmSync(certs.dir, { recursive: true, force: true });
  });

  it("handshakes with mosquitto, trusting the test CA, and carries MQTT", async () => {
    const probe = new Probe(tlsOpen({ ca: certs.caCertPem, serverName: "localhost" }), { port: plain.tlsPort! });
    assert.ok((await probe.connected()) > 0);
    assert.deepEqual(await mqttConnect(probe, "tls-plain"), [0, 0]);
    probe.socket.close();
  });

  it("verifies an IP literal host against the certificate's IP SAN", async () => {
    const probe = new Probe(tlsOpen({ ca: [certs.caCertPem] }), { port: plain.tlsPort! });
    await probe.connected();
    probe.socket.close();
  });

  it("does mutual TLS with a client certificate when the broker requires one", async () => {
    const secure = { ca: certs.caCertPem, serverName: "localhost", clientCertificates: [certs.clientCertPem], clientKey: certs.clientKeyPem };
    const probe = new Probe(tlsOpen(secure), { port: mutual.tlsPort! });
    assert.deepEqual(await mqttConnect(probe, "tls-mutual"), [0, 0]);
    probe.socket.close();
  });

  it("fails without a client certificate when the broker requires one", async () => {
    const probe = new Probe(tlsOpen({ ca: certs.caCertPem, serverName: "localhost" }), { port: mutual.tlsPort! });
    // Under TLS 1.3 the client may finish its handshake before the server rejects it, so
    // the failure can follow onWritable; either way no MQTT session comes up.
    probe.on("writable", () => {
      if (probe.writableCounts.length === 1) probe.socket.write(connectPacket("tls-nocert"));
    });
    const error = await probe.failure();
    assert.ok(error instanceof Error);
    assert.deepEqual(probe.received, [], "no CONNACK");
  });

  it("refuses a server whose CA is not trusted, keeping the node error code", async () => {
    const broker = await Mosquitto.start({
      tls: { cert: certs.untrustedServerCert, key: certs.untrustedServerKey, ca: certs.caCert },
    });
    brokers.push(broker);
    const probe = new Probe(tlsOpen({ ca: certs.caCertPem, serverName: "localhost" }), { port: broker.tlsPort! });
    const error = await probe.failure();
    assert.ok(["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "SELF_SIGNED_CERT_IN_CHAIN"]
      .includes(error.code!), `code ${error.code}`);
    assert.deepEqual(probe.writableCounts, [], "never connected");
  });

  it("refuses a certificate issued for another host", async () => {
    const broker = await Mosquitto.start({
      tls: { cert: certs.wrongHostCert, key: certs.wrongHostKey, ca: certs.caCert },
    });
    brokers.push(broker);
    const probe = new Probe(tlsOpen({ ca: certs.caCertPem, serverName: "localhost" }), { port: broker.tlsPort! });
    const error = await probe.failure();
    assert.equal(error.code, "ERR_TLS_CERT_ALTNAME_INVALID");
    assert.deepEqual(probe.writableCounts, []);
  });

  it("offers ALPN protocols", async () => {
    const server = tls.createServer({ key: certs.serverKeyPem, cert: certs.serverCertPem, ALPNProtocols: ["mqtt"] });
    const seen = new Promise<string | false>((resolve) => {
      server.on("secureConnection", (socket) => {
        resolve(socket.alpnProtocol ?? false);
        socket.end();
      });
    });
    const port = await listen(server);
    try {
      const probe = new Probe(tlsOpen({ ca: certs.caCertPem, serverName: "localhost", ALPNProtocols: ["mqtt"] }), { port });
      await probe.connected();
      assert.equal(await seen, "mqtt");
      probe.socket.close();
    } finally {
      server.close();
    }
  });
});

describe("node host: FileStore", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "file-store-"));
  });
  afterEach(async () => {
    await flushAll(); // the stores write behind: let them finish before the folder goes
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const message = (seq: number, qos: 1 | 2 = 1): StoredMessage =>
    ({ seq, topic: `t/${seq}`, payload: new Uint8Array([seq, 0, 255]), qos, retain: seq % 2 === 0 });

  it("survives reopening: puts minus deletes, in seq order, and compacts", async () => {
    const file = path.join(dir, "nested", "outbox.log");
    const store = new FileStore(file);
    assert.deepEqual(store.load(), []);
    store.put(message(3, 2));
    store.put(message(1));
    store.put(message(2));
    store.delete(1);
    assert.equal(fs.existsSync(file), false, "written behind the caller, not within its turn");
    await store.flushed();
    const reopened = new FileStore(file);
    const loaded = reopened.load();
    assert.deepEqual(loaded, [message(2), message(3, 2)]);
    assert.equal(Object.getPrototypeOf(loaded[0]!.payload), Uint8Array.prototype);
    await reopened.flushed();
    const lines = fs.readFileSync(file, "utf8").trim().split("\n");
    assert.equal(lines.length, 2, "compacted to live puts");
  });

  it("keeps packet ids and the released flag; a later put replaces an earlier one", async () => {
    const file = path.join(dir, "outbox.log");
    const store = new FileStore(file);
    store.put(message(1, 2));
    store.put({ ...message(1, 2), id: 7 });
    store.put({ ...message(1, 2), id: 7, released: true });
    store.put({ ...message(2), id: 8 });
    assert.deepEqual(store.load(), [{ ...message(1, 2), id: 7, released: true }, { ...message(2), id: 8 }], "from memory");
    await store.flushed();
    assert.deepEqual(new FileStore(file).load(), [{ ...message(1, 2), id: 7, released: true }, { ...message(2), id: 8 }], "from the file");
  });

  it("tolerates a truncated last line, and appends cleanly after it", async () => {
    const file = path.join(dir, "outbox.log");
    const store = new FileStore(file);
    store.put(message(1));
    store.put(message(2));
    await store.flushed();
    fs.appendFileSync(file, '{"op":"del","seq":1'); // crash mid-append
    const writer = new FileStore(file);
    writer.put(message(4)); // before any load(): must not glue onto the broken line
    await writer.flushed();
    assert.deepEqual(new FileStore(file).load(), [message(1), message(2), message(4)]);
  });

  it("refuses a second store reading a file whose writes are still under way", async () => {
    const file = path.join(dir, "outbox.log");
    const store = new FileStore(file);
    store.put(message(1));
    assert.throws(() => new FileStore(file).load(), /still under way/);
    await store.flushed();
    assert.deepEqual(new FileStore(file).load(), [message(1)]);
  });
});

describe("test harness", () => {
  it("nodeTimer fires and clears", async () => {
    let fired = 0;
    const cleared = nodeTimer.set(() => fired++, 1);
    nodeTimer.clear(cleared);
    await new Promise<void>((resolve) => nodeTimer.set(resolve, 5));
    assert.equal(fired, 0);
  });

  it("Proxy: blackhole holds bytes, resume delivers them, cutAll fails the client", async () => {
    let serverBytes = 0;
    const echo = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.on("data", (d) => { serverBytes += d.length; socket.write(d); });
    });
    const proxy = await Proxy.start(await listen(echo));
    try {
      const probe = new Probe(tcp, { port: proxy.port });
      await probe.connected();
      probe.socket.write(Buffer.from("one"));
      assert.equal((await probe.bytes(3)).toString(), "one");
      assert.equal(proxy.connections, 1);

      proxy.blackhole();
      probe.socket.write(Buffer.from("two"));
      // Proving silence needs a window of time; keep it short.
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(serverBytes, 3, "nothing crossed the blackhole");
      assert.equal(probe.text, "one");
      assert.equal(proxy.connections, 1, "sockets kept open");

      proxy.resume();
      assert.equal((await probe.bytes(6)).toString(), "onetwo");

      proxy.cutAll();
      const error = await probe.failure();
      assert.ok(error instanceof Error);
      assert.equal(proxy.connections, 0);
    } finally {
      await proxy.close();
      echo.close();
    }
  });

  it("Mosquitto restart keeps its port and persistent sessions", async () => {
    const broker = await Mosquitto.start();
    try {
      const port = broker.port;
      const first = new Probe(tcp, { port });
      assert.deepEqual(await mqttConnect(first, "persist-1", false), [0, 0]);
      await broker.restart();
      assert.equal(broker.port, port);
      await first.failure(); // the restart dropped the old connection
      const second = new Probe(tcp, { port });
      assert.deepEqual(await mqttConnect(second, "persist-1", false), [1, 0], "session present after restart");
      second.socket.close();
    } finally {
      await broker.dispose();
    }
  });

  it("startAedes serves MQTT and applies an authenticate hook", async () => {
    const aedes = await startAedes({
      authenticate: (client, _username, _password, done) => done(null, client.id !== "intruder"),
    });
    try {
      const welcome = new Probe(tcp, { port: aedes.port });
      assert.deepEqual(await mqttConnect(welcome, "friend"), [0, 0]);
      const refused = new Probe(tcp, { port: aedes.port });
      const [, code] = await mqttConnect(refused, "intruder");
      assert.notEqual(code, 0);
      welcome.socket.close();
      refused.socket.close();
    } finally {
      await aedes.close();
    }
  });
});
