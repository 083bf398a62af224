// Quantile estimates from fixed-bucket histograms (as Prometheus' histogram_quantile does:
// linear interpolation inside the bucket), for status tables and the dashboard.
import type { LatencySnapshot } from '../dataplane/latency-histogram.js';

/** The q-quantile (0..1) in milliseconds, or null without observations. */
export function quantileMs(h: LatencySnapshot | undefined, q: number): number | null {
  if (!h || h.count === 0) return null;
  const rank = q * h.count;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const inBucket = h.counts[i];
    if (seen + inBucket >= rank && inBucket > 0) {
      const lower = i === 0 ? 0 : h.boundsMs[i - 1];
      // Above the last bound there is no upper edge: report the last bound, as Prometheus does.
      if (i >= h.boundsMs.length) return h.boundsMs[h.boundsMs.length - 1];
      const upper = h.boundsMs[i];
      return lower + ((upper - lower) * (rank - seen)) / inBucket;
    }
    seen += inBucket;
  }
  return h.boundsMs[h.boundsMs.length - 1];
}

/** The difference of two snapshots of the same histogram: latency over an interval, not since start. */
export function histogramDelta(before: LatencySnapshot | undefined, after: LatencySnapshot | undefined): LatencySnapshot | undefined {
  if (!after) return undefined;
  if (!before || before.count > after.count) return after;
  return {
    boundsMs: after.boundsMs,
    counts: after.counts.map((c, i) => c - (before.counts[i] ?? 0)),
    sumMs: after.sumMs - before.sumMs,
    count: after.count - before.count,
  };
}
