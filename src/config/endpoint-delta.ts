// Endpoint lists made from the previous list by a few changes. Discovery reports whole sets, but a
// registry change usually adds, removes or reweighs one endpoint; a list derived by such a delta
// remembers it, so everything downstream (the plan, the workers' digest and config patch, balancer
// endpoints, endpoint state, health checks) costs what changed, not the size of the service.
//
// Order: a derived list keeps the order of the list it came from, removed endpoints left out,
// reweighted ones in place, added ones at the end. The supervisor and its workers patch their own
// lists with the same function (patchList), so they always hold the same order.
import type { EndpointConfig } from './model.js';

export interface EndpointDelta {
  readonly added: readonly EndpointConfig[];
  /** The endpoints that are gone, as they were. */
  readonly removed: readonly EndpointConfig[];
  /** Same address, another weight. */
  readonly reweighted: ReadonlyArray<{ readonly before: EndpointConfig; readonly after: EndpointConfig }>;
}

export const NO_DELTA: EndpointDelta = Object.freeze({ added: [], removed: [], reweighted: [] });

export function isEmptyDelta(d: EndpointDelta): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.reweighted.length === 0;
}

/**
 * Derived list → the list it came from and how. Only the latest step is kept (recording a step
 * forgets the one before it), so no chain of old lists stays reachable through it.
 */
const derivations = new WeakMap<readonly EndpointConfig[], { readonly from: readonly EndpointConfig[]; readonly delta: EndpointDelta }>();

/** `list` with `delta` applied, frozen; it remembers that it was derived from `list` by `delta`. */
export function deriveEndpoints(list: readonly EndpointConfig[], delta: EndpointDelta): readonly EndpointConfig[] {
  const next = Object.freeze(patchList(list, delta, (e) => e, (_old, e) => e));
  derivations.delete(list);
  derivations.set(next, { from: list, delta });
  return next;
}

/** How `next` was derived from `from`; undefined when it was not derived from exactly that list. */
export function deltaBetween(from: readonly EndpointConfig[], next: readonly EndpointConfig[]): EndpointDelta | undefined {
  const d = derivations.get(next);
  return d?.from === from ? d.delta : undefined;
}

/** The list `next` was derived from, and how (latest step only). */
export function derivationOf(next: readonly EndpointConfig[]): { readonly from: readonly EndpointConfig[]; readonly delta: EndpointDelta } | undefined {
  return derivations.get(next);
}

/**
 * `list` (anything keyed like endpoints: configs, balancer endpoints) patched in the one stable
 * order: `make` builds an added item, `remake` a reweighted one from its old item; `onRemove` sees
 * each item left out. One scan finds the few positions the delta names; the rest is copied.
 */
export function patchList<T extends { readonly key: string }>(
  list: readonly T[],
  delta: EndpointDelta,
  make: (e: EndpointConfig) => T,
  remake: (old: T, e: EndpointConfig) => T,
  onRemove?: (old: T) => void,
): T[] {
  const named = new Map<string, EndpointConfig | null>(); // key → its new config (reweighted), or null (removed)
  for (const e of delta.removed) named.set(e.key, null);
  for (const r of delta.reweighted) named.set(r.after.key, r.after);
  const out: T[] = [];
  let found = 0;
  let from = 0;
  for (let i = 0; i < list.length && found < named.size; i++) {
    const after = named.get(list[i].key);
    if (after === undefined) continue;
    found++;
    for (let k = from; k < i; k++) out.push(list[k]);
    from = i + 1;
    if (after === null) onRemove?.(list[i]);
    else out.push(remake(list[i], after));
  }
  for (let k = from; k < list.length; k++) out.push(list[k]);
  for (const e of delta.added) out.push(make(e));
  return out;
}

/**
 * Net changes per address since a starting list, folded report after report: what a discovered
 * set changed between two applies, however many reports arrived in between, in O(changes).
 */
export class PendingDelta {
  /** key → the endpoint in the starting list (undefined: absent) and now (undefined: gone). */
  private readonly changes = new Map<string, { readonly before: EndpointConfig | undefined; after: EndpointConfig | undefined }>();

  get size(): number {
    return this.changes.size;
  }

  /** The endpoint at `key` went from `was` (undefined: absent) to `now` (undefined: gone). */
  note(key: string, was: EndpointConfig | undefined, now: EndpointConfig | undefined): void {
    const entry = this.changes.get(key);
    if (entry) entry.after = now;
    else this.changes.set(key, { before: was, after: now });
  }

  /** The net delta (a removal undone, or a weight changed back, is no change), then empty again. */
  take(): EndpointDelta {
    const added: EndpointConfig[] = [];
    const removed: EndpointConfig[] = [];
    const reweighted: Array<{ before: EndpointConfig; after: EndpointConfig }> = [];
    for (const { before, after } of this.changes.values()) {
      if (!before && after) added.push(after);
      else if (before && !after) removed.push(before);
      else if (before && after && before.weight !== after.weight) reweighted.push({ before, after });
    }
    this.changes.clear();
    return { added, removed, reweighted };
  }

  clear(): void {
    this.changes.clear();
  }
}
