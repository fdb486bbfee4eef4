// Test PKI generated with the openssl CLI at test time, so no key ever lives in the repo.
// makeCerts: EC P-256 keys: generation is instant, and every TLS stack we talk to supports
// them. makeRsaCerts: the same set in RSA 2048, for Moddable's TLS, whose client
// authentication signs with RSA only; its keys are PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"),
// the form AWS IoT Core hands out.

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Certs {
  dir: string;
  /** The trusted test CA. */
  caCert: string;
  caKey: string;
  caCertPem: string;
  /** Signed by the CA; SAN DNS:localhost, IP:127.0.0.1. */
  serverCert: string;
  serverKey: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** Signed by the CA; CN test-client, clientAuth. */
  clientCert: string;
  clientKey: string;
  clientCertPem: string;
  clientKeyPem: string;
  /** A second CA nobody trusts, and a localhost server cert it signed. */
  untrustedCaCert: string;
  untrustedCaCertPem: string;
  untrustedServerCert: string;
  untrustedServerKey: string;
  /** A client certificate the untrusted CA signed: a broker that trusts only the test CA refuses it. */
  untrustedClientCert: string;
  untrustedClientKey: string;
  /** Signed by the trusted CA, but only for DNS:wrong.example. */
  wrongHostCert: string;
  wrongHostKey: string;
}

type KeyType = "ec" | "rsa";

/** Generates the whole set into dir (default: a fresh temp dir). */
export async function makeCerts(dir?: string): Promise<Certs> {
  return makeSet("ec", dir);
}

/** The same set as makeCerts, with RSA keys and certificates throughout. */
export async function makeRsaCerts(dir?: string): Promise<Certs> {
  return makeSet("rsa", dir);
}

async function makeSet(type: KeyType, dir?: string): Promise<Certs> {
  const root = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "mqtt-certs-"));
  fs.mkdirSync(root, { recursive: true });
  const file = (name: string) => path.join(root, name);

  await makeCa(root, type, "ca", "MQTT Test CA");
  await makeCa(root, type, "untrusted-ca", "Untrusted Test CA");
  const serverSan = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
  await Promise.all([
    makeLeaf(root, type, "server", "localhost", "ca", serverSan),
    makeLeaf(root, type, "client", "test-client", "ca", "extendedKeyUsage=clientAuth\n"),
    makeLeaf(root, type, "untrusted-server", "localhost", "untrusted-ca", serverSan),
    makeLeaf(root, type, "untrusted-client", "rogue-client", "untrusted-ca", "extendedKeyUsage=clientAuth\n"),
    makeLeaf(root, type, "wrong-host", "wrong.example", "ca",
      "subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth\n"),
  ]);

  const read = (name: string) => fs.readFileSync(file(name), "utf8");
  return {
    dir: root,
    caCert: file("ca.crt"),
    caKey: file("ca.key"),
    caCertPem: read("ca.crt"),
    serverCert: file("server.crt"),
    serverKey: file("server.key"),
    serverCertPem: read("server.crt"),
    serverKeyPem: read("server.key"),
    clientCert: file("client.crt"),
    clientKey: file("client.key"),
    clientCertPem: read("client.crt"),
    clientKeyPem: read("client.key"),
    untrustedCaCert: file("untrusted-ca.crt"),
    untrustedCaCertPem: read("untrusted-ca.crt"),
    untrustedServerCert: file("untrusted-server.crt"),
    untrustedServerKey: file("untrusted-server.key"),
    untrustedClientCert: file("untrusted-client.crt"),
    untrustedClientKey: file("untrusted-client.key"),
    wrongHostCert: file("wrong-host.crt"),
    wrongHostKey: file("wrong-host.key"),
  };
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run("openssl", args, { cwd });
  } catch (error) {
    const e = error as { code?: string; stderr?: string };
    if (e.code === "ENOENT") throw new Error("openssl CLI not found on PATH; install openssl to run the TLS tests");
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? String(error)}`);
  }
}

async function genKey(dir: string, type: KeyType, name: string): Promise<void> {
  await openssl(type === "ec"
    ? ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`]
    : ["genrsa", "-traditional", "-out", `${name}.key`, "2048"], dir);
}

async function makeCa(dir: string, type: KeyType, name: string, cn: string): Promise<void> {
  await genKey(dir, type, name);
  await openssl([
    "req", "-x509", "-new", "-key", `${name}.key`, "-sha256", "-days", "30", "-subj", `/CN=${cn}`,
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    "-out", `${name}.crt`,
  ], dir);
}

async function makeLeaf(dir: string, type: KeyType, name: string, cn: string, ca: string, extensions: string): Promise<void> {
  await genKey(dir, type, name);
  await openssl(["req", "-new", "-key", `${name}.key`, "-subj", `/CN=${cn}`, "-out", `${name}.csr`], dir);
  fs.writeFileSync(path.join(dir, `${name}.ext`),
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature" + (type === "rsa" ? ",keyEncipherment" : "") + "\n" + extensions);
  // A random serial per leaf: no shared .srl file for the parallel signings to race on.
  const serial = "0x1" + randomBytes(8).toString("hex");
  await openssl([
    "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`,
    "-set_serial", serial, "-days", "30", "-sha256", "-extfile", `${name}.ext`, "-out", `${name}.crt`,
  ], dir);
}

/** A PEM certificate or key file converted to DER next to it (`<name>.der`), as a device stores it. */
export async function toDer(pemFile: string, kind: "cert" | "key"): Promise<string> {
  const out = pemFile.replace(/\.(crt|key|pem)$/, "") + (kind === "cert" ? ".crt.der" : ".key.der");
  const args = kind === "cert"
    ? ["x509", "-in", pemFile, "-outform", "DER", "-out", out]
    : ["pkcs8", "-topk8", "-nocrypt", "-in", pemFile, "-outform", "DER", "-out", out];
  await openssl(args, path.dirname(pemFile));
  return out;
}
