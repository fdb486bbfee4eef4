// TLS client socket over node:tls, taking Moddable's TLS provider options
// ({host, port, secure: {...}}). Buffering and callbacks are NodeStreamSocket's.

import * as net from "node:net";
import * as tls from "node:tls";
import type { SocketOptions } from "../../modules/mqtt/io.js";
import { NodeStreamSocket, targetOf, type NodeSocketOptions } from "./tcp.js";

/** Certificates/keys are PEM text; DER bytes are accepted too (as Moddable stores them). */
export type PemOrDer = string | ArrayBuffer | ArrayBufferView;

export interface SecureOptions {
  /** Trusted CA certificate(s). When absent, node's bundled root store is used. */
  ca?: PemOrDer | PemOrDer[];
  /** The client's certificate chain, leaf first, for mutual TLS. */
  clientCertificates?: PemOrDer[];
  /** The client's private key (PKCS#8 or SEC1/PKCS#1 PEM; DER is taken as PKCS#8). */
  clientKey?: PemOrDer;
  /** The name verified against the certificate, and sent as SNI unless it is an IP; defaults to host. */
  serverName?: string;
  ALPNProtocols?: string[];
  /** Verify the server's chain and name. Default true; false is for debugging only. */
  rejectUnauthorized?: boolean;
}

export interface TLSSocketOptions extends NodeSocketOptions {
  secure?: SecureOptions;
}

/** TLS client socket; the first onWritable comes after the handshake has been verified. */
export class TLSSocket extends NodeStreamSocket {
  constructor(options: SocketOptions | TLSSocketOptions) {
    super(options);
    const { host, port } = targetOf(options);
    const secure = (options.secure ?? {}) as SecureOptions;
    // The name the certificate must carry: serverName when given (e.g. "localhost" while
    // dialling 127.0.0.1), else host; IP literals match the certificate's IP SANs.
    const expectedName = secure.serverName ?? host;
    const connectOptions: tls.ConnectionOptions = {
      host,
      port,
      rejectUnauthorized: secure.rejectUnauthorized !== false,
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(expectedName, cert),
    };
    // SNI must not carry an IP address (RFC 6066), so send it only for host names.
    if (!net.isIP(expectedName)) connectOptions.servername = expectedName;
    if (secure.ca !== undefined) {
      connectOptions.ca = (Array.isArray(secure.ca) ? secure.ca : [secure.ca]).map((c) => pem(c, "CERTIFICATE"));
    }
    if (secure.clientCertificates?.length) {
      // One chain for one key: node wants it as a single PEM string.
      connectOptions.cert = secure.clientCertificates.map((c) => pem(c, "CERTIFICATE")).join("\n");
    }
    if (secure.clientKey !== undefined) connectOptions.key = pem(secure.clientKey, "PRIVATE KEY");
    if (secure.ALPNProtocols?.length) connectOptions.ALPNProtocols = secure.ALPNProtocols;
    this.attach(tls.connect(connectOptions), "secureConnect", options.nodelay !== false);
  }
}

function pem(value: PemOrDer, label: string): string {
  if (typeof value === "string") return value;
  const bytes = value instanceof ArrayBuffer
    ? Buffer.from(value)
    : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const body = bytes.toString("base64").replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}
