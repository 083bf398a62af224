// GET /dashboard/data: what the dashboard draws, in one document: the status snapshot trimmed to
// what the page shows, rates from the per-second ring, latency quantiles over the last interval,
// hitless's own answers by code, every process (supervisor, workers by generation) with its
// event-loop lag, and recent applies with their diffs by name.
import type { Controller } from '../control/controller.js';
import { planNames } from '../control/plan.js';
import type { ServiceStatus } from '../dataplane/driver.js';
import { CERT_EXPIRY_CRITICAL_DAYS, CERT_EXPIRY_WARN_DAYS, certificateExpiry } from '../dataplane/certificate-expiry.js';
import { discoveryRows } from '../observability/discovery-status.js';
import { summarize, type ProcessReport } from '../observability/process-metrics.js';
import { quantileMs } from '../observability/quantile.js';
import { endpointId, type Rate } from '../observability/rate-sampler.js';
import type { Telemetry } from '../observability/telemetry.js';

const NO_RATE: Rate = { rps: 0, eps: 0, bps: 0, active: 0 };
/** Five minutes of per-second points is what the chart shows. */
const SERIES_POINTS = 300;

type StatusInput = { services: readonly ServiceStatus[]; discovery?: unknown; process?: unknown } & Record<string, unknown>;

export function dashboardData(status: StatusInput, controller: Controller, telemetry: Telemetry, processes: readonly ProcessReport[] = []) {
  const rates = telemetry.sampler.latestRates();
  const series = telemetry.sampler.series();
  const tail = <T>(xs: T[]): T[] => xs.slice(-SERIES_POINTS);
  return {
    now: Date.now(),
    instance: { pid: status.pid, version: status.version, uptimeSeconds: status.uptimeSeconds, driver: status.driver, config: status.config, generation: status.generation ?? null },
    /** Unix ms of the newer of the two readings the per-service and per-endpoint rates are computed over. */
    ratesAt: rates.at,
    services: status.services.map((s) => {
      // p50/p99 over the last interval between two readings; since start when there is none yet.
      const latency = rates.latency[s.name] ?? s.latency;
      return {
        name: s.name,
        mode: s.mode,
        balance: s.balance,
        listen: s.listen,
        active: s.active,
        total: s.total,
        rejected: s.rejected,
        failed: s.failed,
        retries: s.retries,
        responses: s.responses,
        localResponses: s.localResponses ?? {},
        bytesIn: s.bytesIn ?? 0,
        bytesOut: s.bytesOut ?? 0,
        p50: round(quantileMs(latency, 0.5)),
        p99: round(quantileMs(latency, 0.99)),
        rate: rates.services[s.name] ?? NO_RATE,
        endpoints: s.endpoints.map((e) => ({ ...e, checkError: e.checkError ?? null, rate: rates.endpoints[endpointId(s.name, e.cluster, e.address)] ?? NO_RATE })),
      };
    }),
    processes: processRows(status.process, processes),
    generations: generations(status.process),
    listeners: status.listeners,
    certificates: certificateRows(status.services),
    certificateThresholds: { soonDays: CERT_EXPIRY_WARN_DAYS, criticalDays: CERT_EXPIRY_CRITICAL_DAYS },
    discovery: discoveryRows(status.discovery),
    applies: controller.history
      .slice(-10)
      .reverse()
      .map((r) => ({ at: r.at, origin: r.origin, result: r.result, durationMs: r.durationMs, summary: r.summary, peer: r.peer ?? null, diff: r.plan ? planNames(r.plan, 20) : {}, error: r.error ?? null })),
    series: { t: tail(series.t), rps: tail(series.rps), eps: tail(series.eps), bps: tail(series.bps), active: tail(series.active) },
  };
}

/**
 * Every certificate a service terminates TLS with, soonest expiry first, with the shared verdict
 * (ok, soon, critical, expired) so the page needs no threshold of its own. Names and subject come
 * from the certificate: the page shows them as text only.
 */
function certificateRows(services: readonly ServiceStatus[]) {
  return services
    .flatMap((s) => (s.tls?.certificates ?? []).map((c) => ({ service: s.name, name: c.name, names: c.names, subject: c.subject, issuer: c.issuer, notAfter: c.notAfter, daysLeft: c.daysLeft, expiry: certificateExpiry(c.daysLeft), default: c.default, keyType: c.keyType })))
    .sort((a, b) => a.daysLeft - b.daysLeft || a.service.localeCompare(b.service));
}

type Loose = Record<string, unknown>;

/** The status' process section (a supervisor's), read without depending on its exact type. */
function workersOf(section: unknown): Loose[] {
  const workers = (section as Loose | undefined)?.workers;
  return Array.isArray(workers) ? (workers as Loose[]) : [];
}

/** One row per process: its metrics summary, with state, config sync and connections for a worker. */
function processRows(section: unknown, reports: readonly ProcessReport[]) {
  const byPid = new Map(workersOf(section).map((w) => [w.pid, w]));
  return reports.map((r) => {
    const w = byPid.get(r.labels.pid);
    return { ...summarize(r), state: typeof w?.state === 'string' ? w.state : 'running', inSync: w ? w.inSync !== false : true, connections: typeof w?.connections === 'number' ? w.connections : null };
  });
}

/** Which generation serves, which one drains, and what upgrades and restarts happened; null without workers. */
function generations(section: unknown) {
  const p = section as Loose | undefined;
  if (!p || p.mode !== 'supervisor') return null;
  return { serving: p.generation ?? null, draining: p.draining ?? null, workersPerGeneration: p.workersPerGeneration ?? null, restarts: p.restarts ?? 0, crashLoops: p.crashLoops ?? [], upgrades: p.upgrades ?? null };
}

function round(x: number | null): number | null {
  return x === null ? null : Math.round(x * 100) / 100;
}
