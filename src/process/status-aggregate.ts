// One status for the whole process tree: every worker's counters summed per service and endpoint
// (workers that already exited contribute their last counters, so totals do not drop at an
// upgrade), listeners as the supervisor holds them, and a `process` section per worker.
// Workers send their endpoints packed (packed-status.ts); they are summed packed, in O(endpoints),
// and made into objects once, for the answer.
import type { EndpointStatus, ListenerStatus, LocalResponses, ServiceStatus } from '../dataplane/driver.js';
import type { LatencySnapshot } from '../dataplane/latency-histogram.js';
import { mergeTlsStatus, mergeUpstreamTlsStatus } from '../dataplane/tls-status.js';
import { addressList, clusterNames, packService, STRIDE, unpackEndpoints, type PackedEndpoints, type PackedService } from '../dataplane/builtin/packed-status.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

/** Positions in an endpoint's numbers (packed-status.ts ENDPOINT_NUMBERS). */
const HEALTHY = 1;
const HEALTH = 2;
const CHECK_FAILURE = 3;
const ACTIVE = 4;
const HEALTHY_IN = 5;
/** From here on, counters: summed whether the worker is live or gone. */
const COUNTERS = 6;

/**
 * Sums service statuses. `live` ones count their active connections and decide health (an
 * endpoint is as healthy as the least healthy worker's view: each checks on its own); retired
 * ones (from exited workers) only add to the monotonic counters.
 */
export function mergeServices(live: ReadonlyArray<readonly PackedService[]>, retired: readonly PackedService[] = [], reuse?: EndpointReuse): ServiceStatus[] {
  const out = new Map<string, ServiceSum>();
  const add = (s: PackedService, isLive: boolean) => {
    const sum = out.get(s.name);
    if (sum) sum.add(s, isLive);
    else out.set(s.name, new ServiceSum(s, isLive));
  };
  for (const list of live) for (const s of list) add(s, true);
  // Retired counters join only services that still exist.
  for (const s of retired) if (out.has(s.name)) add(s, false);
  const services = [...out.values()].map((sum) => sum.result(reuse));
  reuse?.keepOnly(out.keys());
  return services;
}

/**
 * The endpoint objects of the last merge, per service: an endpoint whose numbers did not change
 * since is the same (frozen) object again, so a status of 10,000 mostly idle endpoints makes
 * objects only for those that changed. Objects are never changed after they are handed out:
 * whoever holds an earlier status (the rate sampler) still sees it as it was.
 */
export class EndpointReuse {
  private readonly last = new Map<string, { readonly layout: PackedEndpoints; readonly numbers: ArrayLike<number>; readonly endpoints: readonly EndpointStatus[] }>();

  endpoints(service: string, layout: PackedEndpoints, numbers: ArrayLike<number>): EndpointStatus[] {
    const before = this.last.get(service);
    const fresh = unpackEndpoints(clusterNames(layout), addressList(layout), numbers, before && sameLayout(before.layout, layout) ? before : undefined);
    this.last.set(service, { layout, numbers, endpoints: fresh });
    return fresh;
  }

  keepOnly(services: Iterable<string>): void {
    const wanted = new Set(services);
    for (const name of this.last.keys()) if (!wanted.has(name)) this.last.delete(name);
  }
}

/** Counters only: what exited workers leave behind in the totals (no active connections). */
export function retire(into: readonly PackedService[], add: readonly PackedService[]): PackedService[] {
  return mergeServices([into, add]).map((s) => packService({ ...s, active: 0, endpoints: s.endpoints.map((e) => ({ ...e, active: 0 })) }));
}

/**
 * One service being summed. Workers run the same config, so their endpoint lists usually have the
 * same layout: then the numbers are summed position by position. Otherwise (a worker between two
 * configs) endpoints are matched by cluster and address.
 */
class ServiceSum {
  private readonly head: Mutable<Omit<ServiceStatus, 'endpoints'>>;
  /** The layout every status summed so far had; null once they differed. */
  private layout: PackedEndpoints | null;
  /** A copy of the first status's numbers (a typed array copies in one go), then plain numbers once endpoints are added by address. */
  private numbers: Float64Array | number[];
  private clusters: string[] | null = null;
  private addresses: string[] | null = null;
  private index: Map<string, number> | null = null;

  constructor(s: PackedService, isLive: boolean) {
    const { endpoints, ...head } = s;
    this.head = { ...head, active: isLive ? s.active : 0, listen: [...s.listen], responses: { ...s.responses }, ...(s.latency ? { latency: copyLatency(s.latency) as Mutable<LatencySnapshot> } : {}) };
    if (s.localResponses) this.head.localResponses = addLocal({}, s.localResponses);
    if (s.tls) this.head.tls = mergeTlsStatus(undefined, s.tls, isLive) as Mutable<typeof s.tls>;
    if (s.upstreamTls) this.head.upstreamTls = mergeUpstreamTlsStatus(undefined, s.upstreamTls) as Mutable<typeof s.upstreamTls>;
    this.layout = endpoints;
    this.numbers = new Float64Array(endpoints.numbers);
    if (!isLive) for (let at = 0; at < this.numbers.length; at += STRIDE) this.numbers[at + ACTIVE] = this.numbers[at + HEALTHY_IN] = 0;
  }

  add(s: PackedService, isLive: boolean): void {
    const into = this.head;
    if (isLive) into.active += s.active;
    for (const k of ['total', 'rejected', 'failed', 'retries', 'bytesIn', 'bytesOut'] as const) {
      if (s[k] !== undefined) into[k] = (into[k] ?? 0) + s[k];
    }
    for (const k of ['1xx', '2xx', '3xx', '4xx', '5xx'] as const) into.responses[k] += s.responses[k];
    if (s.localResponses) into.localResponses = addLocal(into.localResponses ?? {}, s.localResponses);
    if (s.latency) into.latency = (into.latency ? mergeLatency(into.latency as LatencySnapshot, s.latency) : copyLatency(s.latency)) as Mutable<LatencySnapshot>;
    if (s.tls) into.tls = mergeTlsStatus(into.tls, s.tls, isLive) as Mutable<typeof s.tls>;
    if (s.upstreamTls) into.upstreamTls = mergeUpstreamTlsStatus(into.upstreamTls, s.upstreamTls) as Mutable<typeof s.upstreamTls>;
    const from = s.endpoints;
    if (this.layout && sameLayout(this.layout, from)) {
      const n = from.numbers.length / STRIDE;
      for (let i = 0; i < n; i++) this.addAt(i * STRIDE, from.numbers, i * STRIDE, isLive);
      return;
    }
    // Counters of a worker that is gone join the endpoints that are still listed, by address:
    // the layout (and so the reuse of endpoint objects) stays. A live worker with another list
    // (between two configs) adds its endpoints: from then on, this sum is by address.
    const index = isLive ? this.keyed() : this.positions();
    const clusters = clusterNames(from);
    const addresses = addressList(from);
    addresses.forEach((address, i) => {
      const key = `${clusters[i]}\u0000${address}`;
      const at = index.get(key);
      if (at !== undefined) return this.addAt(at * STRIDE, from.numbers, i * STRIDE, isLive);
      if (!isLive) return;
      index.set(key, this.addresses!.length);
      this.clusters!.push(clusters[i]);
      this.addresses!.push(address);
      const numbers = this.numbers as number[];
      for (let k = 0; k < STRIDE; k++) numbers.push(from.numbers[i * STRIDE + k]);
    });
  }

  /** Position of each endpoint by "cluster\0address", whichever mode this sum is in. */
  private positions(): Map<string, number> {
    if (this.index) return this.index;
    const layout = this.layout!;
    const clusters = clusterNames(layout);
    return new Map(addressList(layout).map((a, i) => [`${clusters[i]}\u0000${a}`, i]));
  }

  result(reuse?: EndpointReuse): ServiceStatus {
    const endpoints = !this.layout
      ? unpackEndpoints(this.clusters!, this.addresses!, this.numbers)
      : reuse
        ? reuse.endpoints(this.head.name, this.layout, this.numbers)
        : unpackEndpoints(clusterNames(this.layout), addressList(this.layout), this.numbers);
    return { ...this.head, endpoints };
  }

  private addAt(at: number, from: ArrayLike<number>, src: number, isLive: boolean): void {
    const n = this.numbers;
    for (let k = COUNTERS; k < STRIDE; k++) n[at + k] += from[src + k];
    if (!isLive) return;
    n[at + ACTIVE] += from[src + ACTIVE];
    n[at + HEALTHY_IN] += from[src + HEALTHY_IN];
    n[at + HEALTHY] = Math.min(n[at + HEALTHY], from[src + HEALTHY]);
    // The reason shown is the one of the least healthy view (each worker checks on its own).
    if (from[src + HEALTH] > n[at + HEALTH] || (from[src + HEALTH] === n[at + HEALTH] && n[at + CHECK_FAILURE] === 0)) n[at + CHECK_FAILURE] = from[src + CHECK_FAILURE];
    n[at + HEALTH] = Math.max(n[at + HEALTH], from[src + HEALTH]);
  }

  /** Leaves the shared layout: endpoints by "cluster\0address" from now on. */
  private keyed(): Map<string, number> {
    if (this.index) return this.index;
    if (this.layout) {
      this.clusters = clusterNames(this.layout);
      this.addresses = addressList(this.layout);
      this.layout = null;
      const growable: number[] = new Array<number>(this.numbers.length);
      for (let i = 0; i < growable.length; i++) growable[i] = this.numbers[i];
      this.numbers = growable;
    }
    this.index = new Map(this.addresses!.map((a, i) => [`${this.clusters![i]}\u0000${a}`, i]));
    return this.index;
  }
}

function sameLayout(a: PackedEndpoints, b: PackedEndpoints): boolean {
  return a.addresses === b.addresses && a.clusters.length === b.clusters.length && a.clusters.every((c, i) => c === b.clusters[i]);
}

/** Adds counts by status and error code into `into` (a copy this sum owns). */
function addLocal(into: Mutable<LocalResponses>, add: LocalResponses): Mutable<LocalResponses> {
  for (const [status, byError] of Object.entries(add)) {
    const row = (into[status] ??= {});
    for (const [error, n] of Object.entries(byError)) row[error] = (row[error] ?? 0) + n;
  }
  return into;
}

function copyLatency(l: LatencySnapshot): LatencySnapshot {
  return { ...l, boundsMs: [...l.boundsMs], counts: [...l.counts] };
}

function mergeLatency(a: LatencySnapshot, b: LatencySnapshot): LatencySnapshot {
  if (a.counts.length !== b.counts.length) return a;
  return { boundsMs: a.boundsMs, counts: a.counts.map((c, i) => c + b.counts[i]), sumMs: a.sumMs + b.sumMs, count: a.count + b.count };
}

/** Listener rows: the supervisor's sockets (one identity per address) with workers' connection counts. */
export function mergeListeners(
  owned: ReadonlyArray<{ address: string; service: string | null; since: number; state?: ListenerStatus['state']; socket: string | null }>,
  workers: ReadonlyArray<readonly ListenerStatus[]>,
): ListenerStatus[] {
  const rows = new Map<string, Mutable<ListenerStatus>>();
  for (const o of owned) rows.set(o.address, { address: o.address, service: o.service, state: o.state ?? 'active', since: new Date(o.since).toISOString(), socket: o.socket, connections: 0 });
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
