// Fires an action at a fixed rate between the end of the baseline and the deadline. Actions never
// overlap: one that overruns its slot makes the missed slots count as skipped, not pile up.
import { ActionUnsupported, type Action } from './actions.js';
import { describeError } from './failures.js';
import type { Timeline } from './timeline.js';
import { sleep } from './traffic/budget.js';

export interface ActionsResult {
  readonly name: string;
  readonly ratePerSecond: number;
  readonly attempted: number;
  readonly ok: number;
  readonly failed: number;
  /** Slots missed because the previous action was still running. */
  readonly skipped: number;
  /** Set when the target said it cannot do this action at all (e.g. 404 on POST /upgrade). */
  readonly unsupported?: string;
  readonly errorSamples: readonly string[];
  /** Milliseconds since the run's start. */
  readonly timesMs: readonly number[];
}

export interface ScheduleOptions {
  readonly action: Action | undefined;
  readonly ratePerSecond: number;
  readonly maxActions: number;
  readonly timeline: Timeline;
  readonly signal: AbortSignal;
}

export async function runActionSchedule(options: ScheduleOptions): Promise<ActionsResult> {
  const { action, timeline, signal } = options;
  const state = { attempted: 0, ok: 0, failed: 0, skipped: 0, unsupported: undefined as string | undefined };
  const errors = new Set<string>();
  const empty = { name: action?.name ?? 'none', ratePerSecond: options.ratePerSecond, errorSamples: [], timesMs: [] };
  if (!action || options.ratePerSecond <= 0) return { ...empty, attempted: 0, ok: 0, failed: 0, skipped: 0 };
  const interval = 1000 / options.ratePerSecond;
  let slot = 0;
  while (!signal.aborted && state.attempted < options.maxActions && state.unsupported === undefined) {
    const at = timeline.baselineMs + slot * interval;
    if (at >= timeline.durationMs) break;
    await sleep(at - timeline.now(), signal);
    if (signal.aborted) break;
    const mark = timeline.markAction();
    state.attempted++;
    try {
      await action.fire();
      mark.ok = true;
      state.ok++;
    } catch (err) {
      state.failed++;
      if (err instanceof ActionUnsupported) state.unsupported = err.message;
      if (errors.size < 5) errors.add(describeError(err));
    }
    mark.endMs = timeline.now();
    // Next slot strictly in the future; the slots we jumped over were skipped.
    const nextSlot = Math.max(slot + 1, Math.ceil((timeline.now() - timeline.baselineMs) / interval));
    state.skipped += Math.max(0, nextSlot - slot - 1 - countPastDeadline(timeline, interval, slot, nextSlot));
    slot = nextSlot;
  }
  return { ...empty, ...state, errorSamples: [...errors], timesMs: timeline.actions.map((a) => Math.round(a.atMs)) };
}

/** Slots beyond the deadline were never due; they are not "skipped". */
function countPastDeadline(timeline: Timeline, interval: number, from: number, to: number): number {
  let n = 0;
  for (let s = from + 1; s < to; s++) if (timeline.baselineMs + s * interval >= timeline.durationMs) n++;
  return n;
}
