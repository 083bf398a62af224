// One status for the whole process tree: every worker's counters summed per service and endpoint
// (workers that already exited contribute their last counters, so totals do not drop at an
// upgrade), listeners as the supervisor holds them, and a `process` section per worker.
import type { EndpointStatus, ListenerStatus, ServiceStatus } from '../dataplane/driver.js';
import type { LatencySnapshot } from '../dataplane/latency-histogram.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

const HEALTH_RANK = { up: 0, ejected: 1, down: 2 } as const;

/**
 * Sums service statuses. `live` ones count their active connections and decide health; retired
 * ones (from exited workers) only add to the monotonic counters.
 */
export function mergeServices(live: ReadonlyArray<readonly ServiceStatus[]>, retired: readonly ServiceStatus[] = []): ServiceStatus[] {
  const out = new Map<string, Mutable<ServiceStatus>>();
  const add = (s: ServiceStatus, isLive: boolean) => {
    const into = out.get(s.name);
    if (!into) {
      out.set(s.name, { ...clone(s), active: isLive ? s.active : 0, endpoints: s.endpoints.map((e) => ({ ...e, active: isLive ? e.active : 0 })) });
      return;
    }
    if (isLive) into.active += s.active;
    for (const k of ['total', 'rejected', 'failed', 'retries', 'bytesIn', 'bytesOut'] as const) {
      if (s[k] !== undefined) into[k] = (into[k] ?? 0) + s[k];
    }
    for (const k of ['1xx', '2xx', '3xx', '4xx', '5xx'] as const) into.responses[k] += s.responses[k];
    if (s.latency) into.latency = (into.latency ? mergeLatency(into.latency as LatencySnapshot, s.latency) : clone(s.latency)) as Mutable<LatencySnapshot>;
    mergeEndpoints(into.endpoints, s.endpoints, isLive);
  };
  for (const list of live) for (const s of list) add(s, true);
  // Retired counters join only services that still exist.
  for (const s of retired) if (out.has(s.name)) add(s, false);
  return [...out.values()];
}

function mergeEndpoints(into: Mutable<EndpointStatus>[], from: readonly EndpointStatus[], isLive: boolean): void {
  for (const e of from) {
    const target = into.find((x) => x.cluster === e.cluster && x.address === e.address);
    if (!target) {
      if (isLive) into.push({ ...e });
      continue;
    }
    for (const k of ['ejections', 'total', 'failures', 'bytesIn', 'bytesOut'] as const) target[k] += e[k];
    if (!isLive) continue;
    target.active += e.active;
    // Each worker checks health on its own: the endpoint is as healthy as the least healthy view.
    target.healthy &&= e.healthy;
    if (HEALTH_RANK[e.health] > HEALTH_RANK[target.health]) target.health = e.health;
  }
}

function mergeLatency(a: LatencySnapshot, b: LatencySnapshot): LatencySnapshot {
  if (a.counts.length !== b.counts.length) return a;
  return { boundsMs: a.boundsMs, counts: a.counts.map((c, i) => c + b.counts[i]), sumMs: a.sumMs + b.sumMs, count: a.count + b.count };
}

/** Counters only: what exited workers leave behind in the totals (no active connections). */
export function retire(into: readonly ServiceStatus[], add: readonly ServiceStatus[]): ServiceStatus[] {
  return mergeServices([into, add]).map((s) => ({ ...s, active: 0, endpoints: s.endpoints.map((e) => ({ ...e, active: 0 })) }));
}

/** Listener rows: the supervisor's sockets (one identity per address) with workers' connection counts. */
export function mergeListeners(
  owned: ReadonlyArray<{ address: string; service: string | null; since: number; socket: string | null }>,
  workers: ReadonlyArray<readonly ListenerStatus[]>,
): ListenerStatus[] {
  const rows = new Map<string, Mutable<ListenerStatus>>();
  for (const o of owned) rows.set(o.address, { address: o.address, service: o.service, state: 'active', since: new Date(o.since).toISOString(), socket: o.socket, connections: 0 });
  for (const list of workers) {
    for (const l of list) {
      const row = rows.get(l.address);
      if (row) row.connections += l.connections;
      // Addresses the supervisor no longer holds: a worker still drains their connections.
      else rows.set(l.address, { ...l, state: l.state === 'active' ? 'draining' : l.state, socket: null });
    }
  }
  return [...rows.values()];
}

function clone<T>(value: T): Mutable<T> {
  return structuredClone(value) as Mutable<T>;
}
