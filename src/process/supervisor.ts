// The supervisor: a small long-lived process that owns every listening socket and the workers
// that serve them. This class coordinates; each idea lives in its own file: worker generations
// (generations.ts: start, crash restarts, code upgrade, drain), the fleet-wide commit
// (fleet-commit.ts: prepare/commit/abort across the workers), connection hand-over
// (connection-handover.ts) and status (supervisor-status.ts). It owns the lock that makes every
// state change (an apply from prepare to commit or abort, an upgrade, a restart) run alone, the
// config every worker runs, and its own copy of each socket, which keeps the port open throughout.
import { fdLaneSupport } from '../util/fd-lane.js';
import type { Config } from '../config/model.js';
import { listenAddresses, type Plan } from '../control/plan.js';
import type { DataplaneStatus, PreparedChange } from '../dataplane/driver.js';
import { PreparedSlot, type ChangeSteps } from '../dataplane/prepared-change.js';
import { BindError } from '../dataplane/socket-pool/bind-error.js';
import type { OverrideTable } from '../dataplane/endpoint-override.js';
import { ApplyError, ErrorCodes } from '../errors.js';
import { ConfigDigest } from './config-digest.js';
import { changeBetween, type ConfigChange } from './config-patch.js';
import { ConnectionHandover, type HandoverMessage, type HandoverSink } from './connection-handover.js';
import { FleetCommit, type WorkersPhase } from './fleet-commit.js';
import { Generations, type GenerationOptions, type UpgradeResult } from './generations.js';
import type { TcpHandle, WorkerMessage } from './messages.js';
import { SupervisorSockets } from './socket-pool.js';
import { SupervisorStatus, type ProcessState } from './supervisor-status.js';
import type { WorkerLink } from './worker-link.js';

export type SupervisorOptions = GenerationOptions;
export type { UpgradeResult };

/** How long a replaced supervisor waits, once its workers are gone, for the connections it is still passing on. */
const PASS_ON_SETTLE_MS = 10_000;

export class Supervisor {
  readonly sockets = new SupervisorSockets();
  private config: Config | null = null;
  /** The digest of `config` (what every in-sync worker reports), and the state that updates it per patch. */
  private digest: string | null = null;
  private digestOf: ConfigDigest | null = null;
  private lock: Promise<unknown> = Promise.resolve();
  private queuedUpgrade: Promise<UpgradeResult> | null = null;
  private stopping: Promise<void> | null = null;
  private readonly slot = new PreparedSlot('supervisor');
  /** Runs once the first generation is ready, before the first apply returns (supervisor upgrade). */
  private firstGenerationHook: (() => Promise<void>) | null = null;
  private readonly fleet: FleetCommit;
  private readonly generations: Generations;
  private readonly handover: ConnectionHandover;
  private readonly workerStatus: SupervisorStatus;

  constructor(readonly options: SupervisorOptions) {
    this.fleet = new FleetCommit(this.sockets, options.log);
    this.generations = new Generations(options, this.fleet, {
      serial: (fn) => this.serial(fn),
      running: () => (this.stopping || !this.config || !this.digest ? null : { config: this.config, digest: this.digest }),
      stopping: () => this.stopping !== null,
      onMessage: (from, msg, handle) => this.onMessage(from, msg, handle),
      onExit: (w) => {
        this.workerStatus.exited(w);
        this.handover.exited(w);
      },
    });
    this.handover = new ConnectionHandover(() => this.generations.active?.workers ?? [], (fields, message) => options.log.warn(fields, message));
    this.workerStatus = new SupervisorStatus(() => this.generations.all());
    const lane = fdLaneSupport();
    // Said once, at start: upgrades work without it, but each moved connection costs the new
    // worker about twice the CPU (bench:join-cost), and a move of thousands takes longer.
    if (!lane.ok) options.log.warn({ why: lane.why }, 'tunnels will move at code upgrades one descriptor per message, not in batches (process/README.md, "The lane")');
  }

  /** The generation serving (0 before the first). */
  get generation(): number {
    return this.generations.active?.number ?? 0;
  }

  get configDigest(): string | null {
    return this.digest;
  }

  /** Every worker process alive or awaited: active, draining, and cut-short ones. */
  allWorkers(): WorkerLink[] {
    return this.generations.all();
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
   * every worker prepare (fleet-commit.ts); a refusal aborts every worker and releases the
   * sockets, and nothing changed. After the first, an apply binds or releases only the addresses
   * that changed, and its patch carries `plan` (the Controller's): it costs what changed, not the
   * service count. The first apply only binds here: its commit starts the first generation.
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
      phase = await this.workersPhase(desired, digest, change);
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
          this.workerStatus.appliedOne();
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

  /** The workers' side of a prepared change: the serving workers prepared, or (no worker yet) the first generation to start. */
  private workersPhase(desired: Config, digest: string, change: ConfigChange | null): Promise<WorkersPhase> {
    const active = this.generations.active;
    if (active) return this.fleet.prepare(active.workers.filter((w) => w.state === 'ready'), desired, digest, change);
    // No worker yet: the first generation starts on the new config in commit (each worker
    // prepares and commits it as it starts; one that fails fails the commit).
    const n = this.options.workers;
    return Promise.resolve({
      how: `start ${n} worker${n === 1 ? '' : 's'}`,
      commit: async () => {
        await this.generations.startFirst(desired, digest);
        const hook = this.firstGenerationHook;
        this.firstGenerationHook = null;
        await hook?.();
      },
      abort: async () => {},
    });
  }

  /** `hook` runs once, when the first generation is ready and before the first apply returns (supervisor upgrade). */
  afterFirstGeneration(hook: () => Promise<void>): void {
    this.firstGenerationHook = hook;
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
    if (!this.generations.active || !this.config || !this.digest || this.stopping) throw new ApplyError(ErrorCodes.NOTHING_TO_UPGRADE, 'nothing is running to upgrade');
    this.handover.pauses.begin();
    return this.generations.upgrade(this.config, this.digest);
  }

  private onMessage(from: WorkerLink, msg: WorkerMessage, handle: unknown): void {
    if (msg.t === 'conn' && handle) this.handover.handOver(from, msg.key, handle as TcpHandle);
    else if (msg.t === 'tunnel' && handle) {
      from.lastMoveAt = Date.now();
      this.handover.tunnelPart(from, msg, handle as TcpHandle);
    }
    else if (msg.t === 'tunnels-joined') {
      this.handover.pauses.add(Array.isArray(msg.pausesMs) ? msg.pausesMs : []);
      if ((msg.sentDirect ?? 0) > 0) from.lastMoveAt = Date.now();
      if (msg.direct) this.handover.directMoves(from, msg.direct);
    }
    else if (msg.t === 'drained') {
      this.workerStatus.finalOf(from, msg.final);
      if (msg.final.direct) this.handover.directMoves(from, msg.final.direct);
      this.handover.counted(msg.handedOver, msg.stayed ?? 0);
      // Left with its successor, unacknowledged (it hangs): counted lost if it exits without them.
      if (from.successor && Number.isInteger(msg.unconfirmed) && msg.unconfirmed! > 0) this.handover.owed(from.successor, msg.unconfirmed!);
      // `handedOff`: the log field's name since it existed (log queries use it).
      this.options.log.info({ workerPid: from.pid, generation: from.generation, handedOff: msg.handedOver, moved: msg.moved, stayed: msg.stayed, closedAtTimeout: msg.closedAtTimeout }, 'worker drained');
    }
  }

  /** A connection or a tunnel's half handed over by the supervisor this one replaced: it continues on a worker of the serving generation. */
  receiveConnection(msg: HandoverMessage, handle: TcpHandle): void {
    if (msg.t === 'conn') this.handover.handOver(null, msg.key, handle);
    else this.handover.tunnelPart(null, msg, handle);
  }

  /** Endpoint overrides for every worker, now and for every worker started later (worker-shared-state.ts). */
  setOverrides(table: OverrideTable): Promise<void> {
    return this.generations.shared.setOverrides(table);
  }

  /** SIGHUP: the workers write the access logs, so they reopen them (logrotate). */
  reopenLogs(): void {
    this.generations.postAll({ t: 'reopen-logs' });
  }

  /** Generation numbers continue across a supervisor upgrade. */
  continueFrom(generation: number): void {
    this.generations.continueFrom(generation);
  }

  /**
   * The supervisor was replaced: every worker drains (idle connections are handed over to `sink`,
   * the new supervisor), nothing is restarted any more; resolves when all have exited.
   */
  async retireAll(sink: HandoverSink): Promise<void> {
    await this.serial(async () => {
      this.handover.sendTo(sink);
      this.workerStatus.stopPolling();
      this.generations.retireAll();
    });
    await this.generations.allExited();
    // The last tunnels the old workers sent may still be on their way to the new supervisor.
    await this.handover.settled(PASS_ON_SETTLE_MS);
  }

  /** Asks the workers for their counters now (supervisor-status.ts). */
  refreshStatus(timeoutMs = 2_000, processMetrics = false): Promise<void> {
    return this.workerStatus.refresh(timeoutMs, processMetrics);
  }

  /** When the counters status() serves were read: rates over them use this time, not the time they are looked at. */
  get countersAt(): number {
    return this.workerStatus.countersAt;
  }

  status(): DataplaneStatus {
    return this.workerStatus.dataplane(this.config, this.sockets);
  }

  /** Tunnel counts, with what the workers' latest status replies say of their direct moves. */
  private tunnels(): ConnectionHandover['tunnels'] {
    for (const w of this.generations.all()) if (w.lastStatus?.direct) this.handover.directMoves(w, w.lastStatus.direct);
    return this.handover.tunnels;
  }

  /** A snapshot of who serves, restarts and upgrades, for the `process` section of status. */
  processState(): ProcessState {
    return {
      workersPerGeneration: this.options.workers,
      generation: this.generation,
      configDigest: this.digest,
      draining: this.generations.draining,
      workers: this.generations.all(),
      restarts: this.generations.restarts,
      crashLoops: this.generations.crashLoops(),
      upgrades: { ...this.generations.upgrades, handedOver: this.handover.handedOver, tunnels: { ...this.tunnels(), pauseMs: this.handover.pauses.summary() } },
    };
  }

  /**
   * Shutdown: every worker stops accepting and drains for up to `drainMs`. Our copies of the
   * sockets close at once too: a socket stays in LISTEN while any process holds it, and after a
   * stop new connections must be refused, not queued for nobody.
   */
  stop(drainMs: number): Promise<void> {
    this.stopping ??= (async () => {
      await this.lock.catch(() => {});
      this.workerStatus.stopPolling();
      const exited = this.generations.stopAll(drainMs);
      this.sockets.closeAll();
      await exited;
    })();
    return this.stopping;
  }
}
