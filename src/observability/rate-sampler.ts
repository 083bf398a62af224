// Per-second samples of the traffic counters in the admin process, so the dashboard can draw the
// last minutes without any history in the data plane. The timer is unref'd: it never keeps the
// process alive, and it reads counters the data plane already keeps.
//
// Memory is bounded by what the dashboard shows, not by the size of the config: the ring keeps
// `capacity` samples of the whole-instance totals only (the chart), and of the per-service and
// per-endpoint counters only the last two readings are kept, as read (the tables show the latest
// rate, computed when asked). Keeping per-endpoint totals in the ring cost ~220 bytes per
// endpoint per second: 1.3 GB at 10,000 endpoints. A reading costs O(services).
//
// Rates are truthful: each is computed over the interval between the two readings that produced
// it, timed by when the counters were read (`countersAt`), which for a supervisor is when its
// workers last reported, not when the sampler ran; a reading with no newer counters is skipped.
import type { DataplaneStatus, EndpointStatus, ServiceStatus } from '../dataplane/driver.js';
import type { LatencySnapshot } from '../dataplane/latency-histogram.js';
import { histogramDelta } from './quantile.js';

export interface Totals {
  /** Connections (tcp) plus requests (http) accepted. */
  readonly requests: number;
  /** http 5xx answers, tcp connections that found no endpoint, and max_connections refusals. */
  readonly errors: number;
  readonly retries: number;
  readonly bytes: number;
  readonly active: number;
}

export interface Rate {
  readonly rps: number;
  readonly eps: number;
  readonly bps: number;
  readonly active: number;
}

export interface Series {
  /** Unix milliseconds of each point; the rates are per second over the interval ending there. */
  readonly t: number[];
  readonly rps: number[];
  readonly eps: number[];
  readonly bps: number[];
  readonly active: number[];
}

/** When the counters were read (Unix ms), and the status holding them (asked only for a new reading). */
export interface Reading {
  readonly countersAt: number;
  status(): DataplaneStatus;
}

/** One reading's per-service and per-endpoint counters, as the status gave them. */
interface Detail {
  readonly t: number;
  readonly services: readonly ServiceStatus[];
}

export function serviceTotals(s: ServiceStatus): Totals {
  const errors = s.mode === 'http' ? s.responses['5xx'] + s.rejected : s.failed + s.rejected;
  return { requests: s.total, errors, retries: s.retries, bytes: (s.bytesIn ?? 0) + (s.bytesOut ?? 0), active: s.active };
}

export const endpointId = (service: string, cluster: string, address: string): string => `${service}/${cluster}/${address}`;

export class RateSampler {
  /** Whole-instance totals, oldest first, at most `capacity`. */
  private readonly ring: Array<{ readonly t: number; readonly all: Totals }> = [];
  /** Per service and per endpoint: the previous and the latest reading only. */
  private previous: Detail | null = null;
  private latest: Detail | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly read: () => Reading,
    private readonly capacity = 600,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Takes a reading; `now` replaces its counters' time (tests). */
  sample(now?: number): void {
    const reading = this.read();
    const t = now ?? reading.countersAt;
    const last = this.ring.at(-1);
    if (last && t <= last.t) return; // no newer counters than the last reading: no interval to rate
    const { services } = reading.status();
    let requests = 0, errors = 0, retries = 0, bytes = 0, active = 0;
    for (const s of services) {
      const totals = serviceTotals(s);
      requests += totals.requests;
      errors += totals.errors;
      retries += totals.retries;
      bytes += totals.bytes;
      active += totals.active;
    }
    this.ring.push({ t, all: { requests, errors, retries, bytes, active } });
    if (this.ring.length > this.capacity) this.ring.shift();
    this.previous = this.latest;
    this.latest = { t, services };
  }

  /** Whole-instance rates over the kept window (at most `capacity` readings). */
  series(): Series {
    const out: Series = { t: [], rps: [], eps: [], bps: [], active: [] };
    for (let i = 1; i < this.ring.length; i++) {
      const r = rate(this.ring[i - 1].all, this.ring[i].all, this.ring[i].t - this.ring[i - 1].t);
      out.t.push(this.ring[i].t);
      out.rps.push(r.rps);
      out.eps.push(r.eps);
      out.bps.push(r.bps);
      out.active.push(r.active);
    }
    return out;
  }

  /**
   * Rates over the last interval, per service and per endpoint ("service/cluster/address"), the
   * services' latency histograms over that same interval (http), and when it ended (`at`, null
   * before two readings).
   */
  latestRates(): { at: number | null; services: Record<string, Rate>; endpoints: Record<string, Rate>; latency: Record<string, LatencySnapshot> } {
    const services: Record<string, Rate> = {};
    const endpoints: Record<string, Rate> = {};
    const latency: Record<string, LatencySnapshot> = {};
    const a = this.previous;
    const b = this.latest;
    if (!a || !b) return { at: null, services, endpoints, latency };
    const dt = b.t - a.t;
    const before = new Map(a.services.map((s) => [s.name, s]));
    for (const s of b.services) {
      // A counter that appeared in this interval started at 0 (a new service or endpoint).
      const was = before.get(s.name);
      services[s.name] = rate(was ? serviceTotals(was) : ZERO, serviceTotals(s), dt);
      const recent = histogramDelta(was?.latency, s.latency);
      if (recent) latency[s.name] = recent;
      const wasAt = endpointFinder(was?.endpoints ?? []);
      s.endpoints.forEach((e, i) => {
        const old = wasAt(i, e);
        endpoints[endpointId(s.name, e.cluster, e.address)] = rate(old ? endpointTotals(old) : ZERO, endpointTotals(e), dt);
      });
    }
    return { at: b.t, services, endpoints, latency };
  }
}

function endpointTotals(e: EndpointStatus): Totals {
  return { requests: e.total, errors: e.failures, retries: 0, bytes: e.bytesIn + e.bytesOut, active: e.active };
}

/** The same endpoint in an earlier list: at the same position when the lists agree (the usual case), else by address. */
function endpointFinder(list: readonly EndpointStatus[]): (i: number, e: EndpointStatus) => EndpointStatus | undefined {
  let byKey: Map<string, EndpointStatus> | null = null;
  return (i, e) => {
    const same = list[i];
    if (same && same.address === e.address && same.cluster === e.cluster) return same;
    byKey ??= new Map(list.map((x) => [`${x.cluster}\u0000${x.address}`, x]));
    return byKey.get(`${e.cluster}\u0000${e.address}`);
  };
}

const ZERO: Totals = { requests: 0, errors: 0, retries: 0, bytes: 0, active: 0 };

/** Per-second rates between two totals; a counter that went down (a re-created service) counts from 0. */
export function rate(a: Totals, b: Totals, dtMs: number): Rate {
  const per = (x: number, y: number): number => (dtMs <= 0 ? 0 : Math.round(((y >= x ? y - x : y) * 1000 * 100) / dtMs) / 100);
  return { rps: per(a.requests, b.requests), eps: per(a.errors, b.errors), bps: per(a.bytes, b.bytes), active: b.active };
}
