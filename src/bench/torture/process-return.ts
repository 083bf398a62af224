// How long each action kept extra processes around: from the action until the target's process
// count was back where the run started (a reload's or upgrade's old processes gone). A proxy that
// keeps old processes for every long-lived connection (nginx's worker_shutdown_timeout, HAProxy's
// hard-stop-after) shows it here; hitless's upgrade target should be back at 1 + N within a second
// or two of each upgrade (issue 18). Read from the sampler's process counts (every 250 ms), so
// each figure is late by up to one sampling interval.
import type { ProcSample } from './proc-sampler.js';

export interface ProcessReturns {
  /** Actions after which the count rose above the start (the others started or stopped nothing). */
  readonly raised: number;
  /** Of those, ms from the action until the count was back at the start, in action order. */
  readonly backMs: readonly number[];
  /** Raised and not back by the end of the run. */
  readonly notBack: number;
}

export function processReturns(samples: readonly ProcSample[], actionTimesMs: readonly number[]): ProcessReturns {
  const start = samples[0]?.processes;
  const backMs: number[] = [];
  let raised = 0;
  let notBack = 0;
  if (start === undefined) return { raised, backMs, notBack };
  actionTimesMs.forEach((at, i) => {
    const next = actionTimesMs[i + 1] ?? Infinity;
    // Raised by this action: above the start before the next action is taken.
    const rise = samples.findIndex((s) => s.tMs >= at && s.tMs < next && s.processes > start);
    if (rise === -1) return;
    raised++;
    const back = samples.find((s, j) => j > rise && s.processes <= start);
    if (back === undefined) notBack++;
    else backMs.push(back.tMs - at);
  });
  return { raised, backMs, notBack };
}

/** "median 1.49 s, max 1.76 s (1 not back by the end)", or "-" when no action raised the count. */
export function formatReturns(r: ProcessReturns): string {
  if (r.raised === 0) return '-';
  const sorted = [...r.backMs].sort((a, b) => a - b);
  const tail = r.notBack > 0 ? ` (${r.notBack} not back by the end)` : '';
  if (sorted.length === 0) return `never back${tail}`;
  const s = (x: number): string => `${(x / 1000).toFixed(2)} s`;
  return `median ${s(sorted[Math.floor((sorted.length - 1) / 2)])}, max ${s(sorted[sorted.length - 1])}${tail}`;
}
