// An order-free identity of an endpoint list: the sum modulo 2^256 of one SHA-256 per endpoint
// (over its canonical text). Prints are cached per endpoint object and per list, and the print of
// a list derived by a delta (endpoint-delta.ts) is its parent's, minus what left and plus what
// came: naming a changed 5,000-endpoint list costs the change, not 5,000 hashes.
// An identity for "same endpoints?", not a MAC.
import { canonical } from './canonical.js';
import { derivationOf } from './endpoint-delta.js';
import { sha256Hex } from './fingerprint.js';
import type { EndpointConfig } from './model.js';

const MASK = (1n << 256n) - 1n;
const endpointPrints = new WeakMap<EndpointConfig, bigint>();
const listPrints = new WeakMap<readonly EndpointConfig[], bigint>();

export function endpointPrint(e: EndpointConfig): bigint {
  let print = endpointPrints.get(e);
  if (print === undefined) endpointPrints.set(e, (print = BigInt(`0x${sha256Hex(canonical(e))}`)));
  return print;
}

export function endpointListPrint(list: readonly EndpointConfig[]): bigint {
  let print = listPrints.get(list);
  if (print !== undefined) return print;
  const derived = derivationOf(list);
  const parent = derived && listPrints.get(derived.from);
  if (derived && parent !== undefined) {
    const { added, removed, reweighted } = derived.delta;
    print = parent;
    for (const e of removed) print -= endpointPrint(e);
    for (const e of added) print += endpointPrint(e);
    for (const r of reweighted) print += endpointPrint(r.after) - endpointPrint(r.before);
  } else {
    print = 0n;
    for (const e of list) print += endpointPrint(e);
  }
  print &= MASK; // BigInt.& of a negative sum wraps it into 0..2^256-1, as modular arithmetic wants
  listPrints.set(list, print);
  return print;
}

/** The print as text (hash-tree leaves, digests). */
export function endpointListPrintHex(list: readonly EndpointConfig[]): string {
  return endpointListPrint(list).toString(16);
}
