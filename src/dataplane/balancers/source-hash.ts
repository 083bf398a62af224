// Consistent hashing of the client address onto a ring of virtual nodes, so that a client keeps
// its endpoint across picks and across applies: removing or adding one endpoint among
// N moves only about 1/N of the clients, and only those of (or to) that endpoint. The ring
// depends on endpoint keys and weights only, never on list order, so two configs with the
// same endpoints build the same ring.
import type { Balancer, BalancerEndpoint, PickContext } from './balancer.js';
import { isEligible } from './balancer.js';
import { RoundRobinBalancer } from './round-robin.js';

/** Virtual nodes per unit of weight: ketama's 160 keeps each endpoint's share within ~10%. */
export const POINTS_PER_WEIGHT = 160;
/**
 * Ring size cap (weights go up to 1000). Above it every endpoint's point count is scaled down
 * by the same factor; since an endpoint's points are a prefix of one fixed sequence, a rescale
 * only moves the clients of the truncated points.
 */
export const MAX_RING_POINTS = 1 << 17;

/** Ring building packs an endpoint index into 20 bits (see the constructor). */
const OWNER_BITS = 2 ** 20;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function fnv1a(text: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return h;
}

/** murmur3's finalizer: FNV-1a alone clusters similar inputs such as 10.0.0.1 and 10.0.0.2. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The 32-bit ring position of a client key. */
export function hashKey(text: string): number {
  return fmix32(fnv1a(text, FNV_OFFSET));
}

/** The n-th virtual node of an endpoint: its key's FNV state continued with the 4 bytes of n. */
function pointHash(keyState: number, n: number): number {
  let h = keyState;
  for (let shift = 0; shift < 32; shift += 8) {
    h ^= (n >>> shift) & 0xff;
    h = Math.imul(h, FNV_PRIME);
  }
  return fmix32(h);
}

export class SourceHashBalancer implements Balancer {
  readonly algorithm = 'source-hash' as const;
  private readonly endpoints: readonly BalancerEndpoint[];
  /** Sorted ring positions, and owners[i] = index in `endpoints` of the node at points[i]. */
  private readonly points: Uint32Array;
  private readonly owners: Uint32Array;
  // Connections without a client address (unix sockets, tests) still need a fair, deterministic
  // spread: they take the weighted round-robin order.
  private readonly fallback: RoundRobinBalancer;

  constructor(endpoints: readonly BalancerEndpoint[]) {
    this.endpoints = endpoints.slice();
    this.fallback = new RoundRobinBalancer(this.endpoints);
    if (this.endpoints.length >= OWNER_BITS) throw new RangeError(`source-hash supports fewer than ${OWNER_BITS} endpoints`);

    let wanted = 0;
    for (const e of this.endpoints) if (e.weight > 0) wanted += e.weight * POINTS_PER_WEIGHT;
    const scale = wanted > MAX_RING_POINTS ? MAX_RING_POINTS / wanted : 1;
    const counts = this.endpoints.map((e) => (e.weight > 0 ? Math.max(1, Math.round(e.weight * POINTS_PER_WEIGHT * scale)) : 0));
    const size = counts.reduce((a, b) => a + b, 0);

    // Sort position and owner together without a comparator: pack them into one float64
    // (32 bits of position above 20 bits of index, exact below 2^53) and sort numerically.
    // Equal positions then break ties by index, which is the only place list order shows.
    const packed = new Float64Array(size);
    let k = 0;
    for (let i = 0; i < this.endpoints.length; i++) {
      const state = fnv1a(this.endpoints[i].key, FNV_OFFSET);
      for (let n = 0; n < counts[i]; n++) packed[k++] = pointHash(state, n) * OWNER_BITS + i;
    }
    packed.sort();
    this.points = new Uint32Array(size);
    this.owners = new Uint32Array(size);
    for (let j = 0; j < size; j++) {
      const owner = packed[j] % OWNER_BITS;
      this.owners[j] = owner;
      this.points[j] = (packed[j] - owner) / OWNER_BITS;
    }
  }

  pick(ctx: PickContext): BalancerEndpoint | undefined {
    if (ctx.clientKey === undefined || ctx.clientKey === '') return this.fallback.pick(ctx);
    const { points, owners, endpoints } = this;
    const size = points.length;
    if (size === 0) return undefined;

    let j = this.firstAtOrAfter(hashKey(ctx.clientKey));
    const first = endpoints[owners[j]];
    if (isEligible(first, ctx)) return first;

    // The walk below ends only at an eligible node, so make sure there is one; this costs O(n)
    // but only when the client's own endpoint is out.
    let any = false;
    for (let i = 0; i < endpoints.length && !any; i++) any = isEligible(endpoints[i], ctx);
    if (!any) return undefined;
    for (;;) {
      j = j + 1 === size ? 0 : j + 1;
      const e = endpoints[owners[j]];
      if (isEligible(e, ctx)) return e;
    }
  }

  /** Index of the first point >= h, wrapping past the top of the ring to 0. */
  private firstAtOrAfter(h: number): number {
    const p = this.points;
    let lo = 0;
    let hi = p.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (p[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === p.length ? 0 : lo;
  }
}
