// How an apply makes a service's runtime from the previous one. A cluster whose config is
// the same object is kept as it is (balancer included); one whose endpoint list is the same, or was
// derived from the previous list by a delta (discovery), reuses the previous balancer endpoints and
// looks up only the added ones in the state registry; any other is built whole. What the build
// left out and what it added go back to the driver for the state registry and the health checks:
// one endpoint changed in a service of 5,000 touches one endpoint there, not 5,000.
import { NO_DELTA, patchList } from '../../config/endpoint-delta.js';
import { deltaBetween } from '../../config/endpoint-list.js';
import type { ClusterConfig, EndpointConfig, ServiceConfig } from '../../config/model.js';
import type { AccessWriterFactory } from '../access-record.js';
import type { BalancerEndpoint } from '../balancers/balancer.js';
import type { EndpointState } from '../endpoint-state.js';
import { effectiveWeight, type EndpointOverride } from '../endpoint-override.js';
import { ClusterRuntime, ServiceRuntime } from './service-runtime.js';
import type { StateRegistry } from './state-registry.js';

/** One service's overrides, by endpoint address. */
export type ServiceOverrides = ReadonlyMap<string, EndpointOverride>;

export type ClusterBuild =
  /** The previous runtime's cluster runtime, unchanged. */
  | { readonly how: 'kept' }
  /** The previous balancer endpoints with a delta applied; `added` are the new ones. */
  | { readonly how: 'patched'; readonly added: readonly BalancerEndpoint[]; readonly sameHealth: boolean }
  | { readonly how: 'whole' };

export interface RuntimeBuild {
  readonly runtime: ServiceRuntime;
  /** How each cluster of the new runtime was made. */
  readonly clusters: ReadonlyMap<string, ClusterBuild>;
  /** Endpoint states the previous runtime had and the new one has in no cluster. */
  readonly dropped: readonly EndpointState[];
}

const KEPT: ClusterBuild = Object.freeze({ how: 'kept' });
const WHOLE: ClusterBuild = Object.freeze({ how: 'whole' });

/**
 * `overrides`: this service's endpoint overrides (endpoint-override.ts), folded into the weights
 * the balancers get; a kept cluster already has them, since every change of the overrides
 * rebuilds the clusters it touches (runtime-overlay.ts).
 */
export function buildServiceRuntime(
  config: ServiceConfig,
  registry: StateRegistry,
  previous: ServiceRuntime | undefined,
  overrides: ServiceOverrides | undefined,
  accessWriters?: AccessWriterFactory,
  connectionShares = 1,
): RuntimeBuild {
  const clusters = new Map<string, ClusterRuntime>();
  const builds = new Map<string, ClusterBuild>();
  const dropped: EndpointState[] = [];
  for (const [name, cluster] of config.clusters) {
    const built = buildCluster(config.name, cluster, registry, previous?.clusters.get(name), dropped, overrides);
    clusters.set(name, built.runtime);
    builds.set(name, built.build);
  }
  for (const [name, old] of previous?.clusters ?? []) {
    if (!config.clusters.has(name)) for (const e of old.endpoints) dropped.push(e.state);
  }
  return { runtime: new ServiceRuntime(config, clusters, registry, accessWriters, connectionShares), clusters: builds, dropped };
}

function buildCluster(
  service: string,
  config: ClusterConfig,
  registry: StateRegistry,
  previous: ClusterRuntime | undefined,
  dropped: EndpointState[],
  overrides: ServiceOverrides | undefined,
): { runtime: ClusterRuntime; build: ClusterBuild } {
  if (previous?.config === config) return { runtime: previous, build: KEPT };
  const make = (e: EndpointConfig): BalancerEndpoint => {
    const override = overrides?.get(e.key);
    const state = registry.endpoint(service, config.name, e.key);
    state.maint = override?.state === 'maint';
    return Object.freeze({ key: e.key, host: e.host, port: e.port, weight: effectiveWeight(override, e.weight), state });
  };
  const delta = previous && (previous.config.endpoints === config.endpoints ? NO_DELTA : deltaBetween(previous.config.endpoints, config.endpoints));
  if (previous && delta) {
    const added: BalancerEndpoint[] = [];
    const endpoints = patchList(
      previous.endpoints,
      delta,
      (e) => {
        const fresh = make(e);
        added.push(fresh);
        return fresh;
      },
      (old, e) => Object.freeze({ ...old, weight: effectiveWeight(overrides?.get(e.key), e.weight) }),
      (old) => dropped.push(old.state),
    );
    return { runtime: new ClusterRuntime(config, endpoints), build: { how: 'patched', added, sameHealth: previous.config.health === config.health && previous.config.upstreamTls === config.upstreamTls } };
  }
  const endpoints = config.endpoints.map(make);
  if (previous) {
    const kept = new Set(config.endpoints.map((e) => e.key));
    for (const e of previous.endpoints) if (!kept.has(e.key)) dropped.push(e.state);
  }
  return { runtime: new ClusterRuntime(config, endpoints), build: WHOLE };
}
