// The HAProxy data plane: hitless renders haproxy.cfg from the model and drives a supervised
// master-worker HAProxy. prepare() renders the config and decides: endpoint-only changes and
// certificate renewals, appends and removals become runtime API commands (no reload, the files
// rewritten to match; new certificates checked first with `haproxy -c` on copies); anything
// structural is checked with `haproxy -c` and a bind test of new addresses. commit() sends the
// commands or reloads seamlessly (listening sockets handed from worker to worker, server state
// carried over by file); abort() discards what prepare rendered (it holds nothing else: no
// certificate transaction is opened before commit, since HAProxy 2.6 holds only one at a time).
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config, HaproxySettings } from '../../config/model.js';
import type { Plan } from '../plan-types.js';
import { ApplyError, ErrorCodes } from '../../errors.js';
import type { Logger } from '../../observability/log.js';
import type { Driver, PreparedChange } from '../driver.js';
import { PreparedSlot } from '../prepared-change.js';
import { checkBindable, checkConfig, haproxyVersion } from './haproxy-check.js';
import { HaproxyProcess } from './haproxy-process.js';
import { buildHaproxyStatus, type HaproxyDataplaneStatus } from './haproxy-status.js';
import { Reloader } from './reloader.js';
import { renderConfig, type RenderedConfig, type StatePaths } from './render-config.js';
import type { ProcTable, StatRow } from './runtime-api.js';
import { diffServers, RuntimeChanger, type ServerDiff } from './runtime-changes.js';
import { prepareServerState } from './server-state.js';
import { EMPTY_OVERRIDES, type AdminState, type OverrideTable } from '../endpoint-override.js';
import { hasServer, wantedStates, withOverrideWeights } from './overrides.js';
import { supportPaths, writeSupportFiles } from './support-files.js';
import { diffCertificates, tlsChangeSize, type TlsChange } from './render-tls.js';
import { CertificateChanger } from './runtime-certificates.js';
import { writeTlsFiles } from './tls-files-write.js';
import { writeUpstreamTlsFiles } from './upstream-tls.js';

const STATUS_POLL_MS = 1_000;

/** What prepare found: how `input` would be committed, starting from what ran then. */
interface Prepared {
  readonly input: Config;
  /** `input` with the override weights: what was rendered (and what a check renders again). */
  readonly desired: Config;
  /** The running rendered config and overrides prepare started from; commit prepares again if either changed since. */
  readonly from: RenderedConfig | null;
  readonly overrides: OverrideTable;
  readonly step:
    | { readonly how: 'same' }
    | { readonly how: 'start'; readonly next: RenderedConfig }
    | { readonly how: 'runtime'; readonly next: RenderedConfig; readonly diff: ServerDiff; readonly certificates: TlsChange }
    | { readonly how: 'reload'; readonly next: RenderedConfig; readonly reason: string };
}

export function statePaths(stateDir: string): StatePaths {
  return {
    config: join(stateDir, 'haproxy.cfg'),
    workerSocket: join(stateDir, 'worker.sock'),
    masterSocket: join(stateDir, 'master.sock'),
    serverState: join(stateDir, 'server-state'),
    support: supportPaths(stateDir),
    tls: join(stateDir, 'tls'),
  };
}

export class HaproxyDriver implements Driver {
  readonly name = 'haproxy';
  readonly paths: StatePaths;
  readonly process: HaproxyProcess;
  private readonly reloader: Reloader;
  private readonly runtime: RuntimeChanger;
  private readonly certificateChanger: CertificateChanger;
  private config: Config | null = null;
  /** What the config file says, and (no reload pending) what the serving worker runs. */
  private rendered: RenderedConfig | null = null;
  /** Endpoint overrides (overrides.ts): weights rendered in, states set after every commit. */
  private overrides: OverrideTable = EMPTY_OVERRIDES;
  /** "backend/server" → the admin state last set for an override (to set it back to ready once cleared). */
  private statesSet = new Map<string, AdminState>();
  /** Prepares and commits (of applies and of override changes) run one at a time, in order. */
  private lock: Promise<unknown> = Promise.resolve();
  private readonly slot = new PreparedSlot('haproxy');
  private closing: Promise<void> | null = null;
  private createdDir = false;
  private version: string | null = null;
  private runtimeApplies = 0;
  /** Certificates renewed, appended or removed through the runtime API, no reload. */
  private certificateRotations = 0;
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
    this.certificateChanger = new CertificateChanger(this.process.worker);
  }

  /**
   * Renders `desired` and works out how to commit it: nothing (the same text), runtime API
   * commands (endpoints only), or a reload, whose config `haproxy -c` must accept and whose new
   * listen addresses must be bindable now. Throws with nothing changed.
   */
  prepare(desired: Config, plan: Plan): Promise<PreparedChange> {
    return this.slot.prepare(async () => {
      const prepared = await this.serial(() => this.prepareNow(desired));
      return {
        plan,
        prepared: { bound: [], commit: describeStep(prepared.step) },
        commit: async () => {
          await this.serial(async () => {
            this.assertOpen();
            // An override change committed since prepare re-rendered what runs: start from that.
            const current = this.rendered === prepared.from && this.overrides === prepared.overrides ? prepared : await this.prepareNow(desired);
            await this.execute(current);
            // The config is committed whatever happens here: a state that did not take is logged.
            await this.applyOverrideStates().catch((err: Error) => this.log.warn({ err: err.message }, 'haproxy: endpoint override states not set after an apply'));
          });
          void this.refreshStatus();
          return { bound: plan.listeners.add, released: plan.listeners.remove };
        },
        // Nothing is held: the candidate file is rewritten by the next check.
        abort: () => {},
      };
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => {});
    return run;
  }

  private assertOpen(): void {
    if (this.closing) throw new ApplyError(ErrorCodes.SHUTTING_DOWN, 'hitless is shutting down; the config was not applied');
  }

  private async prepareNow(input: Config): Promise<Prepared> {
    this.assertOpen();
    this.assertSameProcess(input);
    const desired = withOverrideWeights(input, this.overrides);
    const next = renderConfig(desired, this.paths, desired.dataplane.haproxy);
    const from = this.rendered;
    const base = { input, desired, from, overrides: this.overrides };
    if (!from) {
      await this.prepareFirst(desired, next);
      return { ...base, step: { how: 'start', next } };
    }
    // Renewed, appended and removed certificates are runtime API changes, as endpoints are.
    const certificates = diffCertificates(from.tls, next.tls);
    if (next.text === from.text && typeof certificates !== 'string' && tlsChangeSize(certificates) === 0) return { ...base, step: { how: 'same' } };
    // upstream_tls: certificate and CA files the new server lines name, before HAProxy reads them.
    await writeUpstreamTlsFiles(this.settings.stateDir, next.files, from.files);
    const diff = diffServers(from, next);
    if (typeof diff !== 'string' && typeof certificates !== 'string') {
      // HAProxy must accept the new certificates before any is committed: `haproxy -c` on them.
      if (tlsChangeSize(certificates) > 0) await this.validate(desired, next, from);
      return { ...base, step: { how: 'runtime', next, diff, certificates } };
    }
    await this.validate(desired, next, from);
    return { ...base, step: { how: 'reload', next, reason: typeof diff === 'string' ? diff : (certificates as string) } };
  }

  /** Commits what prepareNow found. */
  private async execute({ input, desired, from, step }: Prepared): Promise<void> {
    switch (step.how) {
      case 'same':
        this.config = input;
        return;
      case 'start':
        return this.startFirst(input, step.next);
      case 'runtime':
        try {
          // The files first, so that any later reload (or restart) loads the new certificates too.
          if (tlsChangeSize(step.certificates) > 0) await writeTlsFiles(this.paths.tls, step.next.tls);
          await this.runtime.apply(step.diff);
          if (tlsChangeSize(step.certificates) > 0) await this.rotate(step.certificates);
          await this.writeAtomic(this.paths.config, step.next.text);
          this.rendered = step.next;
          this.config = input;
          this.runtimeApplies++;
          return;
        } catch (err) {
          // A partly applied runtime change is converged by reloading the full new config.
          this.log.warn({ err: (err as Error).message }, 'haproxy: runtime change failed; reloading instead');
          try {
            await this.validate(desired, step.next, from);
          } catch (refused) {
            // Certificates HAProxy refused after all: the running files and certificates come back.
            if (tlsChangeSize(step.certificates) > 0) await this.restoreTls(from!);
            throw refused;
          }
          return this.reloadTo(input, from!, step.next);
        }
      case 'reload':
        this.log.info({ reason: step.reason }, 'haproxy: structural change, reloading');
        return this.reloadTo(input, from!, step.next);
    }
  }

  /**
   * Endpoint overrides: the new table goes into the running config as any endpoint change does
   * (a weight is a runtime reweight, no reload), then the admin states are set. Before HAProxy
   * runs, the table is only kept: the first config is rendered with it.
   */
  setOverrides(table: OverrideTable): Promise<void> {
    if (this.closing) return Promise.reject(new ApplyError(ErrorCodes.SHUTTING_DOWN, 'hitless is shutting down; the override was not applied'));
    this.overrides = table;
    return this.serial(async () => {
      if (this.closing) throw new ApplyError(ErrorCodes.SHUTTING_DOWN, 'hitless is shutting down; the override was not applied');
      if (!this.config) return;
      await this.execute(await this.prepareNow(this.config));
      await this.applyOverrideStates();
      void this.refreshStatus();
    });
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

  private async rotate(change: TlsChange): Promise<void> {
    const files = (list: ReadonlyArray<{ service: string; path: string }>) => list.map((c) => `${c.service}: ${c.path}`);
    this.log.info({ renewed: files(change.updates), added: files(change.added), removed: files(change.removed) }, 'haproxy: certificates changed through the runtime API (no reload)');
    await this.certificateChanger.apply(change);
    this.certificateRotations += tlsChangeSize(change);
  }

  /** The running certificates back on disk and in HAProxy (a reload of the unchanged config re-reads them). */
  private async restoreTls(current: RenderedConfig): Promise<void> {
    await writeTlsFiles(this.paths.tls, current.tls);
    await this.reloader.request().catch((err: Error) => this.log.error({ err: err.message }, 'haproxy: reload to restore the running certificates failed'));
  }

  /** A reload to `next`, which validate() accepted. */
  private async reloadTo(desired: Config, current: RenderedConfig, next: RenderedConfig): Promise<void> {
    // Health and admin states (maint, drain, DOWN) survive the reload through this file.
    const dump = await this.process.worker.showServersState();
    await this.writeAtomic(this.paths.serverState, prepareServerState(dump, next, this.runtime.removing()));
    await writeTlsFiles(this.paths.tls, next.tls);
    await this.writeAtomic(this.paths.config, next.text);
    try {
      await this.reloader.request();
    } catch (err) {
      await this.writeAtomic(this.paths.config, current.text);
      await writeTlsFiles(this.paths.tls, current.tls);
      throw new ApplyError(ErrorCodes.DATAPLANE_REJECTED, `config rejected by haproxy, nothing changed: ${(err as Error).message}`);
    }
    this.runtime.forgetRemovals();
    this.rendered = next;
    this.config = desired;
  }

  /**
   * `haproxy -c` on the text, then a bind test of the new listen addresses. The check renders
   * `desired` again with the TLS files in a candidate directory: the running files stay what
   * HAProxy runs until commit.
   */
  private async validate(desired: Config, next: RenderedConfig, current: RenderedConfig | null): Promise<void> {
    const candidate = join(this.settings.stateDir, 'haproxy.candidate.cfg');
    const candidateTls = join(this.settings.stateDir, 'tls-candidate');
    const check = renderConfig(desired, { ...this.paths, tls: candidateTls }, desired.dataplane.haproxy);
    await writeTlsFiles(candidateTls, check.tls);
    await writeFile(candidate, check.text);
    let problem: string | null;
    try {
      problem = await checkConfig(this.settings.binary, candidate, this.paths.config);
    } finally {
      // The copies hold decrypted keys: none stays on disk longer than the check.
      await rm(candidateTls, { recursive: true, force: true });
    }
    // Name the configured files, not hitless's copies of them.
    for (const [service, files] of check.tls) {
      for (const [path, source] of files.sources) problem = problem?.replaceAll(path, source) ?? null;
      problem = problem?.replaceAll(files.listPath, `the crt-list of ${service}`) ?? null;
    }
    if (problem) throw new ApplyError(ErrorCodes.DATAPLANE_REJECTED, `config rejected by haproxy -c, nothing changed: ${problem}`);
    const bindProblem = checkBindable(next.text, current?.text ?? '');
    if (bindProblem) throw new ApplyError(ErrorCodes.BIND_FAILED, `config rejected, nothing changed: ${bindProblem.message}`, [bindProblem]);
  }

  /** The state directory and support files the first config needs, and its check. */
  private async prepareFirst(desired: Config, next: RenderedConfig): Promise<void> {
    if (!(await stat(this.settings.stateDir).catch(() => null))) this.createdDir = true;
    await mkdir(this.settings.stateDir, { recursive: true, mode: 0o700 });
    this.version ??= await haproxyVersion(this.settings.binary);
    // The Lua file and error pages the config names: `haproxy -c` reads them too.
    await writeSupportFiles(this.paths.support);
    await writeUpstreamTlsFiles(this.settings.stateDir, next.files, undefined);
    await this.validate(desired, next, null);
  }

  private async startFirst(desired: Config, next: RenderedConfig): Promise<void> {
    // A state file with only the version line: "no servers to restore", without a warning.
    await this.writeAtomic(this.paths.serverState, '1\n');
    await writeTlsFiles(this.paths.tls, next.tls);
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
        certificateRotations: this.certificateRotations,
        runtimeCommands: this.runtime.commands + this.certificateChanger.commands,
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
    this.runtime.forgetRemovals();
    await this.process.stop(drainMs);
    if (this.createdDir) await rm(this.settings.stateDir, { recursive: true, force: true });
    // Decrypted keys do not outlive the HAProxy that needed them (the next start writes them again).
    else await rm(this.paths.tls, { recursive: true, force: true });
  }
}

/** What commit would do, for POST /config/validate. */
function describeStep(step: Prepared['step']): string {
  switch (step.how) {
    case 'same':
      return 'nothing: the rendered haproxy.cfg is the same';
    case 'start':
      return 'start haproxy (haproxy -c passed, the listen addresses are free)';
    case 'runtime':
      return `runtime API, no reload: ${step.diff.add.length} servers added, ${step.diff.reweight.length} reweighted, ${step.diff.remove.length} removed, ${certificateSummary(step.certificates)}`;
    case 'reload':
      return `seamless reload (haproxy -c passed, new listen addresses are free): ${step.reason}`;
  }
}

function certificateSummary(c: TlsChange): string {
  const text = `${c.updates.length} certificates renewed, ${c.added.length} added, ${c.removed.length} removed`;
  return tlsChangeSize(c) > 0 ? `${text} (haproxy -c passed)` : text;
}
