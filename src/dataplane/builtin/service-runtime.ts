// A service as one applied config sees it: its frozen config, its clusters with balancers
// (built once), its router, and the shared identity-keyed state it counts into. Connections and
// requests hold the runtime they started with, so an apply never changes their rules mid-flight.
import type { OpenConnection } from '../open-connection.js';
import type { ClusterConfig, ServiceConfig } from '../../config/model.js';
import type { Balancer, BalancerEndpoint } from '../balancers/balancer.js';
import { createBalancer } from '../balancers/index.js';
import type { StateRegistry, ServiceState } from './state-registry.js';
import { compileRoutes, type Router } from './http/router.js';
import type { AccessWriter, AccessWriterFactory } from '../access-record.js';

export class ClusterRuntime {
  readonly endpoints: readonly BalancerEndpoint[];
  readonly balancer: Balancer;
  private joined: string | null = null;
  private byKey: Map<string, BalancerEndpoint> | null = null;

  constructor(
    readonly config: ClusterConfig,
    endpoints: readonly BalancerEndpoint[],
  ) {
    this.endpoints = Object.freeze(endpoints);
    this.balancer = createBalancer(config.balance, this.endpoints);
  }

  /** The endpoints' addresses joined by "\n" (packed status): they never change, so they are joined once, when first asked. */
  get addresses(): string {
    return (this.joined ??= this.endpoints.map((e) => e.key).join('\n'));
  }

  /**
   * The endpoint with address `key` (a tunnel moved here names its endpoint so). The index is
   * built at the first call: 10,000 tunnels joining a service of 5,000 endpoints must not search
   * the list for each.
   */
  endpoint(key: string): BalancerEndpoint | undefined {
    return (this.byKey ??= new Map(this.endpoints.map((e) => [e.key, e]))).get(key);
  }
}

export class ServiceRuntime {
  readonly state: ServiceState;
  readonly defaultCluster: ClusterRuntime;
  /** Request → cluster, compiled once per config applied (invariant 7). */
  readonly route: Router<ClusterRuntime>;
  /** Connections accepted under this runtime of the service, for drains when it is removed. */
  readonly connections: Set<OpenConnection>;

  /** Where this service's access log lines go; null when it has none. */
  readonly accessLog: AccessWriter | null;
  /** This process's share of max_connections (all of it unless workers share the sockets); null: no cap. */
  readonly maxConnections: number | null;

  /**
   * `clusters`: one per cluster of `config` (runtime-build.ts makes them, reusing the previous
   * runtime's). `connections`: given when this runtime only re-weights one of the same config
   * (an endpoint override), so that its connections still count as this runtime's.
   */
  constructor(
    readonly config: ServiceConfig,
    readonly clusters: ReadonlyMap<string, ClusterRuntime>,
    registry: StateRegistry,
    accessWriters?: AccessWriterFactory,
    connectionShares = 1,
    connections?: Set<OpenConnection>,
  ) {
    this.connections = connections ?? new Set();
    this.state = registry.service(config.name);
    this.maxConnections = connectionShare(config.maxConnections, connectionShares);
    this.accessLog = config.accessLog && accessWriters ? accessWriters(config.accessLog) : null;
    this.defaultCluster = clusters.get(config.defaultCluster)!;
    this.route = compileRoutes(config.routes, clusters, this.defaultCluster);
  }

  /** Every endpoint of every cluster. */
  *allEndpoints(): Iterable<{ cluster: ClusterRuntime; endpoint: BalancerEndpoint }> {
    for (const cluster of this.clusters.values()) for (const endpoint of cluster.endpoints) yield { cluster, endpoint };
  }
}

/** Each of `shares` processes accepting on the same sockets enforces ceil(max / shares). */
export function connectionShare(max: number | null, shares: number): number | null {
  return max === null ? null : Math.ceil(max / Math.max(1, shares));
}
