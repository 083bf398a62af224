// One interface, four algorithms. A balancer is built once per config applied from the
// endpoints it may use (invariant 7) and then only picks; it never allocates per pick.
import type { BalanceAlgorithm } from '../../config/schema.js';
import type { EndpointState } from '../endpoint-state.js';

export interface BalancerEndpoint {
  /** Canonical "host:port", unique within the balancer. */
  readonly key: string;
  readonly host: string;
  readonly port: number;
  /** 0 means "no new traffic" (drained); otherwise relative share. */
  readonly weight: number;
  /** Shared live state: `active` for least-conn, `healthy` to skip endpoints that are down. */
  readonly state: EndpointState;
}

export interface PickContext {
  /** The client's address, for source-hash; ignored by the other algorithms. */
  readonly clientKey?: string;
  /** Endpoints already tried for this client (retries): never picked again. */
  readonly exclude?: ReadonlySet<string>;
}

export interface Balancer {
  readonly algorithm: BalanceAlgorithm;
  /** An eligible endpoint (weight > 0, healthy, not excluded), or undefined when none is. */
  pick(ctx: PickContext): BalancerEndpoint | undefined;
}

export type BalancerFactory = (endpoints: readonly BalancerEndpoint[]) => Balancer;

export function isEligible(e: BalancerEndpoint, ctx: PickContext): boolean {
  return e.weight > 0 && e.state.healthy && !(ctx.exclude?.has(e.key) ?? false);
}
