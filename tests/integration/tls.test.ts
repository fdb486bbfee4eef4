// The client over TLS against mosquitto, with certificates generated for this run.

import assert from "node:assert/strict";
import fs from "node:fs";
import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import { makeCerts, toDer } from "../harness/certs.js";
import { parseBroker } from "../../hosts/node/session.js";
import { createNodeClient } from "../../hosts/node/client.js";
import type { Certs } from "../harness/certs.js";
import { Mosquitto } from "../harness/mosquitto.js";
import type { MqttError } from "../../modules/mqtt/errors.js";
import { client, closeAll, Inbox, text } from "./util.js";

describe("client over TLS against mosquitto", function () {
  let certs: Certs;
  let serverAuth: Mosquitto; // verifies nothing of the client
  let mutual: Mosquitto; // requires a client certificate signed by the CA

  before(async () => {
    certs = await makeCerts();
    serverAuth = await Mosquitto.start({ tls: { certs } });
    mutual = await Mosquitto.start({ tls: { certs, requireClientCert: true } });
  });
  after(async () => {
    await closeAll();
    await serverAuth.dispose();
    await mutual.dispose();
    fs.rmSync(certs.dir, { recursive: true, force: true });
  });
  afterEach(closeAll);

  it("verifies the server against the CA and exchanges messages", async () => {
    const c = client(serverAuth.tlsPort!, { secure: { ca: certs.caCertPem, serverName: "localhost" } });
    await c.connect();
    const inbox = new Inbox(c);
    await c.subscribe("tls/t", { qos: 1 });
    await c.publish("tls/t", "secret", { qos: 1 });
    await inbox.waitFor(1);
    assert.equal(text(inbox.messages[0].payload), "secret");
  });

  it("connects with mutual TLS when the client presents its certificate", async () => {
    const c = client(mutual.tlsPort!, {
      secure: { ca: certs.caCertPem, serverName: "localhost", clientCertificates: [certs.clientCertPem], clientKey: certs.clientKeyPem },
    });
    await c.connect();
    await c.publish("mtls/t", "x", { qos: 2 });
  });

  it("fails mutual TLS without a client certificate", async () => {
    const c = client(mutual.tlsPort!, { secure: { ca: certs.caCertPem, serverName: "localhost" }, reconnect: false });
    await assert.rejects(c.connect(), (e: MqttError) => ["TLS_FAILED", "DISCONNECTED", "CONNECT_FAILED"].includes(e.code));
    assert.equal(c.connected, false);
  });

  it("fails mutual TLS with a client certificate another CA signed", async () => {
    const c = client(mutual.tlsPort!, {
      secure: { ca: certs.caCertPem, serverName: "localhost", clientCertificates: [fs.readFileSync(certs.untrustedClientCert, "utf8")], clientKey: fs.readFileSync(certs.untrustedClientKey, "utf8") },
      reconnect: false,
    });
    await assert.rejects(c.connect(), (e: MqttError) => ["TLS_FAILED", "DISCONNECTED", "CONNECT_FAILED"].includes(e.code));
    assert.equal(c.connected, false);
  });

  it("offers the ALPN protocols it is given (what a TLS server sees), as AWS IoT Core on port 443 needs", async () => {
    const offered: string[][] = [];
    const server = tls.createServer({
      cert: certs.serverCertPem, key: certs.serverKeyPem,
      ALPNCallback: ({ protocols }) => { offered.push(protocols); return protocols[0]; },
    }, (socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const c = client((server.address() as AddressInfo).port, {
        secure: { ca: certs.caCertPem, serverName: "localhost", ALPNProtocols: ["x-amzn-mqtt-ca"] }, reconnect: false, connectTimeoutMs: 2_000,
      });
      await assert.rejects(c.connect());
      assert.deepEqual(offered, [["x-amzn-mqtt-ca"]]);
    } finally {
      server.close();
    }
  });

  for (const format of ["PEM", "DER"] as const) {
    it(`takes the CA, client certificate and key as ${format} files (--ca, --cert, --key and MQTT_CA/CERT/KEY)`, async () => {
      const files = format === "PEM"
        ? { ca: certs.caCert, cert: certs.clientCert, key: certs.clientKey }
        : { ca: await toDer(certs.caCert, "cert"), cert: await toDer(certs.clientCert, "cert"), key: await toDer(certs.clientKey, "key") };
      const broker = parseBroker(`mqtts://localhost:${mutual.tlsPort}`, files);
      const c = createNodeClient({ host: broker.host, port: broker.port, secure: broker.secure, clientId: `tls-${format}-${process.pid}`, reconnect: false });
      c.on("error", () => {});
      try {
        await c.connect();
        await c.publish("mtls/files", format, { qos: 1 });
      } finally {
        await c.disconnect();
      }
    });
  }

  it("refuses a server whose certificate no trusted CA signed", async () => {
    const rogue = await Mosquitto.start({
      tls: { cert: certs.untrustedServerCert, key: certs.untrustedServerKey, ca: certs.caCert },
    });
    try {
      const c = client(rogue.tlsPort!, { secure: { ca: certs.caCertPem, serverName: "localhost" }, reconnect: false });
      await assert.rejects(c.connect(), (e: MqttError) => e.code === "TLS_FAILED" && /UNABLE_TO_VERIFY|SELF_SIGNED|CERT/.test(e.message));
    } finally {
      await rogue.dispose();
    }
  });

  it("refuses a trusted certificate issued for another host name", async () => {
    const wrong = await Mosquitto.start({ tls: { cert: certs.wrongHostCert, key: certs.wrongHostKey, ca: certs.caCert } });
    try {
      const c = client(wrong.tlsPort!, { secure: { ca: certs.caCertPem, serverName: "localhost" }, reconnect: false });
      await assert.rejects(c.connect(), (e: MqttError) => e.code === "TLS_FAILED" && /ALTNAME/.test(e.message));
    } finally {
      await wrong.dispose();
    }
  });
});
