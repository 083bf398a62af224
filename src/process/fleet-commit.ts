// The fleet-wide commit: the driver contract (dataplane/driver.ts) across the process line, over
// the workers that serve. Phase one has every worker prepare (a patch of the config it runs, or the
// whole config) and any refusal aborts them all; phase two commits each prepared worker, and one
// that fails is replaced, never left on the old config. A new worker (start, restart, code
// upgrade) runs the same two phases alone, with the whole config. The caller (Supervisor) holds
// its lock from prepare to commit or abort, and binds and releases the supervisor's sockets.
import type { Config, ConfigSnapshot } from '../config/model.js';
import { listenKeys } from '../control/plan.js';
import { ApplyError, ErrorCodes, type ApplyErrorCode } from '../errors.js';
import type { Logger } from '../observability/log.js';
import type { ConfigChange, ConfigPatch } from './config-patch.js';
import type { SupervisorSockets } from './socket-pool.js';
import { WorkerRefusal, type WorkerLink } from './worker-link.js';

/** How long a serving worker may take to answer one request of an apply. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** The workers' half of a prepared change: how commit proceeds, and how abort undoes prepare. */
export interface WorkersPhase {
  readonly how: string;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** How each worker was prepared (null: it was not, e.g. it died meanwhile). */
type Prepared = ReadonlyArray<'patch' | 'whole' | null>;

/** The codes a worker's refusal may carry through to the apply's answer (else DATAPLANE_REJECTED). */
const REFUSAL_CODES: ReadonlySet<string> = new Set([ErrorCodes.BIND_FAILED, ErrorCodes.DATAPLANE_REJECTED, ErrorCodes.SHUTTING_DOWN]);

export class FleetCommit {
  constructor(
    private readonly sockets: SupervisorSockets,
    private readonly log: Logger,
  ) {}

  /**
   * Phase one over the serving `workers`: prepared now, committed or aborted later. A patch that
   * changes only endpoint lists, when every worker runs its base, has no prepare phase (see
   * applyInOneStep); anything else is prepared on every worker, and a refusal throws with
   * nothing changed.
   */
  async prepare(workers: readonly WorkerLink[], desired: Config, digest: string, change: ConfigChange | null): Promise<WorkersPhase> {
    if (change && onlyEndpoints(change.patch) && workers.every((w) => w.configHash === change.patch.base)) {
      // Nothing a worker could refuse for the config's sake: no prepare phase.
      return { how: `endpoint changes in one step on ${workers.length} workers`, commit: () => this.applyInOneStep(workers, desired, digest, change), abort: async () => {} };
    }
    const prepared = await this.prepareWorkers(workers, desired, digest, change);
    const patched = prepared.filter((how) => how === 'patch').length;
    return {
      how: `${workers.length} workers prepared (${patched} with a patch, ${workers.length - patched} with the whole config)`,
      commit: () => this.commitWorkers(workers, prepared, desired, digest, change),
      abort: () => this.abortWorkers(workers),
    };
  }

  /**
   * A new worker's first config (start, crash restart, code upgrade): the handles it lacks, then
   * the whole config prepared and committed, each answer within `timeoutMs`. Resolves with the
   * digest the worker reports; the caller records it with committedWhole() once it counts the
   * worker as started.
   */
  async firstConfig(w: WorkerLink, config: Config, digest: string, timeoutMs: number): Promise<string | undefined> {
    await this.sendListeners(w, listenKeys(config.services.values()));
    await w.request({ t: 'prepare', snapshot: snapshotOf(config, digest) }, timeoutMs);
    return (await w.request({ t: 'commit' }, timeoutMs)).configHash;
  }

  /** Records that `w` committed the whole of `config`, reporting `reported`. */
  committedWhole(w: WorkerLink, config: Config, reported: string | undefined, digest: string): void {
    w.keys = new Set(listenKeys(config.services.values()));
    w.committed.whole++;
    w.lastCommit = { how: 'whole', services: config.services.size, removed: 0, endpointChanges: 0 };
    this.committedOn(w, reported, digest);
  }

  /** Both phases over `workers`, in one go. */
  private async prepareAndCommit(workers: readonly WorkerLink[], desired: Config, digest: string, change: ConfigChange | null): Promise<void> {
    const prepared = await this.prepareWorkers(workers, desired, digest, change);
    await this.commitWorkers(workers, prepared, desired, digest, change);
  }

  /**
   * Phase one over `workers`: a patch to each one that runs the patch's base, the whole config to
   * the others (or to one that refuses the patch for another base). Any refusal aborts them all
   * and throws, with the refusals' own code when they agree on one, else DATAPLANE_REJECTED.
   */
  private async prepareWorkers(workers: readonly WorkerLink[], desired: Config, digest: string, change: ConfigChange | null): Promise<Prepared> {
    let whole: { snapshot: ConfigSnapshot; keys: string[] } | null = null;
    const wholeConfig = () => (whole ??= { snapshot: snapshotOf(desired, digest), keys: listenKeys(desired.services.values()) });
    const prepare = async (w: WorkerLink): Promise<'patch' | 'whole'> => {
      if (change && w.configHash === change.patch.base) {
        try {
          await this.sendListeners(w, change.listen);
          await w.request({ t: 'prepare-patch', patch: change.patch }, REQUEST_TIMEOUT_MS);
          return 'patch';
        } catch (err) {
          if (!wantsFullConfig(err)) throw err;
          this.log.warn({ workerPid: w.pid, reason: (err as Error).message }, 'worker cannot apply the config patch; sending it the whole config');
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
  private async commitWorkers(workers: readonly WorkerLink[], prepared: Prepared, desired: Config, digest: string, change: ConfigChange | null): Promise<void> {
    const committed = await Promise.allSettled(workers.map((w) => w.request({ t: 'commit' }, REQUEST_TIMEOUT_MS)));
    committed.forEach((r, i) => {
      const w = workers[i];
      const how = prepared[i];
      if (r.status === 'fulfilled' && how === 'whole') this.committedWhole(w, desired, r.value.configHash, digest);
      else if (r.status === 'fulfilled' && how === 'patch') {
        for (const key of change!.release) w.keys.delete(key);
        for (const key of change!.listen) w.keys.add(key);
        w.committed.patch++;
        w.lastCommit = patchSize(change!.patch);
        this.committedOn(w, r.value.configHash, digest);
      } else if (w.alive) {
        // Never left silently on the old config: replaced, and the replacement starts on the new one.
        const err = r.status === 'rejected' ? (r.reason as Error).message : 'no prepare';
        this.log.error({ workerPid: w.pid, err }, 'worker failed to commit the config; replacing it');
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
      } else if (w.alive && wantsFullConfig(r.reason)) whole.push(w);
      else if (w.alive) {
        this.log.error({ workerPid: w.pid, err: (r.reason as Error).message }, 'worker failed to apply the endpoint changes; replacing it');
        w.kill();
      }
    });
    if (whole.length === 0) return;
    await this.prepareAndCommit(whole, desired, digest, null).catch((err: Error) => {
      this.log.error({ workerPids: whole.map((w) => w.pid), err: err.message }, 'worker refused the whole config after an endpoint patch; replacing it');
      for (const w of whole) w.kill();
    });
  }

  /** Records the digest a worker reports it now runs; one that differs from ours is logged (status shows it). */
  private committedOn(w: WorkerLink, reported: string | undefined, digest: string): void {
    w.configHash = reported ?? null;
    if (reported !== digest) this.log.error({ workerPid: w.pid, worker: reported?.slice(0, 12), supervisor: digest.slice(0, 12) }, 'worker runs a config whose digest differs from the supervisor\'s');
  }

  /** The listening handles of `keys` that `w` does not hold yet, sent before the prepare that needs them. */
  private async sendListeners(w: WorkerLink, keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      if (w.keys.has(key)) continue;
      const handle = this.sockets.handle(key);
      if (handle) await w.sendWithHandle({ t: 'listener', key }, handle);
    }
  }
}

/** A worker's refusal of a patch that asks for the whole config instead (it runs another base). */
function wantsFullConfig(err: unknown): boolean {
  return err instanceof WorkerRefusal && err.wants === 'full-config';
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
