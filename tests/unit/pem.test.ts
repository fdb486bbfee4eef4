// modules/mqtt/pem.ts against openssl's own conversions: keys and certificates generated at
// test time with the openssl CLI, our output compared byte for byte with what openssl writes.

import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { base64Decode, certificates, isPem, pemBlocks, rsaPrivateKey, wrapPkcs1 } from "../../modules/mqtt/pem.js";

describe("PEM and DER for the device's TLS (modules/mqtt/pem.ts)", function () {
  this.timeout(30_000);
  let dir: string;
  const file = (name: string): Uint8Array => new Uint8Array(fs.readFileSync(path.join(dir, name)));
  const openssl = (...args: string[]): void => { execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] }); };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pem-test-"));
    // RSA as AWS IoT Core hands it out (PKCS#1 PEM), and openssl's PKCS#8 and DER forms of it.
    openssl("genrsa", "-traditional", "-out", "rsa1.pem", "2048");
    openssl("rsa", "-in", "rsa1.pem", "-traditional", "-outform", "DER", "-out", "rsa1.der");
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", "rsa1.pem", "-out", "rsa8.pem");
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", "rsa1.pem", "-outform", "DER", "-out", "rsa8.der");
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", "pass:secret", "-in", "rsa1.pem", "-out", "rsa8-enc.pem");
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", "pass:secret", "-in", "rsa1.pem", "-outform", "DER", "-out", "rsa8-enc.der");
    openssl("rsa", "-in", "rsa1.pem", "-traditional", "-aes128", "-passout", "pass:secret", "-out", "rsa1-enc.pem");
    // EC: PKCS#8 and SEC1, PEM and DER.
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec8.pem");
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", "ec8.pem", "-outform", "DER", "-out", "ec8.der");
    openssl("ec", "-in", "ec8.pem", "-out", "sec1.pem");
    openssl("ec", "-in", "ec8.pem", "-outform", "DER", "-out", "sec1.der");
    // A CA and a leaf it signed: a chain file as users get one, and each in DER.
    openssl("req", "-x509", "-new", "-key", "rsa1.pem", "-subj", "/CN=PEM Test CA", "-days", "2", "-out", "ca.pem");
    openssl("req", "-new", "-key", "ec8.pem", "-subj", "/CN=leaf", "-out", "leaf.csr");
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "rsa1.pem", "-set_serial", "7", "-days", "2", "-out", "leaf.pem");
    openssl("x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der");
    openssl("x509", "-in", "leaf.pem", "-outform", "DER", "-out", "leaf.der");
    // What `openssl pkcs12 -nokeys` and many portals write: attribute lines around the blocks.
    fs.writeFileSync(path.join(dir, "chain.pem"),
      "Bag Attributes\n    friendlyName: leaf\n" + fs.readFileSync(path.join(dir, "leaf.pem"), "utf8") + "\r\n" + fs.readFileSync(path.join(dir, "ca.pem"), "utf8").replace(/\n/g, "\r\n"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("decodes base64 as Node does, with any line breaks, and rejects what is not base64", () => {
    for (let n = 0; n < 70; n++) {
      const bytes = randomBytes(n);
      const text = bytes.toString("base64");
      assert.deepEqual(Buffer.from(base64Decode(text)), bytes, `length ${n}`);
      assert.deepEqual(Buffer.from(base64Decode(text.replace(/(.{5})/g, "$1\r\n "))), bytes, `length ${n}, wrapped`);
    }
    assert.throws(() => base64Decode("QUJD*"), /invalid base64/);
    assert.throws(() => base64Decode("QU=JD"), /invalid base64/);
    assert.throws(() => base64Decode("QUJDR"), /truncated/);
    assert.throws(() => base64Decode("QQ="), /truncated/);
  });

  it("wraps a PKCS#1 RSA key into the PKCS#8 openssl writes, from PEM and from DER", () => {
    const expected = file("rsa8.der");
    assert.deepEqual(wrapPkcs1(file("rsa1.der")), expected);
    assert.ok(isPem(file("rsa1.pem")));
    assert.equal(pemBlocks(file("rsa1.pem"))[0].label, "RSA PRIVATE KEY");
    assert.deepEqual(rsaPrivateKey(file("rsa1.pem")), expected);
    assert.deepEqual(rsaPrivateKey(file("rsa1.der")), expected);
  });

  it("passes a PKCS#8 RSA key through, from PEM and from DER", () => {
    const expected = file("rsa8.der");
    assert.deepEqual(rsaPrivateKey(file("rsa8.pem")), expected);
    assert.deepEqual(rsaPrivateKey(file("rsa8.der")), expected);
  });

  it("refuses EC keys (SEC1 and PKCS#8, PEM and DER), naming the SDK's RSA-only client authentication", () => {
    for (const name of ["sec1.pem", "sec1.der", "ec8.pem", "ec8.der"]) {
      assert.throws(() => rsaPrivateKey(file(name)), /EC private key refused: .*certificateVerify.* RSA/, name);
    }
  });

  it("refuses encrypted keys with what to do", () => {
    for (const name of ["rsa8-enc.pem", "rsa8-enc.der", "rsa1-enc.pem"]) {
      assert.throws(() => rsaPrivateKey(file(name)), /encrypted.*openssl pkcs8 -topk8 -nocrypt/, name);
    }
  });

  it("splits a PEM chain into the DER certificates openssl writes, skipping text around the blocks", () => {
    assert.deepEqual(certificates(file("chain.pem")), [file("leaf.der"), file("ca.der")]);
    assert.deepEqual(certificates(file("ca.pem")), [file("ca.der")]);
  });

  it("takes DER certificates as they are, one or back to back", () => {
    assert.deepEqual(certificates(file("ca.der")), [file("ca.der")]);
    const both = new Uint8Array([...file("leaf.der"), ...file("ca.der")]);
    assert.deepEqual(certificates(both), [file("leaf.der"), file("ca.der")]);
  });

  it("refuses what is not a certificate or key: a key as a certificate, truncated DER, an empty file", () => {
    assert.throws(() => certificates(file("rsa1.pem")), /no CERTIFICATE block/);
    assert.throws(() => certificates(file("ca.der").subarray(0, 100)), /truncated DER/);
    assert.throws(() => certificates(new Uint8Array(0)), /empty/);
    assert.ok(!isPem(file("ca.der")));
    assert.throws(() => rsaPrivateKey(file("ca.pem")), /found 0/);
    assert.throws(() => rsaPrivateKey(file("rsa8.der").subarray(0, 200)), /truncated DER/);
    assert.throws(() => rsaPrivateKey(file("ca.der")), /not a private key/);
  });
});
