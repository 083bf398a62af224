// The endpoint-set bookkeeping of discovery: one source per service with `discovery:`, and for
// each its last known good set (discovered-set.ts), its state (starting, healthy, degraded) and
// the sets its guards refuse (set-guard.ts: min_endpoints, max_drop_percent), held visibly until
// they are fixed or, for a clean drop, have stayed the same for drop_hold. A failing or silent
// source never changes the set in effect: only a report the guards accept does.
//
// It knows nothing of configs being applied: it tells its owner which service's set changed
// (onSetChanged), and hands out the sets in effect (setFor) to whoever merges them into a config
// (control/discovery-assembler.ts).
import type { DiscoveryConfig } from '../config/discovery-model.js';
import type { ServiceConfig } from '../config/model.js';
import type { Logger } from '../observability/log.js';
import { createSource, sameTarget } from './create-source.js';
import { DiscoveredSet, type Candidate } from './discovered-set.js';
import { SetGuard } from './set-guard.js';
import type { DiscoveredEndpoint, Source } from './source.js';

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

export interface SourceTrackerOptions {
  readonly createSource?: (config: DiscoveryConfig) => Source;
  /** A set changed what is in effect for `service` (a report the guards accepted, or a held drop applied after drop_hold). */
  readonly onSetChanged: (service: string) => void;
}

export class SourceTracker {
  private readonly entries = new Map<string, Discovered>();
  private readonly makeSource: (config: DiscoveryConfig) => Source;
  private readonly onSetChanged: (service: string) => void;
  /** While firstAnswers() waits: called whenever a source answers for the first time. */
  private onAnswer: (() => void) | null = null;

  constructor(
    private readonly log: Logger,
    options: SourceTrackerOptions,
  ) {
    this.makeSource = options.createSource ?? ((config) => createSource(config.target));
    this.onSetChanged = options.onSetChanged;
  }

  /** How many sources are followed. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * A source per service of `services` with `discovery:`, none for the others. Returns the
   * services whose source was started, replaced or stopped: what a merge gives for them changed.
   */
  follow(services: ReadonlyMap<string, ServiceConfig>): string[] {
    const touched: string[] = [];
    const wanted = new Map<string, DiscoveryConfig>();
    for (const [name, service] of services) if (service.discovery) wanted.set(name, service.discovery);
    for (const [name, entry] of this.entries) {
      const config = wanted.get(name);
      if (config && sameTarget(config.target, entry.config.target)) {
        entry.config = config;
        continue;
      }
      this.entries.delete(name);
      touched.push(name);
      entry.release();
      void entry.source.stop();
      if (config) this.open(name, config, entry);
    }
    for (const [name, config] of wanted) {
      if (this.entries.has(name)) continue;
      this.open(name, config, null);
      touched.push(name);
    }
    return touched;
  }

  /** The set in effect for `service` when its source discovers `discovery`'s target; null when it has none (or another target). */
  setFor(service: string, discovery: DiscoveryConfig): DiscoveredSet | null {
    const entry = this.entries.get(service);
    return entry && sameTarget(entry.config.target, discovery.target) ? entry.set : null;
  }

  /** Resolves once every source has answered (endpoints or an error), or after `timeoutMs`. */
  firstAnswers(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.onAnswer = null;
        resolve();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.onAnswer = () => [...this.entries.values()].every((e) => e.answered) && finish();
      this.onAnswer();
    });
  }

  /**
   * Sources not in sync yet, for GET /ready: those that have neither answered (endpoints or an
   * error), nor a set in effect from the source they replaced, nor been waited for `initialWait`.
   */
  unsynced(initialWait: number, now = Date.now()): number {
    let n = 0;
    for (const e of this.entries.values()) if (!e.answered && e.set.size === null && now - e.opened < initialWait) n++;
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

  /** Stops every source; their reports are ignored from now on. */
  async stop(): Promise<void> {
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

  /** Puts a set in effect (and tells the owner when it changed anything). */
  private put(entry: Discovered, candidate: Candidate, clean: boolean): void {
    entry.guard.applied(candidate.endpoints.length, clean);
    if (!entry.set.replace(candidate)) return;
    this.onSetChanged(entry.name);
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
