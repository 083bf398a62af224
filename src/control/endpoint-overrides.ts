// Runtime endpoint overrides, end to end: check a request against the running config, change the
// table, hand it to the data plane (which keeps it across every later apply), then write the state
// file so a restart finds it. One change at a time, in the order they were asked.
import { rename } from 'node:fs/promises';
import { ErrorCodes, HitlessError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import type { Controller } from './controller.js';
import { readOverrideFile, writeOverrideFile } from './override-file.js';
import { MAX_OVERRIDES, OverrideStore, type OverrideChange, type OverrideRecord } from './override-store.js';

export interface OverrideResult {
  readonly service: string;
  readonly address: string;
  /** The override in force now; null when none is left (cleared, or ready without a weight). */
  readonly override: OverrideRecord | null;
  /** Whether the address is an endpoint of the service right now (in any of its clusters). */
  readonly present: boolean;
  /** Written to the state file (false: in force, but a restart would lose it; see `warnings`). */
  readonly persisted: boolean;
  readonly warnings: readonly string[];
}

export interface OverrideListing {
  readonly stateFile: string | null;
  /** The last write (or the read at start) failed: why; null when the file matches the table. */
  readonly stateFileError: string | null;
  readonly overrides: ReadonlyArray<OverrideRecord & { readonly present: boolean }>;
}

/** Told of every change, for the audit log. */
export type OverrideObserver = (event: { readonly service: string; readonly address: string; readonly before: OverrideRecord | null; readonly after: OverrideRecord | null; readonly by: string; readonly peer: string }) => void;

export class EndpointOverrides {
  private readonly store = new OverrideStore();
  private queue: Promise<unknown> = Promise.resolve();
  private fileError: string | null = null;
  private readonly observers: OverrideObserver[] = [];

  constructor(
    private readonly controller: Controller,
    private readonly log: Logger,
    /** Where the overrides are kept across restarts; null: in memory only. */
    readonly stateFile: string | null,
  ) {}

  onChange(observer: OverrideObserver): void {
    this.observers.push(observer);
  }

  /**
   * At start, before the first apply: the state file's overrides, handed to the data plane. A file
   * that cannot be used is moved aside (kept for a person to read) and hitless starts without
   * overrides, saying so in the log and in GET /status: a state file never stops hitless serving.
   */
  async load(): Promise<void> {
    if (this.stateFile === null) return;
    try {
      const { records, skipped } = await readOverrideFile(this.stateFile);
      for (const r of records) this.store.restore(r);
      if (skipped.length > 0) this.log.warn({ stateFile: this.stateFile, skipped: skipped.slice(0, 10) }, `endpoint overrides: ${skipped.length} entr${skipped.length === 1 ? 'y' : 'ies'} of the state file left out`);
      if (records.length > 0) this.log.info({ stateFile: this.stateFile, overrides: records.length }, 'endpoint overrides restored from the state file');
    } catch (err) {
      const aside = `${this.stateFile}.invalid`;
      const moved = await rename(this.stateFile, aside).then(() => true, () => false);
      this.fileError = `${(err as Error).message}${moved ? `; moved to ${aside}` : ''}; started without overrides`;
      this.log.error({ stateFile: this.stateFile, err: this.fileError }, 'endpoint overrides: the state file cannot be used');
    }
    if (this.store.size > 0) {
      await this.pushTable().catch((err: Error) => this.log.error({ err: err.message }, 'endpoint overrides from the state file not applied'));
    }
  }

  /** Sets part of an override (a state, a weight, or both) on top of what is there. */
  change(service: string, address: string, change: OverrideChange, by: string, peer: string): Promise<OverrideResult> {
    return this.serial(async () => {
      const present = this.presence(service, address);
      const before = this.store.get(service, address) ?? null;
      if (!before && this.store.size >= MAX_OVERRIDES) {
        throw new HitlessError(ErrorCodes.OVERRIDE_LIMIT, `${MAX_OVERRIDES} endpoint overrides are already set; clear some (hitless endpoint list) before adding more`);
      }
      const after = this.store.change(service, address, change, by, new Date());
      const warnings = present ? [] : [`${address} is not an endpoint of service ${service} now; the override is kept and applies when it appears`];
      if (after === before) return { service, address, override: after, present, persisted: this.fileError === null, warnings };
      return this.commit(service, address, before, after, by, peer, present, warnings);
    });
  }

  /** Removes the override of an address (whatever it holds); nothing to remove is not an error. */
  clear(service: string, address: string, by: string, peer: string): Promise<OverrideResult & { readonly cleared: boolean }> {
    return this.serial(async () => {
      const before = this.store.get(service, address) ?? null;
      // An override outlives its service (a config may remove it and bring it back): clearing one
      // must work then too, so only a clear with nothing to clear asks whether the service exists.
      if (!before) return { service, address, override: null, present: this.presence(service, address), persisted: this.fileError === null, warnings: [], cleared: false };
      this.store.clear(service, address);
      const result = await this.commit(service, address, before, null, by, peer, this.isPresent(service, address), []);
      return { ...result, cleared: true };
    });
  }

  list(): OverrideListing {
    const present = this.presentKeys();
    return {
      stateFile: this.stateFile,
      stateFileError: this.fileError,
      overrides: this.store.list().map((r) => ({ ...r, present: present.get(r.service)?.has(r.address) ?? false })),
    };
  }

  get size(): number {
    return this.store.size;
  }

  /** The override of one endpoint, for status. */
  get(service: string, address: string): OverrideRecord | undefined {
    return this.store.get(service, address);
  }

  private async commit(
    service: string,
    address: string,
    before: OverrideRecord | null,
    after: OverrideRecord | null,
    by: string,
    peer: string,
    present: boolean,
    warnings: string[],
  ): Promise<OverrideResult> {
    try {
      await this.pushTable();
    } catch (err) {
      // The data plane did not take it: the table goes back to what it was, and so does the data
      // plane's copy (best effort: a data plane that failed once may fail again; the next change retries).
      if (after) this.store.clear(service, address);
      if (before) this.store.restore(before);
      if (this.controller.driver.setOverrides) await this.pushTable().catch((e: Error) => this.log.error({ err: e.message }, 'endpoint overrides: the data plane did not take the previous table back either'));
      throw err instanceof HitlessError ? err : new HitlessError(ErrorCodes.INTERNAL, `the data plane did not apply the override, nothing changed: ${(err as Error).message}`);
    }
    const persisted = await this.persist();
    if (!persisted) warnings.push(`in force, but not written to the state file ${this.stateFile ?? '(none)'}: ${this.fileError}; a restart would lose it`);
    this.log.info({ service, address, state: after?.state ?? null, weight: after?.weight ?? null, by, persisted }, after ? 'endpoint override set' : 'endpoint override cleared');
    for (const observer of this.observers) {
      try {
        observer({ service, address, before, after, by, peer });
      } catch (err) {
        this.log.error({ err }, 'override observer failed');
      }
    }
    return { service, address, override: after, present, persisted, warnings };
  }

  private async pushTable(): Promise<void> {
    const driver = this.controller.driver;
    if (!driver.setOverrides) throw new HitlessError(ErrorCodes.NOT_IMPLEMENTED, `the ${driver.name} data plane does not support endpoint overrides`);
    await driver.setOverrides(this.store.table());
  }

  /** Writes the table; false (and the reason kept for status) when it could not. */
  private async persist(): Promise<boolean> {
    if (this.stateFile === null) {
      this.fileError = 'no state file (hitless was not started from a config file and --state-file was not given)';
      return false;
    }
    try {
      await writeOverrideFile(this.stateFile, this.store.list());
      this.fileError = null;
      return true;
    } catch (err) {
      this.fileError = `cannot write ${this.stateFile}: ${(err as Error).message}`;
      this.log.error({ stateFile: this.stateFile, err: (err as Error).message }, 'endpoint overrides: state file not written; the overrides are in force but a restart would lose them');
      return false;
    }
  }

  /** Throws (404) when the running config has no such service; else whether the address is one of its endpoints. */
  private presence(service: string, address: string): boolean {
    if (!this.controller.current?.config.services.has(service)) {
      const known = [...(this.controller.current?.config.services.keys() ?? [])];
      const hint = known.length > 0 && known.length <= 20 ? `; services: ${known.join(', ')}` : '';
      throw new HitlessError(ErrorCodes.NOT_FOUND, `no service "${service}" in the running config${hint}`, { field: 'service' });
    }
    return this.isPresent(service, address);
  }

  private isPresent(service: string, address: string): boolean {
    const config = this.controller.current?.config.services.get(service);
    if (!config) return false;
    for (const cluster of config.clusters.values()) for (const e of cluster.endpoints) if (e.key === address) return true;
    return false;
  }

  /** Endpoint addresses of the services that have overrides (the others are never scanned). */
  private presentKeys(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const service of this.store.table().keys()) {
      const keys = new Set<string>();
      for (const cluster of this.controller.current?.config.services.get(service)?.clusters.values() ?? []) for (const e of cluster.endpoints) keys.add(e.key);
      out.set(service, keys);
    }
    return out;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }
}
