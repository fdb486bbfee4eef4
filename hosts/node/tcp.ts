// ECMA-419-shaped stream sockets over node:net. NodeStreamSocket holds everything that is
// not about how the connection is opened (buffering, write budget, error reporting), so
// TCPSocket and TLSSocket differ only in the node socket they wrap.

import * as net from "node:net";
import type { Socket, SocketCallbacks, SocketOptions } from "../../modules/mqtt/io.js";

/** How long close() waits for already-written bytes to drain before giving up on them. */
const CLOSE_FLUSH_MS = 2_000;

/** Options shared by the node sockets: the io.ts contract plus `address`/`nodelay`. */
export interface NodeSocketOptions extends Partial<SocketCallbacks> {
  host?: string;
  /** Alias of host, as ECMA-419 spells it. */
  address?: string;
  port: number;
  format?: "buffer";
  /** Disable Nagle; MQTT packets are small and latency matters. Default true. */
  nodelay?: boolean;
  [option: string]: unknown;
}

/** Resolves host/address; throws like Moddable does on a missing destination. */
export function targetOf(options: NodeSocketOptions): { host: string; port: number } {
  const host = options.host ?? options.address;
  if (typeof host !== "string" || host === "") throw new TypeError("host (or address) required");
  if (options.format !== undefined && options.format !== "buffer") {
    throw new RangeError(`unsupported format: ${String(options.format)}`);
  }
  return { host, port: options.port };
}

/**
 * Wraps a connecting node socket. Subclasses create the socket and call attach() with the
 * event that means "connected" ('connect' for TCP, 'secureConnect' for TLS).
 */
export abstract class NodeStreamSocket implements Socket {
  #socket: net.Socket | undefined;
  #callbacks: Partial<SocketCallbacks>;
  // Received chunks are kept as-is; read() copies only what it must.
  #chunks: Uint8Array[] = [];
  #head = 0; // bytes of #chunks[0] already read
  #queued = 0;
  // Bytes we may hand to node: a fixed window minus what node has not yet flushed.
  #window = 0;
  #corked = false;
  #connected = false;
  #done = false; // onError delivered or close() called: no further callbacks

  protected constructor(options: NodeSocketOptions) {
    this.#callbacks = {
      onReadable: options.onReadable,
      onWritable: options.onWritable,
      onError: options.onError,
    };
  }

  /** `streamed`: bytes come as 'data' events; else the subclass hands them to received(). */
  protected attach(socket: net.Socket, connectEvent: "connect" | "secureConnect", nodelay: boolean, streamed = true): void {
    this.#socket = socket;
    socket.once(connectEvent, () => {
      if (this.#done) return;
      if (nodelay) socket.setNoDelay(true);
      this.#connected = true;
      this.#window = socket.writableHighWaterMark;
      this.#call("onWritable", this.#window);
    });
    // A write that exhausted the budget made write() return false, so node says when its
    // buffer is empty again: no callback per write.
    socket.on("drain", () => {
      if (!this.#done) this.#call("onWritable", this.#window - socket.writableLength);
    });
    if (streamed) socket.on("data", (chunk: Buffer) => this.received(chunk));
    socket.on("error", (error: Error) => this.#fail(error));
    // 'end' (peer FIN) comes before 'close'; report at the earliest sign.
    socket.on("end", () => this.#fail(new Error("connection closed by peer")));
    socket.on("close", () => this.#fail(new Error("connection closed by peer")));
  }

  /** Bytes from the peer, ours to keep. */
  protected received(chunk: Uint8Array): void {
    if (this.#done || chunk.byteLength === 0) return;
    this.#chunks.push(chunk);
    this.#queued += chunk.byteLength;
    this.#call("onReadable", this.#queued);
  }

  read(byteLength?: number): ArrayBuffer | undefined {
    if (this.#queued === 0) return undefined;
    const count = byteLength === undefined ? this.#queued : Math.min(Math.max(0, Math.floor(byteLength)), this.#queued);
    const first = this.#chunks[0]!;
    // Whole, unshared first chunk: hand over its ArrayBuffer without copying.
    if (this.#head === 0 && count === first.byteLength && first.byteOffset === 0 &&
        first.buffer instanceof ArrayBuffer && first.buffer.byteLength === count) {
      this.#chunks.shift();
      this.#queued -= count;
      return first.buffer;
    }
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.#chunks[0]!;
      const take = Math.min(chunk.byteLength - this.#head, count - filled);
      out.set(chunk.subarray(this.#head, this.#head + take), filled);
      filled += take;
      this.#head += take;
      if (this.#head === chunk.byteLength) {
        this.#chunks.shift();
        this.#head = 0;
      }
    }
    this.#queued -= count;
    return out.buffer;
  }

  write(data: Uint8Array): number {
    const socket = this.#socket;
    if (this.#done || !socket) throw new Error("socket closed");
    if (!this.#connected) throw new Error("socket not connected");
    const size = data.byteLength;
    const writable = this.#window - socket.writableLength;
    // Moddable refuses writes beyond what onWritable granted; so do we.
    if (size > writable) throw new RangeError(`write of ${size} bytes exceeds writable ${writable}`);
    if (size === 0) return writable;
    // Writes made until the microtasks settle leave in one writev: the acknowledgements of a
    // read and the publishes their promises set off share one system call.
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      queueMicrotask(this.#uncork);
    }
    // No copy: node keeps the caller's bytes until they are flushed (see io.ts).
    socket.write(Buffer.from(data.buffer, data.byteOffset, size));
    return writable - size;
  }

  #uncork = (): void => {
    this.#corked = false;
    this.#socket?.uncork();
  };

  /**
   * Bytes write() already accepted still go out (a DISCONNECT after a burst must reach the
   * broker, or it publishes the will): end() flushes them, then sends FIN. A peer that never
   * drains gets the socket destroyed after CLOSE_FLUSH_MS.
   */
  close(): void {
    this.#done = true;
    this.#chunks = [];
    this.#queued = 0;
    this.#head = 0;
    const socket = this.#socket;
    if (!socket || socket.destroyed) return;
    if (!this.#connected || socket.writableLength === 0) {
      socket.destroy();
      return;
    }
    socket.end();
    const timer = setTimeout(() => socket.destroy(), CLOSE_FLUSH_MS);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
  }

  #fail(error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#socket?.destroy();
    this.#call("onError", error);
  }

  // Never let an owner's exception escape into a node event handler (it would crash the
  // process): a throwing onReadable/onWritable fails the connection, which the owner then
  // hears about through onError; a throwing onError can only be logged.
  #call<K extends keyof SocketCallbacks>(name: K, arg: Parameters<SocketCallbacks[K]>[0]): void {
    const callback = this.#callbacks[name] as ((this: Socket, arg: unknown) => void) | undefined;
    if (!callback) return;
    try {
      callback.call(this, arg);
    } catch (error) {
      if (name !== "onError") this.#fail(error instanceof Error ? error : new Error(String(error)));
      else console.error("socket onError callback threw:", error);
    }
  }
}

/**
 * Every TCP read of the process lands here and is copied out at once, exactly its size:
 * node would otherwise allocate 64 KB per read and pass it through its stream machinery.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

/** TCP client socket over node:net, with Moddable's callback semantics. */
export class TCPSocket extends NodeStreamSocket {
  constructor(options: SocketOptions | NodeSocketOptions) {
    super(options);
    const { host, port } = targetOf(options);
    const onread = {
      buffer: READ_BUFFER,
      callback: (count: number, buffer: Buffer): boolean => {
        // A copy (Buffer's slice would be a view): delivered payloads are views of it.
        this.received(new Uint8Array(buffer.subarray(0, count)));
        return true;
      },
    };
    this.attach(net.connect({ host, port, onread }), "connect", options.nodelay !== false, false);
  }
}
