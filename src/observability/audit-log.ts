// Every config change attempt, one append-only JSON line each: who (origin, remote peer), what
// (hashes before/after, the diff by name), and whether it took. Without admin.audit_log the
// lines go to the main log at info with msg "audit", so they are never silently dropped.
import { appendFileSync } from 'node:fs';
import type { ApplyRecord, Controller } from '../control/controller.js';
import { planNames } from '../control/plan.js';
import type { Logger } from './log.js';
import type { OverrideObserver } from '../control/endpoint-overrides.js';
import type { OverrideRecord } from '../control/override-store.js';

export interface AuditLine {
  readonly time: string;
  readonly origin: string;
  readonly peer: string | null;
  /** The config's source: a file path, or "request" for the admin API. */
  readonly source: string | null;
  readonly result: string;
  readonly hash_before: string | null;
  readonly hash_after: string | null;
  readonly summary: string;
  readonly diff: Record<string, Record<string, string[]>>;
  readonly error: { readonly code: string; readonly message: string } | null;
  /** An admin apply: whether the config file was written, and whether it differs from the running config now. */
  readonly file: { readonly path: string | null; readonly written: boolean; readonly differs: boolean | null; readonly error?: string } | null;
}

export class AuditLog {
  constructor(
    private readonly controller: Controller,
    private readonly log: Logger,
  ) {}

  /** An endpoint override set or cleared (hitless endpoint ...): the running config is unchanged, the data plane is not. */
  readonly override: OverrideObserver = (e) => {
    const hash = this.controller.current?.hash ?? null;
    const describe = (o: OverrideRecord | null) => (o ? `state=${o.state ?? 'ready'} weight=${o.weight ?? 'configured'}` : 'none');
    const target = `${e.service}/${e.address}`;
    this.write({
      time: new Date().toISOString(),
      origin: 'endpoint-override',
      peer: e.peer,
      source: null,
      result: 'applied',
      hash_before: hash,
      hash_after: hash,
      summary: `endpoint override ${target}: ${describe(e.before)} -> ${describe(e.after)} by ${e.by}`,
      diff: { overrides: { [e.after ? 'set' : 'cleared']: [target] } },
      error: null,
      file: null,
    });
  };

  readonly record = (r: ApplyRecord): void => {
    // Discovery rewrites endpoints all day long; it is in the main log and in /status, not here.
    if (r.origin === 'discovery') return;
    const line: AuditLine = {
      time: r.at,
      origin: r.origin,
      peer: r.peer ?? null,
      source: this.controller.current?.source ?? null,
      result: r.result,
      hash_before: r.hashBefore,
      hash_after: r.hashAfter,
      summary: r.summary,
      diff: r.plan ? planNames(r.plan) : {},
      error: r.error ?? null,
      file: r.file ? { path: r.file.path, written: r.file.written, differs: r.file.differs, ...(r.file.error ? { error: r.file.error } : {}) } : null,
    };
    this.write(line);
  };

  private write(line: AuditLine): void {
    const path = this.controller.current?.config.admin.auditLog ?? null;
    if (path === null) {
      this.log.info({ audit: line }, 'audit');
      return;
    }
    try {
      // Synchronous: applies are rare and serialised, and the line must exist once the apply answers.
      appendFileSync(path, JSON.stringify(line) + '\n', { mode: 0o600 });
    } catch (err) {
      this.log.error({ err: (err as Error).message, audit: line }, `cannot append to admin.audit_log ${path}; audit line logged here instead`);
    }
  }
}
