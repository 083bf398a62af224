// Least connections, weighted: the endpoint with the lowest active/weight wins. Ties (including
// the common idle case where every endpoint has 0 in flight) go through smooth weighted
// round-robin among the tied endpoints, as nginx's least_conn does, so equal endpoints share load
// and weights still matter when the service is quiet.
import type { Balancer, BalancerEndpoint, PickContext } from './balancer.js';
import { isEligible } from './balancer.js';

export class LeastConnBalancer implements Balancer {
  readonly algorithm = 'least-conn' as const;
  private readonly endpoints: readonly BalancerEndpoint[];
  private readonly credit: Float64Array;

  constructor(endpoints: readonly BalancerEndpoint[]) {
    this.endpoints = endpoints.slice();
    this.credit = new Float64Array(this.endpoints.length);
  }

  pick(ctx: PickContext): BalancerEndpoint | undefined {
    const { endpoints, credit } = this;
    // First pass: the lowest load. Loads are compared by cross-multiplication (a.active/a.weight
    // < b.active/b.weight) so that no division rounding turns a tie into a preference.
    let best = -1;
    let ties = 0;
    for (let i = 0; i < endpoints.length; i++) {
      const e = endpoints[i];
      if (!isEligible(e, ctx)) continue;
      if (best < 0) {
        best = i;
        ties = 1;
        continue;
      }
      const b = endpoints[best];
      const lhs = e.state.active * b.weight;
      const rhs = b.state.active * e.weight;
      if (lhs < rhs) {
        best = i;
        ties = 1;
      } else if (lhs === rhs) {
        ties++;
      }
    }
    if (ties <= 1) return best < 0 ? undefined : endpoints[best];

    // Second pass: smooth weighted round-robin among the endpoints tied at the lowest load.
    const low = endpoints[best];
    let chosen = -1;
    let total = 0;
    for (let i = best; i < endpoints.length; i++) {
      const e = endpoints[i];
      if (!isEligible(e, ctx) || e.state.active * low.weight !== low.state.active * e.weight) continue;
      credit[i] += e.weight;
      total += e.weight;
      if (chosen < 0 || credit[i] > credit[chosen]) chosen = i;
    }
    credit[chosen] -= total;
    return endpoints[chosen];
  }
}
