// Cumulative apply counters since start. GET /status keeps only the last 20 applies; Prometheus
// needs monotonic counters, so every record the controller makes is folded in here as well.
import type { ApplyRecord } from '../control/controller.js';

/** Upper bounds of the apply duration histogram, in milliseconds. */
export const APPLY_BOUNDS_MS: readonly number[] = Object.freeze([1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]);

export const CHANGE_KINDS = [
  'services_added',
  'services_removed',
  'services_changed',
  'endpoints_added',
  'endpoints_removed',
  'endpoints_reweighted',
  'listeners_added',
  'listeners_removed',
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface ApplyStatsSnapshot {
  /** "origin/result" → count, e.g. "admin/applied". */
  readonly count: Readonly<Record<string, number>>;
  /** Non-cumulative bucket counts over APPLY_BOUNDS_MS (+ one overflow bucket); noops excluded. */
  readonly duration: { readonly boundsMs: readonly number[]; readonly counts: readonly number[]; readonly sumMs: number; readonly count: number };
  readonly changes: Readonly<Record<ChangeKind, number>>;
  /** Unix seconds of the last successful apply (0: none yet). */
  readonly lastAppliedAt: number;
}

export class ApplyStats {
  private readonly count: Record<string, number> = {};
  private readonly buckets = new Array<number>(APPLY_BOUNDS_MS.length + 1).fill(0);
  private sumMs = 0;
  private observed = 0;
  private readonly changes = Object.fromEntries(CHANGE_KINDS.map((k) => [k, 0])) as Record<ChangeKind, number>;
  private lastAppliedAt = 0;

  readonly record = (r: ApplyRecord): void => {
    const key = `${r.origin}/${r.result}`;
    this.count[key] = (this.count[key] ?? 0) + 1;
    if (r.result !== 'noop') {
      let i = 0;
      while (i < APPLY_BOUNDS_MS.length && r.durationMs > APPLY_BOUNDS_MS[i]) i++;
      this.buckets[i]++;
      this.sumMs += r.durationMs;
      this.observed++;
    }
    if (r.result !== 'applied' || !r.plan) return;
    this.lastAppliedAt = Date.parse(r.at) / 1000;
    const { services, listeners } = r.plan;
    this.changes.services_added += services.added.length;
    this.changes.services_removed += services.removed.length;
    this.changes.services_changed += services.changed.length;
    for (const c of services.changed) {
      this.changes.endpoints_added += c.endpoints.added.length;
      this.changes.endpoints_removed += c.endpoints.removed.length;
      this.changes.endpoints_reweighted += c.endpoints.reweighted.length;
    }
    this.changes.listeners_added += listeners.add.length;
    this.changes.listeners_removed += listeners.remove.length;
  };

  snapshot(): ApplyStatsSnapshot {
    return {
      count: { ...this.count },
      duration: { boundsMs: APPLY_BOUNDS_MS, counts: [...this.buckets], sumMs: this.sumMs, count: this.observed },
      changes: { ...this.changes },
      lastAppliedAt: this.lastAppliedAt,
    };
  }
}
