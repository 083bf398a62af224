// The supervisor: a small long-lived process that owns every listening socket and a generation
// of worker processes that serve them. It applies configs to all workers as one transaction
// (the driver contract's prepare, then commit or abort, across the process line), replaces the
// generation for code upgrades (new one ready first, old one drains), and restarts crashed
// workers, while its own copy of each socket keeps the port open throughout.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Config, ConfigSnapshot } from '../config/model.js';
import { listenAddresses, listenKeys, type Plan } from '../control/plan.js';
import type { DataplaneStatus, PreparedChange } from '../dataplane/driver.js';
import { PreparedSlot, type ChangeSteps } from '../dataplane/prepared-change.js';
import { BindError } from '../dataplane/socket-pool/bind-error.js';
import { ApplyError, ErrorCodes, type ApplyErrorCode } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { ConfigDigest } from './config-digest.js';
import { changeBetween, type ConfigChange, type ConfigPatch } from './config-patch.js';
import { CrashPolicy } from './crash-policy.js';
import { NEED_FULL_CONFIG, type TcpHandle, type WorkerMessage, type WorkerStatus } from './messages.js';
import { SupervisorSockets } from './socket-pool.js';
import type { PackedService } from '../dataplane/builtin/packed-status.js';
import { EndpointReuse, mergeListeners, mergeServices, retire } from './status-aggregate.js';
import { WorkerLink, WorkerRefusal } from './worker-link.js';
import { EMPTY_OVERRIDES, type OverrideTable } from '../dataplane/endpoint-override.js';
import { TicketKeyRotation } from '../dataplane/builtin/tls/ticket-keys.js';

export interface SupervisorOptions {
  readonly workers: number;
  readonly log: Logger;
  /** A new worker must have its config committed within this, or its generation is abandoned. */
  readonly readyTimeoutMs: number;
  /** How long an old generation's long-lived connections may continue after an upgrade. */
  readonly upgradeDrainMs: number;
}

export interface Generation {
  readonly number: number;
  readonly workers: WorkerLink[];
  readonly since: number;
}

export interface UpgradeResult {
  readonly ok: boolean;
  readonly at: string;
  readonly durationMs: number;
  /** The generation now serving (the new one, or the old one when the upgrade failed). */
  readonly generation: number;
  readonly pids: readonly number[];
  readonly previous?: { readonly generation: number; readonly pids: readonly number[] };
  /** A generation that was still draining and was cut short by this upgrade. */
  readonly shortened?: number;
  readonly error?: string;
}

/** The workers' half of a prepared change: how commit proceeds, and how abort undoes prepare. */
interface WorkersPhase {
  readonly how: string;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

const REQUEST_TIMEOUT_MS = 10_000;
const KILL_GRACE_MS = 3_000;
const STATUS_POLL_MS = 2_000;

export class Supervisor {
  readonly sockets = new SupervisorSockets();
  private config: Config | null = null;
  /** The digest of `config` (what every in-sync worker reports), and the state that updates it per patch. */
  private digest: string | null = null;
  private digestOf: ConfigDigest | null = null;
  /** Applies completed so far (a status refresh that overlaps one asks again). */
  private applied = 0;
  /** Unix ms at which the workers' counters that status() serves were read (the last refresh). */
  private countersReadAt = Date.now();
  /** Status refreshes started, and the latest one whose replies were applied (refreshStatus). */
  private refreshes = 0;
  private refreshApplied = 0;
  /** Workers that sent their final counters (drained): no status reply replaces those. */
  private readonly finalCounters = new WeakSet<WorkerLink>();
  active: Generation | null = null;
  draining: Generation | null = null;
  private readonly retiring = new Set<WorkerLink>();
  private lock: Promise<unknown> = Promise.resolve();
  private generations = 0;
  private queuedUpgrade: Promise<UpgradeResult> | null = null;
  lastUpgrade: UpgradeResult | null = null;
  upgrades = { ok: 0, failed: 0 };
  handedOff = 0;
  readonly crashes = new CrashPolicy();
  private retired: PackedService[] = [];
  /** Endpoint objects of the last status(), reused where nothing changed. */
  private readonly endpointReuse = new EndpointReuse();
  private stopping: Promise<void> | null = null;
  /** Endpoint overrides every worker runs with (endpoint-override.ts); a new worker gets them before its first config. */
  private overrides: OverrideTable = EMPTY_OVERRIDES;
  /** Every worker process not yet exited, those of a generation still starting included. */
  private readonly links = new Set<WorkerLink>();
  /** TLS session ticket keys: held here, sent to every worker (and every later one), rotated on a schedule. */
  private readonly tickets = new TicketKeyRotation((keys) => {
    for (const w of this.links) w.post({ t: 'ticket-keys', keys });
  });
  private readonly poll: NodeJS.Timeout;
  private rr = 0;
  private readonly script = workerScript();
  private readonly slot = new PreparedSlot('supervisor');
  /** After a supervisor upgrade, idle connections of our draining workers go to the new supervisor. */
  handoffSink: ((key: string, handle: TcpHandle) => void) | null = null;
  /** Runs once the first generation is ready, before the first apply returns (supervisor upgrade). */
  onFirstGeneration: (() => Promise<void>) | null = null;

  constructor(readonly options: SupervisorOptions) {
    // Keeps each worker's last counters fresh enough that a crash loses little of the totals.
    this.poll = setInterval(() => void this.refreshStatus(), STATUS_POLL_MS).unref();
    this.tickets.start();
  }

  get generation(): number {
    return this.active?.number ?? 0;
  }

  get configDigest(): string | null {
    return this.digest;
  }

  /** Every worker process alive or awaited: active, draining, and cut-short ones. */
  allWorkers(): WorkerLink[] {
    return [...(this.active?.workers ?? []), ...(this.draining?.workers ?? []), ...this.retiring];
  }

  /** Runs `fn` after every earlier apply, upgrade or restart: one state change at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => {});
    return run;
  }

  /**
   * Runs `fn` under the lock like serial(), but keeps the lock after `fn` returns, until `fn`'s
   * result calls the `unlock` it was given (or `fn` throws): a prepared change holds it from
   * prepare to its commit or abort, so no restart or upgrade runs in between.
   */
  private holding<T>(fn: (unlock: () => void) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      void this.serial(async () => {
        let unlock!: () => void;
        const held = new Promise<void>((r) => (unlock = r));
        try {
          resolve(await fn(unlock));
        } catch (err) {
          reject(err as Error);
          return;
        }
        await held;
      });
    });
  }

  /**
   * Phase one of an apply (the driver contract, driver.ts): binds new addresses here, then has
   * every worker prepare (a patch of the config it runs, or the whole config); a refusal aborts
   * every worker and releases the sockets, and nothing changed. After the first, an apply binds or
   * releases only the addresses that changed, and its patch carries `plan` (the Controller's): it
   * costs what changed, not the service count. The first apply only binds here: its commit
   * starts the first generation of workers.
   */
  prepare(desired: Config, plan: Plan): Promise<PreparedChange> {
    return this.slot.prepare(() => this.holding((unlock) => this.prepareNow(desired, plan, unlock)));
  }

  private async prepareNow(desired: Config, plan: Plan, unlock: () => void): Promise<ChangeSteps> {
    if (this.stopping) throw new ApplyError(ErrorCodes.SHUTTING_DOWN, 'hitless is shutting down; the config was not applied');
    if (desired.dataplane.driver !== 'builtin') {
      throw new ApplyError(ErrorCodes.DATAPLANE_REJECTED, `--workers runs the builtin data plane; dataplane.driver ${desired.dataplane.driver} runs in one process: "hitless run --workers 0"`);
    }
    const change = this.config && this.digestOf ? changeBetween(this.config, desired, plan, this.digestOf) : null;
    const fresh = change ? null : ConfigDigest.of(desired);
    const digest = change?.digest.value ?? fresh!.value;
    const bind = change?.bind ?? listenAddresses(desired.services.values());
    try {
      this.sockets.acquireAll(bind);
    } catch (err) {
      const e = err as Error;
      const detail = e instanceof BindError ? { address: e.address, errno: e.errno, message: e.message } : { message: e.message };
      throw new ApplyError(ErrorCodes.BIND_FAILED, `config rejected, nothing changed: ${e.message}`, [detail]);
    }
    const releaseBound = (): void => {
      for (const a of bind) this.sockets.release(a.key);
    };
    let phase: WorkersPhase;
    try {
      phase = await this.prepareWorkersFor(desired, digest, change);
    } catch (err) {
      releaseBound();
      throw err;
    }
    return {
      plan,
      prepared: { bound: bind.map((a) => a.key), commit: phase.how },
      commit: async () => {
        try {
          try {
            await phase.commit();
          } catch (err) {
            releaseBound();
            throw err;
          }
          this.sockets.activate(bind);
          if (change) {
            for (const key of change.release) this.sockets.release(key);
            change.digest.commit();
          } else {
            this.sockets.dropUnused();
            this.digestOf = fresh;
          }
          this.config = desired;
          this.digest = digest;
          this.applied++;
        } finally {
          unlock();
        }
        return { bound: plan.listeners.add, released: plan.listeners.remove };
      },
      abort: async () => {
        try {
          await phase.abort();
          releaseBound();
        } finally {
          unlock();
        }
      },
    };
  }

  /** The workers' side of a prepared change: prepared now, committed or aborted later. */
  private async prepareWorkersFor(desired: Config, digest: string, change: ConfigChange | null): Promise<WorkersPhase> {
    const nothing = async (): Promise<void> => {};
    if (!this.active) {
      // No worker yet: the first generation starts on the new config in commit (each worker
      // prepares and commits it as it starts; one that fails fails the commit).
      return {
        how: `start ${this.options.workers} worker${this.options.workers === 1 ? '' : 's'}`,
        commit: async () => {
          this.active = await this.startGeneration(desired, digest);
          await this.onFirstGeneration?.();
        },
        abort: nothing,
      };
    }
    const ready = this.active.workers.filter((w) => w.state === 'ready');
    if (change && onlyEndpoints(change.patch) && ready.every((w) => w.configHash === change.patch.base)) {
      // Nothing a worker could refuse for the config's sake: no prepare phase (applyInOneStep).
      return { how: `endpoint changes in one step on ${ready.length} workers`, commit: () => this.applyInOneStep(ready, desired, digest, change), abort: nothing };
    }
    const prepared = await this.prepareWorkers(ready, desired, digest, change);
    const patched = prepared.filter((how) => how === 'patch').length;
    return {
      how: `${ready.length} workers prepared (${patched} with a patch, ${ready.length - patched} with the whole config)`,
      commit: () => this.commitWorkers(ready, prepared, desired, digest, change),
      abort: () => this.abortWorkers(ready),
    };
  }

  /** Two-phase commit over `workers` (prepare, then commit), in one go. */
  private async commitTo(workers: readonly WorkerLink[], desired: Config, digest: string, change: ConfigChange | null): Promise<void> {
    const prepared = await this.prepareWorkers(workers, desired, digest, change);
    await this.commitWorkers(workers, prepared, desired, digest, change);
  }

  /**
   * Phase one over `workers`: a patch to each one that runs the patch's base, the whole config to
   * the others (or to one that refuses the patch for another base). Any refusal aborts them all
   * and throws, with the refusals' own code when they agree on one, else DATAPLANE_REJECTED.
   */
  private async prepareWorkers(workers: readonly WorkerLink[], desired: Config, digest: string, change: ConfigChange | null): Promise<Array<'patch' | 'whole' | null>> {
    let whole: { snapshot: ConfigSnapshot; keys: string[] } | null = null;
    const wholeConfig = () => (whole ??= { snapshot: snapshotOf(desired, digest), keys: listenKeys(desired.services.values()) });
    const prepare = async (w: WorkerLink): Promise<'patch' | 'whole'> => {
      if (change && w.configHash === change.patch.base) {
        try {
          await this.sendListeners(w, change.listen);
          await w.request({ t: 'prepare-patch', patch: change.patch }, REQUEST_TIMEOUT_MS);
          return 'patch';
        } catch (err) {
          if (!(err instanceof WorkerRefusal && err.code === NEED_FULL_CONFIG)) throw err;
          this.options.log.warn({ workerPid: w.pid, reason: err.message }, 'worker cannot apply the config patch; sending it the whole config');
        }
      }
      const { snapshot, keys } = wholeConfig();
      await this.sendListeners(w, keys);
      await w.request({ t: 'prepare', snapshot }, REQUEST_TIMEOUT_MS);
      return 'whole';
    };
    const prepared = await Promise.allSettled(workers.map(prepare));
    // A worker that died meanwhile is not a refusal: it restarts on whatever config wins.
    const refusals = prepared.flatMap((r, i) => (r.status === 'rejected' && workers[i].alive ? [{ pid: workers[i].pid, err: r.reason as Error & { code?: string } }] : []));
    if (refusals.length > 0) {
      await this.abortWorkers(workers);
      const codes = new Set(refusals.map((r) => r.err.code));
      const [only] = codes;
      const code = codes.size === 1 && only !== undefined && REFUSAL_CODES.has(only) ? (only as ApplyErrorCode) : ErrorCodes.DATAPLANE_REJECTED;
      throw new ApplyError(code, `config rejected, nothing changed: ${refusals.map((r) => `worker ${r.pid}: ${r.err.message}`).join('; ')}`);
    }
    return prepared.map((r) => (r.status === 'fulfilled' ? r.value : null));
  }

  private async abortWorkers(workers: readonly WorkerLink[]): Promise<void> {
    await Promise.allSettled(workers.map((w) => w.request({ t: 'abort' }, REQUEST_TIMEOUT_MS)));
  }

  /** Phase two over the workers prepareWorkers() prepared: one that fails to commit is replaced, never left on the old config. */
  private async commitWorkers(workers: readonly WorkerLink[], prepared: ReadonlyArray<'patch' | 'whole' | null>, desired: Config, digest: string, change: ConfigChange | null): Promise<void> {
    const committed = await Promise.allSettled(workers.map((w) => w.request({ t: 'commit' }, REQUEST_TIMEOUT_MS)));
    committed.forEach((r, i) => {
      const w = workers[i];
      const how = prepared[i];
      if (r.status === 'fulfilled' && how !== null) {
        if (how === 'whole') w.keys = new Set(listenKeys(desired.services.values()));
        else {
          for (const key of change!.release) w.keys.delete(key);
          for (const key of change!.listen) w.keys.add(key);
        }
        w.committed[how]++;
        w.lastCommit = how === 'patch' ? patchSize(change!.patch) : { how: 'whole', services: desired.services.size, removed: 0, endpointChanges: 0 };
        this.committedOn(w, r.value.configHash, digest);
      } else if (w.alive) {
        // Never left silently on the old config: replaced, and the replacement starts on the new one.
        const err = r.status === 'rejected' ? (r.reason as Error).message : 'no prepare';
        this.options.log.error({ workerPid: w.pid, err }, 'worker failed to commit the config; replacing it');
        w.kill();
      }
    });
  }

  /**
   * One step instead of two for a patch that changes only endpoint lists, when every worker runs
   * its base (the usual discovery apply): it hands over no socket and rebuilds no service from new
   * settings, so no worker can refuse it for the config's sake and a prepare phase would protect
   * nothing; it saves a round trip to every worker. A worker that cannot apply it after all gets
   * the whole config in two phases; one that fails is replaced, as after a failed commit.
   */
  private async applyInOneStep(workers: readonly WorkerLink[], desired: Config, digest: string, change: ConfigChange): Promise<void> {
    const results = await Promise.allSettled(workers.map((w) => w.request({ t: 'apply-patch', patch: change.patch }, REQUEST_TIMEOUT_MS)));
    const whole: WorkerLink[] = [];
    results.forEach((r, i) => {
      const w = workers[i];
      if (r.status === 'fulfilled') {
        w.committed.patch++;
        w.lastCommit = patchSize(change.patch);
        this.committedOn(w, r.value.configHash, digest);
      } else if (w.alive && r.reason instanceof WorkerRefusal && r.reason.code === NEED_FULL_CONFIG) whole.push(w);
      else if (w.alive) {
        this.options.log.error({ workerPid: w.pid, err: (r.reason as Error).message }, 'worker failed to apply the endpoint changes; replacing it');
        w.kill();
      }
    });
    if (whole.length === 0) return;
    await this.commitTo(whole, desired, digest, null).catch((err: Error) => {
      this.options.log.error({ workerPids: whole.map((w) => w.pid), err: err.message }, 'worker refused the whole config after an endpoint patch; replacing it');
      for (const w of whole) w.kill();
    });
  }

  /** Records the digest a worker reports it now runs; one that differs from ours is logged (status shows it). */
  private committedOn(w: WorkerLink, reported: string | undefined, digest: string): void {
    w.configHash = reported ?? null;
    if (reported !== digest) this.options.log.error({ workerPid: w.pid, worker: reported?.slice(0, 12), supervisor: digest.slice(0, 12) }, 'worker runs a config whose digest differs from the supervisor\'s');
  }

  private async sendListeners(w: WorkerLink, keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      if (w.keys.has(key)) continue;
      const handle = this.sockets.handle(key);
      if (handle) await w.sendWithHandle({ t: 'listener', key }, handle);
    }
  }

  private async startWorker(generation: number, slot: number, config: Config, digest: string): Promise<WorkerLink> {
    const w = new WorkerLink(this.script, generation, slot, this.options.log, (link, msg, handle) => this.onMessage(link, msg, handle), this.options.workers);
    this.links.add(w);
    void w.exited.then(() => {
      this.links.delete(w);
      this.onExit(w);
    });
    const keys = listenKeys(config.services.values());
    let reported: string | undefined;
    try {
      // First: no TLS handshake before the keys every worker shares (messages arrive in order).
      w.post({ t: 'ticket-keys', keys: this.tickets.keys });
      await within(this.options.readyTimeoutMs, `worker ${w.pid} did not report ready within ${this.options.readyTimeoutMs} ms`, async () => {
        // Before its first config, so it never serves without the overrides (a later change
        // reaches it through `links` in order, even while its generation is still starting).
        if (this.overrides.size > 0) await w.request({ t: 'overrides', table: this.overrides }, this.options.readyTimeoutMs);
        await this.sendListeners(w, keys);
        await w.request({ t: 'prepare', snapshot: snapshotOf(config, digest) }, this.options.readyTimeoutMs);
        reported = (await w.request({ t: 'commit' }, this.options.readyTimeoutMs)).configHash;
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
    w.keys = new Set(keys);
    w.committed.whole++;
    w.lastCommit = { how: 'whole', services: config.services.size, removed: 0, endpointChanges: 0 };
    this.committedOn(w, reported, digest);
    w.state = 'ready';
    return w;
  }

  private async startGeneration(config: Config, digest: string): Promise<Generation> {
    const number = ++this.generations;
    const results = await Promise.allSettled(Array.from({ length: this.options.workers }, (_, slot) => this.startWorker(number, slot, config, digest)));
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

  /**
   * A new generation from the code on disk; the old one drains once the new one is ready.
   * A request arriving while another is waiting to start joins that one (storms coalesce).
   */
  upgrade(): Promise<UpgradeResult> {
    if (this.queuedUpgrade) return this.queuedUpgrade;
    const run = this.serial(() => {
      this.queuedUpgrade = null;
      return this.upgradeNow();
    });
    this.queuedUpgrade = run;
    return run;
  }

  private async upgradeNow(): Promise<UpgradeResult> {
    const started = Date.now();
    const old = this.active;
    if (!old || !this.config || !this.digest || this.stopping) throw new ApplyError(ErrorCodes.NOTHING_TO_UPGRADE, 'nothing is running to upgrade');
    // At most three generations exist at once: the one cut short last time must be gone first.
    await Promise.all([...this.retiring].map((w) => w.exited));
    const base = { at: new Date(started).toISOString() };
    let next: Generation;
    try {
      next = await this.startGeneration(this.config, this.digest);
    } catch (err) {
      const result: UpgradeResult = { ...base, ok: false, durationMs: Date.now() - started, generation: old.number, pids: old.workers.map((w) => w.pid), error: (err as Error).message };
      this.upgrades.failed++;
      this.lastUpgrade = result;
      this.options.log.error({ error: result.error }, 'upgrade failed; the running generation keeps serving');
      return result;
    }
    this.active = next;
    const shortened = this.draining?.number;
    if (this.draining) this.cutShort(this.draining);
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
    this.upgrades.ok++;
    this.lastUpgrade = result;
    this.options.log.info({ generation: next.number, previous: old.number, shortened, ms: result.durationMs }, 'upgraded: new generation serving, previous one draining');
    return result;
  }

  private beginDrain(gen: Generation): void {
    this.draining = gen;
    for (const w of gen.workers) {
      w.expectedExit = true;
      if (!w.alive) continue;
      w.state = 'draining';
      w.post({ t: 'drain', timeoutMs: this.options.upgradeDrainMs, handoff: true });
      killLater(w, this.options.upgradeDrainMs + KILL_GRACE_MS);
    }
  }

  /** A newer upgrade ends this drain now: idle connections still move, the rest are closed. */
  private cutShort(gen: Generation): void {
    for (const w of gen.workers) {
      if (!w.alive) continue;
      this.retiring.add(w);
      w.post({ t: 'drain', timeoutMs: 0, handoff: true });
      killLater(w, KILL_GRACE_MS);
    }
    this.draining = null;
  }

  private onMessage(from: WorkerLink, msg: WorkerMessage, handle: unknown): void {
    if (msg.t === 'conn' && handle) this.forwardConnection(from, msg.key, handle as TcpHandle);
    else if (msg.t === 'drained') {
      from.lastStatus = msg.final;
      this.finalCounters.add(from);
      this.handedOff += msg.handedOff;
      this.options.log.info({ workerPid: from.pid, generation: from.generation, handedOff: msg.handedOff, closedAtTimeout: msg.closedAtTimeout }, 'worker drained');
    }
  }

  /** An idle keep-alive connection of a draining worker continues on a worker of the active generation. */
  forwardConnection(from: WorkerLink | null, key: string, handle: TcpHandle): void {
    if (this.handoffSink) return this.handoffSink(key, handle);
    const ready = (this.active?.workers ?? []).filter((w) => w.state === 'ready' && w !== from);
    const target = ready[this.rr++ % Math.max(1, ready.length)];
    if (!target) return handle.close();
    target.sendWithHandle({ t: 'conn', key }, handle).then(
      () => handle.close(),
      () => handle.close(),
    );
  }

  /**
   * Endpoint overrides for every worker, now and for every worker started later (restarts, the
   * next generation of an upgrade). Not serialised with applies: the table travels on its own
   * message and a worker folds it into whatever config it runs or receives next. A serving worker
   * that cannot take it is replaced, as after a failed commit, and its replacement starts with it.
   */
  async setOverrides(table: OverrideTable): Promise<void> {
    this.overrides = table;
    const targets = [...this.links].filter((w) => w.alive);
    const results = await Promise.allSettled(targets.map((w) => w.request({ t: 'overrides', table }, REQUEST_TIMEOUT_MS)));
    results.forEach((r, i) => {
      const w = targets[i];
      if (r.status === 'fulfilled' || !w.alive || w.state === 'draining') return;
      this.options.log.error({ workerPid: w.pid, err: (r.reason as Error).message }, 'worker failed to apply the endpoint overrides; replacing it');
      w.kill();
    });
  }

  /** SIGHUP: the workers write the access logs, so they reopen them (logrotate). */
  reopenLogs(): void {
    for (const w of this.allWorkers()) w.post({ t: 'reopen-logs' });
  }

  /** Generation numbers continue across a supervisor upgrade. */
  continueFrom(generation: number): void {
    this.generations = Math.max(this.generations, generation);
  }

  /**
   * The supervisor was replaced: every worker drains (idle connections go to `sink`), nothing is
   * restarted any more; resolves when all have exited.
   */
  async retireAll(sink: (key: string, handle: TcpHandle) => void): Promise<void> {
    await this.serial(async () => {
      this.handoffSink = sink;
      clearInterval(this.poll);
      if (this.draining) this.cutShort(this.draining);
      if (this.active) this.beginDrain(this.active);
      this.active = null;
    });
    await Promise.all(this.allWorkers().map((w) => w.exited));
  }

  private onExit(w: WorkerLink): void {
    this.retiring.delete(w);
    if (w.lastStatus) this.retired = retire(this.retired, w.lastStatus.dataplane.services);
    if (this.draining?.workers.every((x) => !x.alive)) this.draining = null;
    const gen = this.active;
    if (w.expectedExit || this.stopping || !gen || !gen.workers.includes(w)) return;
    const how = w.exit?.signal ?? `code ${w.exit?.code}`;
    const delay = this.crashes.crashed(w.slot, how);
    const fields = { workerPid: w.pid, slot: w.slot, generation: w.generation, exit: how, restartInMs: delay };
    if (this.crashes.inLoop(w.slot)) this.options.log.error(fields, 'worker crash loop: restarting with backoff');
    else this.options.log.warn(fields, 'worker died; restarting it (its sockets stay open in the supervisor)');
    this.restartLater(gen, w.slot, delay);
  }

  private restartLater(gen: Generation, slot: number, delayMs: number): void {
    setTimeout(() => {
      void this.serial(async () => {
        if (this.stopping || this.active !== gen || !this.config || !this.digest) return;
        if (gen.workers[slot]?.alive) return;
        try {
          gen.workers[slot] = await this.startWorker(gen.number, slot, this.config, this.digest);
          this.options.log.info({ workerPid: gen.workers[slot].pid, slot }, 'worker restarted');
        } catch (err) {
          const delay = this.crashes.crashed(slot, (err as Error).message);
          this.options.log.error({ slot, err: (err as Error).message, restartInMs: delay }, 'worker restart failed');
          this.restartLater(gen, slot, delay);
        }
      });
    }, delayMs);
  }

  /**
   * Asks every live worker for its status (bounded wait); the last answer stays for the others.
   * An apply that completes meanwhile may have been answered from before it: then it asks again
   * (a few times at most), so a status read after an apply completed always shows that apply.
   */
  async refreshStatus(timeoutMs = 2_000, processMetrics = false): Promise<void> {
    for (let round = 0; round < 3; round++) {
      const applied = this.applied;
      const refresh = ++this.refreshes;
      const replies: Array<{ w: WorkerLink; status: WorkerStatus }> = [];
      await Promise.allSettled(
        this.allWorkers()
          .filter((w) => w.alive && w.state !== 'starting')
          .map(async (w) => {
            const { value } = await w.request({ t: 'status', have: w.statusDecoder.have, ...(processMetrics && round === 0 ? { process: true } : {}) }, timeoutMs);
            if (value?.process) w.processMetrics = value.process;
            const dataplane = value && w.statusDecoder.decode(value.dataplane);
            if (value && dataplane) {
              const { process: _process, ...status } = value;
              replies.push({ w, status: { ...status, dataplane } });
            }
          }),
      );
      // Every worker's counters and their time change together, in one step: a reading taken
      // while replies arrive one by one would pair some newer counters with the older time (a
      // rate spike, then a dip). A refresh that started before the last one applied is older
      // news, and so is a reply of a worker that sent its final counters meanwhile (drained).
      if (refresh > this.refreshApplied && replies.length > 0) {
        this.refreshApplied = refresh;
        for (const { w, status } of replies) if (!this.finalCounters.has(w)) w.lastStatus = status;
        // When the counters were read: by the workers' own clocks (a busy supervisor may take its
        // time to see the replies), the middle of their readings; never back in time.
        const readAt = Math.round(replies.reduce((sum, r) => sum + r.status.readAt, 0) / replies.length);
        this.countersReadAt = Math.max(this.countersReadAt, readAt);
      }
      if (this.applied === applied) return;
    }
  }

  /** When the counters status() serves were read: rates over them use this time, not the time they are looked at. */
  get countersAt(): number {
    return this.countersReadAt;
  }

  status(): DataplaneStatus {
    const live = this.allWorkers().filter((w) => w.alive && w.lastStatus);
    const active = live.filter((w) => w.state === 'ready');
    const leaving = live.filter((w) => w.state !== 'ready').flatMap((w) => w.lastStatus!.dataplane.services);
    const retired = leaving.length > 0 ? retire(this.retired, leaving) : this.retired;
    const services = mergeServices(active.map((w) => w.lastStatus!.dataplane.services), retired, this.endpointReuse);
    const serviceOf = new Map<string, string>();
    for (const s of this.config?.services.values() ?? []) for (const l of s.listen) serviceOf.set(l.key, s.name);
    const owned = this.sockets.keys().map((key) => ({ address: key, service: serviceOf.get(key) ?? null, since: this.sockets.since(key) ?? Date.now(), state: this.sockets.state(key), socket: this.sockets.identity(key) }));
    const listeners = mergeListeners(owned, live.map((w) => w.lastStatus!.dataplane.listeners));
    return { driver: 'builtin', services, listeners };
  }

  /**
   * Shutdown: every worker stops accepting and drains for up to `drainMs`. Our copies of the
   * sockets close at once too: a socket stays in LISTEN while any process holds it, and after a
   * stop new connections must be refused, not queued for nobody.
   */
  stop(drainMs: number): Promise<void> {
    this.stopping ??= (async () => {
      await this.lock.catch(() => {});
      clearInterval(this.poll);
      this.tickets.stop();
      const all = this.allWorkers().filter((w) => w.alive);
      for (const w of all) {
        w.expectedExit = true;
        w.post({ t: 'stop', timeoutMs: drainMs });
        killLater(w, drainMs + KILL_GRACE_MS);
      }
      this.sockets.closeAll();
      await Promise.all(all.map((w) => w.exited));
    })();
    return this.stopping;
  }
}

/** The codes a worker's refusal may carry through to the apply's answer (else DATAPLANE_REJECTED). */
const REFUSAL_CODES: ReadonlySet<string> = new Set([ErrorCodes.BIND_FAILED, ErrorCodes.DATAPLANE_REJECTED, ErrorCodes.SHUTTING_DOWN]);

function killLater(w: WorkerLink, ms: number): void {
  const timer = setTimeout(() => w.kill('SIGKILL'), ms);
  void w.exited.then(() => clearTimeout(timer));
}

/** A patch that changes endpoint lists and nothing else. */
function onlyEndpoints(patch: ConfigPatch): boolean {
  return patch.endpoints.length > 0 && patch.services.length === 0 && patch.removed.length === 0 && patch.top === undefined;
}

/** What a patch carried, for status: services whole, services removed, endpoints as deltas. */
function patchSize(patch: ConfigPatch): NonNullable<WorkerLink['lastCommit']> {
  let endpointChanges = 0;
  for (const p of patch.endpoints) for (const { delta } of p.clusters) endpointChanges += delta.added.length + delta.removed.length + delta.reweighted.length;
  return { how: 'patch', services: patch.services.length, removed: patch.removed.length, endpointChanges };
}

function snapshotOf(config: Config, digest: string): ConfigSnapshot {
  return { config, source: 'supervisor', text: '', hash: digest };
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
