// The single writer of running state: every way in (file, SIGHUP, admin API, discovery) goes
// through apply(), which serialises applies, diffs, and hands the plan to the driver.
import type { ConfigSnapshot } from '../config/model.js';
import type { Driver } from '../dataplane/driver.js';
import { ErrorCodes, HitlessError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { diffConfigs, summarizePlan, type Plan } from './plan.js';

export type ApplyOrigin = 'startup' | 'sighup' | 'admin' | 'discovery';

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
}

export interface ApplyOptions {
  readonly origin: ApplyOrigin;
  /** Optimistic concurrency: the hash the caller last saw; a mismatch is refused with 412. */
  readonly ifMatch?: string;
}

const HISTORY = 20;

export class Controller {
  private snapshot: ConfigSnapshot | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly records: ApplyRecord[] = [];

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

  /** The plan `desired` would execute, without executing it (validation is the apply path minus the commit). */
  plan(desired: ConfigSnapshot): Plan {
    return diffConfigs(this.snapshot?.config ?? null, desired.config);
  }

  /** Applies `desired`; one at a time, in call order. Throws HitlessError when rejected. */
  apply(desired: ConfigSnapshot, options: ApplyOptions): Promise<ApplyRecord> {
    const run = this.queue.then(() => this.applyNow(desired, options));
    this.queue = run.catch(() => {});
    return run;
  }

  private async applyNow(desired: ConfigSnapshot, options: ApplyOptions): Promise<ApplyRecord> {
    const started = performance.now();
    const before = this.snapshot;
    const base = { at: new Date().toISOString(), origin: options.origin, hashBefore: before?.hash ?? null };
    if (options.ifMatch !== undefined && normaliseEtag(options.ifMatch) !== (before?.hash ?? '')) {
      throw new HitlessError(
        ErrorCodes.PRECONDITION_FAILED,
        `If-Match ${options.ifMatch} does not match the running config ${before?.hash ?? '(none)'}; fetch GET /config and retry`,
      );
    }
    if (before && before.hash === desired.hash) {
      return this.record({ ...base, result: 'noop', durationMs: 0, hashAfter: before.hash, summary: 'identical config', plan: null });
    }
    const plan = diffConfigs(before?.config ?? null, desired.config);
    try {
      await this.driver.apply(desired.config, plan);
    } catch (err) {
      const e = err instanceof HitlessError ? err : new HitlessError(ErrorCodes.INTERNAL, (err as Error).message);
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
    this.snapshot = desired;
    return this.record({
      ...base,
      result: 'applied',
      durationMs: performance.now() - started,
      hashAfter: desired.hash,
      summary: summarizePlan(plan),
      plan,
    });
  }

  /** Records an apply whose config never parsed, so history shows every attempt. */
  recordRejected(origin: ApplyOrigin, error: HitlessError): void {
    this.record({
      at: new Date().toISOString(),
      origin,
      result: 'rejected',
      durationMs: 0,
      hashBefore: this.snapshot?.hash ?? null,
      hashAfter: this.snapshot?.hash ?? null,
      summary: 'invalid config',
      plan: null,
      error: { code: error.code, message: error.message },
    });
  }

  private record(r: ApplyRecord): ApplyRecord {
    this.records.push(r);
    if (this.records.length > HISTORY) this.records.shift();
    const fields = { origin: r.origin, result: r.result, ms: Number(r.durationMs.toFixed(2)), hash: r.hashAfter?.slice(0, 12), changes: r.summary };
    if (r.result === 'rejected') this.log.warn({ ...fields, error: r.error }, 'config rejected');
    else this.log.info(fields, r.result === 'noop' ? 'config unchanged' : 'config applied');
    return r;
  }
}

function normaliseEtag(tag: string): string {
  return tag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}
