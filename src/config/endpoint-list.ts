// An endpoint list's facts, kept on the (frozen) list itself (own-slot.ts): how it was derived from
// the list before it, and its print.
//
// Derivation: a list made from another by a delta (deriveEndpoints) remembers it, so the plan, the
// workers' config patch and the data plane follow it in O(change) (endpoint-delta.ts). Only the
// latest step is kept: deriving from a list forgets how that list was derived, so no chain of old
// lists stays reachable through it.
//
// Print: names the endpoints and their order, for the service identity (service-identity.ts). It
// is the sum modulo 2^256 of one SHA-256 per adjacent pair: each endpoint's canonical text with the
// address before it (the first with none). A list never repeats an address, so the pairs name the
// order as well as the endpoints; removing, reweighing or appending an endpoint changes one or two
// pairs, so a derived list's print is its parent's plus what those pairs changed: one endpoint
// changed in a list of 5,000 costs a few hashes, not 5,000. An identity for "same list?", not a MAC.
import { canonical } from './canonical.js';
import { patchList, type EndpointDelta } from './endpoint-delta.js';
import { sha256Hex } from './hash.js';
import type { EndpointConfig } from './model.js';
import { ownSlot, peekSlot } from './own-slot.js';

type List = readonly EndpointConfig[];

interface Derivation {
  readonly from: List;
  readonly delta: EndpointDelta;
  /** Each position in `from` the delta named, ascending, with its endpoint now (null: removed). */
  readonly named: ReadonlyMap<number, EndpointConfig | null>;
}

class ListFacts {
  print: bigint | undefined = undefined;
  derivation: Derivation | null = null;
}

const FACTS = Symbol('hitless.endpointListFacts');
const MASK = (1n << 256n) - 1n;
/** The "address before" the first endpoint: no endpoint's key is empty. */
const START = '';

const factsOf = (list: List): ListFacts | undefined => ownSlot(list, FACTS, () => new ListFacts());

/** `items` as a config's endpoint list: frozen, with room for its facts. */
export function sealEndpoints(items: List): List {
  factsOf(items);
  return Object.freeze(items);
}

/** `list` with `delta` applied (patchList's order), frozen; it remembers that it was derived from `list` by `delta`. */
export function deriveEndpoints(list: List, delta: EndpointDelta): List {
  const named = new Map<number, EndpointConfig | null>();
  const reweigh = (_old: EndpointConfig, e: EndpointConfig, at: number): EndpointConfig => {
    named.set(at, e);
    return e;
  };
  const next = patchList(list, delta, (e) => e, reweigh, (_old, at) => named.set(at, null));
  const parent = peekSlot<ListFacts>(list, FACTS);
  if (parent?.derivation) {
    // `list` forgets its parent now: its print, if nobody asked for it yet, is settled while that costs the change.
    endpointListPrint(list);
    parent.derivation = null;
  }
  const facts = factsOf(next)!;
  facts.derivation = { from: list, delta, named };
  return Object.freeze(next);
}

/** How `next` was derived from `from`; undefined when it was not derived from exactly that list. */
export function deltaBetween(from: List, next: List): EndpointDelta | undefined {
  const d = peekSlot<ListFacts>(next, FACTS)?.derivation;
  return d?.from === from ? d.delta : undefined;
}

export function endpointListPrint(list: List): bigint {
  const facts = factsOf(list);
  if (facts?.print !== undefined) return facts.print;
  const d = facts?.derivation;
  const print = d ? derivedPrint(d, list) : wholePrint(list);
  if (facts) facts.print = print;
  return print;
}

/** The print as text (identity parts). */
export function endpointListPrintHex(list: List): string {
  return endpointListPrint(list).toString(16);
}

function pair(before: string, e: EndpointConfig): bigint {
  return BigInt(`0x${sha256Hex(`${before}\n${canonical(e)}`)}`);
}

function wholePrint(list: List): bigint {
  let print = 0n;
  for (let i = 0; i < list.length; i++) print += pair(i === 0 ? START : list[i - 1].key, list[i]);
  return print & MASK;
}

/**
 * The parent's print with the pairs the delta changed: into each removed or reweighed endpoint,
 * out of each removed one to the endpoint after it (which now follows the last one kept before
 * it), and into each appended one.
 */
function derivedPrint({ from, delta, named }: Derivation, next: List): bigint {
  let print = endpointListPrint(from);
  const keptBefore = (i: number): string => {
    let j = i - 1;
    while (j >= 0 && named.get(j) === null) j--;
    return j < 0 ? START : from[j].key;
  };
  for (const [i, now] of named) {
    const e = from[i];
    print -= pair(i === 0 ? START : from[i - 1].key, e);
    if (now !== null) {
      print += pair(keptBefore(i), now);
      continue;
    }
    const after = i + 1;
    if (after < from.length && !named.has(after)) {
      print -= pair(e.key, from[after]);
      print += pair(keptBefore(after), from[after]);
    }
  }
  const added = delta.added.length;
  let before = next.length > added ? next[next.length - added - 1].key : START;
  for (let k = next.length - added; k < next.length; k++) {
    print += pair(before, next[k]);
    before = next[k].key;
  }
  return print & MASK;
}
