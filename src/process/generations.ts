// Generations of worker processes: the one serving, the one draining after a code upgrade, and
// workers whose drain was cut short. A generation counts only once each of its workers has
// committed the running config; a code upgrade starts the next one from the code on disk and
// drains the old one only then; a worker that crashes is restarted (crash-policy.ts backs off a
// slot that keeps crashing). Every worker gets what is not config (worker-shared-state.ts)
// before its first config.
// Nothing here takes the supervisor's lock: its callers hold it, and a restart, the one thing
// scheduled here, asks for it (GenerationHost.serial).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/model.js';
import type { Logger } from '../observability/log.js';
import { CrashPolicy, type CrashLoop } from './crash-policy.js';
import type { FleetCommit } from './fleet-commit.js';
import type { SupervisorMessage, WorkerMessage } from './messages.js';
import { WorkerLink } from './worker-link.js';
import { WorkerSharedState } from './worker-shared-state.js';

export interface GenerationOptions {
  /** Workers per generation. */
  readonly workers: number;
  readonly log: Logger;
  /** A new worker must have its config committed within this, or its generation is abandoned. */
  readonly readyTimeoutMs: number;
  /** How long an old generation's long-lived connections may continue after an upgrade. */
  readonly upgradeDrainMs: number;
}

export interface Generation {
  readonly number: number;
  /** One worker per slot; a restarted worker takes its slot. */
  readonly workers: readonly WorkerLink[];
  readonly since: number;
}

export interface UpgradeResult {
  readonly ok: boolean;
  readonly at: string;
  readonly durationMs: number;
  /** The generation now serving (the new one, or the old one when the upgrade failed). */
  readonly generation: number;
  readonly pids: readonly number[];
  /**
   * The generation that drains; `goneAfterMs` once its last process has exited: the time from the
   * new generation serving (this upgrade's answer) to the process count being back to 1 + N.
   */
  readonly previous?: { readonly generation: number; readonly pids: readonly number[]; readonly goneAfterMs?: number };
  /** A generation that was still draining and was cut short by this upgrade. */
  readonly shortened?: number;
  readonly error?: string;
}

/** Code upgrades so far, and the last one's result. */
export interface UpgradeRecord {
  readonly ok: number;
  readonly failed: number;
  readonly last: UpgradeResult | null;
}

/** What the workers' owner (Supervisor) provides. */
export interface GenerationHost {
  /** Runs `fn` under the supervisor's lock: a restart is a state change, like an apply. */
  serial<T>(fn: () => Promise<T>): Promise<T>;
  /** The config the supervisor committed last and its digest; null before the first apply and once stopping. */
  running(): { readonly config: Config; readonly digest: string } | null;
  /** Shutdown has begun: a worker's exit is no crash. */
  stopping(): boolean;
  /** A worker's message that is not a reply (a connection handed over, its drain done). */
  onMessage(from: WorkerLink, msg: WorkerMessage, handle: unknown): void;
  /** A worker exited (whether expected or not). */
  onExit(w: WorkerLink): void;
}

/** A generation as kept here: its slots are filled again after a crash. */
interface Slots {
  readonly number: number;
  readonly workers: WorkerLink[];
  readonly since: number;
}

const KILL_GRACE_MS = 3_000;
export class Generations {
  private serving: Slots | null = null;
  private drainingGen: Slots | null = null;
  /** Workers of a drain cut short by a newer upgrade, until they exit. */
  private readonly retiring = new Set<WorkerLink>();
  /** Every worker process not yet exited, those of a generation still starting included. */
  private readonly links = new Set<WorkerLink>();
  private numbers = 0;
  private readonly crashes = new CrashPolicy();
  private upgradeCounts = { ok: 0, failed: 0 };
  private lastUpgrade: UpgradeResult | null = null;
  /** Endpoint overrides and TLS ticket keys: every worker alive, and every later one, gets them. */
  readonly shared: WorkerSharedState;
  private readonly script = workerScript();

  constructor(
    private readonly options: GenerationOptions,
    private readonly fleet: FleetCommit,
    private readonly host: GenerationHost,
  ) {
    this.shared = new WorkerSharedState(() => this.links, options.log);
  }

  /** The generation serving, if any. */
  get active(): Generation | null {
    return this.serving;
  }

  /** The previous generation while it drains after a code upgrade. */
  get draining(): Generation | null {
    return this.drainingGen;
  }

  /** Every worker process alive or awaited: active, draining, and cut-short ones. */
  all(): WorkerLink[] {
    return [...(this.serving?.workers ?? []), ...(this.drainingGen?.workers ?? []), ...this.retiring];
  }

  /** Crash restarts so far. */
  get restarts(): number {
    return this.crashes.total;
  }

  crashLoops(): CrashLoop[] {
    return this.crashes.loopsNow();
  }

  get upgrades(): UpgradeRecord {
    return { ...this.upgradeCounts, last: this.lastUpgrade };
  }

  /** Generation numbers continue across a supervisor upgrade. */
  continueFrom(generation: number): void {
    this.numbers = Math.max(this.numbers, generation);
  }

  /** The first generation, on the first config: each worker prepares and commits it as it starts. */
  async startFirst(config: Config, digest: string): Promise<void> {
    this.serving = await this.start(config, digest);
  }

  /**
   * A code upgrade: a new generation from the code on disk, on the running config; the old one
   * drains once the new one serves, and a drain still running is cut short (at most three
   * generations at once). A new generation that fails to start is killed and the old one serves on.
   */
  async upgrade(config: Config, digest: string): Promise<UpgradeResult> {
    const started = Date.now();
    const old = this.serving!;
    // At most three generations exist at once: the one cut short last time must be gone first.
    await Promise.all([...this.retiring].map((w) => w.exited));
    const base = { at: new Date(started).toISOString() };
    let next: Slots;
    try {
      next = await this.start(config, digest, old);
    } catch (err) {
      const result: UpgradeResult = { ...base, ok: false, durationMs: Date.now() - started, generation: old.number, pids: old.workers.map((w) => w.pid), error: (err as Error).message };
      this.upgradeCounts.failed++;
      this.lastUpgrade = result;
      this.options.log.error({ error: result.error }, 'upgrade failed; the running generation keeps serving');
      return result;
    }
    this.serving = next;
    const shortened = this.drainingGen?.number;
    if (this.drainingGen) this.cutShort(this.drainingGen);
    this.beginDrain(old);
    const result: UpgradeResult = {
      ...base,
      ok: true,
      durationMs: Date.now() - started,
      generation: next.number,
      pids: next.workers.map((w) => w.pid),
      previous: { generation: old.number, pids: old.workers.map((w) => w.pid) },
      ...(shortened !== undefined ? { shortened } : {}),
    };
    this.upgradeCounts.ok++;
    this.lastUpgrade = result;
    this.options.log.info({ generation: next.number, previous: old.number, shortened, ms: result.durationMs }, 'upgraded: new generation serving, previous one draining');
    const serving = Date.now();
    void Promise.all(old.workers.map((w) => w.exited)).then(() => {
      const goneAfterMs = Date.now() - serving;
      this.options.log.info({ generation: old.number, ms: goneAfterMs }, 'previous generation gone');
      if (this.lastUpgrade === result) this.lastUpgrade = { ...result, previous: { ...result.previous!, goneAfterMs } };
    });
    return result;
  }

  /** A message to every worker alive or awaited. */
  postAll(msg: SupervisorMessage): void {
    for (const w of this.all()) w.post(msg);
  }

  /** The supervisor was replaced: every worker drains (idle connections are handed over), nothing is restarted any more. */
  retireAll(): void {
    if (this.drainingGen) this.cutShort(this.drainingGen);
    if (this.serving) this.beginDrain(this.serving);
    this.serving = null;
  }

  /** Resolves when every worker alive or awaited now has exited. */
  allExited(): Promise<void> {
    return Promise.all(this.all().map((w) => w.exited)).then(() => {});
  }

  /** Shutdown: every worker stops accepting and drains for up to `drainMs`; resolves when all have exited. */
  stopAll(drainMs: number): Promise<void> {
    this.shared.stop();
    const all = this.all().filter((w) => w.alive);
    for (const w of all) {
      w.expectedExit = true;
      w.post({ t: 'stop', timeoutMs: drainMs });
      killLater(w, drainMs + KILL_GRACE_MS);
    }
    return Promise.all(all.map((w) => w.exited)).then(() => {});
  }

  /** A generation; after `previous` (a code upgrade), each worker inherits its slot's move channel. */
  private async start(config: Config, digest: string, previous?: Slots): Promise<Slots> {
    const number = ++this.numbers;
    const results = await Promise.allSettled(Array.from({ length: this.options.workers }, (_, slot) => this.startWorker(number, slot, config, digest, previous?.workers[slot] ?? null)));
    const workers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    if (errors.length > 0) {
      for (const w of workers) {
        w.expectedExit = true;
        w.kill();
      }
      throw new Error(`generation ${number} failed to start: ${errors.join('; ')}`);
    }
    this.options.log.info({ generation: number, pids: workers.map((w) => w.pid) }, 'worker generation ready');
    return { number, workers, since: Date.now() };
  }

  private async startWorker(generation: number, slot: number, config: Config, digest: string, predecessor: WorkerLink | null = null): Promise<WorkerLink> {
    const w = new WorkerLink(this.script, generation, slot, this.options.log, (link, msg, handle) => this.host.onMessage(link, msg, handle), this.options.workers, process.env, predecessor);
    this.links.add(w);
    void w.exited.then(() => {
      this.links.delete(w);
      this.onExit(w);
    });
    let reported: string | undefined;
    try {
      await within(this.options.readyTimeoutMs, `worker ${w.pid} did not report ready within ${this.options.readyTimeoutMs} ms`, async () => {
        // A later change of either reaches it through `links`, in order, even while its generation is still starting.
        await this.shared.giveTo(w, this.options.readyTimeoutMs);
        reported = await this.fleet.firstConfig(w, config, digest, this.options.readyTimeoutMs);
      });
    } catch (err) {
      w.expectedExit = true;
      // A worker that lost its IPC channel is exiting by itself: wait (bounded) to say how,
      // whichever of its exit and the failed request was seen first.
      if (!w.alive || !w.child.connected) await Promise.race([w.exited, new Promise((r) => setTimeout(r, KILL_GRACE_MS).unref())]);
      const exit = w.exit;
      w.kill();
      throw new Error(exit ? `worker ${w.pid} exited: ${exit.signal ?? `code ${exit.code}`} before it reported ready` : (err as Error).message);
    }
    this.fleet.committedWhole(w, config, reported, digest);
    w.state = 'ready';
    return w;
  }

  private beginDrain(gen: Slots): void {
    this.drainingGen = gen;
    for (const w of gen.workers) {
      w.expectedExit = true;
      if (!w.alive) continue;
      w.state = 'draining';
      w.post({ t: 'drain', timeoutMs: this.options.upgradeDrainMs, handOver: true, direct: w.directToSuccessor() });
      killLater(w, this.options.upgradeDrainMs + KILL_GRACE_MS);
    }
  }

  /**
   * A newer upgrade: this generation stops being *the* draining one, but its drain runs on to its
   * own end. Nothing is closed because a newer upgrade came: its tunnels keep moving (one still
   * connecting to its endpoint moves once connected) and what cannot move ends at its own
   * `--upgrade-drain`, as it would have without the newer upgrade (its kill timer, set when it
   * began draining, stays). The process count stays bounded: the next upgrade waits for it to exit.
   */
  private cutShort(gen: Slots): void {
    for (const w of gen.workers) if (w.alive) this.retiring.add(w);
    this.drainingGen = null;
  }

  private onExit(w: WorkerLink): void {
    this.retiring.delete(w);
    this.host.onExit(w);
    if (this.drainingGen?.workers.every((x) => !x.alive)) this.drainingGen = null;
    const gen = this.serving;
    if (w.expectedExit || this.host.stopping() || !gen || !gen.workers.includes(w)) return;
    const how = w.exit?.signal ?? `code ${w.exit?.code}`;
    const delay = this.crashes.crashed(w.slot, how);
    const fields = { workerPid: w.pid, slot: w.slot, generation: w.generation, exit: how, restartInMs: delay };
    if (this.crashes.inLoop(w.slot)) this.options.log.error(fields, 'worker crash loop: restarting with backoff');
    else this.options.log.warn(fields, 'worker died; restarting it (its sockets stay open in the supervisor)');
    this.restartLater(gen, w.slot, delay);
  }

  private restartLater(gen: Slots, slot: number, delayMs: number): void {
    setTimeout(() => {
      void this.host.serial(async () => {
        const running = this.host.running();
        if (!running || this.serving !== gen) return;
        if (gen.workers[slot]?.alive) return;
        try {
          gen.workers[slot] = await this.startWorker(gen.number, slot, running.config, running.digest);
          this.options.log.info({ workerPid: gen.workers[slot].pid, slot }, 'worker restarted');
        } catch (err) {
          const delay = this.crashes.crashed(slot, (err as Error).message);
          this.options.log.error({ slot, err: (err as Error).message, restartInMs: delay }, 'worker restart failed');
          this.restartLater(gen, slot, delay);
        }
      });
    }, delayMs);
  }
}

/**
 * The backstop of a drain: a worker still alive `ms` from now is killed — unless it is still
 * moving its tunnels (it sent one within the last KILL_GRACE_MS): its drain waits for its moves,
 * and a kill then would close every connection it still holds (the kernel sends their FINs),
 * counted nowhere. A hung worker moves nothing and is killed.
 */
function killLater(w: WorkerLink, ms: number): void {
  let timer: NodeJS.Timeout;
  const fire = (): void => {
    const sinceMove = Date.now() - w.lastMoveAt;
    if (sinceMove < KILL_GRACE_MS) timer = setTimeout(fire, KILL_GRACE_MS - sinceMove);
    else w.kill('SIGKILL');
  };
  timer = setTimeout(fire, ms);
  void w.exited.then(() => clearTimeout(timer));
}

async function within(ms: number, message: string, fn: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  try {
    await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The worker entry next to this file: dist/process/worker-main.js (or the .ts source under tsx). */
function workerScript(): string {
  const js = fileURLToPath(new URL('./worker-main.js', import.meta.url));
  const ts = fileURLToPath(new URL('./worker-main.ts', import.meta.url));
  return existsSync(js) || !existsSync(ts) ? js : ts;
}
