// One clock for every process of this machine, to measure an interval that starts in one process
// and ends in another (a tunnel frozen in the old worker, joined in the new one).
// Why not the wall clock: `performance.timeOrigin + performance.now()` is each process's monotonic
// clock anchored to the wall clock when that process started, so two processes disagree by however
// much the wall clock was slewed between their starts. Measured on this project's VM while its
// clock was being disciplined (2026-12-07): 5 ms a second, which turned bench:handover's p50
// pause of 4 ms into 30 ms. process.hrtime is CLOCK_MONOTONIC: one clock for every process (NTP
// may adjust its rate, never steps it), with no per-process anchor.

/** Milliseconds on CLOCK_MONOTONIC (comparable between processes of this machine only). */
export function machineMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
