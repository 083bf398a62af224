// Connections' timeouts (client head and body, upstream connect, response, body idle, pooled
// keep-alive) as plain deadline numbers checked by one timer, instead of a Node timer per socket
// re-armed several times per request: setting a deadline is one assignment on the hot path.
//
// Two sets, so that thousands of idle keep-alive connections do not cost CPU while nothing
// happens (a pass over 20,000 of them every 50 ms was 2-3 % of a core): deadlines within
// FAR_MS are checked every RESOLUTION_MS, the others every FAR_EVERY passes. A deadline that is
// moved earlier while its item sits in the far set (a timeout under FAR_MS following a longer
// one, e.g. `timeouts.response: 1s` on a pooled connection) fires up to FAR_EVERY passes late.

/** Near deadlines fire within this much of their due time. */
const RESOLUTION_MS = 50;
/** Deadlines further away than this wait in the far set. */
const FAR_MS = 2_000;
/** The far set is looked at every this many passes (every 500 ms). */
const FAR_EVERY = 10;
/**
 * At most this many timeouts fire per pass; the rest fire on the next turn of the event loop.
 * Thousands of connections opened together (a slowloris wave) also expire together, and firing
 * them all in one callback would stall every other request for that long.
 */
const BATCH = 64;

export interface HasDeadline {
  /** performance.now() value after which onDeadline is called; Infinity for none. */
  deadline: number;
  onDeadline(now: number): void;
}

const near = new Set<HasDeadline>();
const far = new Set<HasDeadline>();
let timer: NodeJS.Timeout | null = null;
let passes = 0;
let continuation = false;

function sweep(): void {
  const now = performance.now();
  if (++passes % FAR_EVERY === 0) {
    for (const item of far) {
      if (item.deadline - now > FAR_MS) continue;
      far.delete(item);
      near.add(item);
    }
  }
  let fired = 0;
  for (const item of near) {
    if (item.deadline - now > FAR_MS) {
      near.delete(item);
      far.add(item);
      continue;
    }
    if (item.deadline > now) continue;
    item.onDeadline(now);
    if (++fired === BATCH) return continueSoon();
  }
  if (near.size === 0 && far.size === 0 && timer !== null) {
    clearInterval(timer);
    timer = null;
  }
}

function continueSoon(): void {
  if (continuation) return;
  continuation = true;
  setImmediate(() => {
    continuation = false;
    sweep();
  });
}

export function watchDeadline(item: HasDeadline): void {
  near.add(item);
  // unref: pending timeouts alone must not keep a stopping process alive.
  if (timer === null) timer = setInterval(sweep, RESOLUTION_MS).unref();
}

export function unwatchDeadline(item: HasDeadline): void {
  if (!near.delete(item)) far.delete(item);
}

/** The deadline `ms` from now; a timeout of 0 means none (the configuration's "0: never"). */
export function deadlineAfter(ms: number): number {
  return ms > 0 ? performance.now() + ms : Infinity;
}
