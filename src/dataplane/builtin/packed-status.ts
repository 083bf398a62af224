// The builtin data plane's status with each service's endpoints packed into one string of
// addresses and one Float64Array of numbers, instead of one object per endpoint: what a worker
// sends its supervisor (which asks every couple of seconds and before every status request). At
// 10,000 endpoints, objects cost tens of milliseconds to build, serialize and parse, and as much
// again in garbage collection; a typed array and a string cost a copy. Packed straight from the
// runtimes, so the worker builds no endpoint object at all.
import type { EndpointStatus, ListenerStatus, ServiceStatus } from '../driver.js';
import type { ServiceRuntime } from './service-runtime.js';
import { describeCheckFailure } from './health/check-failure.js';

/** The numbers kept per endpoint, in this order. */
export const ENDPOINT_NUMBERS = ['weight', 'healthy', 'health', 'checkFailure', 'active', 'healthyIn', 'total', 'failures', 'ejections', 'bytesIn', 'bytesOut'] as const;
export const STRIDE = ENDPOINT_NUMBERS.length;
export const HEALTH_CODES = ['up', 'ejected', 'down'] as const;

export interface PackedEndpoints {
  /** Cluster of each run of endpoints: [name, count, name, count, ...] (listed cluster by cluster). */
  readonly clusters: ReadonlyArray<string | number>;
  /** The addresses, joined by "\n" (an address never holds one). */
  readonly addresses: string;
  /** STRIDE numbers per endpoint, in ENDPOINT_NUMBERS order (booleans as 0/1, health as its HEALTH_CODES index). */
  readonly numbers: Float64Array;
}

export type PackedService = Omit<ServiceStatus, 'endpoints'> & { readonly endpoints: PackedEndpoints };

export interface PackedDataplane {
  readonly driver: string;
  readonly services: readonly PackedService[];
  readonly listeners: readonly ListenerStatus[];
}

/** Packs a status whose endpoints are objects (a status read from elsewhere; the driver packs its own runtimes). */
export function packService(s: ServiceStatus): PackedService {
  const { endpoints, ...rest } = s;
  const clusters: Array<string | number> = [];
  const addresses: string[] = [];
  const numbers = new Float64Array(endpoints.length * STRIDE);
  endpoints.forEach((e, i) => {
    if (clusters.at(-2) === e.cluster) (clusters[clusters.length - 1] as number)++;
    else clusters.push(e.cluster, 1);
    addresses.push(e.address);
    write(numbers, i * STRIDE, e.weight, e.healthy, HEALTH_CODES.indexOf(e.health), 0, e);
  });
  return { ...rest, endpoints: { clusters, addresses: addresses.join('\n'), numbers } };
}

/** A service runtime's endpoints, packed from their live state. */
export function packEndpoints(runtime: ServiceRuntime): PackedEndpoints {
  let count = 0;
  for (const cluster of runtime.clusters.values()) count += cluster.endpoints.length;
  const clusters: Array<string | number> = [];
  const lists: string[] = [];
  const numbers = new Float64Array(count * STRIDE);
  let i = 0;
  for (const cluster of runtime.clusters.values()) {
    if (cluster.endpoints.length === 0) continue;
    clusters.push(cluster.config.name, cluster.endpoints.length);
    lists.push(cluster.addresses);
    for (const e of cluster.endpoints) {
      const s = e.state;
      write(numbers, i++ * STRIDE, e.weight, s.healthy, !s.activeUp ? 2 : s.ejected ? 1 : 0, s.checkFailure, s);
    }
  }
  return { clusters, addresses: lists.join('\n'), numbers };
}

type Counters = Pick<EndpointStatus, 'active' | 'total' | 'failures' | 'ejections' | 'bytesIn' | 'bytesOut'>;

function write(numbers: Float64Array, at: number, weight: number, healthy: boolean, health: number, checkFailure: number, c: Counters): void {
  numbers[at] = weight;
  numbers[at + 1] = healthy ? 1 : 0;
  numbers[at + 2] = health;
  numbers[at + 3] = checkFailure;
  numbers[at + 4] = c.active;
  numbers[at + 5] = healthy ? 1 : 0; // one process's view; summed over workers (status-aggregate.ts)
  numbers[at + 6] = c.total;
  numbers[at + 7] = c.failures;
  numbers[at + 8] = c.ejections;
  numbers[at + 9] = c.bytesIn;
  numbers[at + 10] = c.bytesOut;
}

/** The cluster of each endpoint, from the runs. */
export function clusterNames(p: PackedEndpoints): string[] {
  const out: string[] = [];
  for (let i = 0; i < p.clusters.length; i += 2) {
    const name = p.clusters[i] as string;
    for (let k = 0; k < (p.clusters[i + 1] as number); k++) out.push(name);
  }
  return out;
}

export function addressList(p: PackedEndpoints): string[] {
  return p.addresses === '' ? [] : p.addresses.split('\n');
}

/**
 * The endpoint objects of a packed list (numbers[i * STRIDE ...]), frozen. With `previous` (the
 * same list unpacked earlier), an endpoint whose numbers are unchanged is its earlier object.
 */
export function unpackEndpoints(
  clusters: readonly string[],
  addresses: readonly string[],
  numbers: ArrayLike<number>,
  previous?: { readonly numbers: ArrayLike<number>; readonly endpoints: readonly EndpointStatus[] },
): EndpointStatus[] {
  const out: EndpointStatus[] = new Array(addresses.length);
  for (let i = 0; i < addresses.length; i++) {
    const at = i * STRIDE;
    if (previous && sameNumbers(previous.numbers, numbers, at)) {
      out[i] = previous.endpoints[i];
      continue;
    }
    out[i] = Object.freeze({
      cluster: clusters[i],
      address: addresses[i],
      weight: numbers[at],
      healthy: numbers[at + 1] === 1,
      health: HEALTH_CODES[numbers[at + 2]] ?? 'up',
      checkError: describeCheckFailure(numbers[at + 3]),
      active: numbers[at + 4],
      healthyIn: numbers[at + 5],
      total: numbers[at + 6],
      failures: numbers[at + 7],
      ejections: numbers[at + 8],
      bytesIn: numbers[at + 9],
      bytesOut: numbers[at + 10],
    });
  }
  return out;
}

function sameNumbers(a: ArrayLike<number>, b: ArrayLike<number>, at: number): boolean {
  for (let k = 0; k < STRIDE; k++) if (a[at + k] !== b[at + k]) return false;
  return true;
}
