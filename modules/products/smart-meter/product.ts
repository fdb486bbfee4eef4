// The prepaid smart meter: reads the energy register of its meter (a PZEM-004T), deducts the
// register's increase from the local balance at the tariff, switches the supply relay on
// exactly while the balance is above zero and checks that it followed, reports consumption every 30 s at QoS 1, announces its status on change,
// answers balance commands with a balance report and asks for its balance on every
// (re)connect. Consumption is persisted at every step and reported after a restart or an
// outage: at least once, each µkWh in exactly one report whose timestamp and totalConsumed
// make a duplicate recognisable (README "Delivery and idempotence").

import { CommandDispatcher } from "../../device/commands.js";
import type { CommandOutcome } from "../../device/commands.js";
import type { Device, Publication } from "../../device/device.js";
import type { Product } from "../../device/product.js";
import { Periodic } from "../../device/scheduler.js";
import { schemaValidator } from "../../device/schema.js";
import type { MeterHardware, MeterReading } from "./hardware.js";
import { readingFault, registerStep } from "./register.js";
import { Ledger, emptyLedger, kwh, ledgerProblem } from "./ledger.js";
import type { JournalEntry, LedgerState } from "./ledger.js";
import { balanceMessage, balanceRequestMessage, consumptionMessage, statusMessage } from "./messages.js";
import type { BalanceCommand } from "./messages.js";
import { readMeterOptions } from "./options.js";
import type { MeterOptions } from "./options.js";
import { StatusTracker, clip, deriveStatus } from "./status.js";
import type { StatusInfo } from "./status.js";
import { commandFilter, commandName, meterRoutes } from "./topics.js";
import type { MeterRoutes } from "./topics.js";
import { commandBalance } from "./validators.js";

/** device.settings key of the persisted ledger. */
export const LEDGER_KEY = "smart-meter.ledger";

export interface SmartMeter extends Product {
  readonly meterNo: string;
  readonly options: Readonly<MeterOptions>;
  /** The books as they stand (and as last persisted, unless storage failed). */
  readonly ledger: Readonly<LedgerState>;
  /** The steady status (online, low_balance, or error while a fault lasts). */
  readonly status: StatusInfo;
}

export function createSmartMeter(device: Device, hardware: MeterHardware): SmartMeter {
  return new Meter(device, hardware);
}

/** Loads the persisted ledger; a missing or corrupt one starts empty (balance 0, relay open). */
function loadLedger(device: Device): LedgerState {
  let stored: unknown;
  try {
    stored = device.settings.get<LedgerState>(LEDGER_KEY);
  } catch (e) {
    device.log(`ledger unreadable, starting empty: ${String(e)}`);
    return emptyLedger();
  }
  if (stored === undefined) return emptyLedger();
  const problem = ledgerProblem(stored);
  if (problem) {
    device.log(`ledger corrupt (${problem}), starting empty`);
    return emptyLedger();
  }
  return stored as LedgerState;
}

class Meter implements SmartMeter {
  readonly meterNo: string;
  readonly options: Readonly<MeterOptions>;
  readonly #device: Device;
  readonly #hardware: MeterHardware;
  readonly #routes: MeterRoutes;
  readonly #dispatcher: CommandDispatcher;
  readonly #ledger: Ledger;
  readonly #statusTracker = new StatusTracker();
  readonly #sampler: Periodic;
  readonly #reporter: Periodic;
  readonly #heartbeat: Periodic | undefined;
  /** Timestamps of journal entries handed to the client and not yet settled. */
  readonly #inFlight = new Set<number>();
  /** The meter has failed meterFaultLimit readings in a row: why the last one failed. */
  #meterFault: string | undefined;
  /** Failed readings in a row. */
  #misses = 0;
  /** The relay's contact did not follow the command. */
  #relayFault: string | undefined;
  #storageFault: string | undefined;
  /** The reading in progress: one at a time, and every caller waits for the same one. */
  #stepping: Promise<void> | undefined;
  #connects = 0;
  /** A balance request awaits its PUBACK: the client resends that one, no second is queued. */
  #requestPending = false;
  #started = false;
  #stopped = false;
  #backlogFullLogged = false;

  constructor(device: Device, hardware: MeterHardware) {
    this.#device = device;
    this.#hardware = hardware;
    this.options = readMeterOptions(device.config);
    this.meterNo = device.deviceId;
    this.#routes = meterRoutes(this.meterNo);
    this.#ledger = new Ledger(loadLedger(device));
    this.#sampler = new Periodic(device.timer, this.options.sampleIntervalMs, () => void this.#step());
    this.#reporter = new Periodic(device.timer, this.options.reportIntervalMs, () => void this.#report());
    this.#heartbeat = this.options.statusIntervalMs > 0
      ? new Periodic(device.timer, this.options.statusIntervalMs, () => this.#announceStatus(true))
      : undefined;
    // The topic names the command (command/balance) and payloads carry no name; a balance
    // command is identified by its timestamp.
    this.#dispatcher = new CommandDispatcher({ idField: "timestamp", nameField: "command" })
      .register("balance", { validate: schemaValidator(commandBalance), run: (request) => this.#applyBalance(request as unknown as BalanceCommand) });
    device.on("connected", () => this.#onConnected());
    device.on("disconnected", ({ error }) => device.log(`MQTT disconnected${error ? `: ${error.message}` : ""}`));
    device.on("report", ({ kind, detail }) => device.log(`${kind}: ${detail}`));
  }

  get ledger(): Readonly<LedgerState> {
    return this.#ledger.state;
  }

  get status(): StatusInfo {
    return deriveStatus(this.#ledger.balance, this.options.lowBalance, this.#relayFault ?? this.#meterFault ?? this.#storageFault);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#syncRelay();
    this.#device.route({
      topic: commandFilter(this.#routes),
      qos: this.#routes.commandBalance.qos,
      dispatcher: this.#dispatcher,
      commandOf: commandName,
      respond: (outcome) => this.#respond(outcome),
    });
    this.#device.connect({
      clientId: `smartmeter-${this.meterNo}`,
      // A persistent session: balance commands sent while the meter is offline wait at the broker.
      clean: false,
      keepalive: 30,
      // Status is not retained (QoS 0): a plain will, asked at every connect so it carries
      // the balance and time of that connection.
      will: () => this.#statusPublication({ status: "offline", message: "Connection lost" }),
      outbox: {
        // Room for the whole journal and the one resync request: a report is never refused.
        maxMessages: this.options.maxBacklog + 4,
        maxBytes: 64 * 1024,
        overflow: "reject-new",
        // Status and balance reports are QoS 0 and only worth sending live.
        queueQos0: false,
      },
    });
    // Reports from before a restart go first, in order; the client holds them until connected.
    for (const entry of this.#ledger.state.journal) this.#send(entry);
    void this.#step(); // the register since the last boot's reading
    this.#sampler.start();
    this.#reporter.start();
    this.#heartbeat?.start();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#sampler.stop();
    this.#reporter.stop();
    this.#heartbeat?.stop();
    if (this.#started) await this.#step(); // count energy up to now; it is reported after the restart
    this.#persist();
    // A clean DISCONNECT suppresses the will: the meter says offline itself.
    await this.#device.disconnect(() => this.#device.publish(this.#statusPublication({ status: "offline", message: "Meter stopped" })));
  }

  // ---- measuring ----

  /** One step: read the meter, bill the register's increase, persist; the relay follows the balance. */
  #step(): Promise<void> {
    this.#stepping ??= this.#measure().finally(() => { this.#stepping = undefined; });
    return this.#stepping;
  }

  async #measure(): Promise<void> {
    this.#syncRelay();
    const reading = await this.#read();
    if (reading !== undefined) this.#bill(reading);
    this.#announceStatus(false);
  }

  /** A usable reading, or undefined after counting the miss (status error after meterFaultLimit in a row). */
  async #read(): Promise<MeterReading | undefined> {
    let problem: string;
    try {
      const reading = await this.#hardware.read();
      const fault = readingFault(reading);
      if (fault === undefined) {
        if (this.#meterFault !== undefined) this.#device.log("Meter answers again");
        this.#misses = 0;
        this.#meterFault = undefined;
        return reading;
      }
      problem = fault;
    } catch (e) {
      problem = e instanceof Error ? e.message : String(e);
    }
    this.#misses++;
    if (this.#misses === 1) this.#device.log(`Meter reading skipped: ${problem}`);
    if (this.#misses >= this.options.meterFaultLimit) {
      if (this.#meterFault === undefined) this.#device.log(`Meter fault after ${this.#misses} failed readings: ${problem}`);
      this.#meterFault = `Meter fault: ${problem}`;
    }
    return undefined;
  }

  /** Deducts the register's increase since the last counted reading; a fault moves the baseline. */
  #bill(reading: MeterReading): void {
    const now = this.#device.now();
    const { meterWh, meterAt } = this.#ledger.state;
    const step = registerStep(meterWh, meterAt, reading.energy, now, this.options.sampleIntervalMs);
    this.#ledger.rebase(reading.energy, now);
    if ("fault" in step) {
      this.#persist();
      this.#announceEvent(step.fault);
      return;
    }
    if (step.wh > 0) {
      this.#ledger.accrue(step.wh * 1000, this.options.tariff); // 1 Wh = 1000 µkWh
      if (this.#ledger.balance <= 0 && this.#hardware.relay.on) this.#device.log("Balance exhausted: relay open");
      this.#syncRelay();
    }
    // Unchanged readings need no flash write; the first one sets the baseline.
    if (step.wh > 0 || meterWh === undefined) this.#persist();
  }

  /** The relay is on if and only if the balance is above zero; a contact that did not follow is a fault. */
  #syncRelay(): void {
    const relay = this.#hardware.relay;
    let fault: string | undefined;
    try {
      const on = this.#ledger.balance > 0;
      if (relay.on !== on) relay.set(on);
      const stuck = relay.stuck;
      if (stuck === "closed") fault = "Relay fault: stuck closed, the supply cannot be cut";
      else if (stuck === "open") fault = "Relay fault: stuck open, the supply cannot be restored";
    } catch (e) {
      fault = `Relay fault: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (fault !== this.#relayFault) this.#device.log(fault ?? "Relay follows again");
    this.#relayFault = fault;
  }

  // ---- consumption reports ----

  /** Closes the period into a journal entry and sends it. */
  async #report(): Promise<void> {
    await this.#step();
    // Offline, an empty period is not worth a journal slot: the next report covers it.
    const entry = this.#ledger.close(this.#device.now(), this.options.maxBacklog, this.#device.connected);
    if (!entry) {
      if (this.#ledger.state.journal.length >= this.options.maxBacklog && !this.#backlogFullLogged) {
        this.#backlogFullLogged = true;
        this.#device.log(`report backlog full (${this.options.maxBacklog}): consumption keeps accruing into the next report`);
      }
      return;
    }
    this.#backlogFullLogged = false;
    this.#persist(); // journal entry and register are written before the report leaves
    this.#device.log(`Consumption: ${kwh(entry[0]).toFixed(6)} kWh`);
    this.#send(entry);
  }

  /** Publishes a journal entry at the table's QoS (1); it leaves the journal only on PUBACK. */
  #send(entry: JournalEntry): void {
    const ts = entry[3];
    if (this.#inFlight.has(ts)) return;
    this.#inFlight.add(ts);
    void this.#device.publish({ ...this.#routes.consumption, payload: consumptionMessage(this.meterNo, entry) }).then((delivered) => {
      this.#inFlight.delete(ts);
      if (delivered && this.#ledger.acknowledge(ts)) this.#persist();
      // Not delivered (refused by the outbox): it stays in the journal and goes again on the next connect or boot.
    });
  }

  // ---- connection ----

  #onConnected(): void {
    this.#connects++;
    this.#device.log(`MQTT connected (${this.#connects === 1 ? "boot" : "reconnect"})`);
    // Reports refused earlier go again, oldest first; those in flight the client resends itself.
    for (const entry of this.#ledger.state.journal) this.#send(entry);
    this.#announceStatus(true);
    // The backend is the source of truth: ask for the balance on every (re)connect.
    if (this.#requestPending) return;
    const reason = this.#connects === 1 ? "boot" : "reconnect";
    this.#requestPending = true;
    void this.#device.publish({ ...this.#routes.balanceRequest, payload: balanceRequestMessage(this.meterNo, reason, this.#ledger.balance, this.#timestamp()) })
      .then(() => { this.#requestPending = false; });
  }

  // ---- commands ----

  /** A valid balance command (schema-checked by the dispatcher); runs on the device's queue. */
  async #applyBalance({ balance, timestamp }: BalanceCommand): Promise<void> {
    await this.#step(); // energy used so far is deducted from the old balance
    if (this.#ledger.applyBalance(balance, timestamp, this.options.tariff)) {
      this.#syncRelay();
      this.#persist();
      this.#device.log(`Balance updated: ${this.#ledger.balance.toFixed(4)}`);
    } else {
      this.#device.log(`balance command ignored: timestamp ${timestamp} is not after the last applied ${this.#ledger.state.lastCommandTs}`);
    }
    this.#announceStatus(false);
  }

  /**
   * Every valid command, applied or ignored, is answered with a balance report of the balance
   * in force. The balance report has no error field: a rejected command is answered with a
   * one-off status error; the steady status follows at the next change check.
   */
  #respond(outcome: CommandOutcome): Publication | undefined {
    if (outcome.ok) return { ...this.#routes.balance, payload: balanceMessage(this.meterNo, this.#ledger.balance, this.#timestamp()) };
    this.#statusTracker.forget();
    if (!this.#device.connected) return undefined;
    const why = `${outcome.error?.code}: ${outcome.error?.message}`;
    return this.#statusPublication({ status: "error", message: clip(`Rejected ${outcome.command} command: ${why}`) });
  }

  // ---- status ----

  /** A one-off error status (the steady one follows at the next step), and a log line. */
  #announceEvent(message: string): void {
    this.#device.log(message);
    this.#statusTracker.forget();
    if (this.#device.connected) void this.#device.publish(this.#statusPublication({ status: "error", message: clip(message) }));
  }

  /** Publishes the steady status when it changed, or always when `force` (connect, heartbeat). */
  #announceStatus(force: boolean): void {
    const info = this.status;
    if (force) this.#statusTracker.forget();
    if (!this.#statusTracker.changed(info)) return;
    this.#device.log(`Status: ${info.status} (${info.message})`);
    if (this.#device.connected) void this.#device.publish(this.#statusPublication(info));
  }

  #statusPublication(info: StatusInfo): Publication {
    let rssi = -127;
    try {
      rssi = this.#hardware.rssi();
    } catch {
      // no Wi-Fi figure: report the floor
    }
    return { ...this.#routes.status, payload: statusMessage(this.meterNo, info, this.#ledger.balance, rssi, this.#timestamp()) };
  }

  // ---- plumbing ----

  #timestamp(): number {
    return Math.round(this.#device.now());
  }

  /** Writes the ledger; on failure the meter keeps counting in RAM and reports an error status. */
  #persist(): void {
    try {
      this.#device.settings.set(LEDGER_KEY, this.#ledger.state);
      if (this.#storageFault !== undefined) {
        this.#storageFault = undefined;
        this.#announceStatus(false);
      }
    } catch (e) {
      if (this.#storageFault === undefined) this.#device.log(`cannot persist the ledger: ${String(e)}`);
      this.#storageFault = "Storage fault: the ledger could not be saved";
      this.#announceStatus(false);
    }
  }
}
