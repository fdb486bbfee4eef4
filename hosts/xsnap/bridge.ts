// The XS end of the host bridge: calls to the host through xsnap's synchronous
// issueCommand, dispatch of the host's events, and the host's clock.

import { frame, unframe } from "./frame.js";
import type { Call, Event } from "./frame.js";

export type EventHandler<K extends Event["ev"] = Event["ev"]> = (event: Extract<Event, { ev: K }>, payload: Uint8Array) => void;

let clock = 0;
const handlers: { [K in Event["ev"]]?: EventHandler<K> } = {};

/** The time the host sent with its latest event (real or virtual milliseconds). */
export function now(): number {
  return clock;
}

/** Calls the host and returns its answer; throws when the answer carries `error`. */
export function call(message: Call, payload?: Uint8Array): { header: Record<string, unknown>; payload: Uint8Array } {
  const bytes = frame(message, payload);
  const reply = unframe(new Uint8Array(issueCommand(bytes.buffer as ArrayBuffer)));
  const error = reply.header.error;
  if (typeof error === "string") {
    const e = new Error(error) as Error & { code?: unknown };
    if (typeof reply.header.code === "string") e.code = reply.header.code;
    throw e;
  }
  return reply;
}

/** Routes host events of kind `ev` to `handler`. */
export function on<K extends Event["ev"]>(ev: K, handler: EventHandler<K>): void {
  (handlers as Record<string, unknown>)[ev] = handler;
}

/** Installs globalThis.handleCommand, which xsnap calls for each host message. */
export function install(): void {
  globalThis.handleCommand = (message: ArrayBuffer): void => {
    const { header, payload } = unframe<Event>(new Uint8Array(message));
    clock = header.now;
    const handler = handlers[header.ev] as EventHandler | undefined;
    if (!handler) throw new Error(`no handler for host event ${header.ev}`);
    handler(header, payload);
  };
}
