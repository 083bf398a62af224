// Per-second samples of the traffic counters, kept in a small ring in the admin process, so the
// dashboard can draw the last minutes without any history in the data plane. The timer is
// unref'd: it never keeps the process alive, and it reads counters the data plane already keeps.
import type { DataplaneStatus, ServiceStatus } from '../dataplane/driver.js';

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

interface Sample {
  readonly t: number;
  readonly all: Totals;
  readonly services: Map<string, Totals>;
  readonly endpoints: Map<string, Totals>;
}

export function serviceTotals(s: ServiceStatus): Totals {
  const errors = s.mode === 'http' ? s.responses['5xx'] + s.rejected : s.failed + s.rejected;
  return { requests: s.total, errors, retries: s.retries, bytes: (s.bytesIn ?? 0) + (s.bytesOut ?? 0), active: s.active };
}

export const endpointId = (service: string, cluster: string, address: string): string => `${service}/${cluster}/${address}`;

export class RateSampler {
  private readonly ring: Sample[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly read: () => DataplaneStatus,
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

  sample(now = Date.now()): void {
    const status = this.read();
    const services = new Map<string, Totals>();
    const endpoints = new Map<string, Totals>();
    let requests = 0, errors = 0, retries = 0, bytes = 0, active = 0;
    for (const s of status.services) {
      const t = serviceTotals(s);
      services.set(s.name, t);
      requests += t.requests;
      errors += t.errors;
      retries += t.retries;
      bytes += t.bytes;
      active += t.active;
      for (const e of s.endpoints) {
        endpoints.set(endpointId(s.name, e.cluster, e.address), { requests: e.total, errors: e.failures, retries: 0, bytes: e.bytesIn + e.bytesOut, active: e.active });
      }
    }
    this.ring.push({ t: now, all: { requests, errors, retries, bytes, active }, services, endpoints });
    if (this.ring.length > this.capacity) this.ring.shift();
  }

  /** Whole-instance rates over the kept window (at most `capacity` seconds). */
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

  /** Rates over the last interval, per service and per endpoint ("service/cluster/address"). */
  latestRates(): { services: Record<string, Rate>; endpoints: Record<string, Rate> } {
    const n = this.ring.length;
    if (n < 2) return { services: {}, endpoints: {} };
    const [a, b] = [this.ring[n - 2], this.ring[n - 1]];
    const dt = b.t - a.t;
    const pick = (before: Map<string, Totals>, after: Map<string, Totals>): Record<string, Rate> => {
      const out: Record<string, Rate> = {};
      // A counter that appeared in this interval started at 0 (a new service or endpoint).
      for (const [k, v] of after) out[k] = rate(before.get(k) ?? ZERO, v, dt);
      return out;
    };
    return { services: pick(a.services, b.services), endpoints: pick(a.endpoints, b.endpoints) };
  }
}

const ZERO: Totals = { requests: 0, errors: 0, retries: 0, bytes: 0, active: 0 };

/** Per-second rates between two totals; a counter that went down (a re-created service) counts from 0. */
export function rate(a: Totals, b: Totals, dtMs: number): Rate {
  const per = (x: number, y: number): number => (dtMs <= 0 ? 0 : Math.round(((y >= x ? y - x : y) * 1000 * 100) / dtMs) / 100);
  return { rps: per(a.requests, b.requests), eps: per(a.errors, b.errors), bps: per(a.bytes, b.bytes), active: b.active };
}
