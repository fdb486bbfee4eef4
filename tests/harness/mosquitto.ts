// A real mosquitto broker per test suite, on free loopback ports, with its own config,
// log and persistence directory (so restart() keeps persistent sessions and ports).

import { execFile, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import type { Certs } from "./certs.js";

const run = promisify(execFile);

/** TLS listener: the harness PKI's server cert, or any explicit cert/key/CA file paths. */
export type MosquittoTls =
  | { certs: Certs; requireClientCert?: boolean }
  | { cert: string; key: string; ca: string; requireClientCert?: boolean };

export interface MosquittoOptions {
  tls?: MosquittoTls;
  /** One user; anonymous access is then refused. */
  passwordFile?: { username: string; password: string };
  /** Extra mosquitto.conf lines. */
  extra?: string[];
}

export class Mosquitto {
  readonly dir: string;
  readonly port: number;
  /** The TLS listener's port, when options.tls was given. */
  readonly tlsPort: number | undefined;
  readonly logFile: string;
  #config: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = "";

  private constructor(dir: string, config: string, port: number, tlsPort: number | undefined) {
    this.dir = dir;
    this.#config = config;
    this.port = port;
    this.tlsPort = tlsPort;
    this.logFile = path.join(dir, "mosquitto.log");
  }

  static async start(options: MosquittoOptions = {}): Promise<Mosquitto> {
    const binary = findBinary("mosquitto");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mosquitto-"));
    const port = await freePort();
    const tlsPort = options.tls ? await freePort() : undefined;
    const lines = [
      "per_listener_settings false",
      "persistence true",
      `persistence_location ${dir}/`,
      `log_dest file ${path.join(dir, "mosquitto.log")}`,
      // Per-packet debug logging would make the broker the bottleneck in benchmarks.
      "log_type error warning notice information subscribe unsubscribe",
      // A deep queue for offline persistent sessions (the default 1000 drops messages in the stress
      // test; 0, "unlimited", makes mosquitto 2.0.11 drop clients that publish at QoS 2).
      "max_queued_messages 100000",
      // As root mosquitto would drop to user "mosquitto", who cannot read our 0700 temp dir.
      `user ${os.userInfo().username}`,
    ];
    if (options.passwordFile) {
      const file = path.join(dir, "passwd");
      const passwd = findBinary("mosquitto_passwd");
      await run(passwd, ["-c", "-b", file, options.passwordFile.username, options.passwordFile.password]);
      lines.push("allow_anonymous false", `password_file ${file}`);
    } else {
      lines.push("allow_anonymous true");
    }
    lines.push(...(options.extra ?? []));
    lines.push(`listener ${port} 127.0.0.1`);
    if (options.tls && tlsPort !== undefined) {
      const tls = "certs" in options.tls
        ? { cert: options.tls.certs.serverCert, key: options.tls.certs.serverKey, ca: options.tls.certs.caCert }
        : options.tls;
      lines.push(
        `listener ${tlsPort} 127.0.0.1`,
        `cafile ${tls.ca}`,
        `certfile ${tls.cert}`,
        `keyfile ${tls.key}`,
        `require_certificate ${options.tls.requireClientCert ? "true" : "false"}`,
      );
    }
    const config = path.join(dir, "mosquitto.conf");
    fs.writeFileSync(config, lines.join("\n") + "\n");
    const broker = new Mosquitto(dir, config, port, tlsPort);
    await broker.#launch(binary);
    return broker;
  }

  /** True while the broker process runs. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Graceful stop: SIGTERM (mosquitto saves its persistence db), then await exit. */
  async stop(): Promise<void> {
    await this.#signal("SIGTERM");
  }

  /** Abrupt stop: no persistence save, as on a power cut. */
  async kill(): Promise<void> {
    await this.#signal("SIGKILL");
  }

  /** Stop and delete the config, log and persistence directory. */
  async dispose(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Stop, then start again with the same config: same ports, same persistence. */
  async restart(): Promise<void> {
    await this.stop();
    await this.#launch(findBinary("mosquitto"));
  }

  /** The broker's log so far, for failure messages. */
  log(): string {
    try {
      return fs.readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  async #launch(binary: string): Promise<void> {
    this.#output = "";
    const child = spawn(binary, ["-c", this.#config], { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    child.stdout!.on("data", (d: Buffer) => { this.#output += d.toString(); });
    child.stderr!.on("data", (d: Buffer) => { this.#output += d.toString(); });
    let exitCode: number | string | null | undefined;
    this.#exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        exitCode = code ?? signal;
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
      child.once("error", (error) => {
        exitCode = error.message;
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });
    const ports = this.tlsPort === undefined ? [this.port] : [this.port, this.tlsPort];
    const deadline = Date.now() + 5000;
    for (const port of ports) {
      for (;;) {
        if (exitCode !== undefined) {
          throw new Error(`mosquitto exited (${exitCode}) during startup:\n${this.#output}${this.log()}`);
        }
        if (await canConnect(port)) break;
        if (Date.now() > deadline) {
          await this.kill();
          throw new Error(`mosquitto did not accept connections on port ${port} within 5 s:\n${this.#output}${this.log()}`);
        }
        await delay(20);
      }
    }
  }

  async #signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill(signal);
    await this.#exited;
  }
}

/** A port the OS just handed out on 127.0.0.1 (released again for the caller to bind). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The path of an executable on PATH or in the sbin directories, if there is one. */
export function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function findBinary(name: string): string {
  const found = which(name);
  if (!found) throw new Error(`${name} not found on PATH or in /usr/sbin; install mosquitto (e.g. apt-get install mosquitto) to run these tests`);
  return found;
}
