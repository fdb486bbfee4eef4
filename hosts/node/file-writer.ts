// Writes behind the event loop: each file's writes are queued in order and carried out by
// libuv's threads, one at a time per file, so a fleet's stores never block the loop (a
// synchronous rename per settings change cost a 2,000-device fleet seconds of stalls). What
// is still queued when the process exits is written synchronously then, so a normal exit
// (process.exit, Ctrl-C, the end of the program) loses nothing; a crash or SIGKILL can lose
// the last moment's writes, as a flash write cut short by a power loss would.

import * as fs from "node:fs";
import * as path from "node:path";

type Op = { replace: boolean; text: string };

const writers = new Map<string, FileWriter>();
let exitHooked = false;
const ignore = (): void => {};

export class FileWriter {
  readonly path: string;
  /** Called with each write that failed (the write is dropped; later ones go ahead). */
  onError: (error: unknown) => void = ignore;
  #queue: Op[] = [];
  #inFlight: Op | undefined;
  /** Made when someone waits (a fleet has thousands of writers, most never awaited). */
  #waiters: (() => void)[] | undefined;

  /** The one writer of a file in this process: every store of that file shares its order. */
  static for(file: string): FileWriter {
    const resolved = path.resolve(file);
    let writer = writers.get(resolved);
    if (!writer) writers.set(resolved, writer = new FileWriter(resolved));
    if (!exitHooked) {
      exitHooked = true;
      process.on("exit", () => { for (const w of writers.values()) w.#finishSync(); });
    }
    return writer;
  }

  private constructor(file: string) {
    this.path = file;
  }

  /** Appends `text` after everything queued before it. */
  append(text: string): void {
    const last = this.#queue[this.#queue.length - 1];
    if (last && !last.replace) last.text += text; // one write for a turn's appends
    else this.#queue.push({ replace: false, text });
    this.#start();
  }

  /** Replaces the whole file with `text`, atomically (a temp file and a rename): what was queued before no longer matters. */
  replace(text: string): void {
    this.#queue = [{ replace: true, text }];
    this.#start();
  }

  /** Whether writes are queued or under way. */
  get busy(): boolean {
    return this.#inFlight !== undefined || this.#queue.length > 0;
  }

  /**
   * The file's contents once the queue is written, when a replace decides them (settings);
   * undefined when they depend on what is on disk (nothing pending, or appends).
   */
  get pendingContents(): string | undefined {
    const ops = this.#inFlight ? [this.#inFlight, ...this.#queue] : this.#queue;
    const from = ops.map((o) => o.replace).lastIndexOf(true);
    return from < 0 ? undefined : ops.slice(from).map((o) => o.text).join("");
  }

  /** Resolves once everything queued so far is on disk (or failed: see onError). */
  flushed(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => (this.#waiters ??= []).push(resolve));
  }

  #start(): void {
    if (this.#inFlight || this.#queue.length === 0) return;
    const op = this.#queue.shift() as Op;
    this.#inFlight = op;
    const done = (error: unknown): void => {
      if (error) this.#report(error);
      this.#inFlight = undefined;
      if (this.#queue.length) this.#start();
      else if (this.#waiters) {
        const waiters = this.#waiters;
        this.#waiters = undefined;
        for (const w of waiters) w();
      }
    };
    if (op.replace) {
      const temp = `${this.path}.tmp`;
      writeMakingDir(temp, op.text, fs.writeFile, (error) => {
        if (error) done(error);
        else fs.rename(temp, this.path, done);
      });
    } else {
      writeMakingDir(this.path, op.text, fs.appendFile, done);
    }
  }

  /**
   * At exit: what is queued, and what was under way (again: an append written twice
   * repeats a log line, which the stores read as the same record; a replace is idempotent).
   */
  #finishSync(): void {
    const ops = this.#inFlight ? [this.#inFlight, ...this.#queue] : this.#queue;
    this.#inFlight = undefined;
    this.#queue = [];
    for (const op of ops) {
      try {
        fs.mkdirSync(path.dirname(this.path), { recursive: true });
        if (op.replace) {
          fs.writeFileSync(`${this.path}.tmp`, op.text);
          fs.renameSync(`${this.path}.tmp`, this.path);
        } else {
          fs.appendFileSync(this.path, op.text);
        }
      } catch {
        // exiting: nothing left to tell
      }
    }
  }

  #report(error: unknown): void {
    try {
      this.onError(error);
    } catch {
      // a failing reporter must not stop the writes behind
    }
  }
}

/** Resolves once every file's queued writes are on disk. */
export function flushAll(): Promise<void> {
  return Promise.all([...writers.values()].map((w) => w.flushed())).then(() => undefined);
}

type Write = (file: string, text: string, callback: (error: NodeJS.ErrnoException | null) => void) => void;

/** The folder is made at the first write, not at boot. */
function writeMakingDir(file: string, text: string, write: Write, callback: (error: unknown) => void): void {
  write(file, text, (error) => {
    if (error?.code !== "ENOENT") return callback(error);
    fs.mkdir(path.dirname(file), { recursive: true }, (mkdirError) => {
      if (mkdirError) callback(mkdirError);
      else write(file, text, callback);
    });
  });
}
