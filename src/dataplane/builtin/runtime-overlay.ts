// A change of the endpoint overrides (endpoint-override.ts) applied to a running service: the
// same config, new balancers for the clusters whose effective weights changed (a drained endpoint
// weighs 0, so balancers skip it as they skip a configured weight 0), and the maintenance flag on
// the endpoint states (its active checks pause). Connections hold the runtime they started with
// and are not touched: an established connection to a drained endpoint continues.
import type { BalancerEndpoint } from '../balancers/balancer.js';
import type { AccessWriterFactory } from '../access-record.js';
import { effectiveWeight } from '../endpoint-override.js';
import type { ServiceOverrides } from './runtime-build.js';
import { ClusterRuntime, ServiceRuntime } from './service-runtime.js';
import type { StateRegistry } from './state-registry.js';

/** `runtime` with `overrides` in effect: itself when no weight changed, else a re-weighted copy. */
export function overlayServiceRuntime(
  runtime: ServiceRuntime,
  overrides: ServiceOverrides | undefined,
  registry: StateRegistry,
  accessWriters?: AccessWriterFactory,
  connectionShares = 1,
): ServiceRuntime {
  let changed = false;
  const clusters = new Map<string, ClusterRuntime>();
  for (const [name, cluster] of runtime.clusters) {
    const next = overlayCluster(cluster, overrides);
    if (next !== cluster) changed = true;
    clusters.set(name, next);
  }
  if (!changed) return runtime;
  return new ServiceRuntime(runtime.config, clusters, registry, accessWriters, connectionShares, runtime.connections);
}

function overlayCluster(cluster: ClusterRuntime, overrides: ServiceOverrides | undefined): ClusterRuntime {
  const configured = configuredWeights(cluster);
  let changed = false;
  const endpoints = cluster.endpoints.map((e): BalancerEndpoint => {
    const override = overrides?.get(e.key);
    e.state.maint = override?.state === 'maint';
    const weight = effectiveWeight(override, configured.get(e.key) ?? e.weight);
    if (weight === e.weight) return e;
    changed = true;
    return Object.freeze({ ...e, weight });
  });
  return changed ? new ClusterRuntime(cluster.config, endpoints) : cluster;
}

/** The config's weight of each endpoint of the cluster (its balancer endpoints carry the effective one). */
function configuredWeights(cluster: ClusterRuntime): Map<string, number> {
  const weights = new Map<string, number>();
  for (const e of cluster.config.endpoints) weights.set(e.key, e.weight);
  return weights;
}
