// The status: what the meter says about itself, and when a new one is due. "online" and
// "low_balance" follow from the balance; "error" is a fault (an unusable reading, a failing
// store) while it lasts, or a one-off event (a rejected command); "offline" is the will's
// and the goodbye's.

export type MeterStatus = "online" | "low_balance" | "error" | "offline";

export interface StatusInfo {
  status: MeterStatus;
  message: string;
}

/** status.schema.json allows 128 characters. */
export const MAX_MESSAGE = 128;

export function clip(message: string): string {
  return message.length <= MAX_MESSAGE ? message : message.slice(0, MAX_MESSAGE - 3) + "...";
}

/** The steady status: a fault (its description) wins, then the balance against the low threshold. */
export function deriveStatus(balance: number, lowBalance: number, fault: string | undefined): StatusInfo {
  if (fault !== undefined) return { status: "error", message: clip(fault) };
  if (balance <= 0) return { status: "low_balance", message: "Balance exhausted: supply disconnected" };
  if (balance <= lowBalance) return { status: "low_balance", message: "Balance low: please top up" };
  return { status: "online", message: "Device operating normally" };
}

/** Tells whether a status differs from the last one announced (status and message). */
export class StatusTracker {
  #last: string | undefined;

  /** True when `info` is new; remembers it. */
  changed(info: StatusInfo): boolean {
    const key = `${info.status}|${info.message}`;
    if (key === this.#last) return false;
    this.#last = key;
    return true;
  }

  /** Forces the next status out (after a reconnect, or an error event in between). */
  forget(): void {
    this.#last = undefined;
  }
}
