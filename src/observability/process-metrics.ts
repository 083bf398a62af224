// Process metrics of every hitless process (supervisor, each worker, or the one process without
// workers): event-loop lag, heap, GC, handles, CPU, RSS, file descriptors. They are prom-client's
// default metrics, each process collecting its own into a private registry, and only when someone
// looks (GET /metrics, GET /dashboard/data). The supervisor asks its workers for theirs with their
// status, and labels each process's families so that they stay one series per process when merged.
//
// A worker loads prom-client a second after its first commit, not at start: it costs ~2 MB of RSS
// (57.6 → 59.5 MB measured) and 100-200 ms of module loading on the shared 2-core test machine,
// and a worker of a code upgrade must be ready fast. The monitors (event-loop delay, GC) start
// then. prom-client resets its event-loop delay histogram at each collection:
// the nodejs_eventloop_lag_* gauges describe the time since the previous collection, whoever asked
// for it (a scrape, or the dashboard every second).
import type { Registry } from 'prom-client';
import type { MetricFamily } from './metrics.js';

export type ProcessRole = 'supervisor' | 'worker' | 'standalone';

/** Which process a report describes; `worker` (its slot) and `generation` for workers only. */
export interface ProcessLabels {
  readonly role: ProcessRole;
  readonly pid: number;
  readonly worker?: number;
  readonly generation?: number;
}

export interface ProcessReport {
  readonly labels: ProcessLabels;
  /** Unix ms of the collection. */
  readonly at: number;
  readonly families: readonly MetricFamily[];
}

/** A driver that runs other processes (the supervisor) reports each of them, itself included. */
export interface ProcessReporter {
  processReports(): Promise<ProcessReport[]>;
}

/** One registry per process: collectDefaultMetrics twice would run two event-loop monitors. */
let registry: Promise<Registry> | null = null;

/** Loads prom-client and starts this process's monitors (event-loop delay, GC), once. */
export function startProcessMetrics(): Promise<Registry> {
  registry ??= import('prom-client').then(({ Registry: Created, collectDefaultMetrics }) => {
    const r = new Created();
    collectDefaultMetrics({ register: r });
    return r;
  });
  return registry;
}

/** This process's default metrics, collected now (the first call starts the monitors). */
export async function collectProcessMetrics(): Promise<MetricFamily[]> {
  // prom-client's JSON shape is MetricFamily's (its enum values are these same strings).
  return (await (await startProcessMetrics()).getMetricsAsJSON()) as unknown as MetricFamily[];
}

/** The report of this process, as the one process (no supervisor) or as the supervisor. */
export async function ownReport(role: ProcessRole): Promise<ProcessReport> {
  return { labels: { role, pid: process.pid }, at: Date.now(), families: await collectProcessMetrics() };
}

/** A report's families with its process's labels on every value (role, pid, and worker, generation). */
export function labelled(report: ProcessReport): MetricFamily[] {
  const extra: Record<string, string | number> = { role: report.labels.role, pid: report.labels.pid };
  if (report.labels.worker !== undefined) extra.worker = report.labels.worker;
  if (report.labels.generation !== undefined) extra.generation = report.labels.generation;
  // Each process's series are its own (the labels differ): nothing is merged, and none is dropped
  // (prom-client's aggregate() leaves out a family whose aggregator is "omit", as its start time's is).
  return report.families.map((f) => ({ ...f, aggregator: 'first', values: f.values.map((v) => ({ ...v, labels: { ...extra, ...v.labels } })) }));
}

/** What the dashboard shows per process, from its report. null: not measured in that interval. */
export interface ProcessSummary extends ProcessLabels {
  readonly at: number;
  readonly eventLoopLagP99Ms: number | null;
  readonly eventLoopLagMaxMs: number | null;
  readonly eventLoopLagMeanMs: number | null;
  readonly rssBytes: number | null;
  readonly heapUsedBytes: number | null;
  readonly heapTotalBytes: number | null;
  readonly cpuSeconds: number | null;
  readonly gcSeconds: number | null;
  readonly handles: number | null;
  readonly openFds: number | null;
}

export function summarize(report: ProcessReport): ProcessSummary {
  const byName = new Map(report.families.map((f) => [f.name, f]));
  /** The sum of a family's values (optionally of one sample name), null when it has none or is not a number. */
  const value = (name: string, metricName?: string): number | null => {
    const values = byName.get(name)?.values.filter((v) => metricName === undefined || v.metricName === metricName) ?? [];
    if (values.length === 0) return null;
    const sum = values.reduce((a, v) => a + v.value, 0);
    return Number.isFinite(sum) ? sum : null;
  };
  const ms = (seconds: number | null): number | null => (seconds === null ? null : Math.round(seconds * 1e6) / 1e3);
  return {
    ...report.labels,
    at: report.at,
    eventLoopLagP99Ms: ms(value('nodejs_eventloop_lag_p99_seconds')),
    eventLoopLagMaxMs: ms(value('nodejs_eventloop_lag_max_seconds')),
    eventLoopLagMeanMs: ms(value('nodejs_eventloop_lag_mean_seconds')),
    rssBytes: value('process_resident_memory_bytes'),
    heapUsedBytes: value('nodejs_heap_size_used_bytes'),
    heapTotalBytes: value('nodejs_heap_size_total_bytes'),
    cpuSeconds: value('process_cpu_seconds_total'),
    gcSeconds: value('nodejs_gc_duration_seconds', 'nodejs_gc_duration_seconds_sum') ?? 0,
    handles: value('nodejs_active_handles_total'),
    openFds: value('process_open_fds'),
  };
}
