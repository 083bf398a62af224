// Identity-keyed state shared by every config applied: per service name, and per
// service + cluster + endpoint address (invariant 4).
import { EndpointState } from '../endpoint-state.js';
import { LatencyHistogram } from '../latency-histogram.js';
import type { LocalResponses } from '../driver.js';
import { UpstreamTlsCounters } from './tls/upstream-tls.js';

/** Counters of a service name; survive applies that change the service. */
export class ServiceState {
  active = 0;
  total = 0;
  /** Closed at once because max_connections was reached. */
  rejected = 0;
  /** http: client connections open now (what max_connections caps; `active` counts requests there). */
  connections = 0;
  /** TLS: accepted connections whose handshake is not done yet; they count toward max_connections from accept on. */
  handshaking = 0;
  /** tcp: closed because no endpoint could be connected to; http: answered 5xx by hitless itself. */
  failed = 0;
  /** Requests (http) or connects (tcp) tried again on another endpoint (http: also on a fresh connection to the same one). */
  retries = 0;
  /** http: responses by class: 1xx..5xx at index 1..5. */
  readonly responses = [0, 0, 0, 0, 0, 0];
  /** http: answers hitless gave itself, by "<status> <error code>" (a few dozen keys at most). */
  readonly localResponses = new Map<string, number>();
  bytesIn = 0;
  bytesOut = 0;
  /** http: time from request to response end, observed once per request. */
  readonly latency = new LatencyHistogram();
  /** upstream_tls: handshakes to endpoints, and failures by reason. */
  readonly upstreamTls = new UpstreamTlsCounters();
  constructor(readonly name: string) {}

  /** The client connections max_connections counts now: open ones (tcp: active) and TLS ones still in their handshake. */
  clientConnections(mode: 'http' | 'tcp'): number {
    return (mode === 'tcp' ? this.active : this.connections) + this.handshaking;
  }

  /** An answer hitless gave itself instead of an endpoint's: a failure, counted by class and by code. */
  answeredLocally(status: number, error: string): void {
    this.failed++;
    this.responses[Math.floor(status / 100)]++;
    const key = `${status} ${error}`;
    this.localResponses.set(key, (this.localResponses.get(key) ?? 0) + 1);
  }

  /** localResponses as status lists them: by status code, then by error code. */
  localResponsesByCode(): LocalResponses {
    const out: Record<string, Record<string, number>> = {};
    for (const [key, n] of this.localResponses) {
      const [status, error] = key.split(' ');
      (out[status] ??= {})[error] = n;
    }
    return out;
  }
}

/** What builds made while recording() watched: an aborted apply forgets exactly these. */
export interface CreatedStates {
  readonly services: readonly string[];
  readonly endpoints: readonly EndpointState[];
}

export class StateRegistry {
  readonly services = new Map<string, ServiceState>();
  /** Per service name, its endpoint states by "cluster\0address". */
  private readonly endpoints = new Map<string, Map<string, EndpointState>>();
  /** While recording(): the states created. */
  private created: { services: string[]; endpoints: EndpointState[] } | null = null;

  service(name: string): ServiceState {
    let s = this.services.get(name);
    if (!s) {
      this.services.set(name, (s = new ServiceState(name)));
      this.created?.services.push(name);
    }
    return s;
  }

  /** Runs `build` (synchronous) and returns, with its value, the states it created here. */
  recording<T>(build: () => T): { value: T; created: CreatedStates } {
    const created = (this.created = { services: [], endpoints: [] });
    try {
      return { value: build(), created };
    } finally {
      this.created = null;
    }
  }

  /** Forgets what an aborted apply's builds created: the running state does not have it. */
  forgetCreated(created: CreatedStates): void {
    this.forget(created.endpoints);
    for (const name of created.services) if (!this.endpoints.has(name)) this.services.delete(name);
  }

  endpoint(service: string, cluster: string, key: string): EndpointState {
    let states = this.endpoints.get(service);
    if (!states) this.endpoints.set(service, (states = new Map()));
    const id = `${cluster}\u0000${key}`;
    let s = states.get(id);
    if (!s) {
      states.set(id, (s = new EndpointState(service, cluster, key)));
      this.created?.endpoints.push(s);
    }
    return s;
  }

  *allEndpoints(): Iterable<EndpointState> {
    for (const states of this.endpoints.values()) yield* states.values();
  }

  /**
   * Forgets endpoint identities the running state no longer has (runtime-build.ts says which);
   * connections still holding a state keep counting into it.
   */
  forget(states: Iterable<EndpointState>): void {
    for (const state of states) {
      const byId = this.endpoints.get(state.service);
      if (!byId) continue;
      const id = `${state.cluster}\u0000${state.key}`;
      if (byId.get(id) === state) byId.delete(id);
      if (byId.size === 0) this.endpoints.delete(state.service);
    }
  }

  /** Forgets a removed service: its counters and every endpoint identity it had; returns those. */
  forgetService(name: string): EndpointState[] {
    this.services.delete(name);
    const states = this.endpoints.get(name);
    this.endpoints.delete(name);
    return states ? [...states.values()] : [];
  }
}
