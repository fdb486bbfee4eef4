// Certificates and private keys as users hold them (PEM or DER files), converted to what
// Moddable's TLS takes: DER certificates and an RSA key as unencrypted PKCS#8 DER. Pure byte
// handling, no platform APIs, so it runs on the device at load time and is tested on Node.
//
// The SDK signs certificateVerify with RSA only ("certificateVerify: unimplemented"
// otherwise) and its PKCS8.parse reads RSA fields only, so any other key is refused here
// with the reason instead of failing inside the handshake.

export interface PemBlock {
  /** The text between "-----BEGIN " and "-----", e.g. "CERTIFICATE", "RSA PRIVATE KEY". */
  label: string;
  der: Uint8Array;
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64.length; i++) BASE64_VALUES[BASE64.charCodeAt(i)] = i;

/** Standard base64 (RFC 4648 section 4); whitespace is skipped, anything else not in the alphabet throws. */
export function base64Decode(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let length = 0;
  let bits = 0;
  let count = 0;
  let padding = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    if (c === 61) { // "=": only at the end, at most two
      padding++;
      continue;
    }
    const value = c < 128 ? BASE64_VALUES[c] : -1;
    if (value < 0 || padding) throw new RangeError(`invalid base64 character "${text[i]}"`);
    bits = (bits << 6) | value;
    count++;
    if (count === 4) {
      out[length++] = bits >> 16;
      out[length++] = (bits >> 8) & 255;
      out[length++] = bits & 255;
      bits = count = 0;
    }
  }
  if (count === 1 || padding > 2 || (padding && (count + padding) % 4 !== 0)) throw new RangeError("truncated base64");
  if (count === 2) out[length++] = bits >> 4;
  if (count === 3) {
    out[length++] = bits >> 10;
    out[length++] = (bits >> 2) & 255;
  }
  return out.subarray(0, length);
}

/** True unless the bytes start as DER does (a SEQUENCE, 0x30): PEM is text, maybe with lines before its first block. */
export function isPem(data: Uint8Array): boolean {
  return data.length > 0 && data[0] !== SEQUENCE;
}

/** Every PEM block in a file, in order (a chain file holds several); text outside blocks is ignored. */
export function pemBlocks(data: Uint8Array | string): PemBlock[] {
  const text = typeof data === "string" ? data : ascii(data);
  const blocks: PemBlock[] = [];
  const pattern = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    if (match[1] !== match[3]) throw new RangeError(`PEM block "${match[1]}" ends with "${match[3]}"`);
    // RFC 7468 allows headers (Proc-Type, DEK-Info: legacy encrypted keys) before the data.
    if (match[2].includes(":")) throw new RangeError(`PEM block "${match[1]}" has headers: an encrypted key? Decrypt it first (openssl pkcs8 -topk8 -nocrypt)`);
    blocks.push({ label: match[1], der: base64Decode(match[2]) });
  }
  return blocks;
}

/**
 * The DER certificates in a file: all CERTIFICATE blocks of a PEM file, or one or more
 * DER certificates back to back. DER input is returned as views into it, without copying.
 */
export function certificates(data: Uint8Array): Uint8Array[] {
  if (isPem(data)) {
    const certs = pemBlocks(data).filter((b) => b.label === "CERTIFICATE").map((b) => b.der);
    if (!certs.length) throw new RangeError("no CERTIFICATE block in the PEM file");
    return certs;
  }
  const certs: Uint8Array[] = [];
  for (let offset = 0; offset < data.length;) {
    const element = readElement(data, offset);
    if (element.tag !== SEQUENCE) throw new RangeError("not a certificate: neither PEM nor a DER SEQUENCE");
    certs.push(data.subarray(offset, element.end));
    offset = element.end;
  }
  if (!certs.length) throw new RangeError("empty certificate file");
  return certs;
}

/**
 * An RSA private key as unencrypted PKCS#8 DER, from PEM or DER, PKCS#8 ("PRIVATE KEY") or
 * PKCS#1 ("RSA PRIVATE KEY", as AWS IoT Core hands out), which is wrapped into PKCS#8.
 */
export function rsaPrivateKey(data: Uint8Array): Uint8Array {
  if (isPem(data)) {
    const blocks = pemBlocks(data).filter((b) => b.label.endsWith("PRIVATE KEY"));
    if (blocks.length !== 1) throw new RangeError(`expected one PRIVATE KEY block in the PEM file, found ${blocks.length}`);
    const { label, der } = blocks[0];
    if (label === "ENCRYPTED PRIVATE KEY") throw new RangeError("the private key is encrypted; decrypt it first (openssl pkcs8 -topk8 -nocrypt)");
    if (label === "EC PRIVATE KEY") throw new RangeError(EC_REFUSED);
    if (label !== "PRIVATE KEY" && label !== "RSA PRIVATE KEY") throw new RangeError(`unsupported private key "${label}"`);
    return rsaPrivateKey(der);
  }
  const outer = readElement(data, 0);
  if (outer.tag !== SEQUENCE || outer.end !== data.length) throw new RangeError("not a private key: neither PEM nor one DER SEQUENCE");
  const version = readElement(data, outer.start);
  // EncryptedPrivateKeyInfo: SEQUENCE { AlgorithmIdentifier, OCTET STRING }, no version.
  if (version.tag === SEQUENCE) {
    const encrypted = readElement(data, version.end);
    if (encrypted.tag === OCTET_STRING && encrypted.end === outer.end) throw new RangeError("the private key is encrypted; decrypt it first (openssl pkcs8 -topk8 -nocrypt)");
  }
  if (version.tag !== INTEGER) throw new RangeError("not a private key: no version");
  const second = readElement(data, version.end);
  if (second.tag === INTEGER) return wrapPkcs1(data); // RSAPrivateKey: version, modulus, ...
  if (second.tag === OCTET_STRING) throw new RangeError(EC_REFUSED); // SEC1 ECPrivateKey
  if (second.tag === SEQUENCE) { // PrivateKeyInfo: version, AlgorithmIdentifier, key
    const oid = readElement(data, second.start);
    if (oid.tag === OID && equal(data.subarray(oid.start, oid.end), RSA_ENCRYPTION)) return data;
    if (oid.tag === OID && equal(data.subarray(oid.start, oid.end), EC_PUBLIC_KEY)) throw new RangeError(EC_REFUSED);
    throw new RangeError(`${KEY_LIMIT}: this PKCS#8 key is not RSA`);
  }
  throw new RangeError("not a private key");
}

/** PKCS#1 RSAPrivateKey DER -> PKCS#8 PrivateKeyInfo DER (RFC 5208): version 0, rsaEncryption with NULL parameters, the key as an OCTET STRING. */
export function wrapPkcs1(pkcs1: Uint8Array): Uint8Array {
  const octets = tlv(OCTET_STRING, pkcs1);
  const body = new Uint8Array(VERSION_0.length + RSA_ALGORITHM.length + octets.length);
  body.set(VERSION_0, 0);
  body.set(RSA_ALGORITHM, VERSION_0.length);
  body.set(octets, VERSION_0.length + RSA_ALGORITHM.length);
  return tlv(SEQUENCE, body);
}

const KEY_LIMIT = "the Moddable SDK's TLS signs client authentication (certificateVerify) with RSA keys only";
const EC_REFUSED = `EC private key refused: ${KEY_LIMIT}; use an RSA device key and certificate (AWS IoT Core's "Create certificate" issues RSA)`;

const INTEGER = 0x02;
const OCTET_STRING = 0x04;
const OID = 0x06;
const SEQUENCE = 0x30;
// 1.2.840.113549.1.1.1 and 1.2.840.10045.2.1, content bytes.
const RSA_ENCRYPTION = Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01);
const EC_PUBLIC_KEY = Uint8Array.of(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01);
const VERSION_0 = Uint8Array.of(INTEGER, 1, 0);
const RSA_ALGORITHM = Uint8Array.of(SEQUENCE, 13, OID, 9, ...RSA_ENCRYPTION, 0x05, 0);

interface Element {
  tag: number;
  /** Offset of the contents. */
  start: number;
  /** Offset just past the contents. */
  end: number;
}

/** One DER element's tag and bounds (definite lengths only, as DER requires). */
function readElement(data: Uint8Array, offset: number): Element {
  if (offset + 2 > data.length) throw new RangeError("truncated DER");
  const tag = data[offset];
  let length = data[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > data.length) throw new RangeError("bad DER length");
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + data[start + i];
    start += bytes;
  }
  const end = start + length;
  if (end > data.length) throw new RangeError("truncated DER");
  return { tag, start, end };
}

function tlv(tag: number, contents: Uint8Array): Uint8Array {
  const n = contents.length;
  const header = n < 0x80 ? [tag, n]
    : n < 0x100 ? [tag, 0x81, n]
      : n < 0x10000 ? [tag, 0x82, n >> 8, n & 255]
        : [tag, 0x83, n >> 16, (n >> 8) & 255, n & 255];
  const out = new Uint8Array(header.length + n);
  out.set(header, 0);
  out.set(contents, header.length);
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function ascii(data: Uint8Array): string {
  let text = "";
  // In slices: a whole file as arguments would overflow the XS stack (1024 slots in manifest.json).
  for (let i = 0; i < data.length; i += 256) text += String.fromCharCode(...data.subarray(i, i + 256));
  return text;
}
