// What changed between two endpoint lists, as a delta. Discovery reports whole sets, but a
// registry change usually adds, removes or reweighs one endpoint; a list derived by such a delta
// (endpoint-list.ts) remembers it, so everything downstream (the plan, the workers' digest and
// config patch, balancer endpoints, endpoint state, health checks) costs what changed, not the
// size of the service.
//
// Order: a patched list keeps the order of the list it came from, removed endpoints left out,
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
 * `list` (anything keyed like endpoints: configs, balancer endpoints) patched in the one stable
 * order: `make` builds an added item, `remake` a reweighted one from its old item; `onRemove` sees
 * each item left out. Both are told the item's position in `list`, in ascending order. One scan
 * finds the few positions the delta names; the rest is copied.
 */
export function patchList<T extends { readonly key: string }>(
  list: readonly T[],
  delta: EndpointDelta,
  make: (e: EndpointConfig) => T,
  remake: (old: T, e: EndpointConfig, at: number) => T,
  onRemove?: (old: T, at: number) => void,
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
    if (after === null) onRemove?.(list[i], i);
    else out.push(remake(list[i], after, i));
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
