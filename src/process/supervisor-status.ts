// What the supervisor says about its workers: their counters, asked for every 2 s and before each
// status request (one round's replies replace the last ones together, with their time), summed
// into one data plane status (status-aggregate.ts); and the `process` section of GET /status
// (who serves, restarts, upgrades), made from a snapshot of the supervisor's state.
import { fdLaneSupport } from '../util/fd-lane.js';
import type { PauseSummary } from './pause-record.js';
import type { Config } from '../config/model.js';
import type { DataplaneStatus } from '../dataplane/driver.js';
import type { PackedService } from '../dataplane/builtin/packed-status.js';
import type { CrashLoop } from './crash-policy.js';
import type { Generation, UpgradeRecord } from './generations.js';
import type { WorkerStatus } from './messages.js';
import type { SupervisorSockets } from './socket-pool.js';
import { EndpointReuse, mergeListeners, mergeServices, retire } from './status-aggregate.js';
import type { WorkerLink } from './worker-link.js';

const STATUS_POLL_MS = 2_000;

export class SupervisorStatus {
  /** Applies completed so far (a status refresh that overlaps one asks again). */
  private applied = 0;
  /** Unix ms at which the workers' counters that dataplane() serves were read (the last refresh). */
  private countersReadAt = Date.now();
  /** Status refreshes started, and the latest one whose replies were applied (refresh). */
  private refreshes = 0;
  private refreshApplied = 0;
  /** Workers that sent their final counters (drained): no status reply replaces those. */
  private readonly finalCounters = new WeakSet<WorkerLink>();
  /** Counters of exited workers, kept so that totals do not drop. */
  private retired: PackedService[] = [];
  /** Endpoint objects of the last dataplane(), reused where nothing changed. */
  private readonly endpointReuse = new EndpointReuse();
  private readonly poll: NodeJS.Timeout;

  /** `workers`: every worker process alive or awaited. */
  constructor(private readonly workers: () => readonly WorkerLink[]) {
    // Keeps each worker's last counters fresh enough that a crash loses little of the totals.
    this.poll = setInterval(() => void this.refresh(), STATUS_POLL_MS).unref();
  }

  stopPolling(): void {
    clearInterval(this.poll);
  }

  /** An apply completed: a refresh that overlapped it asks again. */
  appliedOne(): void {
    this.applied++;
  }

  /** A drained worker's last counters: they stay, whatever a status reply in flight says. */
  finalOf(w: WorkerLink, final: WorkerStatus): void {
    w.lastStatus = final;
    this.finalCounters.add(w);
  }

  /** A worker exited: its last counters join the retired ones. */
  exited(w: WorkerLink): void {
    if (w.lastStatus) this.retired = retire(this.retired, w.lastStatus.dataplane.services);
  }

  /** When the counters dataplane() serves were read: rates over them use this time, not the time they are looked at. */
  get countersAt(): number {
    return this.countersReadAt;
  }

  /**
   * Asks every live worker for its status (bounded wait); the last answer stays for the others.
   * An apply that completes meanwhile may have been answered from before it: then it asks again
   * (a few times at most), so a status read after an apply completed always shows that apply.
   */
  async refresh(timeoutMs = 2_000, processMetrics = false): Promise<void> {
    for (let round = 0; round < 3; round++) {
      const applied = this.applied;
      const refresh = ++this.refreshes;
      const replies: Array<{ w: WorkerLink; status: WorkerStatus }> = [];
      await Promise.allSettled(
        this.workers()
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

  /** The workers' data plane status summed, with the supervisor's own listening sockets. */
  dataplane(config: Config | null, sockets: SupervisorSockets): DataplaneStatus {
    const live = this.workers().filter((w) => w.alive && w.lastStatus);
    const active = live.filter((w) => w.state === 'ready');
    const leaving = live.filter((w) => w.state !== 'ready').flatMap((w) => w.lastStatus!.dataplane.services);
    const retired = leaving.length > 0 ? retire(this.retired, leaving) : this.retired;
    const services = mergeServices(active.map((w) => w.lastStatus!.dataplane.services), retired, this.endpointReuse);
    const serviceOf = new Map<string, string>();
    for (const s of config?.services.values() ?? []) for (const l of s.listen) serviceOf.set(l.key, s.name);
    const owned = sockets.keys().map((key) => ({ address: key, service: serviceOf.get(key) ?? null, since: sockets.since(key) ?? Date.now(), state: sockets.state(key), socket: sockets.identity(key) }));
    const listeners = mergeListeners(owned, live.map((w) => w.lastStatus!.dataplane.listeners));
    return { driver: 'builtin', services, listeners };
  }
}

/** The supervisor's state as the `process` section shows it (Supervisor.processState()). */
export interface ProcessState {
  readonly workersPerGeneration: number;
  /** The generation serving (0 before the first). */
  readonly generation: number;
  /** The digest of the config the supervisor committed last. */
  readonly configDigest: string | null;
  readonly draining: Generation | null;
  readonly workers: readonly WorkerLink[];
  readonly restarts: number;
  readonly crashLoops: readonly CrashLoop[];
  readonly upgrades: UpgradeRecord & { readonly handedOver: number; readonly tunnels: TunnelCounts };
}

/** Tunnels at upgrades (tunnel-move.ts): moved, drained where they were, lost with a process that died. */
export interface TunnelCounts {
  readonly moved: number;
  readonly drained: number;
  readonly lost: number;
  /** The pauses of the tunnels moved since the latest upgrade began (ms). */
  readonly pauseMs: PauseSummary;
}

/**
 * Who serves: the supervisor, each worker (pid, generation, state, the config digest it computed,
 * how many configs it committed as patches or whole and what the last one carried), restarts and
 * upgrades.
 */
export function processSection(s: ProcessState) {
  const workers = s.workers.map((w) => ({
    pid: w.pid,
    generation: w.generation,
    slot: w.slot,
    state: w.state,
    configHash: w.configHash,
    inSync: w.state !== 'ready' || w.configHash === s.configDigest,
    committed: { ...w.committed },
    lastCommit: w.lastCommit,
    startedAt: new Date(w.startedAt).toISOString(),
    rssBytes: w.lastStatus?.rssBytes ?? null,
    heapUsedBytes: w.lastStatus?.heapUsedBytes ?? null,
    connections: w.lastStatus?.openConnections ?? null,
    prepares: w.lastStatus?.prepares ?? null,
    responding: w.responding,
    lastHeardAt: new Date(w.lastHeardAt).toISOString(),
    ...(w.exit ? { exit: w.exit.signal ?? `code ${w.exit.code}` } : {}),
  }));
  const supervisorRss = process.memoryUsage.rss();
  const { ok, failed, handedOver, tunnels, last } = s.upgrades;
  return {
    mode: 'supervisor' as const,
    supervisorPid: process.pid,
    /** process.memoryUsage() of the supervisor, in bytes: rss, heapTotal, heapUsed, external, arrayBuffers. */
    supervisorMemory: process.memoryUsage(),
    workersPerGeneration: s.workersPerGeneration,
    generation: s.generation,
    configHash: s.configDigest,
    draining: s.draining ? { generation: s.draining.number, since: new Date(s.draining.since).toISOString() } : null,
    workers,
    processes: 1 + workers.filter((w) => !w.exit).length,
    rssBytes: supervisorRss + workers.reduce((sum, w) => sum + (w.exit ? 0 : (w.rssBytes ?? 0)), 0),
    restarts: s.restarts,
    crashLoops: s.crashLoops,
    // `handedOffConnections`: the name users have read in GET /status since it existed (kept, though
    // the act is called hand-over everywhere else).
    // movedConnections / drainedConnections: tunnels (tcp-mode, upgraded HTTP) moved to the next
    // generation or left to drain on the old one; lostConnections: halves closed because a process
    // died mid-move. moveLane: whether their descriptors go in batches (util/fd-lane.ts), or why not.
    upgrades: { ok, failed, handedOffConnections: handedOver, movedConnections: tunnels.moved, drainedConnections: tunnels.drained, lostConnections: tunnels.lost, movePauseMs: tunnels.pauseMs, moveLane: moveLane(), last },
  };
}

/** Whether moved tunnels' descriptors can travel in batches here (the workers run the same Node and node_modules). */
function moveLane(): { readonly available: true } | { readonly available: false; readonly why: string } {
  const lane = fdLaneSupport();
  return lane.ok ? { available: true } : { available: false, why: lane.why };
}
