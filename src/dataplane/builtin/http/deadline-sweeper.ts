// Upstream connections' timeouts (connect, response, body idle, pooled keep-alive) as plain
// deadline numbers checked by one timer, instead of a Node timer per socket re-armed several
// times per request: setting a deadline is one assignment on the hot path.

/** Timeouts fire within this much of their deadline. */
const RESOLUTION_MS = 50;

export interface HasDeadline {
  /** performance.now() value after which onDeadline is called; Infinity for none. */
  deadline: number;
  onDeadline(now: number): void;
}

const watched = new Set<HasDeadline>();
let timer: NodeJS.Timeout | null = null;

/**
 * At most this many timeouts fire per pass; the rest fire on the next turn of the event loop.
 * Thousands of connections opened together (a slowloris wave) also expire together, and firing
 * them all in one callback would stall every other request for that long.
 */
const BATCH = 256;
let continuation = false;

function sweep(): void {
  const now = performance.now();
  let fired = 0;
  for (const item of watched) {
    if (item.deadline > now) continue;
    item.onDeadline(now);
    if (++fired === BATCH) {
      if (!continuation) {
        continuation = true;
        setImmediate(() => {
          continuation = false;
          sweep();
        });
      }
      return;
    }
  }
  if (watched.size === 0 && timer !== null) {
    clearInterval(timer);
    timer = null;
  }
}

export function watchDeadline(item: HasDeadline): void {
  watched.add(item);
  // unref: pending upstream timeouts alone must not keep a stopping process alive.
  if (timer === null) timer = setInterval(sweep, RESOLUTION_MS).unref();
}

export function unwatchDeadline(item: HasDeadline): void {
  watched.delete(item);
}

/** The deadline `ms` from now; a timeout of 0 means none (the configuration's "0: never"). */
export function deadlineAfter(ms: number): number {
  return ms > 0 ? performance.now() + ms : Infinity;
}
