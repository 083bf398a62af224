// Identity-keyed state shared by all config generations: per service name, and per
// service + cluster + endpoint address (invariant 4).
import type { ServiceConfig } from '../../config/model.js';
import { EndpointState } from '../endpoint-state.js';

/** Counters of a service name; survive applies that change the service. */
export class ServiceState {
  active = 0;
  total = 0;
  /** Closed at once because max_connections was reached. */
  rejected = 0;
  /** tcp: closed because no endpoint could be connected to; http: answered 5xx by hitless itself. */
  failed = 0;
  /** http: requests retried on another endpoint. */
  retries = 0;
  /** http: responses by class: 1xx..5xx at index 1..5. */
  readonly responses = [0, 0, 0, 0, 0, 0];
  bytesIn = 0;
  bytesOut = 0;
  constructor(readonly name: string) {}
}

export class StateRegistry {
  readonly services = new Map<string, ServiceState>();
  readonly endpoints = new Map<string, EndpointState>();

  service(name: string): ServiceState {
    let s = this.services.get(name);
    if (!s) this.services.set(name, (s = new ServiceState(name)));
    return s;
  }

  endpoint(service: string, cluster: string, key: string): EndpointState {
    const id = `${service}\u0000${cluster}\u0000${key}`;
    let s = this.endpoints.get(id);
    if (!s) this.endpoints.set(id, (s = new EndpointState(service, cluster, key)));
    return s;
  }

  /**
   * Forgets identities the new config no longer has and returns the forgotten endpoint states
   * (their resources close once idle); connections still holding them keep counting into them.
   */
  prune(services: ReadonlyMap<string, ServiceConfig>): EndpointState[] {
    for (const name of this.services.keys()) if (!services.has(name)) this.services.delete(name);
    const forgotten: EndpointState[] = [];
    for (const [id, state] of this.endpoints) {
      const cluster = services.get(state.service)?.clusters.get(state.cluster);
      if (!cluster || !cluster.endpoints.some((e) => e.key === state.key)) {
        this.endpoints.delete(id);
        forgotten.push(state);
      }
    }
    return forgotten;
  }
}
