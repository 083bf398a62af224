// A fixed-bucket latency histogram: observing costs a few comparisons and one increment, so the
// HTTP hot path can afford it on every request. Counts are per bucket (not cumulative) so that
// snapshots from several workers sum element-wise.

/** Upper bounds in milliseconds; one more bucket after them catches everything slower. */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]);

export interface LatencySnapshot {
  readonly boundsMs: readonly number[];
  /** counts[i] = observations in (boundsMs[i-1], boundsMs[i]]; the last one is above every bound. */
  readonly counts: readonly number[];
  readonly sumMs: number;
  readonly count: number;
}

export class LatencyHistogram {
  private readonly counts: number[] = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  private sumMs = 0;
  private count = 0;

  observe(ms: number): void {
    let i = 0;
    while (i < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[i]) i++;
    this.counts[i]++;
    this.sumMs += ms;
    this.count++;
  }

  snapshot(): LatencySnapshot {
    return { boundsMs: LATENCY_BOUNDS_MS, counts: [...this.counts], sumMs: this.sumMs, count: this.count };
  }
}
