// The algorithm name in the config selects a factory; the data plane calls createBalancer once
// per service per config applied (invariant 7).
import type { BalanceAlgorithm } from '../../config/schema.js';
import type { Balancer, BalancerEndpoint, BalancerFactory } from './balancer.js';
import { LeastConnBalancer } from './least-conn.js';
import { RandomTwoBalancer } from './random-two.js';
import { RoundRobinBalancer } from './round-robin.js';
import { SourceHashBalancer } from './source-hash.js';

export type { Balancer, BalancerEndpoint, BalancerFactory, PickContext } from './balancer.js';
export { isEligible } from './balancer.js';
export { LeastConnBalancer, RandomTwoBalancer, RoundRobinBalancer, SourceHashBalancer };

export const BALANCER_FACTORIES: Readonly<Record<BalanceAlgorithm, BalancerFactory>> = Object.freeze({
  'round-robin': (endpoints) => new RoundRobinBalancer(endpoints),
  'least-conn': (endpoints) => new LeastConnBalancer(endpoints),
  'random-two': (endpoints) => new RandomTwoBalancer(endpoints),
  'source-hash': (endpoints) => new SourceHashBalancer(endpoints),
});

export function createBalancer(algorithm: BalanceAlgorithm, endpoints: readonly BalancerEndpoint[]): Balancer {
  return BALANCER_FACTORIES[algorithm](endpoints);
}
