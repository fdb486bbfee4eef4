// An ECMA-419-shaped TCP socket for XS under xsnap. The connection itself is a node:net
// socket in the test driver: the constructor, write() and close() call the host through
// issueCommand; the host's "readable", "writable" and "error" events drive the callbacks.
// Same semantics as hosts/node/tcp.ts: write() never takes more than the last onWritable
// allowed, and nothing is called back after close() or onError.

import type { Socket, SocketCallbacks, SocketOptions } from "../../modules/mqtt/io.js";
import { call, on } from "./bridge.js";

const sockets = new Map<number, XsSocket>();
let nextId = 1;

on("readable", (event, payload) => sockets.get(event.id)?.received(payload));
on("writable", (event) => sockets.get(event.id)?.writable(event.count));
on("error", (event) => {
  const error = new Error(event.message) as Error & { code?: string };
  if (event.code) error.code = event.code;
  sockets.get(event.id)?.failed(error);
});

/**
 * The read side of an ECMA-419 socket in "buffer" format, over the chunks it received:
 * read() hands a whole chunk over as its own ArrayBuffer when it can, else copies.
 * Shared by XsSocket and benchmarks/xs-moddable/fake.ts's FakeSocket.
 */
export class ChunkReader {
  // Received chunks, each its own ArrayBuffer; #head bytes of the first already read.
  #chunks: Uint8Array[] = [];
  #head = 0;
  #queued = 0;

  read(byteLength?: number): ArrayBuffer | undefined {
    if (this.#queued === 0) return undefined;
    const count = byteLength === undefined ? this.#queued : Math.min(Math.max(0, Math.floor(byteLength)), this.#queued);
    const first = this.#chunks[0];
    if (this.#head === 0 && count === first.length) {
      // A whole chunk owns its ArrayBuffer (see queue()): hand it over.
      this.#chunks.shift();
      this.#queued -= count;
      return first.buffer as ArrayBuffer;
    }
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.length - this.#head, count - filled);
      out.set(chunk.subarray(this.#head, this.#head + take), filled);
      filled += take;
      this.#head += take;
      if (this.#head === chunk.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
    }
    this.#queued -= count;
    return out.buffer;
  }

  /** Queues a copy of `bytes`, so that read() can hand it over whole; returns the bytes now queued. */
  protected queue(bytes: Uint8Array): number {
    this.#chunks.push(bytes.slice());
    return this.#queued += bytes.length;
  }

  /** Drops all that is queued. */
  protected drop(): void {
    this.#chunks = [];
    this.#queued = 0;
    this.#head = 0;
  }
}

export class XsSocket extends ChunkReader implements Socket {
  readonly #id: number;
  #callbacks: Partial<SocketCallbacks>;
  #writable = 0;
  #connected = false;
  #done = false;

  constructor(options: SocketOptions) {
    super();
    const host = (options.host ?? options.address) as unknown;
    if (typeof host !== "string" || host === "") throw new TypeError("host (or address) required");
    if (options.format !== undefined && options.format !== "buffer") {
      throw new RangeError(`unsupported format: ${String(options.format)}`);
    }
    this.#callbacks = { onReadable: options.onReadable, onWritable: options.onWritable, onError: options.onError };
    this.#id = nextId++;
    call({ op: "open", id: this.#id, host, port: options.port });
    sockets.set(this.#id, this);
  }

  write(data: Uint8Array): number {
    if (this.#done) throw new Error("socket closed");
    if (!this.#connected) throw new Error("socket not connected");
    const size = data.length;
    if (size > this.#writable) throw new RangeError(`write of ${size} bytes exceeds writable ${this.#writable}`);
    if (size === 0) return this.#writable;
    // The host checks the budget too, and answers with what is left of it.
    const reply = call({ op: "write", id: this.#id }, data);
    this.#writable = reply.header.w as number;
    return this.#writable;
  }

  close(): void {
    if (this.#done) return;
    this.#finish();
    call({ op: "close", id: this.#id });
  }

  // ---- host events ----

  received(payload: Uint8Array): void {
    if (this.#done || payload.length === 0) return;
    // The payload is a view into the host's message: queue() copies it out.
    this.#call("onReadable", this.queue(payload));
  }

  writable(count: number): void {
    if (this.#done) return;
    this.#connected = true;
    this.#writable = count;
    this.#call("onWritable", count);
  }

  failed(error: Error): void {
    if (this.#done) return;
    this.#finish();
    this.#call("onError", error);
  }

  #finish(): void {
    this.#done = true;
    this.drop();
    sockets.delete(this.#id);
  }

  // As hosts/node/tcp.ts: a throwing onReadable/onWritable fails the connection, which the
  // owner then hears about through onError; a throwing onError propagates to the host.
  #call<K extends keyof SocketCallbacks>(name: K, arg: Parameters<SocketCallbacks[K]>[0]): void {
    const callback = this.#callbacks[name] as ((this: Socket, arg: unknown) => void) | undefined;
    if (!callback) return;
    if (name === "onError") {
      callback.call(this, arg);
      return;
    }
    try {
      callback.call(this, arg);
    } catch (error) {
      if (this.#done) return;
      this.#finish();
      call({ op: "close", id: this.#id });
      this.#callbacks.onError?.call(this, error instanceof Error ? error : new Error(String(error)));
    }
  }
}
