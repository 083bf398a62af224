// When a worker dies unexpectedly it is restarted, at once the first time; repeated crashes of
// the same slot back off exponentially (capped), and a slot crashing over and over is reported
// as a crash loop in status and logs rather than restarted in a tight, hidden loop.
export interface CrashLoop {
  readonly slot: number;
  readonly recentCrashes: number;
  readonly nextRestartInMs: number;
  readonly lastExit: string;
}

const WINDOW_MS = 60_000;
const BASE_MS = 200;
const MAX_MS = 10_000;
const LOOP_THRESHOLD = 3;

export class CrashPolicy {
  private readonly crashes = new Map<number, number[]>();
  private readonly loops = new Map<number, CrashLoop>();
  private crashCount = 0;

  /** Crashes recorded so far, every slot together. */
  get total(): number {
    return this.crashCount;
  }

  /** Records a crash of `slot`; returns how long to wait before restarting it. */
  crashed(slot: number, description: string): number {
    const now = Date.now();
    const recent = (this.crashes.get(slot) ?? []).filter((t) => now - t < WINDOW_MS);
    recent.push(now);
    this.crashes.set(slot, recent);
    this.crashCount++;
    const delay = recent.length <= 1 ? 0 : Math.min(MAX_MS, BASE_MS * 2 ** (recent.length - 2));
    if (recent.length >= LOOP_THRESHOLD) this.loops.set(slot, { slot, recentCrashes: recent.length, nextRestartInMs: delay, lastExit: description });
    else this.loops.delete(slot);
    return delay;
  }

  /** A slot whose worker is up again and has stayed up past the window is no longer looping. */
  healthy(slot: number): void {
    const recent = (this.crashes.get(slot) ?? []).filter((t) => Date.now() - t < WINDOW_MS);
    if (recent.length === 0) this.loops.delete(slot);
  }

  inLoop(slot: number): boolean {
    return this.loops.has(slot);
  }

  loopsNow(): CrashLoop[] {
    for (const slot of this.loops.keys()) this.healthy(slot);
    return [...this.loops.values()];
  }
}
