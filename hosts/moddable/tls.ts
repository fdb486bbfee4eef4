// TLS over ResolvingTCP with the SDK's `embedded:io/socket/tcp/tls`, reporting why a
// connection failed: the SDK socket calls onError() without a reason, and its handshake
// throws when the broker's certificate does not verify. The reason is caught below it (in
// ResolvingTCP's guard) and handed to the client as a TLS error.
// secureOptions() loads the CA, client certificate and key from resources (certs/), in PEM
// or DER, into the DER forms the SDK takes; it runs once at boot, so a wrong file stops
// the device with its reason before any connection.

import TLSSocket from "embedded:io/socket/tcp/tls";
import Resource from "Resource";
import type { Socket, SocketOptions } from "../../modules/mqtt/io.js";
import { certificates, rsaPrivateKey } from "../../modules/mqtt/pem.js";
import { ResolvingTCP } from "./tcp.js";

export class ReportingTLS implements Socket {
  readonly #tls: Socket;
  #failure: unknown;

  constructor(options: SocketOptions) {
    const onError = options.onError;
    this.#tls = new (TLSSocket as unknown as new (o: object) => Socket)({
      ...options,
      TCP: { io: ResolvingTCP },
      guard: (e: unknown) => { this.#failure ??= e; },
      onError: () => {
        const cause = this.#failure;
        onError(cause === undefined ? undefined : new Error(`TLS handshake failed: ${cause instanceof Error ? cause.message : String(cause)}`));
      },
    });
  }

  read(byteLength?: number): ArrayBuffer | undefined {
    return this.#tls.read(byteLength);
  }

  write(data: Uint8Array): number | void {
    return this.#tls.write(data);
  }

  close(): void {
    this.#tls.close();
  }
}

/** Names of resources (files in certs/) and TLS settings, as the config keys give them. */
export interface TlsFiles {
  /** The CA certificate that signed the broker's (for AWS IoT Core: Amazon Root CA 1). */
  ca: string;
  /** The device certificate (a chain file may follow it with intermediates): mutual TLS with key. */
  cert?: string;
  /** The device's RSA private key, PKCS#1 or PKCS#8. */
  key?: string;
  /** ALPN protocols, comma-separated (AWS IoT Core on port 443: x-amzn-mqtt-ca). */
  alpn?: string;
  /** SNI and the name the broker's certificate must carry, when it differs from the broker host. */
  serverName?: string;
}

/** The SDK TLS socket's `secure` options; throws naming the config key and file when one cannot be used. */
export function secureOptions(files: TlsFiles): Record<string, unknown> {
  const secure: Record<string, unknown> = {};
  const cas = load("ca", files.ca, certificates);
  // The SDK's session registers one `certificate`.
  if (cas.length !== 1) throw new RangeError(`ca=${files.ca}: ${cas.length} certificates; the SDK's TLS trusts one: keep the root that signed the broker's chain`);
  secure.certificate = buffer(cas[0]);
  if (files.cert || files.key) {
    if (!files.cert || !files.key) throw new RangeError("mutual TLS needs both cert= and key=");
    secure.clientCertificates = load("cert", files.cert, certificates).map(buffer);
    secure.clientKey = buffer(load("key", files.key, rsaPrivateKey));
  }
  if (files.alpn) secure.applicationLayerProtocolNegotiation = files.alpn.split(",").map((p) => p.trim()).filter((p) => p);
  if (files.serverName) secure.serverName = files.serverName;
  return secure;
}

function load<T>(key: string, name: string, convert: (data: Uint8Array) => T): T {
  if (!Resource.exists(name)) throw new RangeError(`${key}=${name}: no such resource; put the file in certs/ and build again`);
  try {
    return convert(new Uint8Array(new Resource(name) as unknown as ArrayBuffer));
  } catch (e) {
    throw new RangeError(`${key}=${name}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The bytes as an ArrayBuffer: a DER resource as it is (no copy of flash into RAM), a view copied out. */
function buffer(view: Uint8Array): ArrayBuffer {
  if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength) return view.buffer as ArrayBuffer;
  return view.slice().buffer;
}
