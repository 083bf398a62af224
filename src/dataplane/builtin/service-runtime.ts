// A service as one config generation sees it: its frozen config, its balancer (built once) and the
// shared, identity-keyed state it counts into. Connections hold the runtime they started with, so
// an apply never changes the rules of a connection in flight (invariant 3).
import type { ServiceConfig } from '../../config/model.js';
import type { BalancerEndpoint, Balancer } from '../balancers/balancer.js';
import { createBalancer } from '../balancers/index.js';
import { EndpointState } from '../endpoint-state.js';

/** Counters of a service name; survive applies that change the service (invariant 4). */
export class ServiceState {
  active = 0;
  total = 0;
  /** Closed at once because max_connections was reached. */
  rejected = 0;
  /** Closed because no endpoint could be connected to. */
  failed = 0;
  bytesIn = 0;
  bytesOut = 0;
  constructor(readonly name: string) {}
}

/** Identity-keyed state shared by all generations: service name, and service + endpoint address. */
export class StateRegistry {
  readonly services = new Map<string, ServiceState>();
  readonly endpoints = new Map<string, EndpointState>();

  service(name: string): ServiceState {
    let s = this.services.get(name);
    if (!s) this.services.set(name, (s = new ServiceState(name)));
    return s;
  }

  endpoint(service: string, key: string): EndpointState {
    const id = `${service}\u0000${key}`;
    let s = this.endpoints.get(id);
    if (!s) this.endpoints.set(id, (s = new EndpointState(service, key)));
    return s;
  }

  /** Forgets identities the new config no longer has; connections still holding them keep counting. */
  prune(services: ReadonlyMap<string, ServiceConfig>): void {
    for (const name of this.services.keys()) if (!services.has(name)) this.services.delete(name);
    for (const [id, state] of this.endpoints) {
      const service = services.get(state.service);
      if (!service || !service.endpoints.some((e) => e.key === state.key)) this.endpoints.delete(id);
    }
  }
}

export class ServiceRuntime {
  readonly state: ServiceState;
  readonly endpoints: readonly BalancerEndpoint[];
  readonly balancer: Balancer;
  /** Connections accepted under this generation of the service, for drains when it is removed. */
  readonly connections = new Set<import('node:net').Socket>();

  constructor(
    readonly config: ServiceConfig,
    registry: StateRegistry,
  ) {
    this.state = registry.service(config.name);
    this.endpoints = Object.freeze(
      config.endpoints.map((e) =>
        Object.freeze({ key: e.key, host: e.host, port: e.port, weight: e.weight, state: registry.endpoint(config.name, e.key) }),
      ),
    );
    this.balancer = createBalancer(config.balance, this.endpoints);
  }
}
