// The lin tier: the firmware built by Moddable's mcconfig for the desktop simulator and run
// under Xvfb against a local mosquitto. Skipped, with the reason, when MODDABLE is not set.
// Run alone with `npm run test:lin`.

import { strict as assert } from "node:assert";
import { Mosquitto, freePort } from "../harness/mosquitto.js";
import { buildLin, BUILD_TIMEOUT_MS, imageModules, importClosure, productManifest, repoSource, Simulator, unavailable } from "../harness/moddable.js";
import { startScenarioBrokers } from "../harness/scenario-brokers.js";
import type { ScenarioBrokers } from "../harness/scenario-brokers.js";
import { scenarios } from "../scenarios/moddable-mqtt.js";
import { client, closeAll, Inbox, text } from "../integration/util.js";
import { roundTripTopics } from "../../modules/apps/roundtrip.js";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as net from "node:net";
import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import { makeCerts, makeRsaCerts } from "../harness/certs.js";
import type { Certs } from "../harness/certs.js";
import { startAedes } from "../harness/aedes.js";
import type { AedesHandle } from "../harness/aedes.js";
import { SchemaTap } from "../products/harness.js";
import { products } from "../../modules/products/index.js";
import type { Json } from "../../modules/device/commands.js";
import { topicMatches } from "../../modules/mqtt/topic.js";

const why = unavailable();
// A test's own work, once its firmware is built; builds get BUILD_TIMEOUT_MS on top.
const TEST_MS = 120_000;

/**
 * Builds the roundtrip app with TLS files as resources: a manifest in a temp folder includes
 * ours and adds `files` (resource name -> file generated for this run); no key reaches the repo.
 */
async function buildWithResources(name: string, files: Record<string, string>, config: Record<string, string | number>): Promise<Simulator> {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), `lin-res-${name}-`));
  fs.mkdirSync(path.join(dir, "res"));
  for (const [resource, source] of Object.entries(files)) fs.copyFileSync(source, path.join(dir, "res", resource));
  const manifest = path.join(dir, "manifest.json");
  fs.writeFileSync(manifest, JSON.stringify({ include: [path.resolve("manifest.json")], resources: { "*": path.join(dir, "res/*") } }));
  const { so } = await buildLin(name, { app: "roundtrip", interval: 500, ...config }, manifest);
  return Simulator.start(so);
}

/** The round trip's ping answered over the device's connection (its subscription in place first). */
async function pingOver(port: number, device: string, id: string): Promise<void> {
  const topics = roundTripTopics(device);
  const c = client(port);
  await c.connect();
  // The device subscribes in its CONNACK batch, ahead of its telemetry: once telemetry
  // arrives the broker has its SUBSCRIBE, so the command cannot overtake it.
  const telemetry = new Inbox(c, (m) => m.topic === topics.telemetry);
  await c.subscribe(topics.telemetry, { qos: 1 });
  await telemetry.waitFor(1, 30_000);
  const responses = new Inbox(c, (m) => m.topic === topics.response);
  await c.subscribe(topics.response, { qos: 1 });
  await c.publish(topics.command, JSON.stringify({ id, op: "ping" }), { qos: 1 });
  await responses.waitFor(1);
  assert.deepEqual(JSON.parse(responses.texts()[0]), { id, ok: true });
}

function der(source: string, kind: "x509" | "rsa"): string {
  const out = `${source}.${kind}.der`;
  execFileSync("openssl", kind === "x509"
    ? ["x509", "-in", source, "-outform", "DER", "-out", out]
    : ["rsa", "-in", source, "-traditional", "-outform", "DER", "-out", out], { stdio: "ignore" });
  return out;
}

describe("Moddable lin simulator (mcconfig -m -p lin, Xvfb)", function () {
  this.timeout(TEST_MS);

  before(function () {
    if (why) {
      console.log(`      lin tier skipped: ${why}`);
      this.skip();
    }
  });

  describe("round trip", () => {
    let broker: Mosquitto;
    let sim: Simulator | undefined;
    let preferences: string;
    const device = `lin-${process.pid}-${Date.now() % 100000}`;
    const topics = roundTripTopics(device);

    before(async function () {
      if (why) this.skip();
      this.timeout(BUILD_TIMEOUT_MS);
      broker = await Mosquitto.start();
      const build = await buildLin("roundtrip", { app: "roundtrip", broker: `mqtt://127.0.0.1:${broker.port}`, device, interval: 500 });
      preferences = build.preferences;
      sim = await Simulator.start(build.so);
    });
    after(async () => {
      await sim?.stop();
      await closeAll();
      await broker?.dispose();
    });

    it("connects, publishes status and telemetry", async () => {
      const watcher = client(broker.port);
      await watcher.connect();
      const inbox = new Inbox(watcher, (m) => m.topic === topics.telemetry);
      const status = new Inbox(watcher, (m) => m.topic === topics.status);
      await watcher.subscribe(`rt/${device}/#`, { qos: 1 });
      await status.waitFor(1, 30_000);
      assert.equal(text(status.messages[0].payload), "online");
      await inbox.waitFor(2, 10_000);
      assert.match(text(inbox.messages[1].payload), /^\{"seq":\d+,"uptimeMs":\d+\}$/);
    });

    it("keeps its outbox in this build's own Preference file, not lin's machine-wide /tmp/modpreferences.json", () => {
      // The QoS 1 telemetry above went through the outbox, which Preference saved.
      assert.ok(fs.existsSync(preferences), `no ${preferences}; simulator output:\n${sim!.lines.join("\n")}`);
    });

    it("answers commands, and malformed ones with an error", async () => {
      const c = client(broker.port);
      await c.connect();
      const responses = new Inbox(c, (m) => m.topic === topics.response);
      await c.subscribe(topics.response, { qos: 1 });
      await c.publish(topics.command, JSON.stringify({ id: "p1", op: "ping" }), { qos: 1 });
      await c.publish(topics.command, "{not json", { qos: 1 });
      await c.publish(topics.command, JSON.stringify({ id: "u1", op: "launch" }), { qos: 1 });
      await responses.waitFor(3);
      assert.deepEqual(responses.texts().map((t) => JSON.parse(t)), [
        { id: "p1", ok: true },
        { id: null, ok: false, error: "malformed JSON" },
        { id: "u1", ok: false, error: "unknown op launch" },
      ]);
    });

    it("publishes 16 KB and receives 16 KB over the 1536-byte lin socket", async () => {
      const c = client(broker.port);
      await c.connect();
      const blobs = new Inbox(c, (m) => m.topic === topics.blob);
      const responses = new Inbox(c, (m) => m.topic === topics.response);
      await c.subscribe([topics.blob, topics.response], { qos: 1 });
      await c.publish(topics.command, JSON.stringify({ id: "b1", op: "blob", size: 16_384 }), { qos: 1 });
      await blobs.waitFor(1);
      const blob = blobs.messages[0].payload;
      assert.equal(blob.length, 16_384);
      for (let i = 0; i < blob.length; i++) if (blob[i] !== (i & 255)) assert.fail(`byte ${i} is ${blob[i]}`);

      const incoming = new Uint8Array(16_384);
      let sum = 0;
      for (let i = 0; i < incoming.length; i++) {
        incoming[i] = (i * 7 + 3) & 255;
        sum = (sum + incoming[i] * (i + 1)) >>> 0;
      }
      await c.publish(topics.blobIn, incoming, { qos: 1 });
      await responses.waitFor(2);
      const replies = responses.texts().map((t) => JSON.parse(t));
      assert.deepEqual(replies.find((r) => r.id === "b1"), { id: "b1", ok: true, size: 16_384 });
      assert.deepEqual(replies.find((r) => r.id === "blobin"), { id: "blobin", ok: true, size: 16_384, sum });
    });

    it("reconnects after the broker restarts and carries on", async () => {
      const before = sim!.lines.filter((l) => /connected sessionPresent/.test(l)).length;
      await broker.restart();
      const c = client(broker.port);
      await c.connect();
      const telemetry = new Inbox(c, (m) => m.topic === topics.telemetry);
      await c.subscribe(topics.telemetry, { qos: 1 });
      await telemetry.waitFor(2, 30_000);
      const after = sim!.lines.filter((l) => /connected sessionPresent/.test(l)).length;
      assert.ok(after > before, `no reconnect seen; simulator output:\n${sim!.lines.join("\n")}`);
      const responses = new Inbox(c, (m) => m.topic === topics.response);
      await c.subscribe(topics.response, { qos: 1 });
      await c.publish(topics.command, JSON.stringify({ id: "p2", op: "ping" }), { qos: 1 });
      await responses.waitFor(1);
      assert.deepEqual(JSON.parse(responses.texts()[0]), { id: "p2", ok: true });
    });
  });

  describe("Moddable MQTT scenarios", () => {
    let brokers: ScenarioBrokers;
    let sim: Simulator | undefined;

    before(async function () {
      if (why) this.skip();
      this.timeout(BUILD_TIMEOUT_MS + TEST_MS);
      brokers = await startScenarioBrokers();
      const b = brokers.broker;
      const { so } = await buildLin("scenarios", {
        app: "scenarios",
        broker: `mqtt://${b.host}:${b.port}`,
        authPort: b.authPort,
        mqttUser: b.user,
        mqttPassword: b.password,
        refusedPort: await freePort(),
        foreignPort: b.foreignPort,
      });
      sim = await Simulator.start(so);
      await sim.waitFor(/SCENARIOS DONE/, 120_000);
    });
    after(async () => {
      await sim?.stop();
      await brokers?.dispose();
    });

    for (const scenario of scenarios) {
      it(scenario.name, async () => {
        const line = await sim!.waitFor(new RegExp(`SCENARIO ${scenario.name} (PASS|FAIL)`));
        assert.ok(line.endsWith("PASS"), line);
      });
    }
  });

  // TLS through the SDK's TLS socket, server verification: the run's EC CA (DER) as a resource.
  describe("TLS (mqtts, CA resource)", () => {
    let certs: Certs;
    let broker: Mosquitto;

    function buildWithCa(name: string, caCert: string, device: string, port = broker.tlsPort): Promise<Simulator> {
      return buildWithResources(name, { "ca.der": der(caCert, "x509") }, { broker: `mqtts://127.0.0.1:${port}`, device, ca: "ca.der" });
    }

    before(async function () {
      if (why) this.skip();
      certs = await makeCerts();
      broker = await Mosquitto.start({ tls: { certs } });
    });
    after(async () => {
      await closeAll();
      await broker?.dispose();
      if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
    });

    it("connects to a broker whose certificate the CA signed, and answers over TLS", async function () {
      this.timeout(BUILD_TIMEOUT_MS + TEST_MS);
      const device = `lintls-${process.pid}`;
      const sim = await buildWithCa("tls-ok", certs.caCert, device);
      try {
        await sim.waitFor(/connected sessionPresent/, 30_000);
        await pingOver(broker.port, device, "t1");
      } finally {
        await sim.stop();
      }
    });

    it("refuses a broker certificate from another CA with TLS_FAILED, and keeps running", async function () {
      this.timeout(BUILD_TIMEOUT_MS + TEST_MS);
      const sim = await buildWithCa("tls-untrusted", certs.untrustedCaCert, `lintls-bad-${process.pid}`);
      try {
        const line = await sim.waitFor(/error TLS_FAILED/, 30_000);
        assert.match(line, /certificate/);
        // Still alive: it retries instead of aborting the VM.
        await sim.waitFor(/disconnected TLS_FAILED retry in \d+ ms/, 30_000);
        assert.ok(!sim.lines.some((l) => /XS abort/.test(l)), sim.lines.join("\n"));
        assert.ok(!sim.lines.some((l) => /connected sessionPresent/.test(l)));
      } finally {
        await sim.stop();
      }
    });

    it("refuses a certificate our CA signed for another host name", async function () {
      this.timeout(BUILD_TIMEOUT_MS + TEST_MS);
      const wrong = await Mosquitto.start({ tls: { cert: certs.wrongHostCert, key: certs.wrongHostKey, ca: certs.caCert } });
      const sim = await buildWithCa("tls-wrong-host", certs.caCert, `lintls-host-${process.pid}`, wrong.tlsPort);
      try {
        await sim.waitFor(/error TLS_FAILED/, 30_000);
        assert.ok(!sim.lines.some((l) => /connected sessionPresent/.test(l)), sim.lines.join("\n"));
      } finally {
        await sim.stop();
        await wrong.dispose();
      }
    });
  });

  // Mutual TLS as AWS IoT Core asks for it, against mosquitto with require_certificate. RSA
  // throughout: the SDK signs the client's certificateVerify with RSA only. The key is
  // PKCS#1 ("BEGIN RSA PRIVATE KEY"), as AWS hands it out; the device wraps it into PKCS#8.
  describe("mutual TLS (RSA, require_certificate; ca=, cert=, key=, alpn=, serverName=)", () => {
    let certs: Certs;
    let broker: Mosquitto;

    before(async function () {
      if (why) this.skip();
      certs = await makeRsaCerts();
      broker = await Mosquitto.start({ tls: { certs, requireClientCert: true } });
    });
    after(async () => {
      await closeAll();
      await broker?.dispose();
      if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
    });

    /** Waits for the device's first failed attempt; asserts it never connected and the broker logged `reason`. */
    async function refused(sim: Simulator, reason: RegExp): Promise<void> {
      await sim.waitFor(/disconnected \S+ retry in \d+ ms/, 30_000);
      assert.ok(!sim.lines.some((l) => /connected sessionPresent/.test(l)), sim.lines.join("\n"));
      assert.ok(!sim.lines.some((l) => /XS abort|cannot start/.test(l)), sim.lines.join("\n"));
      assert.match(broker.log(), reason);
    }

    const files = {
      PEM: (): Record<string, string> => ({ "AmazonRootCA1.pem": certs.caCert, "device.pem.crt": certs.clientCert, "private.pem.key": certs.clientKey }),
      DER: (): Record<string, string> => ({ "ca.der": der(certs.caCert, "x509"), "device.crt.der": der(certs.clientCert, "x509"), "device.key.der": der(certs.clientKey, "rsa") }),
    };
    for (const format of ["PEM", "DER"] as const) {
      it(`connects with CA, client certificate and PKCS#1 key as ${format} resources, and answers`, async function () {
        this.timeout(BUILD_TIMEOUT_MS + TEST_MS);
        const device = `linmtls-${format}-${process.pid}`;
        const resources = files[format]();
        const [ca, cert, key] = Object.keys(resources);
        const sim = await buildWithResources(`mtls-${format}`, resources, { broker: `mqtts://127.0.0.1:${broker.tlsPort}`, device, ca, cert, key });
        try {
          await sim.waitFor(/connected sessionPresent/, 30_000);
          await pingOver(broker.port, device, `m-${format}`);
        } finally {
          await sim.stop();
        }
      });
    }

    it("is refused without a client certificate", async function () {
      this.timeout(BUILD_TIMEOUT_MS + TEST_MS);
      const sim = await buildWithResources("mtls-none", { "ca.pem": certs.caCert }, { broker: `mqtts://127.0.0.1:${broker.tlsPort}`, device: `linmtls-none-${process.pid}`, ca: "ca.pem" });
      try {
        await refused(sim, /peer did not return a certificate/);
      } finally {
        await sim.stop();
      }
    });

    it("is refused with a client certificate another CA signed", async function () {
      this.timeout(BUILD_TIMEOUT_MS + TEST_MS);
      const sim = await buildWithResources("mtls-rogue", { "ca.pem": certs.caCert, "rogue.pem": certs.untrustedClientCert, "rogue.key": certs.untrustedClientKey },
        { broker: `mqtts://127.0.0.1:${broker.tlsPort}`, device: `linmtls-rogue-${process.pid}`, ca: "ca.pem", cert: "rogue.pem", key: "rogue.key" });
      try {
        await refused(sim, /certificate verify failed/);
      } finally {
        await sim.stop();
      }
    });

    // AWS IoT Core on port 443 picks MQTT by ALPN. mosquitto does not log what a client
    // offered, so a Node TLS front records the ALPN list and SNI, then carries the
    // connection to the broker's plain port: the device must connect through it.
    it("offers its ALPN protocols and server name (alpn=, serverName=), and connects through a server that selects one", async function () {
      this.timeout(BUILD_TIMEOUT_MS + TEST_MS);
      const offered: { protocols: string[]; servername: string | undefined }[] = [];
      // The chain with its CA, as brokers send it: the SDK checks the server name only while
      // walking a chain, so a lone leaf certificate fails "subjectAltName match".
      const front = tls.createServer({
        cert: certs.serverCertPem + certs.caCertPem, key: certs.serverKeyPem,
        ALPNCallback: ({ protocols, servername }) => { offered.push({ protocols, servername }); return protocols[0]; },
      }, (socket) => {
        const upstream = net.connect(broker.port, "127.0.0.1");
        socket.pipe(upstream).pipe(socket);
        socket.on("error", () => upstream.destroy());
        upstream.on("error", () => socket.destroy());
      });
      await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
      const device = `linalpn-${process.pid}`;
      const sim = await buildWithResources("alpn", { "ca.pem": certs.caCert }, {
        broker: `mqtts://127.0.0.1:${(front.address() as AddressInfo).port}`, device, ca: "ca.pem", alpn: "x-amzn-mqtt-ca,mqtt", serverName: "localhost",
      });
      try {
        await sim.waitFor(/connected sessionPresent/, 30_000);
        assert.deepEqual(offered[0], { protocols: ["x-amzn-mqtt-ca", "mqtt"], servername: "localhost" });
        await pingOver(broker.port, device, "a1");
      } finally {
        await sim.stop();
        front.close();
      }
    });
  });

  // Each product's own image (hosts/moddable/products/<name>/manifest.json): its drivers on
  // its emulators, against aedes with the schema tap: every message the simulator's device
  // sends is checked.
  for (const definition of products) {
    describe(`product ${definition.name}`, () => {
      let broker: AedesHandle;
      let tap: SchemaTap;
      let sim: Simulator | undefined;
      let makefile: string;
      const deviceId = definition.deviceId(0);
      const isDevice = (id: string): boolean => !id.startsWith("it-");

      before(async function () {
        if (why) this.skip();
        this.timeout(BUILD_TIMEOUT_MS);
        broker = await startAedes();
        tap = new SchemaTap(broker, definition.name, isDevice);
        // No device= : the image's own default is the product's first example id.
        const build = await buildLin(definition.name, { broker: `mqtt://127.0.0.1:${broker.port}` }, productManifest(definition.name));
        makefile = fs.readFileSync(path.join(build.tmp, "makefile"), "utf8");
        sim = await Simulator.start(build.so);
      });

      it("is an image of this product alone: its drivers and their emulators, no test module, no other product, not the companion's part", () => {
        const entry = `hosts/moddable/products/${definition.name}/simulator`;
        const names = [...imageModules(makefile).values()].map(repoSource).filter((n): n is string => n !== undefined);
        const needed = importClosure(`${entry}.ts`);
        assert.deepEqual([...needed].filter((m) => !names.includes(m)), [], "modules the entry imports but the image lacks");
        for (const folder of ["modules/products/", "modules/drivers/", "modules/emulators/", "hosts/moddable/"]) {
          assert.deepEqual(names.filter((n) => n.startsWith(folder)).sort(), [...needed].filter((n) => n.startsWith(folder)).sort(), `${folder} in the image`);
        }
        assert.ok(names.some((n) => n.startsWith("modules/drivers/")) && names.some((n) => n.startsWith("modules/emulators/")), "drivers and emulators are in");
        assert.deepEqual(names.filter((n) => /^(tests|modules\/apps)\//.test(n) || n === `modules/products/${definition.name}/index`), [], "no test module, no platform app, not the companion's part");
        assert.match(makefile, new RegExp(`^CREATION = .*,${entry},`, "m"));
      });
      after(async () => {
        await sim?.stop();
        await closeAll();
        await broker?.close();
      });
      afterEach(() => tap?.assertAllValid());

      it("connects and publishes messages that keep the product's contract", async () => {
        await sim!.waitFor(/connected sessionPresent/, 30_000);
        assert.ok(!sim!.lines.some((l) => /cannot start|XS abort/.test(l)), sim!.lines.join("\n"));
        // dese publishes its first telemetry 30 s after connecting (its default interval).
        await tap.waitFor(() => tap.seen.length >= 2, 45_000);
      });

      it("answers the companion's example command", async () => {
        const request = definition.command(deviceId, definition.defaults, definition.example.command, definition.example.params);
        const peer = client(broker.port);
        await peer.connect();
        const answer = new Promise<Json>((resolve) => {
          peer.on("message", (m) => {
            if (!topicMatches(request.responseTopic, m.topic)) return;
            const payload = JSON.parse(text(m.payload)) as Json;
            if (request.isResponse(payload)) resolve(payload);
          });
        });
        await peer.subscribe(request.responseTopic, { qos: 1 });
        await peer.publish(request.topic, JSON.stringify(request.payload), { qos: request.qos, retain: request.retain ?? false });
        const response = await Promise.race([answer, new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000))]);
        assert.ok(response !== undefined, `no answer on ${request.responseTopic}; simulator output:\n${sim!.lines.join("\n")}`);
      });
    });
  }
});
