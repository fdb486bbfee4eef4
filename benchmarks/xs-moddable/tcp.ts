// The ECMA-419 TCP socket that Moddable's MQTT client expects, over hosts/xsnap's bridged
// XsSocket (which, like our client, knows only the "buffer" format and whole writes):
//   - `format` "number": read() returns one byte. The bytes come from one buffer-format
//     read of all that is available, then are indexed, as a native socket would.
//   - write(data, {more: true}): the fragment is held and goes out with the next write
//     without `more`, as one bridged write, so each MQTT packet is one write on both sides.
// Only the XS side of the benchmarks uses it (bundled at bench time).

import { XsSocket } from "../../hosts/xsnap/socket.js";

interface Options {
  host?: string;
  address?: string;
  port: number;
  onReadable?: (count: number) => void;
  onWritable?: (count: number) => void;
  onError?: (error?: unknown) => void;
  /** The socket class underneath (default hosts/xsnap's XsSocket; the profile's fake has no bridge). */
  base?: typeof XsSocket;
  [option: string]: unknown;
}

type BufferLike = ArrayBuffer | ArrayBufferView;

const EMPTY = new Uint8Array(0);

export class Tcp419 {
  format = "buffer";
  readonly #socket: Pick<XsSocket, "read" | "write" | "close">;
  /** Bytes taken from the socket and not yet read, from #pos. */
  #buf: Uint8Array = EMPTY;
  #pos = 0;
  /** Fragments written with `more`. */
  #parts: Uint8Array[] = [];
  #held = 0;
  #writable = 0;

  constructor(options: Options) {
    const onReadable = options.onReadable;
    const onWritable = options.onWritable;
    const Base = options.base ?? XsSocket;
    this.#socket = new Base({
      host: (options.host ?? options.address) as string,
      port: options.port,
      format: "buffer",
      onReadable: (count: number) => onReadable?.(count + this.#buf.length - this.#pos),
      onWritable: (count: number) => {
        this.#writable = count;
        onWritable?.(count - this.#held);
      },
      onError: (error?: unknown) => options.onError?.(error),
    });
  }

  read(what?: number | BufferLike): number | ArrayBuffer | BufferLike | undefined {
    if (this.format === "number") {
      if (this.#pos === this.#buf.length) {
        const data = this.#socket.read();
        if (!data) return undefined;
        this.#buf = new Uint8Array(data);
        this.#pos = 0;
      }
      return this.#buf[this.#pos++];
    }
    // "buffer": a count (an ArrayBuffer of up to that many bytes) or a buffer to fill.
    const into = typeof what === "object" ? what : undefined;
    const target = into ? (ArrayBuffer.isView(into) ? new Uint8Array(into.buffer, into.byteOffset, into.byteLength) : new Uint8Array(into)) : undefined;
    let want = target ? target.length : typeof what === "number" ? what : Infinity;
    const parts: Uint8Array[] = [];
    let n = 0;
    const held = this.#buf.length - this.#pos;
    if (held) {
      const take = Math.min(held, want);
      parts.push(this.#buf.subarray(this.#pos, this.#pos + take));
      this.#pos += take;
      n += take;
      want -= take;
    }
    if (want > 0) {
      const data = this.#socket.read(want === Infinity ? undefined : want);
      if (data) {
        parts.push(new Uint8Array(data));
        n += data.byteLength;
      }
    }
    if (!n && !target) return undefined;
    const out = target ?? new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return target ? into : (out.buffer as ArrayBuffer);
  }

  write(data: BufferLike, options?: { more?: boolean }): number {
    const bytes = data instanceof Uint8Array ? data
      : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
    if (options?.more) {
      this.#parts.push(bytes);
      this.#held += bytes.length;
      return this.#writable - this.#held;
    }
    let out = bytes;
    if (this.#parts.length) {
      out = new Uint8Array(this.#held + bytes.length);
      let o = 0;
      for (const p of this.#parts) {
        out.set(p, o);
        o += p.length;
      }
      out.set(bytes, o);
      this.#parts = [];
      this.#held = 0;
    }
    this.#writable = this.#socket.write(out);
    return this.#writable;
  }

  close(): void {
    this.#parts = [];
    this.#held = 0;
    this.#socket.close();
  }
}
