// One running hitless: config + controller + data plane + admin API, with the lifecycle the CLI
// (and tests, in process) drive: start, reload from file, stop gracefully.
import { resolve } from 'node:path';
import { ConfigError } from './config/errors.js';
import type { ConfigSnapshot } from './config/model.js';
import { AdminServer, type AdminExtension } from './admin/admin-server.js';
import type { Driver } from './dataplane/driver.js';
import { Controller, type ApplyRecord, type ConfigSource } from './control/controller.js';
import { ConfigFile } from './control/config-file.js';
import { DiscoveryManager } from './control/discovery-manager.js';
import { Registrar } from './register/registrar.js';
import { ErrorCodes, HitlessError } from './errors.js';
import type { Logger } from './observability/log.js';
import { Telemetry } from './observability/telemetry.js';
import { EndpointOverrides } from './control/endpoint-overrides.js';
import { defaultStateFile } from './control/override-file.js';
import { CertificateWatcher } from './control/certificate-watch.js';
import { withTlsIdentity } from './control/tls-identity.js';

export interface HitlessOptions {
  readonly snapshot: ConfigSnapshot;
  /** The file SIGHUP / reload() re-reads; absent for configs given as text. */
  readonly configPath?: string;
  /** Where `snapshot` came from (default: "file" with configPath, else "embedded"). */
  readonly source?: ConfigSource;
  readonly log: Logger;
  /** The data plane, when not the one the config names (the supervisor's, for `run --workers N`). */
  readonly driver?: Driver;
  /** Extra admin routes (the supervisor's POST /upgrade). */
  readonly adminExtension?: AdminExtension;
  /**
   * Where endpoint overrides are kept across restarts (hitless endpoint ...); null: in memory only.
   * Absent: $STATE_DIRECTORY/endpoint-overrides.json, else `<configPath>.overrides.json`.
   */
  readonly stateFile?: string | null;
}

export class Hitless {
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly controller: Controller,
    readonly admin: AdminServer,
    private readonly options: HitlessOptions,
    readonly discovery: DiscoveryManager,
    readonly registrar: Registrar,
    readonly configFile: ConfigFile,
    readonly overrides: EndpointOverrides,
    readonly certificates: CertificateWatcher,
  ) {}

  /** Binds every listener and the admin API, or throws with nothing left open. */
  static async start(options: HitlessOptions): Promise<Hitless> {
    const controller = new Controller(options.driver ?? (await configuredDriver(options)), options.log);
    const configFile = new ConfigFile(options.configPath, options.log);
    // Before the first apply, so the startup apply is counted (metrics) and audited too.
    const telemetry = new Telemetry(controller, options.log);
    // Discovery and registration follow every committed config (startup, SIGHUP, PUT /config);
    // both stay idle (no connections) while the config has no `discovery:` / `register:`.
    const discovery = new DiscoveryManager(controller, options.log);
    const registrar = new Registrar(options.log);
    // Certificate files replaced on disk: the running config read again, through the apply queue.
    const certificates = new CertificateWatcher(controller, options.log);
    // sync() only starts and stops registrations to match the list it is given, so the list it
    // matched last needs no second pass: a discovery apply keeps the base, and so the same list.
    let synced: ConfigSnapshot['config']['register'] | null = null;
    controller.setAssembler({
      // The running hash names the certificate files' content too (control/tls-identity.ts).
      assemble: (base) => {
        const assembled = discovery.assemble(base);
        return { ...assembled, snapshot: withTlsIdentity(assembled.snapshot, base) };
      },
      committed: (base) => {
        discovery.committed(base);
        if (base.config.register === synced) return;
        synced = base.config.register;
        void registrar.sync(synced);
      },
      status: () => {
        const files = certificates.status();
        return { ...discovery.status(), registrations: registrar.status(), ...(files ? { certificateFiles: files } : {}) };
      },
      unsynced: () => discovery.unsynced(),
    });
    const stateFile = options.stateFile !== undefined ? options.stateFile && resolve(options.stateFile) : defaultStateFile(options.configPath);
    const overrides = new EndpointOverrides(controller, options.log, stateFile);
    overrides.onChange(telemetry.audit.override);
    try {
      // Before the first apply: the first config is served with the overrides already in place.
      await overrides.load();
      // Bind with the discovered endpoints in place rather than serve an empty service first.
      if ([...options.snapshot.config.services.values()].some((s) => s.discovery)) await discovery.start(options.snapshot);
      await controller.apply(options.snapshot, { origin: 'startup', source: options.source ?? (options.configPath ? 'file' : 'embedded') });
    } catch (err) {
      certificates.stop();
      await Promise.all([discovery.stop(), registrar.stop()]);
      throw err;
    }
    const { admin } = options.snapshot.config;
    const { configPath } = options;
    // POST /config/reload (`hitless reload`, the unit's ExecReload=): SIGHUP's re-read, with its answer.
    const reload = configPath === undefined ? undefined : (peer: string) => reloadFromFile(controller, configFile, options.log, 'reload', peer);
    const adminServer = new AdminServer({
      address: admin.listen,
      token: admin.token,
      readToken: admin.readToken,
      controller,
      configFile,
      log: options.log,
      startedAt: Date.now(),
      telemetry,
      extension: options.adminExtension,
      reload,
      overrides,
    });
    try {
      await adminServer.start();
    } catch (err) {
      certificates.stop();
      await Promise.all([discovery.stop(), registrar.stop()]);
      await controller.driver.close(0);
      throw err;
    }
    return new Hitless(controller, adminServer, options, discovery, registrar, configFile, overrides, certificates);
  }

  get adminAddress(): string {
    return this.controller.current?.config.admin.listen.key ?? '';
  }

  /** Re-reads the config file (SIGHUP). An invalid file is rejected and logged; nothing changes. */
  reload(): Promise<ApplyRecord> {
    if (!this.options.configPath) return Promise.reject(new HitlessError(ErrorCodes.NO_CONFIG_FILE, 'this instance was not started from a file'));
    return reloadFromFile(this.controller, this.configFile, this.options.log, 'sighup');
  }

  /** Stops accepting, lets connections finish for up to `drainMs`, then closes everything. Idempotent. */
  stop(drainMs: number): Promise<void> {
    this.stopping ??= (async () => {
      await this.admin.close();
      this.certificates.stop();
      // Deregister first, so peers stop sending us traffic while we drain.
      await Promise.all([this.registrar.stop(), this.discovery.stop()]);
      await this.controller.driver.close(drainMs);
    })();
    return this.stopping;
  }
}

/**
 * Re-reads the config file and applies it: what SIGHUP does (origin "sighup") and what POST
 * /config/reload does (origin "reload", with the requester). The file is read when the apply's
 * turn comes in the queue, so an API apply queued before has written it. An invalid file is
 * recorded as a rejected apply and thrown as HITLESS_ERR_CONFIG_INVALID; the running config keeps serving.
 */
async function reloadFromFile(controller: Controller, configFile: ConfigFile, log: Logger, origin: 'sighup' | 'reload', peer?: string): Promise<ApplyRecord> {
  const read = async (): Promise<ConfigSnapshot> => {
    try {
      return await configFile.load();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const e = new HitlessError(ErrorCodes.CONFIG_INVALID, err.message, err.problems);
      controller.recordRejected(origin, e, peer);
      throw e;
    }
  };
  const record = await controller.apply(read, { origin, source: 'file', ...(peer ? { peer } : {}) });
  if (record.plan?.adminChanged) log.warn('admin.listen / admin.token / admin.read_token changes take effect at the next restart');
  return record;
}

/**
 * The data plane the config names, loaded only when needed: the supervisor of `run --workers N`
 * passes its own driver (its workers run the data plane) and so never loads one.
 */
async function configuredDriver(options: HitlessOptions): Promise<Driver> {
  const [{ createDriver }, { accessWriterFor }] = await Promise.all([import('./dataplane/create-driver.js'), import('./observability/access-log.js')]);
  return createDriver(options.snapshot.config, options.log, { accessWriters: accessWriterFor });
}
