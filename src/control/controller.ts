// The single writer of running state: every way in (file, SIGHUP, admin API, discovery) goes
// through apply(), which serialises applies, assembles the desired state (with what the assembler
// says it touched), computes the plan once, and has the driver prepare it then commit it, or
// nothing when the plan changes nothing served. validate() runs the same path in the same queue,
// and aborts instead.
import { canonical } from '../config/canonical.js';
import type { Config, ConfigSnapshot } from '../config/model.js';
import type { Driver, PrepareReport, PreparedChange } from '../dataplane/driver.js';
import { ErrorCodes, HitlessError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import type { FileOutcome } from './config-file.js';
import { diffConfigs, planNames, summarizePlan, type Derivation, type Plan } from './plan.js';

/**
 * `reload`: the config file re-read on request (POST /config/reload, `hitless reload`); `sighup`: the same on the signal;
 * `certificates`: the running config read again because certificate files changed on disk (certificate-watch.ts).
 */
export type ApplyOrigin = 'startup' | 'sighup' | 'reload' | 'admin' | 'discovery' | 'certificates';

/** Where the running base config came from: the config file, the admin API, or text given without a file. */
export type ConfigSource = 'file' | 'api' | 'embedded';

export interface ApplyRecord {
  readonly at: string;
  readonly origin: ApplyOrigin;
  readonly result: 'applied' | 'noop' | 'rejected';
  readonly durationMs: number;
  readonly hashBefore: string | null;
  readonly hashAfter: string | null;
  readonly summary: string;
  readonly plan: Plan | null;
  readonly error?: { readonly code: string; readonly message: string };
  /** Who asked, when known (the admin API's remote peer), for the audit log. */
  readonly peer?: string;
  /** What an apply through the admin API did to the config file. */
  readonly file?: FileOutcome;
}

export interface ApplyOptions {
  readonly origin: ApplyOrigin;
  /** Optimistic concurrency: the hash the caller last saw; a mismatch is refused with 412. */
  readonly ifMatch?: string;
  /** The requester's address (admin API), recorded with the apply. */
  readonly peer?: string;
  /** Where `desired` came from; absent (discovery) keeps the running base's source. */
  readonly source?: ConfigSource;
  /**
   * Runs in the transaction once `desired` is running (applied, or found running already), before
   * the next apply starts: an API apply writes the config file here, so a SIGHUP queued behind it
   * re-reads the file as this apply left it.
   */
  readonly persist?: (base: ConfigSnapshot) => Promise<FileOutcome>;
}

/** What validate() found: the plan, and what the driver prepared (null: nothing to prepare, as servesTheSame() finds). */
export interface Validation {
  readonly plan: Plan;
  readonly prepared: (PrepareReport & { readonly driver: string }) | null;
}

/** The config to apply, or a function that reads it when the apply's turn comes (SIGHUP reads the file then). */
export type Desired = ConfigSnapshot | (() => Promise<ConfigSnapshot>);

const HISTORY = 20;

/** An assembler's desired state, and how it was derived from the one it assembled before (if it was: the plan then compares only what it touched). */
export interface Assembled {
  readonly snapshot: ConfigSnapshot;
  readonly derivation?: Derivation;
}

/**
 * Turns the file/API config (the "base") into the desired state, e.g. with discovered endpoints
 * merged in (control/discovery-assembler.ts). Every apply, whatever its origin, goes through it, so
 * a reload never drops discovered endpoints and discovery never forgets a reload.
 */
export interface Assembler {
  assemble(base: ConfigSnapshot): Assembled;
  /** `base` is now running (assembled); follow it (start or stop sources, registrations). */
  committed(base: ConfigSnapshot): void;
  /** Extra status sections (e.g. `discovery`) for GET /status. */
  status(): Record<string, unknown>;
  /** How many sources have not answered yet (nor been given up on): GET /ready waits for 0. */
  unsynced?(): number;
}

export class Controller {
  private snapshot: ConfigSnapshot | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly records: ApplyRecord[] = [];
  private readonly observers: Array<(record: ApplyRecord) => void> = [];
  private baseSnapshot: ConfigSnapshot | null = null;
  private baseFrom: ConfigSource | null = null;
  private assemblerHook: Assembler | null = null;

  constructor(
    readonly driver: Driver,
    private readonly log: Logger,
  ) {}

  get current(): ConfigSnapshot | null {
    return this.snapshot;
  }

  get history(): readonly ApplyRecord[] {
    return this.records;
  }

  /** Called with every record (the audit log and metrics subscribe; they never throw into apply). */
  onRecord(observer: (record: ApplyRecord) => void): void {
    this.observers.push(observer);
  }

  /** The file/API config the running state was assembled from (equal to `current` without an assembler). */
  get base(): ConfigSnapshot | null {
    return this.baseSnapshot;
  }

  /** Where the running base came from (the last apply that was not discovery's). */
  get baseSource(): ConfigSource | null {
    return this.baseFrom;
  }

  get assembler(): Assembler | null {
    return this.assemblerHook;
  }

  setAssembler(assembler: Assembler | null): void {
    this.assemblerHook = assembler;
  }

  /**
   * Applies `desired`; one at a time, in call order. Throws HitlessError when rejected. A function
   * is called when the apply's turn comes, after every earlier apply (and its persist) completed.
   */
  apply(desired: Desired, options: ApplyOptions): Promise<ApplyRecord> {
    return this.serial(async () => this.applyNow(typeof desired === 'function' ? await desired() : desired, options));
  }

  /**
   * The apply path minus the commit, in the same queue: assemble, plan, have the driver prepare
   * (bind new ports, build, `haproxy -c`, prepare every worker), then abort. Throws the error an
   * apply would (HitlessError); changes nothing and is recorded nowhere (logged at debug).
   */
  validate(desired: ConfigSnapshot): Promise<Validation> {
    return this.serial(() => this.validateNow(desired));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** `input` as the assembler makes it the desired state (itself without one). */
  private assemble(input: ConfigSnapshot): Assembled {
    return this.assemblerHook?.assemble(input) ?? { snapshot: input };
  }

  private async validateNow(input: ConfigSnapshot): Promise<Validation> {
    const started = performance.now();
    const { snapshot: desired, derivation } = this.assemble(input);
    const before = this.snapshot;
    const plan = diffConfigs(before?.config ?? null, desired.config, derivation);
    if (before && (before.hash === desired.hash || servesTheSame(before.config, desired.config, plan))) return { plan, prepared: null };
    let change: PreparedChange;
    try {
      change = await this.prepare(before, desired, plan);
    } catch (err) {
      const e = asHitlessError(err);
      this.log.debug({ changes: summarizePlan(plan), error: { code: e.code, message: e.message } }, 'config validated: rejected');
      throw e;
    }
    await change.abort();
    this.log.debug({ changes: summarizePlan(plan), ms: Number((performance.now() - started).toFixed(2)), prepared: change.prepared }, 'config validated: prepared and aborted');
    return { plan, prepared: { driver: this.driver.name, ...change.prepared } };
  }

  /** Phase one of an apply (and all of a validation): throws with nothing changed. */
  private async prepare(before: ConfigSnapshot | null, desired: ConfigSnapshot, plan: Plan): Promise<PreparedChange> {
    // The data plane is chosen once, at start (see dataplane/create-driver.ts).
    if (before && before.config.dataplane.driver !== desired.config.dataplane.driver) {
      throw new HitlessError(
        ErrorCodes.CONFIG_INVALID,
        `dataplane.driver cannot change from ${before.config.dataplane.driver} to ${desired.config.dataplane.driver} while hitless runs; restart hitless with the new config`,
      );
    }
    return this.driver.prepare(desired.config, plan);
  }

  private async applyNow(input: ConfigSnapshot, options: ApplyOptions): Promise<ApplyRecord> {
    const started = performance.now();
    const { snapshot: desired, derivation } = this.assemble(input);
    const before = this.snapshot;
    const base = { at: new Date().toISOString(), origin: options.origin, hashBefore: before?.hash ?? null, ...(options.peer ? { peer: options.peer } : {}) };
    // If-Match is about the config a person or script wrote (the base), not about the endpoints
    // discovery merged into it, which change all day.
    const runningBase = this.baseSnapshot?.hash ?? '';
    if (options.ifMatch !== undefined && normaliseEtag(options.ifMatch) !== runningBase) {
      throw new HitlessError(
        ErrorCodes.PRECONDITION_FAILED,
        `If-Match ${options.ifMatch} does not match the running config ${runningBase || '(none)'}; fetch GET /config and retry`,
      );
    }
    if (before && before.hash === desired.hash) {
      if (options.source) this.baseFrom = options.source;
      const file = options.persist ? { file: await options.persist(input) } : {};
      return this.record({ ...base, result: 'noop', durationMs: 0, hashAfter: before.hash, summary: 'identical config', plan: null, ...file });
    }
    const plan = diffConfigs(before?.config ?? null, desired.config, derivation);
    if (before && servesTheSame(before.config, desired.config, plan)) {
      // Another text that serves the same (comments, formatting, discovery or registration
      // settings): no prepare or commit reaches the data plane, which keeps the objects it runs
      // (identical in what they serve); the new text is the running one (hash, GET /config,
      // If-Match), and discovery and registration follow it.
      this.running(desired, input, options);
      const file = options.persist ? { file: await options.persist(input) } : {};
      return this.record({ ...base, result: 'noop', durationMs: performance.now() - started, hashAfter: desired.hash, summary: summarizePlan(plan), plan, ...file });
    }
    try {
      const change = await this.prepare(before, desired, plan);
      // A commit that fails (a reload, workers that do not start) leaves the running state as it was.
      await change.commit();
    } catch (err) {
      const e = asHitlessError(err);
      this.record({
        ...base,
        result: 'rejected',
        durationMs: performance.now() - started,
        hashAfter: before?.hash ?? null,
        summary: summarizePlan(plan),
        plan,
        error: { code: e.code, message: e.message },
      });
      throw e;
    }
    this.running(desired, input, options);
    const durationMs = performance.now() - started;
    // After the commit and outside durationMs: the file follows what runs, never the reverse.
    const file = options.persist ? { file: await options.persist(input) } : {};
    return this.record({
      ...base,
      result: 'applied',
      durationMs,
      hashAfter: desired.hash,
      summary: summarizePlan(plan),
      plan,
      ...file,
    });
  }

  /** `desired` (assembled from `input`) is what runs now. */
  private running(desired: ConfigSnapshot, input: ConfigSnapshot, options: ApplyOptions): void {
    this.snapshot = desired;
    this.baseSnapshot = input;
    if (options.source) this.baseFrom = options.source;
    this.assemblerHook?.committed(input);
  }

  /** Records an apply whose config never parsed (or that was refused before it), so history shows every attempt. */
  recordRejected(origin: ApplyOrigin, error: HitlessError, peer?: string, summary = 'invalid config'): void {
    this.record({
      at: new Date().toISOString(),
      origin,
      result: 'rejected',
      durationMs: 0,
      hashBefore: this.snapshot?.hash ?? null,
      hashAfter: this.snapshot?.hash ?? null,
      summary,
      plan: null,
      error: { code: error.code, message: error.message },
      ...(peer ? { peer } : {}),
    });
  }

  private record(r: ApplyRecord): ApplyRecord {
    this.records.push(r);
    if (this.records.length > HISTORY) this.records.shift();
    const fields = {
      origin: r.origin,
      result: r.result,
      ms: Number(r.durationMs.toFixed(2)),
      hash: r.hashAfter?.slice(0, 12),
      changes: r.summary,
      ...(r.plan ? { diff: planNames(r.plan) } : {}),
      ...(r.file ? { file: { written: r.file.written, differs: r.file.differs } } : {}),
    };
    if (r.result === 'rejected') this.log.warn({ ...fields, error: r.error }, 'config rejected');
    else this.log.info(fields, r.result === 'noop' ? 'config unchanged' : 'config applied');
    for (const observer of this.observers) {
      try {
        observer(r);
      } catch (err) {
        this.log.error({ err }, 'apply observer failed');
      }
    }
    return r;
  }
}

/**
 * Nothing the data plane serves changes: no service or admin change in the plan (every served
 * setting of a service is in its identity, config/service-identity.ts), and the same `dataplane:`
 * settings, which the HAProxy driver renders (threads, hard_stop_after, ...) outside any service.
 */
function servesTheSame(running: Config, desired: Config, plan: Plan): boolean {
  return plan.empty && (running.dataplane === desired.dataplane || canonical(running.dataplane) === canonical(desired.dataplane));
}

function asHitlessError(err: unknown): HitlessError {
  return err instanceof HitlessError ? err : new HitlessError(ErrorCodes.INTERNAL, (err as Error).message);
}

function normaliseEtag(tag: string): string {
  return tag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}
