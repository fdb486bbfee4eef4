// What every product does on the wire: announce itself online (retained) on each connect,
// with a Last Will that marks it offline; take commands from one topic, dispatch them, and
// publish each outcome in the product's response format. Products supply topics, formats
// and handlers; this holds the plumbing once.

import type { MqttClient, Message } from "../mqtt/client.js";
import type { QoS } from "../mqtt/packets.js";
import { encodeUtf8 } from "../mqtt/utf8.js";
import type { CommandDispatcher, CommandOutcome, Json } from "./commands.js";

export interface Publication {
  topic: string;
  payload: Json;
  qos: QoS;
  retain: boolean;
}

export interface StatusOptions {
  topic: string;
  qos: QoS;
  /** The retained message published on every connect. */
  online(): Json;
  /** The will's payload: what the broker publishes, retained, when the link dies. */
  offline: Json;
}

export interface CommandOptions {
  topic: string;
  qos: QoS;
  dispatcher: CommandDispatcher;
  /** Turns an outcome into the product's response, or undefined where the product has none. */
  respond(outcome: CommandOutcome): Publication | undefined;
  /**
   * Most commands waiting behind a slow one (default 32; a burst arriving in one read counts
   * whole). Beyond it a command is answered at once with a "failed" outcome saying the device
   * is busy, so a flood cannot exhaust memory.
   */
  maxPending?: number;
}

export interface DeviceOptions {
  status: StatusOptions;
  commands?: CommandOptions;
  /**
   * Where the device layer reports what it did with bad input, and when the broker refuses
   * or later grants a subscription (the device is deaf to it meanwhile): the product's log,
   * error topic or alert.
   */
  report?(event: DeviceEvent): void;
}

export interface DeviceEvent {
  kind: "command_rejected" | "publish_failed" | "subscribe_refused" | "subscribe_restored";
  detail: string;
}

/** The will to put in the client's options, matching the device's status topic. */
export function willFor(status: StatusOptions): { topic: string; payload: string; qos: QoS; retain: boolean } {
  return { topic: status.topic, payload: toText(status.offline), qos: status.qos, retain: true };
}

export function toText(payload: Json): string {
  return typeof payload === "string" ? payload : JSON.stringify(payload);
}

export class Device {
  readonly client: MqttClient;
  readonly #options: DeviceOptions;
  /** Commands run one at a time, so responses leave in the order the commands arrived. */
  #commandChain: Promise<void> = Promise.resolve();
  #pending = 0;
  #refused = new Set<string>();

  constructor(client: MqttClient, options: DeviceOptions) {
    this.client = client;
    this.#options = options;
    client.on("connected", () => {
      void this.publish({ topic: options.status.topic, payload: options.status.online(), qos: options.status.qos, retain: true });
    });
    // The client keeps asking for a refused filter; the product learns it is deaf, and when it hears again.
    client.on("suback", ({ filter, code, retryInMs }) => {
      if (code === 0x80) {
        this.#refused.add(filter);
        this.#report("subscribe_refused", `${filter}: refused by the broker; retrying in ${retryInMs} ms`);
      } else if (this.#refused.delete(filter)) {
        this.#report("subscribe_restored", `${filter}: granted QoS ${code}`);
      }
    });
    const commands = options.commands;
    if (commands) {
      // Subscribed once: the client re-subscribes after a lost session by itself.
      client.subscribe(commands.topic, { qos: commands.qos }, (m) => {
        if (this.#pending >= (commands.maxPending ?? 32)) {
          this.#answer(commands, commands.dispatcher.refuse(m.payload, `device busy: ${this.#pending} commands pending`));
          return;
        }
        this.#pending++;
        this.#commandChain = this.#commandChain.then(() => this.#command(commands, m)).finally(() => { this.#pending--; });
      })
        .catch((e) => this.#report("command_rejected", `cannot subscribe to ${commands.topic}: ${String(e)}`));
    }
  }

  /** Filters the broker currently refuses: the device hears nothing on them. */
  get refusedFilters(): ReadonlySet<string> {
    return this.#refused;
  }

  /** Publishes JSON (or text); resolves false instead of throwing, after reporting why. */
  async publish(p: Publication): Promise<boolean> {
    try {
      await this.client.publish(p.topic, encodeUtf8(toText(p.payload)), { qos: p.qos, retain: p.retain });
      return true;
    } catch (e) {
      this.#report("publish_failed", `${p.topic}: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  }

  async #command(commands: CommandOptions, m: Message): Promise<void> {
    this.#answer(commands, await commands.dispatcher.dispatch(m.payload));
  }

  #answer(commands: CommandOptions, outcome: CommandOutcome): void {
    if (!outcome.ok) this.#report("command_rejected", `${outcome.error?.code}: ${outcome.error?.message}`);
    let response: Publication | undefined;
    try {
      response = commands.respond(outcome);
    } catch (e) {
      // A broken formatter must not stall the command chain.
      this.#report("command_rejected", `response formatting failed: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    // Not awaited: the client sends publishes in call order, so responses keep the commands'
    // order without the next command waiting for this one's PUBACK.
    if (response) void this.publish(response);
  }

  #report(kind: DeviceEvent["kind"], detail: string): void {
    try {
      this.#options.report?.({ kind, detail });
    } catch {
      // a reporter must not take the device down
    }
  }
}
