// The pause moved tunnels saw (from the old worker freezing a tunnel to the new worker reading it
// again), as the receiving workers report it: every pause in a fixed histogram (metrics), and the
// pauses of the latest upgrade kept whole (bounded) for exact percentiles in status.

/** Histogram bounds, in ms (as the latency histograms: observability/metrics.ts turns them into seconds). */
export const PAUSE_BOUNDS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] as const;
/** Pauses kept whole for the latest upgrade's percentiles; beyond, only the histogram counts. */
const KEPT = 50_000;

export interface PauseSummary {
  readonly count: number;
  readonly p50: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

export class PauseRecord {
  readonly counts: number[] = PAUSE_BOUNDS_MS.map(() => 0);
  count = 0;
  sumMs = 0;
  private latest: number[] = [];
  private latestCount = 0;
  private latestMax = 0;

  /** An upgrade began: the latest pauses are its own from now on. */
  begin(): void {
    this.latest = [];
    this.latestCount = 0;
    this.latestMax = 0;
  }

  add(pausesMs: readonly number[]): void {
    for (const raw of pausesMs) {
      // A worker's number, from another process's clock: kept within sense.
      const ms = Number.isFinite(raw) ? Math.max(0, raw) : 0;
      this.count++;
      this.sumMs += ms;
      const i = PAUSE_BOUNDS_MS.findIndex((b) => ms <= b);
      if (i >= 0) this.counts[i]++;
      this.latestCount++;
      this.latestMax = Math.max(this.latestMax, ms);
      if (this.latest.length < KEPT) this.latest.push(ms);
    }
  }

  /** The latest upgrade's pauses (ms, rounded to 0.1). */
  summary(): PauseSummary {
    if (this.latestCount === 0) return { count: 0, p50: null, p99: null, max: null };
    const sorted = [...this.latest].sort((a, b) => a - b);
    const at = (q: number): number => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
    return { count: this.latestCount, p50: at(0.5), p99: at(0.99), max: round(this.latestMax) };
  }
}

const round = (ms: number): number => Math.round(ms * 10) / 10;
