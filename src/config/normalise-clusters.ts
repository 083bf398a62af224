// Clusters, routes and health of one service, normalised. The short form (endpoints directly on
// the service) is a cluster named "default", so tcp and http share one model.
import type { ClusterConfig, EndpointConfig, HealthConfig, RouteConfig } from './model.js';
import type { UpstreamTlsConfig } from './tls-model.js';
import { normaliseUpstreamTls } from './upstream-tls.js';
import type { RawUpstreamTls } from './upstream-tls-schema.js';
import { sealEndpoints } from './endpoint-list.js';
import { freezeMap } from './freeze-map.js';
import { DEFAULTS, type RawConfig, type RawHealth, type RawService, type ServiceMode } from './schema.js';

type Problem = (path: PropertyKey[], message: string) => void;
type RawEndpoints = NonNullable<RawService['endpoints']>;
type RawDefaults = NonNullable<RawConfig['defaults']>;

export interface NormalisedClusters {
  readonly clusters: ReadonlyMap<string, ClusterConfig>;
  readonly defaultCluster: string;
  readonly routes: readonly RouteConfig[];
}

export function normaliseClusters(name: string, s: RawService, d: RawDefaults, mode: ServiceMode, problem: Problem): NormalisedClusters {
  const at = (...rest: PropertyKey[]) => ['services', name, ...rest];
  const clusters = new Map<string, ClusterConfig>();
  const serviceHealth = s.health ?? d.health;
  const balance = s.balance ?? d.balance ?? DEFAULTS.balance;
  // Each section is read once, however many clusters inherit it (its files are read once).
  const upstreamTls = new Map<RawUpstreamTls, UpstreamTlsConfig | null>();
  const tlsOf = (raw: RawUpstreamTls | undefined, path: PropertyKey[]): UpstreamTlsConfig | null => {
    if (raw === undefined) return null;
    if (!upstreamTls.has(raw)) upstreamTls.set(raw, normaliseUpstreamTls(raw, path, mode, problem) ?? null);
    return upstreamTls.get(raw)!;
  };
  const hasClusters = s.clusters !== undefined && Object.keys(s.clusters).length > 0;
  if (mode === 'tcp' && (hasClusters || s.routes)) {
    problem(at(hasClusters ? 'clusters' : 'routes'), 'clusters and routes need mode: http (a tcp connection carries no host or path to route on)');
  }
  if (s.endpoints || !hasClusters) {
    if (s.clusters?.[DEFAULTS.defaultCluster]) {
      problem(at('clusters', DEFAULTS.defaultCluster), `cluster name "${DEFAULTS.defaultCluster}" is taken by the service's own endpoints; rename this cluster`);
    }
    clusters.set(DEFAULTS.defaultCluster, cluster(DEFAULTS.defaultCluster, balance, s.endpoints ?? [], serviceHealth, tlsOf(s.upstream_tls, at('upstream_tls')), at('endpoints'), problem));
  }
  for (const [cname, c] of Object.entries(s.clusters ?? {})) {
    if (clusters.has(cname)) continue;
    clusters.set(cname, cluster(cname, c.balance ?? balance, c.endpoints, c.health ?? serviceHealth, c.upstream_tls ? tlsOf(c.upstream_tls, at('clusters', cname, 'upstream_tls')) : tlsOf(s.upstream_tls, at('upstream_tls')), at('clusters', cname, 'endpoints'), problem));
  }
  const routes = (s.routes ?? []).map((r, i): RouteConfig => {
    if (!clusters.has(r.cluster)) {
      problem(at('routes', i, 'cluster'), `no cluster "${r.cluster}" in this service; known: ${[...clusters.keys()].join(', ')}`);
    }
    return Object.freeze({ host: r.host?.toLowerCase() ?? null, path: r.path ?? null, cluster: r.cluster });
  });
  const defaultCluster = pickDefault(clusters, routes, at, problem);
  return { clusters: freezeMap(clusters), defaultCluster, routes: Object.freeze(routes) };
}

/** Where unrouted requests go: the service's own endpoints, else the catch-all route, else the only cluster. */
function pickDefault(clusters: Map<string, ClusterConfig>, routes: RouteConfig[], at: (...rest: PropertyKey[]) => PropertyKey[], problem: Problem): string {
  if (clusters.has(DEFAULTS.defaultCluster)) return DEFAULTS.defaultCluster;
  const catchAll = routes.find((r) => r.host === null && r.path === null);
  if (catchAll) return catchAll.cluster;
  if (clusters.size === 1) return [...clusters.keys()][0];
  problem(at('routes'), 'requests that match no route have nowhere to go: add a catch-all route ({ cluster: NAME }) or endpoints on the service');
  return [...clusters.keys()][0] ?? DEFAULTS.defaultCluster;
}

function cluster(name: string, balance: ClusterConfig['balance'], raw: RawEndpoints, health: RawHealth | undefined, upstreamTls: UpstreamTlsConfig | null, path: PropertyKey[], problem: Problem): ClusterConfig {
  const seen = new Set<string>();
  const endpoints: EndpointConfig[] = [];
  raw.forEach((e, i) => {
    if (seen.has(e.address.key)) problem([...path, i], `endpoint ${e.address.key} is listed twice; give it one entry with a weight instead`);
    seen.add(e.address.key);
    endpoints.push(Object.freeze({ ...e.address, weight: e.weight ?? DEFAULTS.weight }));
  });
  return Object.freeze({ name, balance, endpoints: sealEndpoints(endpoints), health: normaliseHealth(health), upstreamTls });
}

export function normaliseHealth(raw: RawHealth | undefined): HealthConfig {
  const a = raw?.active;
  const p = raw?.passive;
  const h = DEFAULTS.health;
  return Object.freeze({
    active: a
      ? Object.freeze({
          type: a.type ?? (a.path ? 'http' : h.type),
          path: a.path ?? h.path,
          interval: a.interval ?? h.interval,
          timeout: a.timeout ?? h.timeout,
          rise: a.rise ?? h.rise,
          fall: a.fall ?? h.fall,
        })
      : null,
    passive: p
      ? Object.freeze({
          consecutiveFailures: p.consecutive_failures ?? DEFAULTS.passive.consecutiveFailures,
          ejection: p.ejection ?? DEFAULTS.passive.ejection,
        })
      : null,
  });
}
