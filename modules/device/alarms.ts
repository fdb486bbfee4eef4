// Active alarms by severity, shared by the products. A condition is raised, may change
// severity, and is cleared; only those changes are published (a condition that stays the
// same publishes nothing), through a product-supplied formatter, so each product keeps its
// own alarm format and topics.
//
// Bounded: at most `maxActive` alarms are tracked. Policy when full: a new alarm displaces
// the least severe active one (the oldest among equals) only if it is strictly more severe;
// otherwise the new alarm is refused. Either way `dropped` counts the alarm that lost, and
// `raise` returns false for a refused one. A displaced alarm is forgotten without a
// "cleared" publication, since its condition has not cleared.

import type { Publication } from "./device.js";

export type AlarmChange = "raised" | "severity_changed" | "cleared";

export interface ActiveAlarm<D> {
  /** The product's key for the condition (e.g. "temp:2"); unique among active alarms. */
  readonly code: string;
  readonly severity: number;
  readonly detail: D;
  /** host.now() when first raised. */
  readonly since: number;
}

export interface AlarmsOptions<D> {
  /** Most alarms tracked at once (at least 1). */
  maxActive: number;
  now(): number;
  /** The product's message for a change, or undefined to publish nothing for it. */
  format(alarm: ActiveAlarm<D>, change: AlarmChange, previousSeverity?: number): Publication | undefined;
  /** Sends a publication (usually Device.publish); failures are the publisher's to report. */
  publish(p: Publication): unknown;
}

export class Alarms<D> {
  readonly #options: AlarmsOptions<D>;
  readonly #active = new Map<string, ActiveAlarm<D>>();
  /** Alarms lost to a full table (refused or displaced). */
  dropped = 0;

  constructor(options: AlarmsOptions<D>) {
    if (!(options.maxActive >= 1)) throw new RangeError(`maxActive must be at least 1, not ${options.maxActive}`);
    this.#options = options;
  }

  get active(): ActiveAlarm<D>[] {
    return [...this.#active.values()];
  }

  get(code: string): ActiveAlarm<D> | undefined {
    return this.#active.get(code);
  }

  /**
   * Raises (or re-raises) an alarm. Publishes when it is new or its severity changed; the
   * detail of an unchanged alarm is updated silently. False when a full table refused it.
   */
  raise(code: string, severity: number, detail: D): boolean {
    const current = this.#active.get(code);
    if (current) {
      const updated: ActiveAlarm<D> = { code, severity, detail, since: current.since };
      this.#active.set(code, updated);
      if (current.severity !== severity) this.#emit(updated, "severity_changed", current.severity);
      return true;
    }
    if (this.#active.size >= this.#options.maxActive && !this.#makeRoom(severity)) {
      this.dropped++;
      return false;
    }
    const alarm: ActiveAlarm<D> = { code, severity, detail, since: this.#options.now() };
    this.#active.set(code, alarm);
    this.#emit(alarm, "raised");
    return true;
  }

  /** Clears an active alarm and publishes that; a no-op for one that is not active. */
  clear(code: string, detail?: D): boolean {
    const current = this.#active.get(code);
    if (!current) return false;
    this.#active.delete(code);
    this.#emit(detail === undefined ? current : { ...current, detail }, "cleared", current.severity);
    return true;
  }

  /** Forgets every alarm without publishing (a controller restart re-evaluates from scratch). */
  reset(): void {
    this.#active.clear();
  }

  /** Displaces the least severe (oldest among equals) alarm if `severity` is strictly higher. */
  #makeRoom(severity: number): boolean {
    let weakest: ActiveAlarm<D> | undefined;
    for (const a of this.#active.values()) {
      if (!weakest || a.severity < weakest.severity) weakest = a; // Map order = oldest first
    }
    if (!weakest || weakest.severity >= severity) return false;
    this.#active.delete(weakest.code);
    this.dropped++;
    return true;
  }

  #emit(alarm: ActiveAlarm<D>, change: AlarmChange, previousSeverity?: number): void {
    const p = this.#options.format(alarm, change, previousSeverity);
    if (p) this.#options.publish(p);
  }
}
