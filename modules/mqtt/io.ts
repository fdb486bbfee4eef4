// The platform contracts the client is bound to. Hosts implement them: hosts/node over
// node:net/node:tls, hosts/moddable over ECMA-419 sockets, Timer and Preference.

/** ECMA-419 stream socket, "buffer" format. */
export interface Socket {
  /** Reads up to byteLength bytes (all available when omitted). */
  read(byteLength?: number): ArrayBuffer | undefined;
  /**
   * Writes bytes; the caller never writes more than the last onWritable count allows.
   * Moddable returns the bytes still writable; ECMA-419 allows undefined. A socket may keep
   * `data` until it is sent (Node's does, to save a copy): the caller must not change it.
   */
  write(data: Uint8Array): number | void;
  close(): void;
}

export interface SocketCallbacks {
  /** Bytes available to read. */
  onReadable(count: number): void;
  /** Bytes that may be written now; the first call means "connected". */
  onWritable(count: number): void;
  /** The connection failed or closed; the argument, when present, says why. */
  onError(error?: unknown): void;
}

export interface SocketOptions extends SocketCallbacks {
  host: string;
  port: number;
  format: "buffer";
  [option: string]: unknown;
}

export type SocketClass = new (options: SocketOptions) => Socket;

/**
 * A socket provider the ECMA-419 way: {io: TCP} or {io: TLSSocket, TCP: {io: TCP}, secure: {...}}.
 * Every other property is passed through to the socket's constructor.
 */
export interface SocketProvider {
  io: SocketClass;
  [option: string]: unknown;
}

/** The shape of Moddable's Timer module; hosts/node provides the same over setTimeout. */
export interface TimerLike {
  set(callback: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
}

/** A QoS >= 1 message the outbox keeps until the broker acknowledges it. */
export interface StoredMessage {
  /** Monotonic order of acceptance; also the store key. */
  seq: number;
  topic: string;
  payload: Uint8Array;
  qos: 1 | 2;
  retain: boolean;
  /** Packet id once sent, so a restart can resume the exchange with the broker's session. */
  id?: number;
  /** QoS 2 only: PUBREC received, PUBREL owed; the broker already has the message. */
  released?: boolean;
}

/**
 * Persistence for unacknowledged QoS >= 1 publishes, so they survive a restart.
 * Synchronous, as Moddable's Preference and flash are. RAM by default.
 */
export interface OutboxStore {
  load(): StoredMessage[];
  put(message: StoredMessage): void;
  delete(seq: number): void;
}

export class MemoryStore implements OutboxStore {
  #messages = new Map<number, StoredMessage>();
  load(): StoredMessage[] {
    return [...this.#messages.values()].sort((a, b) => a.seq - b.seq);
  }
  put(message: StoredMessage): void {
    this.#messages.set(message.seq, message);
  }
  delete(seq: number): void {
    this.#messages.delete(seq);
  }
}
