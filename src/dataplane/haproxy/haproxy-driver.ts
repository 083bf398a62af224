// The HAProxy data plane: hitless renders haproxy.cfg from the model and drives a supervised
// master-worker HAProxy. Endpoint-only changes go through the runtime API (no reload, the file
// rewritten to match); anything structural is checked with `haproxy -c`, then reloaded with the
// listening sockets handed from worker to worker and server state carried over by file.
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config, HaproxySettings } from '../../config/model.js';
import type { Plan } from '../plan-types.js';
import { ApplyError, ErrorCodes } from '../../errors.js';
import type { Logger } from '../../observability/log.js';
import type { ApplyReport, Driver } from '../driver.js';
import { checkBindable, checkConfig, haproxyVersion } from './haproxy-check.js';
import { HaproxyProcess } from './haproxy-process.js';
import { buildHaproxyStatus, type HaproxyDataplaneStatus } from './haproxy-status.js';
import { Reloader } from './reloader.js';
import { renderConfig, type RenderedConfig, type StatePaths } from './render-config.js';
import type { ProcTable, StatRow } from './runtime-api.js';
import { diffServers, RuntimeChanger } from './runtime-changes.js';
import { prepareServerState } from './server-state.js';
import { EMPTY_OVERRIDES, type AdminState, type OverrideTable } from '../endpoint-override.js';
import { hasServer, wantedStates, withOverrideWeights } from './overrides.js';
import { supportPaths, writeSupportFiles } from './support-files.js';

const STATUS_POLL_MS = 1_000;

interface PendingApply {
  readonly desired: Config;
  readonly plan: Plan;
  resolve(report: ApplyReport): void;
  reject(err: Error): void;
}

interface OverrideWaiter {
  resolve(): void;
  reject(err: Error): void;
}

export function statePaths(stateDir: string): StatePaths {
  return {
    config: join(stateDir, 'haproxy.cfg'),
    workerSocket: join(stateDir, 'worker.sock'),
    masterSocket: join(stateDir, 'master.sock'),
    serverState: join(stateDir, 'server-state'),
    support: supportPaths(stateDir),
  };
}

export class HaproxyDriver implements Driver {
  readonly name = 'haproxy';
  readonly paths: StatePaths;
  readonly process: HaproxyProcess;
  private readonly reloader: Reloader;
  private readonly runtime: RuntimeChanger;
  private config: Config | null = null;
  /** What the config file says, and (no reload pending) what the serving worker runs. */
  private rendered: RenderedConfig | null = null;
  private pending: PendingApply[] = [];
  /** Endpoint overrides (overrides.ts): weights rendered in, states set after every commit. */
  private overrides: OverrideTable = EMPTY_OVERRIDES;
  private overrideWaiters: OverrideWaiter[] = [];
  /** "backend/server" → the admin state last set for an override (to set it back to ready once cleared). */
  private statesSet = new Map<string, AdminState>();
  private pumping = false;
  private closing: Promise<void> | null = null;
  private createdDir = false;
  private version: string | null = null;
  private runtimeApplies = 0;
  private stats: readonly StatRow[] = [];
  private proc: ProcTable | null = null;
  private sampledAt: string | null = null;
  /** Unix ms of the last `show stat` sample: the time of the counters status() serves. */
  private sampledAtMs = 0;
  private poller: NodeJS.Timeout | null = null;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly settings: HaproxySettings,
    private readonly log: Logger,
  ) {
    this.paths = statePaths(settings.stateDir);
    this.process = new HaproxyProcess({ binary: settings.binary, configFile: this.paths.config, masterSocket: this.paths.masterSocket, workerSocket: this.paths.workerSocket, log });
    this.reloader = new Reloader(this.process);
    this.runtime = new RuntimeChanger(this.process.worker, log);
  }

  /**
   * Applies are queued; when several wait, the newest that commits also settles the older ones, so
   * structural applies issued together cost one reload, and those arriving during a reload share
   * the next one. (The controller awaits each apply before sending the next, so its applies reach
   * the driver one at a time; coalescing those has to happen there.)
   */
  apply(desired: Config, plan: Plan): Promise<ApplyReport> {
    if (this.closing) return Promise.reject(new ApplyError(ErrorCodes.SHUTTING_DOWN, 'hitless is shutting down; the config was not applied'));
    return new Promise((resolve, reject) => {
      this.pending.push({ desired, plan, resolve, reject });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      // One turn of the event loop first, so applies issued together form one batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.pending.length > 0 || this.overrideWaiters.length > 0) {
        const batch = this.pending.splice(0);
        for (let i = batch.length - 1; i >= 0; i--) {
          try {
            await this.commit(batch[i].desired);
          } catch (err) {
            batch[i].reject(err as Error);
            continue;
          }
          // The config is committed whatever happens here: a state that did not take is logged.
          await this.applyOverrideStates().catch((err: Error) => this.log.warn({ err: err.message }, 'haproxy: endpoint override states not set after an apply'));
          // Older applies are superseded by this one: one reload (or runtime pass) served them all.
          for (const done of batch.slice(0, i + 1)) done.resolve({ bound: done.plan.listeners.add, released: done.plan.listeners.remove });
          break;
        }
        if (batch.length === 0) await this.commitOverrides();
      }
    } finally {
      this.pumping = false;
    }
    await this.refreshStatus();
  }

  /**
   * Endpoint overrides: the new table goes into the running config as any endpoint change does
   * (a weight is a runtime reweight, no reload), then the admin states are set. Before HAProxy
   * runs, the table is only kept: the first config is rendered with it.
   */
  setOverrides(table: OverrideTable): Promise<void> {
    if (this.closing) return Promise.reject(new ApplyError(ErrorCodes.SHUTTING_DOWN, 'hitless is shutting down; the override was not applied'));
    this.overrides = table;
    if (!this.rendered && !this.pumping) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.overrideWaiters.push({ resolve, reject });
      void this.pump();
    });
  }

  /** Re-renders the running config with the current overrides, then sets their states; settles the waiters. */
  private async commitOverrides(): Promise<void> {
    const waiters = this.overrideWaiters.splice(0);
    if (waiters.length === 0) return;
    try {
      if (this.config) await this.commit(this.config);
      await this.applyOverrideStates();
      for (const w of waiters) w.resolve();
    } catch (err) {
      for (const w of waiters) w.reject(err as Error);
    }
  }

  /**
   * Sets every wanted drain/maint again (a reload or a re-added server may not have it) and sets
   * back to ready the servers whose override state was cleared. A few commands: one per override.
   */
  private async applyOverrideStates(): Promise<void> {
    const rendered = this.rendered;
    if (!rendered) return;
    const wanted = wantedStates(rendered, this.overrides);
    for (const [id, state] of wanted) await this.runtime.setState(id, state);
    for (const id of this.statesSet.keys()) if (!wanted.has(id) && hasServer(rendered, id)) await this.runtime.setState(id, 'ready');
    this.statesSet = wanted;
  }

  private async commit(input: Config): Promise<void> {
    this.assertSameProcess(input);
    const desired = withOverrideWeights(input, this.overrides);
    const next = renderConfig(desired, this.paths, desired.dataplane.haproxy);
    if (!this.rendered) return this.startFirst(input, next);
    const current = this.rendered;
    if (next.text === current.text) {
      this.config = input;
      return;
    }
    const diff = diffServers(current, next);
    if (typeof diff !== 'string') {
      try {
        await this.runtime.apply(diff);
        await this.writeAtomic(this.paths.config, next.text);
        this.rendered = next;
        this.config = input;
        this.runtimeApplies++;
        return;
      } catch (err) {
        // A partly applied runtime change is converged by reloading the full new config.
        this.log.warn({ err: (err as Error).message }, 'haproxy: runtime change failed; reloading instead');
      }
    } else {
      this.log.info({ reason: diff }, 'haproxy: structural change, reloading');
    }
    await this.reloadTo(input, current, next);
  }

  private async reloadTo(desired: Config, current: RenderedConfig, next: RenderedConfig): Promise<void> {
    await this.validate(next, current);
    // Health and admin states (maint, drain, DOWN) survive the reload through this file.
    const dump = await this.process.worker.showServersState();
    await this.writeAtomic(this.paths.serverState, prepareServerState(dump, next, this.runtime.removing()));
    await this.writeAtomic(this.paths.config, next.text);
    try {
      await this.reloader.request();
    } catch (err) {
      await this.writeAtomic(this.paths.config, current.text);
      throw new ApplyError(ErrorCodes.DATAPLANE_REJECTED, `config rejected by haproxy, nothing changed: ${(err as Error).message}`);
    }
    this.runtime.forgetRemovals();
    this.rendered = next;
    this.config = desired;
  }

  /** `haproxy -c` on the exact text, then a bind test of the new listen addresses. */
  private async validate(next: RenderedConfig, current: RenderedConfig | null): Promise<void> {
    const candidate = join(this.settings.stateDir, 'haproxy.candidate.cfg');
    await writeFile(candidate, next.text);
    const problem = await checkConfig(this.settings.binary, candidate, this.paths.config);
    if (problem) throw new ApplyError(ErrorCodes.DATAPLANE_REJECTED, `config rejected by haproxy -c, nothing changed: ${problem}`);
    const bindProblem = await checkBindable(next.text, current?.text ?? '');
    if (bindProblem) throw new ApplyError(ErrorCodes.BIND_FAILED, `config rejected, nothing changed: ${bindProblem}`);
  }

  private async startFirst(desired: Config, next: RenderedConfig): Promise<void> {
    this.createdDir = !(await stat(this.settings.stateDir).catch(() => null));
    await mkdir(this.settings.stateDir, { recursive: true, mode: 0o700 });
    this.version = await haproxyVersion(this.settings.binary);
    // The Lua file and error pages the config names: `haproxy -c` reads them too.
    await writeSupportFiles(this.paths.support);
    await this.validate(next, null);
    // A state file with only the version line: "no servers to restore", without a warning.
    await this.writeAtomic(this.paths.serverState, '1\n');
    await this.writeAtomic(this.paths.config, next.text);
    try {
      await this.process.start();
    } catch (err) {
      throw new ApplyError(ErrorCodes.DATAPLANE_REJECTED, `haproxy did not start, nothing is served: ${(err as Error).message}`);
    }
    this.rendered = next;
    this.config = desired;
    this.poller = setInterval(() => void this.refreshStatus(), STATUS_POLL_MS);
    this.poller.unref();
  }

  /** Settings fixed at start: a different driver, binary or state dir needs a restart. */
  private assertSameProcess(desired: Config): void {
    const d = desired.dataplane;
    if (d.driver !== 'haproxy') {
      throw new ApplyError(ErrorCodes.DATAPLANE_REJECTED, `dataplane.driver cannot change from haproxy to ${d.driver} in a running hitless; restart it with the new config`);
    }
    for (const [key, field] of [['binary', 'binary'], ['state_dir', 'stateDir']] as const) {
      if (d.haproxy[field] !== this.settings[field]) {
        throw new ApplyError(ErrorCodes.DATAPLANE_REJECTED, `dataplane.haproxy.${key} cannot change in a running hitless (${this.settings[field]} → ${d.haproxy[field]}); restart it with the new config`);
      }
    }
  }

  private async writeAtomic(file: string, text: string): Promise<void> {
    const tmp = `${file}.tmp`;
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, file);
  }

  /** Samples `show stat` and `show proc`; status() reads the last sample (it must not block). */
  async refreshStatus(): Promise<HaproxyDataplaneStatus> {
    if (this.rendered && !this.closing) {
      const [stats, proc] = await Promise.all([this.process.worker.showStat().catch(() => null), this.process.showProc().catch(() => null)]);
      if (stats) this.stats = stats;
      if (proc) this.proc = proc;
      this.sampledAtMs = Date.now();
      this.sampledAt = new Date(this.sampledAtMs).toISOString();
    }
    return this.status();
  }

  /** Rates over status() use the time its counters were sampled (every second), not when they are looked at. */
  countersAt(): number {
    return this.sampledAtMs || Date.now();
  }

  status(): HaproxyDataplaneStatus {
    return buildHaproxyStatus({
      config: this.config,
      rendered: this.rendered,
      stats: this.stats,
      proc: this.proc,
      startedAt: this.startedAt,
      haproxy: {
        version: this.version,
        configFile: this.paths.config,
        reloads: this.reloader.count,
        lastReload: this.reloader.last,
        runtimeApplies: this.runtimeApplies,
        runtimeCommands: this.runtime.commands,
        draining: this.runtime.draining,
        stuckRemovals: this.runtime.stuck,
        restarts: this.process.restarts,
        sampledAt: this.sampledAt,
      },
    });
  }

  close(drainMs: number): Promise<void> {
    this.closing ??= this.shutdown(drainMs);
    return this.closing;
  }

  private async shutdown(drainMs: number): Promise<void> {
    if (this.poller) clearInterval(this.poller);
    for (const p of this.pending.splice(0)) p.reject(new ApplyError(ErrorCodes.SHUTTING_DOWN, 'hitless is shutting down; the config was not applied'));
    for (const w of this.overrideWaiters.splice(0)) w.reject(new ApplyError(ErrorCodes.SHUTTING_DOWN, 'hitless is shutting down; the override was not applied'));
    this.runtime.forgetRemovals();
    await this.process.stop(drainMs);
    if (this.createdDir) await rm(this.settings.stateDir, { recursive: true, force: true });
  }
}
