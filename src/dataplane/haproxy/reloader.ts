// Master-worker reloads, one at a time, with bursts coalesced: a request made while a reload is
// running joins the next one, which reads the newest config file, so N requests during one
// reload cost one more reload, not N. Completion is read from the master's `show proc`.
import { setTimeout as sleep } from 'node:timers/promises';
import type { HaproxyProcess } from './haproxy-process.js';
import { ErrorCodes, HitlessError } from '../../errors.js';

const RELOAD_TIMEOUT_MS = 30_000;

export interface ReloadRecord {
  readonly at: string;
  readonly durationMs: number;
  readonly ok: boolean;
  readonly workerPid: number | null;
  readonly error?: string;
}

/** The master did not bring up a worker on the new config (the previous worker keeps serving). */
export class ReloadError extends HitlessError {
  constructor(message: string) {
    super(ErrorCodes.DATAPLANE_REJECTED, message);
    this.name = 'ReloadError';
  }
}

interface Waiter {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

function waiter(): Waiter {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export class Reloader {
  private running: Promise<void> | null = null;
  private next: Waiter | null = null;
  /** Reloads done by this process (requests coalesced into one count once). */
  count = 0;
  last: ReloadRecord | null = null;

  constructor(private readonly process: HaproxyProcess) {}

  /** Resolves once a reload that started after this call has put a new worker in place. */
  request(): Promise<void> {
    if (!this.running) {
      this.running = this.reloadOnce().finally(() => this.startNext());
      return this.running;
    }
    this.next ??= waiter();
    return this.next.promise;
  }

  private startNext(): void {
    this.running = null;
    const queued = this.next;
    if (!queued) return;
    this.next = null;
    this.running = this.reloadOnce().finally(() => this.startNext());
    this.running.then(queued.resolve, queued.reject);
  }

  private async reloadOnce(): Promise<void> {
    const started = performance.now();
    const before = await this.process.showProc();
    const oldWorker = before.workers[0]?.pid ?? null;
    const mark = this.process.mark();
    await this.process.master.reload().catch(() => undefined);
    const deadline = Date.now() + RELOAD_TIMEOUT_MS;
    try {
      for (;;) {
        if (Date.now() > deadline) throw new ReloadError(`no new worker within ${RELOAD_TIMEOUT_MS} ms: ${this.process.alertsSince(mark)}`);
        await sleep(20);
        // The master re-executes itself: its socket refuses connections for a moment.
        const table = await this.process.showProc().catch(() => null);
        if (!table || table.master.reloads <= before.master.reloads) continue;
        if (table.master.failedReloads > before.master.failedReloads) {
          throw new ReloadError(`haproxy rejected the reload, the previous worker keeps serving: ${this.process.alertsSince(mark)}`);
        }
        const worker = table.workers[0];
        if (!worker || worker.pid === oldWorker) continue;
        // Forked is not serving yet: wait until the worker socket is the new worker's.
        if ((await this.process.workerPid()) !== worker.pid) continue;
        this.finish(started, true, worker.pid);
        return;
      }
    } catch (err) {
      this.finish(started, false, oldWorker, (err as Error).message);
      throw err;
    }
  }

  private finish(started: number, ok: boolean, workerPid: number | null, error?: string): void {
    this.count++;
    this.last = { at: new Date().toISOString(), durationMs: Math.round(performance.now() - started), ok, workerPid, ...(error ? { error } : {}) };
  }
}
