// The globals xsnap-worker gives a script (xsnap-native/xsnap/sources/xsnap-worker.c).

/** Sends bytes to the host and blocks until its answer. */
declare function issueCommand(message: ArrayBuffer): ArrayBuffer;
/** Writes its arguments, space-separated, and a newline to the worker's stdout. */
declare function print(...values: unknown[]): void;
/** Set by the script: xsnap calls it with each `?` message from the host. */
declare var handleCommand: ((message: ArrayBuffer) => ArrayBuffer | void) | undefined;
