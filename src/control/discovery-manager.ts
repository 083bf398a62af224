// Discovery → desired state. One source per service with `discovery:`; this keeps each source's
// last known good set and its state, holds sets that its guards refuse (set-guard.ts:
// min_endpoints, max_drop_percent), folds bursts into one apply per coalescing window, and (as the
// controller's assembler) merges the sets into whatever file/API config is being applied.
//
// Cost: a discovery apply costs what changed, not the number of services. The assembled config
// of the same base is patched: only the services whose set changed since the last assembly get
// a new ServiceConfig (all others keep their frozen objects, so the driver keeps their runtimes),
// the config hash is the root of a hash tree over the discovered services' identities
// (config/service-identity.ts: the digest the plan and the workers use too) updated for those
// leaves only, and the plan is told which services to compare (plan.ts recordDerivation).
// Within a service, the endpoint list is derived from the previous one by what changed
// (discovered-set.ts), so a one-endpoint change in a large service costs that endpoint
// downstream. A new base (reload, PUT /config) is assembled from scratch.
import type { DiscoveryConfig } from '../config/discovery-model.js';
import { freezeMap } from '../config/freeze-map.js';
import { HashTree, sha256Hex } from '../config/hash.js';
import type { ConfigSnapshot, ServiceConfig } from '../config/model.js';
import { serviceDigest } from '../config/service-identity.js';
import { createSource, sameTarget } from '../discovery/create-source.js';
import type { DiscoveredEndpoint, Source } from '../discovery/source.js';
import type { Logger } from '../observability/log.js';
import type { Assembler, Controller } from './controller.js';
import { DiscoveredSet, type Candidate } from './discovered-set.js';
import { recordDerivation } from './plan.js';
import { SetGuard } from './set-guard.js';

export type SourceState = 'starting' | 'healthy' | 'degraded';

/** A reported set a guard refused: what was reported, against what, why, and until when. */
export interface HeldSet {
  /** Endpoints in the reported (held) set. */
  readonly endpoints: number;
  /** The reference set's size (max_drop_percent measures against it); null before the first set. */
  readonly reference: number | null;
  readonly reason: string;
  readonly since: string;
  /** When it is applied if the source keeps reporting it unchanged; null: held until the source reports another set. */
  readonly until: string | null;
}

export interface DiscoveryStatus {
  readonly service: string;
  readonly source: string;
  readonly state: SourceState;
  readonly since: string;
  /** What is wrong now; null while the source is healthy (or still starting). */
  readonly lastError: string | null;
  /** The last trouble the source recovered from, with when it began and ended; null if none. */
  readonly recoveredFrom: { readonly error: string; readonly since: string; readonly until: string } | null;
  readonly lastUpdate: string | null;
  /** Endpoints in effect (the last known good set); null before the first good set. */
  readonly endpoints: number | null;
  /** The last reported set, when a guard holds it instead of applying it. */
  readonly held: HeldSet | null;
}

class Discovered {
  set = new DiscoveredSet();
  guard = new SetGuard();
  state: SourceState = 'starting';
  since = new Date().toISOString();
  lastError: string | null = null;
  recoveredFrom: DiscoveryStatus['recoveredFrom'] = null;
  lastUpdate: string | null = null;
  answered = false;
  /** When this source was started: after discovery_defaults.initial_wait it counts as synced (given up on) even if silent. */
  readonly opened = Date.now();
  /** The reported set a guard holds: what status shows, the set itself, its weights by address (the same set reported again keeps the hold's clock) and the drop_hold timer. */
  held: { status: HeldSet; readonly candidate: Candidate; readonly weights: ReadonlyMap<string, number>; timer: NodeJS.Timeout | null } | null = null;

  constructor(
    readonly name: string,
    public config: DiscoveryConfig,
    readonly source: Source,
  ) {}

  /** Forgets the held set, and its drop_hold timer. */
  release(): void {
    if (this.held?.timer) clearTimeout(this.held.timer);
    this.held = null;
  }
}

/** The last assembly: patched in place of a rebuild while the base stays the same. */
interface Assembly {
  readonly base: ConfigSnapshot;
  assembled: ConfigSnapshot;
  /** One leaf per service of `base` with `discovery:`, at the position given by `leaves`. */
  readonly tree: HashTree;
  readonly leaves: ReadonlyMap<string, number>;
}

export interface DiscoveryManagerOptions {
  readonly createSource?: (config: DiscoveryConfig) => Source;
}

export class DiscoveryManager implements Assembler {
  private readonly entries = new Map<string, Discovered>();
  private timer: NodeJS.Timeout | null = null;
  private coalesceMs = 20;
  private stopped = false;
  private readonly makeSource: (config: DiscoveryConfig) => Source;
  /** While start() waits: called whenever a source answers for the first time. */
  private onAnswer: (() => void) | null = null;
  /** A set changed before the first apply committed; applied right after it. */
  private pendingUntilCommit = false;
  private assembly: Assembly | null = null;
  /** Services whose entry changed (set, source) since `assembly` was made. */
  private readonly dirty = new Set<string>();
  /** The base committed() last followed; the same one again has nothing to follow. */
  private followed: ConfigSnapshot | null = null;

  constructor(
    private readonly controller: Controller,
    private readonly log: Logger,
    options: DiscoveryManagerOptions = {},
  ) {
    this.makeSource = options.createSource ?? ((config) => createSource(config.target));
  }

  /** Starts the sources of `base` and waits (up to discovery_defaults.initial_wait) for their first answers. */
  async start(base: ConfigSnapshot): Promise<void> {
    this.committed(base);
    await new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.onAnswer = null;
        resolve();
      };
      const timer = setTimeout(finish, base.config.discovery.initialWait);
      this.onAnswer = () => [...this.entries.values()].every((e) => e.answered) && finish();
      this.onAnswer();
    });
  }

  /** `base` with the discovered sets in place: the last assembly patched, while `base` is the same object. */
  assemble(base: ConfigSnapshot): ConfigSnapshot {
    // Stopping (shutdown): the sources are gone, not their sets; an apply still queued keeps them
    // rather than falling back to the static endpoints while listeners still accept.
    if (this.stopped && this.assembly?.base === base) return this.assembly.assembled;
    if (this.entries.size === 0) {
      this.assembly = null;
      return base;
    }
    const last = this.assembly;
    if (last?.base !== base) return this.assembleAll(base);
    if (this.dirty.size === 0) return last.assembled;
    const from = last.assembled.config;
    const services = new Map(from.services);
    const touched: string[] = [];
    for (const name of this.dirty) {
      const leaf = last.leaves.get(name);
      if (leaf === undefined) continue; // not a discovered service of this base
      const merged = this.merge(name, base.config.services.get(name)!);
      last.tree.set(leaf, merged.leaf);
      if (services.get(name) === merged.service) continue;
      services.set(name, merged.service);
      touched.push(name);
    }
    this.dirty.clear();
    if (touched.length === 0) return last.assembled;
    const config: typeof from = Object.freeze({ ...from, services: freezeMap(services) });
    recordDerivation(config, from, touched);
    last.assembled = this.snapshot(base, config, last.tree);
    return last.assembled;
  }

  private assembleAll(base: ConfigSnapshot): ConfigSnapshot {
    const services = new Map<string, ServiceConfig>();
    const leaves = new Map<string, number>();
    const prints: string[] = [];
    for (const [name, service] of base.config.services) {
      if (!service.discovery) {
        services.set(name, service);
        continue;
      }
      const merged = this.merge(name, service);
      services.set(name, merged.service);
      leaves.set(name, prints.length);
      prints.push(merged.leaf);
    }
    this.dirty.clear();
    const tree = new HashTree(prints);
    const config = Object.freeze({ ...base.config, services: freezeMap(services) });
    this.assembly = { base, assembled: this.snapshot(base, config, tree), tree, leaves };
    return this.assembly.assembled;
  }

  /** `service` with its discovered set in place (as it is, before the set's source answered), and the hash-tree leaf that names it. */
  private merge(name: string, service: ServiceConfig): { service: ServiceConfig; leaf: string } {
    const entry = this.entries.get(name);
    const merged = !entry || !service.discovery || !sameTarget(entry.config.target, service.discovery.target) ? service : entry.set.mergeInto(service);
    return { service: merged, leaf: serviceDigest(merged).toString(16) };
  }

  private snapshot(base: ConfigSnapshot, config: ConfigSnapshot['config'], tree: HashTree): ConfigSnapshot {
    const hash = sha256Hex(`${base.hash}\n${tree.root}`);
    return Object.freeze({ ...base, config, hash });
  }

  /** Follows the running base config: a source per service with `discovery:`, none for the others. */
  committed(base: ConfigSnapshot): void {
    if (this.stopped) return;
    if (this.pendingUntilCommit) {
      this.pendingUntilCommit = false;
      this.schedule();
    }
    if (base === this.followed) return;
    this.followed = base;
    this.coalesceMs = base.config.discovery.coalesce;
    const wanted = new Map<string, DiscoveryConfig>();
    for (const [name, service] of base.config.services) if (service.discovery) wanted.set(name, service.discovery);
    for (const [name, entry] of this.entries) {
      const config = wanted.get(name);
      if (config && sameTarget(config.target, entry.config.target)) {
        entry.config = config;
        continue;
      }
      this.entries.delete(name);
      this.dirty.add(name);
      entry.release();
      void entry.source.stop();
      if (config) this.open(name, config, entry);
    }
    for (const [name, config] of wanted) if (!this.entries.has(name)) this.open(name, config, null);
  }

  status(): Record<string, unknown> {
    return { discovery: this.describe() };
  }

  /**
   * Sources not in sync yet, for GET /ready: those that have neither answered (endpoints or an
   * error), nor a set in effect from the source they replaced, nor been waited for initial_wait.
   */
  unsynced(now = Date.now()): number {
    const wait = this.followed?.config.discovery.initialWait ?? 0;
    let n = 0;
    for (const e of this.entries.values()) if (!e.answered && e.set.size === null && now - e.opened < wait) n++;
    return n;
  }

  describe(): DiscoveryStatus[] {
    return [...this.entries.values()].map((e) => ({
      service: e.name,
      source: e.source.description,
      state: e.state,
      since: e.since,
      lastError: e.lastError,
      recoveredFrom: e.recoveredFrom,
      lastUpdate: e.lastUpdate,
      endpoints: e.set.size,
      held: e.held?.status ?? null,
    }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const e of entries) e.release();
    await Promise.all(entries.map((e) => e.source.stop().catch(() => {})));
  }

  /** A new source; a replaced one's last good set stays in effect until the new one answers. */
  private open(name: string, config: DiscoveryConfig, previous: Discovered | null): void {
    const entry = new Discovered(name, config, this.makeSource(config));
    if (previous) {
      entry.set = previous.set;
      entry.guard = previous.guard;
    }
    this.entries.set(name, entry);
    this.dirty.add(name);
    entry.source
      .start({
        onEndpoints: (endpoints, problems) => this.entries.get(name) === entry && this.onEndpoints(entry, endpoints, problems ?? []),
        onError: (error) => this.entries.get(name) === entry && this.onError(entry, error),
      })
      .catch((err: Error) => this.onError(entry, err));
  }

  private onEndpoints(entry: Discovered, found: readonly DiscoveredEndpoint[], problems: readonly string[]): void {
    entry.lastUpdate = new Date().toISOString();
    this.answered(entry);
    const candidate = entry.set.candidate(found);
    const clean = problems.length === 0;
    const verdict = entry.guard.judge(candidate.endpoints.length, clean, entry.set.size, entry.config);
    const ignored = clean ? '' : `malformed entries ignored: ${listProblems(problems)}`;
    // A held set names the entries it left out: "reports 0 endpoint(s)" alone hides why.
    if (verdict.hold) return this.hold(entry, candidate, clean ? verdict.reason : `${verdict.reason}; ${ignored}`, verdict.expires);
    entry.release();
    if (clean) this.setState(entry, 'healthy', null);
    else this.setState(entry, 'degraded', ignored);
    this.put(entry, candidate, clean);
  }

  /** Puts a set in effect (and applies it within the coalescing window when it changed anything). */
  private put(entry: Discovered, candidate: Candidate, clean: boolean): void {
    entry.guard.applied(candidate.endpoints.length, clean);
    if (!entry.set.replace(candidate)) return;
    this.dirty.add(entry.name);
    this.schedule();
  }

  /**
   * Keeps the set in effect instead of `candidate`, visibly (degraded, `held` in status). A clean
   * drop is applied once the source has reported the same set for drop_hold; another set starts
   * that wait again, and a set within the guards ends the hold (onEndpoints).
   */
  private hold(entry: Discovered, candidate: Candidate, reason: string, expires: boolean): void {
    const same = entry.held !== null && sameSet(entry.held.weights, candidate) && (entry.held.timer !== null) === expires;
    if (!same) {
      entry.release();
      const since = new Date();
      const until = expires ? new Date(since.getTime() + entry.config.dropHold) : null;
      const status: HeldSet = { endpoints: candidate.endpoints.length, reference: entry.guard.reference, reason, since: since.toISOString(), until: until?.toISOString() ?? null };
      const weights = new Map(candidate.endpoints.map((e) => [e.key, e.weight]));
      const held = { status, candidate, weights, timer: null as NodeJS.Timeout | null };
      if (expires) {
        held.timer = setTimeout(() => this.holdExpired(entry, held), entry.config.dropHold);
        held.timer.unref();
      }
      entry.held = held;
    } else if (entry.held!.status.reason !== reason) {
      entry.held!.status = { ...entry.held!.status, reason };
    }
    this.setState(entry, 'degraded', reason);
  }

  private holdExpired(entry: Discovered, held: NonNullable<Discovered['held']>): void {
    if (entry.held !== held || this.entries.get(entry.name) !== entry) return;
    entry.held = null;
    this.log.warn(
      { service: entry.name, source: entry.source.description, endpoints: held.candidate.endpoints.length, before: entry.set.size, heldSince: held.status.since },
      'discovery: a smaller set stayed unchanged for drop_hold; applying it',
    );
    this.setState(entry, 'healthy', null);
    this.put(entry, held.candidate, true);
  }

  private onError(entry: Discovered, error: Error): void {
    this.answered(entry);
    // Whatever was held came from a source that cannot tell the truth now: it is judged again on its next report.
    entry.release();
    const size = entry.set.size;
    const held = size === null ? 'no endpoints discovered yet' : `keeping the last known good ${size}`;
    this.setState(entry, 'degraded', `${error.message}; ${held}`);
  }

  private answered(entry: Discovered): void {
    if (entry.answered) return;
    entry.answered = true;
    this.onAnswer?.();
  }

  /**
   * State and error as status shows them. Logs transitions only: "degraded" when the source
   * becomes degraded or its trouble changes, "healthy" only when it recovers from degraded; a
   * recovered error moves to `recoveredFrom`, so `lastError` is only ever what is wrong now.
   */
  private setState(entry: Discovered, state: SourceState, error: string | null): void {
    const before = entry.state;
    const now = new Date().toISOString();
    if (state === 'healthy' && before === 'degraded' && entry.lastError !== null) {
      entry.recoveredFrom = { error: entry.lastError, since: entry.since, until: now };
    }
    const changed = before !== state || entry.lastError !== error;
    if (state !== before) entry.since = now;
    entry.state = state;
    entry.lastError = error;
    if (!changed) return;
    const fields = { service: entry.name, source: entry.source.description, state };
    if (state === 'degraded') this.log.warn({ ...fields, error }, 'discovery source degraded');
    else if (before === 'degraded') this.log.info(fields, 'discovery source healthy');
  }

  /** The first change opens a window; everything that arrives within it rides on one apply. */
  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const base = this.controller.base;
      if (this.stopped) return;
      // The first apply has not committed yet (a supervisor still starting its workers): it may
      // have assembled its config before this change, so apply again once it has committed.
      if (!base) return void (this.pendingUntilCommit = true);
      this.controller.apply(base, { origin: 'discovery' }).catch((err: Error) => {
        this.log.error({ err: err.message }, 'discovered endpoints could not be applied; the running config keeps serving');
      });
    }, this.coalesceMs);
  }
}

/** The same endpoints with the same weights, in any order (a source may list one set in another order). */
function sameSet(weights: ReadonlyMap<string, number>, candidate: Candidate): boolean {
  return weights.size === candidate.endpoints.length && candidate.endpoints.every((e) => weights.get(e.key) === e.weight);
}

/** At most this many malformed entries are named one by one (a hostile registry can hold thousands). */
const PROBLEMS_NAMED = 10;

function listProblems(problems: readonly string[]): string {
  const named = problems
    .slice(0, PROBLEMS_NAMED)
    .map((p) => (p.length > 200 ? `${p.slice(0, 200)}…` : p))
    .join('; ');
  return problems.length > PROBLEMS_NAMED ? `${named}; and ${problems.length - PROBLEMS_NAMED} more` : named;
}
