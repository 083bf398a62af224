// The set a discovery source has in effect for one service (its last known good set), what
// changed in it since it was last merged into the service's config, and that merge.
//
// Sources report whole sets; one registry change usually changes one endpoint. A report is
// compared by address with the set in effect (O(reported), reusing the frozen endpoint objects
// that did not change), and the changes are folded until the next merge. The merged service then
// gets an endpoint list derived from the previous merge by that delta (config/endpoint-list.ts),
// which the plan, the workers' patch and the data plane follow in O(change). Order: the set keeps
// the order endpoints arrived in; a new endpoint goes last.
import { joinHostPort } from '../config/address.js';
import { isEmptyDelta, PendingDelta, type EndpointDelta } from '../config/endpoint-delta.js';
import { deriveEndpoints, sealEndpoints } from '../config/endpoint-list.js';
import type { EndpointConfig, ServiceConfig } from '../config/model.js';
import { sealService } from '../config/service-identity.js';
import type { DiscoveredEndpoint } from './source.js';

/** A reported set, each address once, before it is judged and (maybe) put in effect. */
export interface Candidate {
  readonly endpoints: readonly EndpointConfig[];
  /** The addresses of `endpoints`. */
  readonly keys: ReadonlySet<string>;
  /** Endpoints that are not the set's current objects: new addresses, or new weights. */
  readonly fresh: readonly EndpointConfig[];
  /** How many of the set's addresses the report still has. */
  readonly kept: number;
}

export class DiscoveredSet {
  /** The set in effect by address, in arrival order; null before the first good set. */
  private index: Map<string, EndpointConfig> | null = null;
  /** Changes since the last merge. */
  private readonly pending = new PendingDelta();
  private merged: ServiceConfig | null = null;
  private mergedBase: ServiceConfig | null = null;

  /** Endpoints in effect; null before the first good set. */
  get size(): number | null {
    return this.index?.size ?? null;
  }

  /**
   * A report as endpoint configs, each address once (the first wins), reusing the objects of the
   * set in effect where nothing changed: the one pass over the whole report. Nothing is changed
   * here: the guards decide first.
   */
  candidate(found: readonly DiscoveredEndpoint[]): Candidate {
    const keys = new Set<string>();
    const endpoints: EndpointConfig[] = [];
    const fresh: EndpointConfig[] = [];
    let kept = 0;
    for (const e of found) {
      // joinHostPort asks isIP() to bracket IPv6; a host without ':' never needs it (and that is every other host).
      const key = e.host.includes(':') ? joinHostPort(e.host, e.port) : `${e.host}:${e.port}`;
      if (keys.has(key)) continue;
      keys.add(key);
      const weight = e.weight ?? 1;
      const current = this.index?.get(key);
      if (current) kept++;
      if (current && current.weight === weight) endpoints.push(current);
      else {
        const made = Object.freeze({ host: e.host, port: e.port, key, weight });
        endpoints.push(made);
        fresh.push(made);
      }
    }
    return { endpoints, keys, fresh, kept };
  }

  /** Puts a candidate in effect; returns whether anything changed. O(changes), plus a pass over the set when some left. */
  replace(next: Candidate): boolean {
    const index = this.index;
    if (!index) {
      this.index = new Map(next.endpoints.map((e) => [e.key, e]));
      return true;
    }
    const left = index.size - next.kept;
    if (next.fresh.length === 0 && left === 0) return false;
    for (const e of next.fresh) {
      const was = index.get(e.key);
      index.set(e.key, e);
      this.pending.note(e.key, was, e);
    }
    if (left > 0) {
      for (const [key, was] of index) {
        if (next.keys.has(key)) continue;
        index.delete(key);
        this.pending.note(key, was, undefined);
      }
    }
    return true;
  }

  /**
   * `base` with the set in effect in place of (mode replace) or after (mode add) its default
   * cluster's endpoints: the same object while nothing changed; for the same `base` as last time,
   * derived from the previous merge by the changes since; else built whole, but for a list that
   * holds the same endpoints in the same order as the last merge's: that list is kept (its print
   * is known and the data plane keeps its balancer endpoints), however large the set.
   */
  mergeInto(base: ServiceConfig): ServiceConfig {
    if (!this.index) return base;
    const last = this.merged;
    if (last && this.mergedBase === base) {
      if (this.pending.size === 0) return last;
      const delta = withoutStatic(base, this.pending.take());
      if (isEmptyDelta(delta)) return last;
      return this.remember(base, withEndpoints(base, deriveEndpoints(last.endpoints, delta), last));
    }
    this.pending.clear();
    const found = [...this.index.values()];
    if (base.discovery?.mode === 'add') return this.remember(base, withEndpoints(base, sealEndpoints(uniqueByKey([...base.endpoints, ...found]))));
    const endpoints = last && sameItems(last.endpoints, found) ? last.endpoints : sealEndpoints(found);
    return this.remember(base, withEndpoints(base, endpoints, last ?? undefined));
  }

  private remember(base: ServiceConfig, merged: ServiceConfig): ServiceConfig {
    this.merged = merged;
    this.mergedBase = base;
    return merged;
  }
}

/** With mode add the static endpoints come first and win: discovered changes to those addresses change nothing. */
function withoutStatic(base: ServiceConfig, delta: EndpointDelta): EndpointDelta {
  if (base.discovery?.mode !== 'add' || base.endpoints.length === 0) return delta;
  const fixed = new Set(base.endpoints.map((e) => e.key));
  return {
    added: delta.added.filter((e) => !fixed.has(e.key)),
    removed: delta.removed.filter((e) => !fixed.has(e.key)),
    reweighted: delta.reweighted.filter((r) => !fixed.has(r.after.key)),
  };
}

/** `base` with `endpoints` as its default cluster's (and so its own) endpoints; `previous`: the last merge (its identity's parts are reused where fields are the same objects). */
function withEndpoints(base: ServiceConfig, endpoints: readonly EndpointConfig[], previous?: ServiceConfig): ServiceConfig {
  const merged: ServiceConfig = { ...base, endpoints };
  const cluster = base.clusters.get(base.defaultCluster);
  if (cluster) {
    const clusters = new Map(base.clusters);
    clusters.set(base.defaultCluster, Object.freeze({ ...cluster, endpoints }));
    Object.assign(merged, { clusters });
  }
  return sealService(merged, previous);
}

function sameItems(a: readonly EndpointConfig[], b: readonly EndpointConfig[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function uniqueByKey(endpoints: readonly EndpointConfig[]): EndpointConfig[] {
  const seen = new Set<string>();
  return endpoints.filter((e) => !seen.has(e.key) && seen.add(e.key));
}
