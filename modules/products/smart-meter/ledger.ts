// The meter's books: local balance, the last applied balance command, the energy register
// and the journal of consumption reports not yet acknowledged. Pure and synchronous; the
// meter persists `state` after every change, so what is written is always consistent:
// every µkWh measured is either in `openMicro` (not yet reported) or in exactly one report
// (journal entry, then acknowledged and dropped), never both, never neither.

/** One closed report: [unitsConsumed µkWh, remainingBalance, totalConsumed µkWh, timestamp ms]. */
export type JournalEntry = [units: number, remaining: number, total: number, timestamp: number];

export interface LedgerState {
  /** Local balance in balance units (>= 0). */
  balance: number;
  /** Timestamp of the last applied balance command; 0 before the first. */
  lastCommandTs: number;
  /** Energy register in µkWh: the sum of all closed reports, since the meter was commissioned. */
  totalMicro: number;
  /** µkWh measured since the last closed report (fraction carried). */
  openMicro: number;
  /** Timestamp of the last closed report: report timestamps strictly increase. */
  lastReportTs: number;
  /** Closed reports awaiting PUBACK, oldest first. */
  journal: JournalEntry[];
  /** The meter's energy register (Wh) up to which consumption is counted; absent before the first reading. */
  meterWh?: number;
  /** When that register value was read (ms). */
  meterAt?: number;
}

/** unitsConsumed at most 1000 kWh per report (consumption.schema.json). */
export const MAX_REPORT_MICRO = 1_000_000_000;

export function emptyLedger(): LedgerState {
  return { balance: 0, lastCommandTs: 0, totalMicro: 0, openMicro: 0, lastReportTs: 0, journal: [] };
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isAmount = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/** Why a stored ledger cannot be trusted, or undefined when it can. */
export function ledgerProblem(value: unknown): string | undefined {
  const s = value as Partial<LedgerState> | null;
  if (typeof s !== "object" || s === null) return "not an object";
  if (!isAmount(s.balance)) return "balance";
  if (!isCount(s.lastCommandTs)) return "lastCommandTs";
  if (!isCount(s.totalMicro)) return "totalMicro";
  if (!isAmount(s.openMicro)) return "openMicro";
  if (!isCount(s.lastReportTs)) return "lastReportTs";
  if (!Array.isArray(s.journal)) return "journal";
  if (s.meterWh !== undefined && (!isCount(s.meterWh) || s.meterWh >= 0x1_0000_0000)) return "meterWh";
  if (s.meterAt !== undefined && !isCount(s.meterAt)) return "meterAt";
  for (const e of s.journal) {
    if (!Array.isArray(e) || e.length !== 4 || !isCount(e[0]) || !isAmount(e[1]) || !isCount(e[2]) || !isCount(e[3])) return "journal entry";
  }
  return undefined;
}

export class Ledger {
  readonly state: LedgerState;

  constructor(state: LedgerState = emptyLedger()) {
    this.state = state;
  }

  get balance(): number {
    return this.state.balance;
  }

  /** µkWh measured but not yet acknowledged by the broker: the open period plus the journal. */
  get unacknowledgedMicro(): number {
    let sum = this.state.openMicro;
    for (const e of this.state.journal) sum += e[0];
    return sum;
  }

  /** Counts energy and deducts it at the tariff; the balance stops at 0. */
  accrue(micro: number, tariff: number): void {
    if (!(micro > 0)) return;
    this.state.openMicro += micro;
    this.state.balance = Math.max(0, this.state.balance - (micro / 1e6) * tariff);
  }

  /** Consumption is counted up to this register value, read at `at`. */
  rebase(wh: number, at: number): void {
    this.state.meterWh = wh;
    this.state.meterAt = Math.max(0, Math.round(at));
  }

  /**
   * Closes the open period into a journal entry, or returns undefined when the journal
   * holds maxBacklog entries (the period then keeps growing: nothing is lost) or when the
   * period is empty and `keepEmpty` is false.
   */
  close(now: number, maxBacklog: number, keepEmpty: boolean): JournalEntry | undefined {
    const s = this.state;
    if (s.journal.length >= maxBacklog) return undefined;
    const units = Math.min(Math.floor(s.openMicro), MAX_REPORT_MICRO);
    if (units === 0 && !keepEmpty) return undefined;
    s.openMicro -= units;
    s.totalMicro += units;
    s.lastReportTs = Math.max(Math.round(now), s.lastReportTs + 1);
    const entry: JournalEntry = [units, round6(s.balance), s.totalMicro, s.lastReportTs];
    s.journal.push(entry);
    return entry;
  }

  /** The broker has the report with this timestamp: drop it from the journal. */
  acknowledge(timestamp: number): boolean {
    const i = this.state.journal.findIndex((e) => e[3] === timestamp);
    if (i < 0) return false;
    this.state.journal.splice(i, 1);
    return true;
  }

  /**
   * Applies an absolute balance from the backend unless a command at least as new was
   * applied (a QoS 1 redelivery or a late message). The backend's balance cannot include
   * consumption it has not received, so that (the open period and unacknowledged reports)
   * is deducted: once those reports land, the backend's and the meter's balances agree.
   */
  applyBalance(balance: number, timestamp: number, tariff: number): boolean {
    if (timestamp <= this.state.lastCommandTs) return false;
    this.state.lastCommandTs = timestamp;
    this.state.balance = Math.max(0, balance - (this.unacknowledgedMicro / 1e6) * tariff);
    return true;
  }
}

export function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** µkWh as kWh for a payload (exact to the µkWh in decimal). */
export function kwh(micro: number): number {
  return micro / 1e6;
}
