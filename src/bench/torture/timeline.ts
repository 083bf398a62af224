// One clock for a run. Knows where the no-action baseline ends and when each action happened, so
// that a finished request can be filed as "baseline", "after an action" or neither.
import { performance } from 'node:perf_hooks';

/** A request overlapping [action start, action end + this] counts as "after an action". */
export const AFTER_ACTION_WINDOW_MS = 100;

export interface ActionMark {
  readonly atMs: number;
  endMs: number;
  ok: boolean;
}

export class Timeline {
  private readonly t0 = performance.now();
  readonly actions: ActionMark[] = [];

  constructor(readonly baselineMs: number, readonly durationMs: number) {}

  now(): number {
    return performance.now() - this.t0;
  }

  /** Returns the mark so the caller can fill in its end and outcome. */
  markAction(): ActionMark {
    const mark = { atMs: this.now(), endMs: Number.POSITIVE_INFINITY, ok: false };
    this.actions.push(mark);
    return mark;
  }

  /** The baseline skips its first third: connection set-up and JIT warm-up are not "undisturbed". */
  isBaseline(startMs: number, endMs: number): boolean {
    return endMs < this.baselineMs && startMs >= this.baselineMs / 3 && this.actions.every((a) => a.atMs > endMs);
  }

  isAfterAction(startMs: number, endMs: number): boolean {
    // Actions are appended in time order; walk back only while they can still overlap.
    for (let i = this.actions.length - 1; i >= 0; i--) {
      const action = this.actions[i];
      if (action.atMs > endMs) continue;
      const windowEnd = Math.min(action.endMs, action.atMs + 60_000) + AFTER_ACTION_WINDOW_MS;
      if (windowEnd >= startMs) return true;
      // Older actions started even earlier; with bounded action durations they cannot overlap.
      if (action.atMs + 60_000 + AFTER_ACTION_WINDOW_MS < startMs) return false;
    }
    return false;
  }
}
