// GET /dashboard/data: what the dashboard draws, in one document: the status snapshot trimmed to
// what the page shows, rates from the per-second ring, latency quantiles, and recent applies
// with their diffs by name.
import type { Controller } from '../control/controller.js';
import { planNames } from '../control/plan.js';
import type { ServiceStatus } from '../dataplane/driver.js';
import { discoveryRows } from '../observability/discovery-status.js';
import { quantileMs } from '../observability/quantile.js';
import { endpointId, type Rate } from '../observability/rate-sampler.js';
import type { Telemetry } from '../observability/telemetry.js';

const NO_RATE: Rate = { rps: 0, eps: 0, bps: 0, active: 0 };
/** Five minutes of per-second points is what the chart shows. */
const SERIES_POINTS = 300;

export function dashboardData(status: { services: readonly ServiceStatus[]; discovery?: unknown } & Record<string, unknown>, controller: Controller, telemetry: Telemetry) {
  const rates = telemetry.sampler.latestRates();
  const series = telemetry.sampler.series();
  const tail = <T>(xs: T[]): T[] => xs.slice(-SERIES_POINTS);
  return {
    now: Date.now(),
    instance: { pid: status.pid, version: status.version, uptimeSeconds: status.uptimeSeconds, driver: status.driver, config: status.config, generation: status.generation ?? null },
    services: status.services.map((s) => ({
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
      bytesIn: s.bytesIn ?? 0,
      bytesOut: s.bytesOut ?? 0,
      p50: round(quantileMs(s.latency, 0.5)),
      p99: round(quantileMs(s.latency, 0.99)),
      rate: rates.services[s.name] ?? NO_RATE,
      endpoints: s.endpoints.map((e) => ({ ...e, rate: rates.endpoints[endpointId(s.name, e.cluster, e.address)] ?? NO_RATE })),
    })),
    listeners: status.listeners,
    discovery: discoveryRows(status.discovery),
    applies: controller.history
      .slice(-10)
      .reverse()
      .map((r) => ({ at: r.at, origin: r.origin, result: r.result, durationMs: r.durationMs, summary: r.summary, peer: r.peer ?? null, diff: r.plan ? planNames(r.plan, 20) : {}, error: r.error ?? null })),
    series: { t: tail(series.t), rps: tail(series.rps), eps: tail(series.eps), bps: tail(series.bps), active: tail(series.active) },
  };
}

function round(x: number | null): number | null {
  return x === null ? null : Math.round(x * 100) / 100;
}
