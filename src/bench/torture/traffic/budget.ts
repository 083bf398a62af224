// The bounds every traffic loop obeys: a deadline, a total operation count, and an abort signal
// (SIGINT, or the run's hard stop). A loop that asks the budget before each operation can never
// run past its bounds, however the target behaves.
import type { Timeline } from '../timeline.js';

export class Budget {
  private used = 0;

  constructor(
    private readonly timeline: Timeline,
    /** Milliseconds since the timeline's start after which no new operation begins. */
    readonly deadlineMs: number,
    readonly maxOperations: number,
    readonly signal: AbortSignal,
  ) {}

  /** Claims one operation; false means stop now. */
  take(): boolean {
    if (this.signal.aborted || this.used >= this.maxOperations || this.timeline.now() >= this.deadlineMs) return false;
    this.used++;
    return true;
  }

  get operations(): number {
    return this.used;
  }

  remainingMs(): number {
    return Math.max(0, this.deadlineMs - this.timeline.now());
  }
}

/** Runs `count` copies of `loop` concurrently and waits for all; a loop must not throw. */
export async function runWorkers(count: number, loop: (worker: number) => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, i) => loop(i)));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
