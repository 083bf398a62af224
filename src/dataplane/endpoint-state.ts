// Live state of one endpoint of one cluster of one service. It belongs to the identity
// (service + cluster + address), not to a config: applies hand the same object to the
// new runtime (invariant 4), so health, counters and pooled connections survive them.
import type { EndpointPool } from './builtin/http/upstream-pool.js';

export class EndpointState {
  /** Connections (tcp) or requests (http) in flight: least-conn reads it on every pick. */
  active = 0;
  total = 0;
  /** Connect failures, timeouts and (http) 5xx answers since start. */
  failures = 0;
  /** Consecutive failures; reset by a success. Passive health reads it. */
  consecutiveFailures = 0;
  /** Verdict of active health checks (true until a check says otherwise). */
  activeUp = true;
  /** Why the last active check failed (health/check-failure.ts); 0 once checks pass and the endpoint is up. */
  checkFailure = 0;
  /** Set by passive ejection for a back-off period. */
  ejected = false;
  ejections = 0;
  /**
   * An operator put it in maintenance (endpoint-override.ts): its active checks pause and its
   * verdict stays as it was. (No new traffic comes from its weight, which the overlay makes 0.)
   */
  maint = false;
  bytesIn = 0;
  bytesOut = 0;
  /** Keep-alive connections to the endpoint (http services), made at its first request (upstream-pool.ts poolFor). */
  pool: EndpointPool | null = null;

  constructor(
    readonly service: string,
    readonly cluster: string,
    readonly key: string,
  ) {}

  /** Balancers skip endpoints that are not healthy. */
  get healthy(): boolean {
    return this.activeUp && !this.ejected;
  }

  set healthy(up: boolean) {
    this.activeUp = up;
  }

  /** The endpoint is no longer configured: what belongs to its lifetime closes (pooled connections once their requests finish). */
  release(): void {
    this.pool?.close();
    this.pool = null;
  }

  /** Passive ejection: out for `ms`, then back in (a new failure streak ejects it again). */
  eject(ms: number): void {
    if (this.ejected) return;
    this.ejected = true;
    this.ejections++;
    setTimeout(() => {
      this.ejected = false;
      this.consecutiveFailures = 0;
    }, ms).unref();
  }
}
