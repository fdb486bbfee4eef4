// The prepaid smart meter (seed 004): integrates the measured power into energy, deducts it
// from the local balance at the tariff, switches the supply relay on exactly while the
// balance is above zero, reports consumption every 30 s at QoS 1, announces its status on
// change, acknowledges balance commands with a balance report and asks for its balance on
// every (re)connect. Consumption is persisted at every step and reported after a restart or
// an outage: at least once, each µkWh in exactly one report whose timestamp and
// totalConsumed make a duplicate recognisable (README "Delivery and idempotence").

import type { Message, MqttClient } from "../../mqtt/client.js";
import type { QoS } from "../../mqtt/packets.js";
import { encodeUtf8 } from "../../mqtt/utf8.js";
import type { Json, JsonObject } from "../../device/commands.js";
import type { Product, ProductHost } from "../../device/product.js";
import { Periodic } from "../../device/scheduler.js";
import { parseConfig } from "./config.js";
import type { MeterConfig } from "./config.js";
import type { MeterHardware, Reading } from "./hardware.js";
import { EnergyIntegrator, readingFault } from "./integrator.js";
import { Ledger, emptyLedger, kwh, ledgerProblem, round6 } from "./ledger.js";
import type { JournalEntry, LedgerState } from "./ledger.js";
import { parseCommand } from "./inbound.js";
import { StatusTracker, clip, deriveStatus, rssiField } from "./status.js";
import type { StatusInfo } from "./status.js";
import { commandName, meterTopics } from "./topics.js";
import type { MeterTopics } from "./topics.js";

/** host.settings key of the persisted ledger. */
export const LEDGER_KEY = "smart-meter.ledger";

export interface SmartMeter extends Product {
  readonly meterNo: string;
  readonly config: Readonly<MeterConfig>;
  /** The books as they stand (and as last persisted, unless storage failed). */
  readonly ledger: Readonly<LedgerState>;
  /** The steady status (online, low_balance, or error during a fault). */
  readonly status: StatusInfo;
}

export function createSmartMeter(host: ProductHost, hardware: MeterHardware): SmartMeter {
  return new Meter(host, hardware);
}

/** Loads the persisted ledger; a missing or corrupt one starts empty (balance 0, relay open). */
function loadLedger(host: ProductHost): LedgerState {
  let stored: unknown;
  try {
    stored = host.settings.get<LedgerState>(LEDGER_KEY);
  } catch (e) {
    host.log(`ledger unreadable, starting empty: ${String(e)}`);
    return emptyLedger();
  }
  if (stored === undefined) return emptyLedger();
  const problem = ledgerProblem(stored);
  if (problem) {
    host.log(`ledger corrupt (${problem}), starting empty`);
    return emptyLedger();
  }
  return stored as LedgerState;
}

class Meter implements SmartMeter {
  readonly meterNo: string;
  readonly config: Readonly<MeterConfig>;
  readonly client: MqttClient;
  readonly #host: ProductHost;
  readonly #hardware: MeterHardware;
  readonly #topics: MeterTopics;
  readonly #ledger: Ledger;
  readonly #integrator: EnergyIntegrator;
  readonly #statusTracker = new StatusTracker();
  readonly #sampler: Periodic;
  readonly #reporter: Periodic;
  readonly #heartbeat: Periodic | undefined;
  /** Timestamps of journal entries handed to the client and not yet settled. */
  readonly #inFlight = new Set<number>();
  #measurementFault: string | undefined;
  #storageFault: string | undefined;
  #connects = 0;
  /** A balance request awaits its PUBACK: the client resends that one, no second is queued. */
  #requestPending = false;
  #started = false;
  #stopped = false;
  #backlogFullLogged = false;

  constructor(host: ProductHost, hardware: MeterHardware) {
    this.#host = host;
    this.#hardware = hardware;
    this.config = parseConfig(host.config);
    this.meterNo = host.deviceId;
    this.#topics = meterTopics(this.meterNo);
    this.#ledger = new Ledger(loadLedger(host));
    // Longer gaps (clock set forward, a stalled loop) start a new baseline instead of billing a guess.
    this.#integrator = new EnergyIntegrator(Math.max(10 * this.config.sampleIntervalMs, 60_000));
    this.#sampler = new Periodic(host.timer, this.config.sampleIntervalMs, () => this.#step());
    this.#reporter = new Periodic(host.timer, this.config.reportIntervalMs, () => this.#report());
    this.#heartbeat = this.config.statusIntervalMs > 0
      ? new Periodic(host.timer, this.config.statusIntervalMs, () => this.#announceStatus(true))
      : undefined;
    this.client = host.createClient({
      clientId: `smartmeter-${this.meterNo}`,
      // A persistent session: balance commands sent while the meter is offline wait at the broker.
      clean: false,
      keepalive: 30,
      will: {
        topic: this.#topics.status,
        payload: JSON.stringify(this.#statusPayload({ status: "offline", message: "Connection lost" })),
        qos: 0,
        retain: false,
      },
      outbox: {
        // Room for the whole journal and the one resync request: a report is never refused.
        maxMessages: this.config.maxBacklog + 4,
        maxBytes: 64 * 1024,
        overflow: "reject-new",
        // Status and balance reports are QoS 0 and only worth sending live.
        queueQos0: false,
      },
    });
    this.client.on("connected", () => this.#onConnected());
    this.client.on("disconnected", ({ error }) => host.log(`MQTT disconnected${error ? `: ${error.message}` : ""}`));
  }

  get ledger(): Readonly<LedgerState> {
    return this.#ledger.state;
  }

  get status(): StatusInfo {
    return deriveStatus(this.#ledger.balance, this.config.lowBalance, this.#measurementFault ?? this.#storageFault);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#syncRelay();
    // Reports from before a restart go first, in order; the client holds them until connected.
    for (const entry of this.#ledger.state.journal) this.#send(entry);
    this.#step(); // baseline sample
    this.#sampler.start();
    this.#reporter.start();
    this.#heartbeat?.start();
    this.client.subscribe(this.#topics.commands, { qos: 1 }, (m) => this.#onCommand(m))
      .catch((e) => this.#host.log(`cannot subscribe to ${this.#topics.commands}: ${String(e)}`));
    this.client.connect().catch((e) => this.#host.log(`MQTT connect failed: ${String(e)}`));
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#sampler.stop();
    this.#reporter.stop();
    this.#heartbeat?.stop();
    if (this.#started) this.#step(); // count energy up to now; it is reported after the restart
    this.#persist();
    if (this.client.connected) {
      await this.#publish(this.#topics.status, this.#statusPayload({ status: "offline", message: "Meter stopped" }), 0);
    }
    await this.client.disconnect();
  }

  // ---- measuring ----

  /** One integration step: sample, count, deduct, persist; opens the relay at zero balance. */
  #step(): void {
    const watts = this.#hardware.relay.on ? this.#readWatts() : 0;
    if (watts === undefined) {
      this.#integrator.reset(); // the time without a valid reading is not billed
      this.#announceStatus(false);
      return;
    }
    const micro = this.#integrator.sample(this.#host.now(), watts);
    if (micro > 0) {
      this.#ledger.accrue(micro, this.config.tariff);
      if (this.#ledger.balance <= 0 && this.#hardware.relay.on) this.#host.log("Balance exhausted: relay open");
      this.#syncRelay();
      this.#persist();
    }
    this.#announceStatus(false);
  }

  /** The load's power in watts, or undefined (and a measurement fault) when the reading is unusable. */
  #readWatts(): number | undefined {
    let reading: Reading | undefined;
    let fault: string | undefined;
    try {
      reading = this.#hardware.measure();
      const problem = readingFault(reading);
      if (problem !== undefined) fault = `Measurement fault: ${problem}`;
    } catch (e) {
      fault = `Measurement fault: sensor failed: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (fault !== undefined || reading === undefined) {
      if (this.#measurementFault === undefined) this.#host.log(fault ?? "Measurement fault: no reading");
      this.#measurementFault = fault ?? "Measurement fault: no reading";
      return undefined;
    }
    this.#measurementFault = undefined;
    return reading.voltage * reading.current;
  }

  /** The relay is on if and only if the balance is above zero (seed line 28). */
  #syncRelay(): void {
    const on = this.#ledger.balance > 0;
    if (this.#hardware.relay.on === on) return;
    this.#hardware.relay.set(on);
    // Power starts or stops here: the next sample integrates from this level, not the old one.
    const watts = on ? this.#readWatts() : 0;
    if (watts === undefined) this.#integrator.reset();
    else this.#integrator.sample(this.#host.now(), watts);
  }

  // ---- consumption reports ----

  /** Closes the period into a journal entry and sends it (seed lines 149-179). */
  #report(): void {
    this.#step();
    // Offline, an empty period is not worth a journal slot: the next report covers it.
    const entry = this.#ledger.close(this.#host.now(), this.config.maxBacklog, this.client.connected);
    if (!entry) {
      if (this.#ledger.state.journal.length >= this.config.maxBacklog && !this.#backlogFullLogged) {
        this.#backlogFullLogged = true;
        this.#host.log(`report backlog full (${this.config.maxBacklog}): consumption keeps accruing into the next report`);
      }
      return;
    }
    this.#backlogFullLogged = false;
    this.#persist(); // journal entry and register are written before the report leaves
    this.#host.log(`Consumption: ${kwh(entry[0]).toFixed(6)} kWh`);
    this.#send(entry);
  }

  /** Publishes a journal entry at QoS 1; it leaves the journal only on PUBACK. */
  #send(entry: JournalEntry): void {
    const ts = entry[3];
    if (this.#inFlight.has(ts)) return;
    this.#inFlight.add(ts);
    const payload: JsonObject = {
      meterNo: this.meterNo,
      unitsConsumed: kwh(entry[0]),
      remainingBalance: entry[1],
      totalConsumed: kwh(entry[2]),
      timestamp: ts,
    };
    void this.#publish(this.#topics.consumption, payload, 1).then((delivered) => {
      this.#inFlight.delete(ts);
      if (delivered && this.#ledger.acknowledge(ts)) this.#persist();
      // Not delivered (client closed): it stays in the journal and goes again on the next connect or boot.
    });
  }

  // ---- connection ----

  #onConnected(): void {
    this.#connects++;
    this.#host.log(`MQTT connected (${this.#connects === 1 ? "boot" : "reconnect"})`);
    // Reports refused earlier go again, oldest first; those in flight the client resends itself.
    for (const entry of this.#ledger.state.journal) this.#send(entry);
    this.#announceStatus(true);
    // Firebase is the source of truth: ask for the balance on every (re)connect (seed line 273).
    if (this.#requestPending) return;
    const request: JsonObject = {
      meterNo: this.meterNo,
      reason: this.#connects === 1 ? "boot" : "reconnect",
      balance: round6(this.#ledger.balance),
      timestamp: this.#timestamp(),
    };
    this.#requestPending = true;
    void this.#publish(this.#topics.balanceRequest, request, 1).then(() => { this.#requestPending = false; });
  }

  // ---- commands ----

  #onCommand(m: Message): void {
    const name = commandName(m.topic);
    const inbound = parseCommand(name, m.payload);
    if (!inbound.ok) {
      this.#host.log(`command rejected: ${inbound.code}: ${inbound.message}`);
      this.#announce({ status: "error", message: clip(`Rejected ${name} command: ${inbound.code}: ${inbound.message}`) });
      return;
    }
    const { balance, timestamp } = inbound.value;
    this.#step(); // energy used so far is deducted from the old balance
    if (this.#ledger.applyBalance(balance, timestamp, this.config.tariff)) {
      this.#syncRelay();
      this.#persist();
      this.#host.log(`Balance updated: ${this.#ledger.balance.toFixed(4)}`);
    } else {
      this.#host.log(`balance command ignored: timestamp ${timestamp} is not after the last applied ${this.#ledger.state.lastCommandTs}`);
    }
    // The balance report acknowledges every valid command with the balance in force (seed lines 219-245).
    void this.#publish(this.#topics.balance, { meterNo: this.meterNo, balance: round6(this.#ledger.balance), timestamp: this.#timestamp() }, 0);
    this.#announceStatus(false);
  }

  // ---- status ----

  /** Publishes the steady status when it changed, or always when `force` (connect, heartbeat). */
  #announceStatus(force: boolean): void {
    const info = this.status;
    if (force) this.#statusTracker.forget();
    if (!this.#statusTracker.changed(info)) return;
    this.#host.log(`Status: ${info.status} (${info.message})`);
    if (this.client.connected) void this.#publish(this.#topics.status, this.#statusPayload(info), 0);
  }

  /** A one-off status (an error event); the steady status follows at the next change check. */
  #announce(info: StatusInfo): void {
    this.#statusTracker.forget();
    if (this.client.connected) void this.#publish(this.#topics.status, this.#statusPayload(info), 0);
  }

  #statusPayload(info: StatusInfo): JsonObject {
    let rssi = -127;
    try {
      rssi = this.#hardware.rssi();
    } catch {
      // no Wi-Fi figure: report the floor
    }
    return {
      meterNo: this.meterNo,
      status: info.status,
      message: info.message,
      balance: round6(this.#ledger.balance),
      wifi_rssi: rssiField(rssi),
      timestamp: this.#timestamp(),
    };
  }

  // ---- plumbing ----

  #timestamp(): number {
    return Math.round(this.#host.now());
  }

  /** Writes the ledger; on failure the meter keeps counting in RAM and reports an error status. */
  #persist(): void {
    try {
      this.#host.settings.set(LEDGER_KEY, this.#ledger.state);
      if (this.#storageFault !== undefined) {
        this.#storageFault = undefined;
        this.#announceStatus(false);
      }
    } catch (e) {
      if (this.#storageFault === undefined) this.#host.log(`cannot persist the ledger: ${String(e)}`);
      this.#storageFault = "Storage fault: the ledger could not be saved";
      this.#announceStatus(false);
    }
  }

  /** Resolves false instead of throwing (offline QoS 0, client closed), after logging why. */
  async #publish(topic: string, payload: Json, qos: QoS): Promise<boolean> {
    try {
      await this.client.publish(topic, encodeUtf8(JSON.stringify(payload)), { qos, retain: false });
      return true;
    } catch (e) {
      this.#host.log(`publish to ${topic} failed: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  }
}
