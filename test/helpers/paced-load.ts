// A steady, bounded HTTP client for rate checks: requests start on a fixed schedule (`rps` per
// second, caught up after a late timer), on a few keep-alive connections, and stop by themselves
// after `maxMs` even if the test never calls stop(). It records when each request was written to
// its socket, so a check can compare what the proxy reports with what was actually sent in the
// same interval (on a loaded machine the client itself cannot always keep to its schedule).
import { Agent, get } from 'node:http';

export interface PacedLoad {
  /** Unix ms at which each request was written out (the proxy counts it when it arrives). */
  readonly sent: number[];
  /** Unix ms of each completed request (any status). */
  readonly done: number[];
  readonly failed: () => number;
  /** Stops starting requests and waits (bounded) for the ones in flight. */
  stop(): Promise<{ sent: number; completed: number; failed: number }>;
}

export function pacedLoad(port: number, rps: number, options: { maxMs: number; path?: string; connections?: number }): PacedLoad {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections ?? 8 });
  const done: number[] = [];
  const written: number[] = [];
  const started = Date.now();
  let sent = 0;
  let failed = 0;
  let inFlight = 0;
  let stopped = false;
  const idle: Array<() => void> = [];
  const finish = (): void => {
    inFlight--;
    if (inFlight === 0) for (const f of idle.splice(0)) f();
  };
  const send = (): void => {
    sent++;
    inFlight++;
    const req = get({ host: '127.0.0.1', port, path: options.path ?? '/', agent }, (res) => {
      res.resume();
      res.once('end', () => {
        done.push(Date.now());
        finish();
      });
      res.once('error', () => {
        failed++;
        finish();
      });
    });
    req.once('finish', () => written.push(Date.now()));
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.once('error', () => {
      failed++;
      finish();
    });
  };
  // Every 5 ms, start whatever the schedule says is due; at most 2 s of backlog is made up.
  const ticker = setInterval(() => {
    const elapsed = Date.now() - started;
    if (elapsed > options.maxMs) return void stopNow();
    const due = Math.floor((elapsed * rps) / 1000);
    for (let n = 0; sent < due && n < rps * 2; n++) send();
  }, 5);
  function stopNow(): void {
    stopped = true;
    clearInterval(ticker);
  }
  return {
    sent: written,
    done,
    failed: () => failed,
    async stop() {
      if (!stopped) stopNow();
      if (inFlight > 0) {
        await Promise.race([new Promise<void>((r) => idle.push(r)), new Promise((r) => setTimeout(r, 6_000))]);
      }
      agent.destroy();
      return { sent, completed: done.length, failed };
    },
  };
}

/** How many of `times` fall in (from, to]. */
export function countIn(times: readonly number[], from: number, to: number): number {
  let n = 0;
  for (const t of times) if (t > from && t <= to) n++;
  return n;
}
