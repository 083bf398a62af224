// Power of two random choices: sample two distinct eligible endpoints with probability
// proportional to weight, keep the one with the lower active/weight. It needs no shared cursor
// (several workers can run it without coordinating), avoids least-conn's herd on one freshly
// idle endpoint, and when idle it degrades to plain weighted random.
import type { Balancer, BalancerEndpoint, PickContext } from './balancer.js';
import { isEligible } from './balancer.js';

// Rejection sampling stays exact while it retries; after this many misses (most endpoints
// ineligible) an O(n) scan over the eligible ones is cheaper than more luck.
const SAMPLE_TRIES = 4;

export class RandomTwoBalancer implements Balancer {
  readonly algorithm = 'random-two' as const;
  private readonly endpoints: readonly BalancerEndpoint[];
  /** cumulative[i] = sum of weights 0..i: one binary search per sample. */
  private readonly cumulative: Float64Array;
  private readonly totalWeight: number;

  constructor(
    endpoints: readonly BalancerEndpoint[],
    private readonly random: () => number = Math.random,
  ) {
    this.endpoints = endpoints.slice();
    this.cumulative = new Float64Array(this.endpoints.length);
    let sum = 0;
    for (let i = 0; i < this.endpoints.length; i++) {
      const w = this.endpoints[i].weight;
      // Negative or NaN weights are ineligible anyway; they must not shift the others' ranges.
      if (w > 0) sum += w;
      this.cumulative[i] = sum;
    }
    this.totalWeight = sum;
  }

  pick(ctx: PickContext): BalancerEndpoint | undefined {
    const a = this.sample(ctx, -1);
    if (a < 0) return undefined;
    const b = this.sample(ctx, a);
    if (b < 0) return this.endpoints[a];
    const ea = this.endpoints[a];
    const eb = this.endpoints[b];
    // a.active/a.weight <= b.active/b.weight, without division. A tie keeps the first draw,
    // which is itself weighted, so idle traffic follows the weights exactly.
    return ea.state.active * eb.weight <= eb.state.active * ea.weight ? ea : eb;
  }

  /** Index of an eligible endpoint other than `not`, drawn by weight; -1 when there is none. */
  private sample(ctx: PickContext, not: number): number {
    const { endpoints, totalWeight } = this;
    if (totalWeight <= 0) return -1;
    for (let t = 0; t < SAMPLE_TRIES; t++) {
      const i = this.upperBound(this.random() * totalWeight);
      if (i !== not && isEligible(endpoints[i], ctx)) return i;
    }
    let eligibleWeight = 0;
    for (let i = 0; i < endpoints.length; i++) {
      if (i !== not && isEligible(endpoints[i], ctx)) eligibleWeight += endpoints[i].weight;
    }
    if (eligibleWeight <= 0) return -1;
    let u = this.random() * eligibleWeight;
    let last = -1;
    for (let i = 0; i < endpoints.length; i++) {
      if (i === not || !isEligible(endpoints[i], ctx)) continue;
      last = i;
      u -= endpoints[i].weight;
      if (u < 0) return i;
    }
    // Only reachable through floating-point rounding at the very top of the range.
    return last;
  }

  /** First index whose cumulative weight exceeds u: zero-weight endpoints have empty ranges. */
  private upperBound(u: number): number {
    const c = this.cumulative;
    let lo = 0;
    let hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
