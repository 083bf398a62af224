// Smooth weighted round-robin (the nginx algorithm): every pick adds each eligible endpoint's
// weight to its running credit and takes the endpoint with the most credit, which then pays back
// the total. Weights 5:1:1 give a a b a c a a rather than a a a a a b c, so a heavy endpoint
// never receives a burst of consecutive new connections.
import type { Balancer, BalancerEndpoint, PickContext } from './balancer.js';
import { isEligible } from './balancer.js';

export class RoundRobinBalancer implements Balancer {
  readonly algorithm = 'round-robin' as const;
  private readonly endpoints: readonly BalancerEndpoint[];
  // Credit lives in a typed array beside the endpoints so that pick writes no objects.
  private readonly credit: Float64Array;

  constructor(endpoints: readonly BalancerEndpoint[]) {
    this.endpoints = endpoints.slice();
    this.credit = new Float64Array(this.endpoints.length);
  }

  pick(ctx: PickContext): BalancerEndpoint | undefined {
    const { endpoints, credit } = this;
    let best = -1;
    let total = 0;
    for (let i = 0; i < endpoints.length; i++) {
      const e = endpoints[i];
      // Ineligible endpoints keep their credit untouched, as nginx does for peers that are down:
      // when they come back they rejoin the rotation where they left it.
      if (!isEligible(e, ctx)) continue;
      credit[i] += e.weight;
      total += e.weight;
      if (best < 0 || credit[i] > credit[best]) best = i;
    }
    if (best < 0) return undefined;
    credit[best] -= total;
    return endpoints[best];
  }
}
