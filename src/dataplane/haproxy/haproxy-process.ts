// The HAProxy master process as a supervised child: started once, restarted with backoff when it
// dies on its own, stopped softly on close. Its output is kept (bounded) so a failed start or
// reload can be reported in HAProxy's own words.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../observability/log.js';
import { withParentDeathSignal } from './parent-death.js';
import { MasterApi, WorkerApi, type ProcTable } from './runtime-api.js';

const OUTPUT_LINES = 400;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
/** A master that ran this long before dying gets the minimum backoff again. */
const STABLE_MS = 60_000;

export interface ProcessOptions {
  readonly binary: string;
  readonly configFile: string;
  readonly masterSocket: string;
  readonly workerSocket: string;
  readonly log: Logger;
}

export class HaproxyProcess {
  readonly master: MasterApi;
  readonly worker: WorkerApi;
  private child: ChildProcess | null = null;
  private stopping = false;
  /** Set once a start succeeded: only then does an exit mean "restart it". */
  private serving = false;
  private backoffMs = BACKOFF_MIN_MS;
  private lines: string[] = [];
  private warnedUnguarded = false;
  private lineCount = 0;
  private partial = '';
  /** Times the master died on its own and was started again. */
  restarts = 0;

  constructor(private readonly options: ProcessOptions) {
    this.master = new MasterApi(options.masterSocket);
    this.worker = new WorkerApi(options.workerSocket);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the master and waits for its first worker to answer; throws with HAProxy's output if it dies. */
  async start(timeoutMs = 10_000): Promise<void> {
    const mark = this.mark();
    const child = this.spawnMaster();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`haproxy exited at start (${child.exitCode ?? child.signalCode}): ${this.alertsSince(mark)}`);
      }
      const table = await this.master.showProc().catch(() => null);
      const worker = table?.workers[0];
      if (worker && (await this.workerPid()) === worker.pid) {
        this.serving = true;
        return;
      }
      await sleep(25);
    }
    child.kill('SIGKILL');
    throw new Error(`haproxy did not start within ${timeoutMs} ms: ${this.alertsSince(mark)}`);
  }

  private spawnMaster(): ChildProcess {
    const { binary, configFile, masterSocket } = this.options;
    const args = ['-W', '-S', `${masterSocket},mode,600`, '-f', configFile];
    // The master soft-stops when hitless dies, however it dies (see parent-death.ts).
    const guarded = withParentDeathSignal(binary, args);
    if (!guarded && !this.warnedUnguarded) {
      this.warnedUnguarded = true;
      this.options.log.warn('setpriv with --pdeathsig (util-linux 2.33 or later) not found: HAProxy keeps running if hitless is killed with SIGKILL or crashes; install util-linux, or stop HAProxy by the master pid in GET /status');
    }
    const run = guarded ?? { command: binary, args };
    const child = spawn(run.command, run.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => this.collect(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.collect(chunk));
    child.on('error', (err) => this.collect(Buffer.from(`[ALERT] spawn ${binary}: ${err.message}\n`)));
    const startedAt = Date.now();
    child.on('exit', (code, signal) => {
      // A failed start is reported by start() itself; only a serving master is restarted.
      if (this.child !== child || this.stopping || !this.serving) return;
      this.serving = false;
      this.child = null;
      this.options.log.error({ code, signal, output: this.tail(5) }, 'haproxy master exited unexpectedly; restarting');
      if (Date.now() - startedAt > STABLE_MS) this.backoffMs = BACKOFF_MIN_MS;
      this.scheduleRestart();
    });
    return child;
  }

  private scheduleRestart(): void {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    setTimeout(() => void this.restart(), delay).unref();
  }

  private async restart(): Promise<void> {
    if (this.stopping) return;
    this.restarts++;
    try {
      await this.start();
      this.options.log.warn({ pid: this.pid, restarts: this.restarts }, 'haproxy master restarted');
    } catch (err) {
      this.options.log.error({ err: (err as Error).message }, 'haproxy restart failed; trying again');
      this.scheduleRestart();
    }
  }

  /** The pid the worker socket answers with, i.e. the worker currently serving. */
  async workerPid(): Promise<number | undefined> {
    const info = await this.worker.raw('show info').catch(() => '');
    const m = /^Pid: (\d+)$/m.exec(info);
    return m ? Number(m[1]) : undefined;
  }

  showProc(): Promise<ProcTable> {
    return this.master.showProc();
  }

  /** A position in the output, to read what HAProxy said after it. */
  mark(): number {
    return this.lineCount;
  }

  /** The [ALERT] lines printed since `mark` (all recent lines when there are none). */
  alertsSince(mark: number): string {
    const fresh = this.lines.slice(Math.max(0, this.lines.length - (this.lineCount - mark)));
    const alerts = fresh.filter((l) => l.includes('[ALERT]'));
    return (alerts.length > 0 ? alerts : fresh.slice(-5)).map(stripPrefix).join(' | ') || '(no output)';
  }

  tail(n: number): string[] {
    return this.lines.slice(-n);
  }

  private collect(chunk: Buffer): void {
    const text = this.partial + chunk.toString('utf8');
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      if (line.trim() === '') continue;
      this.lines.push(line);
      this.lineCount++;
    }
    if (this.lines.length > OUTPUT_LINES) this.lines = this.lines.slice(-OUTPUT_LINES);
  }

  /**
   * Soft stop (SIGUSR1: workers stop listening and finish their connections), then SIGTERM after
   * `drainMs`, then SIGKILL. Only ever signals the master we spawned; its workers follow it.
   */
  async stop(drainMs: number): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    const waitExit = (ms: number) => Promise.race([exited.then(() => true), sleep(ms).then(() => false)]);
    child.kill(drainMs > 0 ? 'SIGUSR1' : 'SIGTERM');
    if (await waitExit(Math.max(drainMs, 100))) return;
    child.kill('SIGTERM');
    if (await waitExit(2_000)) return;
    child.kill('SIGKILL');
    await exited;
  }
}

/** "[ALERT]    (123) : config : message" → "[ALERT] config : message". */
function stripPrefix(line: string): string {
  return line.replace(/^\[(\w+)\]\s+\(\d+\)\s+:\s+/, '[$1] ');
}
