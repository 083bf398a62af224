// Counters and latency for one traffic kind during one target run.
import { classifyFailure, describeError, emptyFailureCounts, totalFailures, type FailureCounts } from './failures.js';
import { newHistogram, percentiles, recordMs, type Histogram, type Percentiles } from './latency.js';
import type { Timeline } from './timeline.js';

export const TRAFFIC_KINDS = ['newConnection', 'keepAlive', 'longLived', 'tlsNewConnection', 'tlsKeepAlive'] as const;
export type TrafficKind = (typeof TRAFFIC_KINDS)[number];

export const TRAFFIC_LABELS: Record<TrafficKind, string> = {
  newConnection: 'new conn',
  keepAlive: 'keep-alive',
  longLived: 'long-lived',
  tlsNewConnection: 'tls new conn',
  tlsKeepAlive: 'tls keep-alive',
};

/** Time series bucket width: fine enough to see single reloads at 10/s, small enough to chart. */
export const BUCKET_MS = 250;
const MAX_ERROR_SAMPLES = 5;

interface Bucket {
  ok: number;
  failed: number;
  histogram: Histogram;
}

export interface SeriesPoint {
  readonly tMs: number;
  readonly ok: number;
  readonly failed: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface KindResult {
  readonly kind: TrafficKind;
  readonly concurrency: number;
  /** Requests answered 2xx; for long-lived: connections that lived their planned life. */
  readonly ok: number;
  readonly failed: number;
  readonly failures: FailureCounts;
  /** For long-lived connections these are ping round trips. */
  readonly latency: Percentiles;
  readonly baseline: Percentiles;
  readonly afterAction: Percentiles;
  readonly errorSamples: readonly string[];
  readonly series: readonly SeriesPoint[];
  /** Long-lived only: pings answered. */
  readonly pings?: number;
  /** TLS kinds only: completed handshakes by the certificate the client was served (A, B, or a fingerprint). */
  readonly certificates?: Readonly<Record<string, number>>;
}

export class KindStats {
  ok = 0;
  pings = 0;
  readonly failures = emptyFailureCounts();
  private readonly overall = newHistogram();
  private readonly baseline = newHistogram();
  private readonly afterAction = newHistogram();
  private readonly buckets = new Map<number, Bucket>();
  private readonly errorSamples = new Set<string>();
  private readonly certificates = new Map<string, number>();

  constructor(readonly kind: TrafficKind, readonly concurrency: number, private readonly timeline: Timeline) {}

  /** A latency sample: a request's duration, or a ping's round trip. */
  latency(startMs: number, endMs: number): void {
    const ms = endMs - startMs;
    recordMs(this.overall, ms);
    if (this.timeline.isBaseline(startMs, endMs)) recordMs(this.baseline, ms);
    if (this.timeline.isAfterAction(startMs, endMs)) recordMs(this.afterAction, ms);
    recordMs(this.bucket(endMs).histogram, ms);
  }

  succeeded(endMs: number): void {
    this.ok++;
    this.bucket(endMs).ok++;
  }

  failed(err: unknown, endMs: number): void {
    this.failures[classifyFailure(err)]++;
    this.bucket(endMs).failed++;
    if (this.errorSamples.size < MAX_ERROR_SAMPLES) this.errorSamples.add(describeError(err));
  }

  /** A completed TLS handshake that was served `certificate`. */
  handshake(certificate: string): void {
    this.certificates.set(certificate, (this.certificates.get(certificate) ?? 0) + 1);
  }

  get failedCount(): number {
    return totalFailures(this.failures);
  }

  result(): KindResult {
    const series = [...this.buckets.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, b]) => {
        const p = percentiles(b.histogram);
        return { tMs: index * BUCKET_MS, ok: b.ok, failed: b.failed, p50: p.p50, p99: p.p99, max: p.max };
      });
    return {
      kind: this.kind,
      concurrency: this.concurrency,
      ok: this.ok,
      failed: this.failedCount,
      failures: { ...this.failures },
      latency: percentiles(this.overall),
      baseline: percentiles(this.baseline),
      afterAction: percentiles(this.afterAction),
      errorSamples: [...this.errorSamples],
      series,
      ...(this.kind === 'longLived' ? { pings: this.pings } : {}),
      ...(this.certificates.size > 0 ? { certificates: Object.fromEntries(this.certificates) } : {}),
    };
  }

  private bucket(endMs: number): Bucket {
    const index = Math.max(0, Math.floor(endMs / BUCKET_MS));
    let bucket = this.buckets.get(index);
    if (!bucket) {
      bucket = { ok: 0, failed: 0, histogram: newHistogram(2) };
      this.buckets.set(index, bucket);
    }
    return bucket;
  }
}
