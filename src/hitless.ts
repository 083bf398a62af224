// One running hitless: config + controller + data plane + admin API, with the lifecycle the CLI
// (and tests, in process) drive: start, reload from file, stop gracefully.
import { resolve } from 'node:path';
import { loadConfigFile } from './config/load.js';
import { ConfigError } from './config/errors.js';
import type { ConfigSnapshot } from './config/model.js';
import { AdminServer, type AdminExtension } from './admin/admin-server.js';
import type { Driver } from './dataplane/driver.js';
import { Controller, type ApplyRecord } from './control/controller.js';
import { DiscoveryManager } from './control/discovery-manager.js';
import { Registrar } from './register/registrar.js';
import { ErrorCodes, HitlessError } from './errors.js';
import type { Logger } from './observability/log.js';
import { Telemetry } from './observability/telemetry.js';
import { EndpointOverrides } from './control/endpoint-overrides.js';
import { defaultStateFile } from './control/override-file.js';

export interface HitlessOptions {
  readonly snapshot: ConfigSnapshot;
  /** The file SIGHUP / reload() re-reads; absent for configs given as text. */
  readonly configPath?: string;
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
    readonly overrides: EndpointOverrides,
  ) {}

  /** Binds every listener and the admin API, or throws with nothing left open. */
  static async start(options: HitlessOptions): Promise<Hitless> {
    const controller = new Controller(options.driver ?? (await configuredDriver(options)), options.log);
    // Before the first apply, so the startup apply is counted (metrics) and audited too.
    const telemetry = new Telemetry(controller, options.log);
    // Discovery and registration follow every committed config (startup, SIGHUP, PUT /config);
    // both stay idle (no connections) while the config has no `discovery:` / `register:`.
    const discovery = new DiscoveryManager(controller, options.log);
    const registrar = new Registrar(options.log);
    // sync() only starts and stops registrations to match the list it is given, so the list it
    // matched last needs no second pass: a discovery apply keeps the base, and so the same list.
    let synced: ConfigSnapshot['config']['register'] | null = null;
    controller.setAssembler({
      assemble: (base) => discovery.assemble(base),
      committed: (base) => {
        discovery.committed(base);
        if (base.config.register === synced) return;
        synced = base.config.register;
        void registrar.sync(synced);
      },
      status: () => ({ ...discovery.status(), registrations: registrar.status() }),
    });
    const stateFile = options.stateFile !== undefined ? options.stateFile && resolve(options.stateFile) : defaultStateFile(options.configPath);
    const overrides = new EndpointOverrides(controller, options.log, stateFile);
    overrides.onChange(telemetry.audit.override);
    try {
      // Before the first apply: the first config is served with the overrides already in place.
      await overrides.load();
      // Bind with the discovered endpoints in place rather than serve an empty service first.
      if ([...options.snapshot.config.services.values()].some((s) => s.discovery)) await discovery.start(options.snapshot);
      await controller.apply(options.snapshot, { origin: 'startup' });
    } catch (err) {
      await Promise.all([discovery.stop(), registrar.stop()]);
      throw err;
    }
    const { admin } = options.snapshot.config;
    const adminServer = new AdminServer({ address: admin.listen, token: admin.token, controller, log: options.log, startedAt: Date.now(), telemetry, extension: options.adminExtension, overrides });
    try {
      await adminServer.start();
    } catch (err) {
      await Promise.all([discovery.stop(), registrar.stop()]);
      await controller.driver.close(0);
      throw err;
    }
    return new Hitless(controller, adminServer, options, discovery, registrar, overrides);
  }

  get adminAddress(): string {
    return this.controller.current?.config.admin.listen.key ?? '';
  }

  /** Re-reads the config file (SIGHUP). An invalid file is rejected and logged; nothing changes. */
  async reload(): Promise<ApplyRecord> {
    if (!this.options.configPath) throw new HitlessError(ErrorCodes.INTERNAL, 'this instance was not started from a file');
    let snapshot: ConfigSnapshot;
    try {
      snapshot = await loadConfigFile(this.options.configPath);
    } catch (err) {
      if (err instanceof ConfigError) {
        const e = new HitlessError(ErrorCodes.CONFIG_INVALID, err.message, err.problems);
        this.controller.recordRejected('sighup', e);
        throw e;
      }
      throw err;
    }
    const record = await this.controller.apply(snapshot, { origin: 'sighup' });
    if (record.plan?.adminChanged) {
      this.options.log.warn('admin.listen / admin.token changes take effect at the next restart');
    }
    return record;
  }

  /** Stops accepting, lets connections finish for up to `drainMs`, then closes everything. Idempotent. */
  stop(drainMs: number): Promise<void> {
    this.stopping ??= (async () => {
      await this.admin.close();
      // Deregister first, so peers stop sending us traffic while we drain.
      await Promise.all([this.registrar.stop(), this.discovery.stop()]);
      await this.controller.driver.close(drainMs);
    })();
    return this.stopping;
  }
}

/**
 * The data plane the config names, loaded only when needed: the supervisor of `run --workers N`
 * passes its own driver (its workers run the data plane) and so never loads one.
 */
async function configuredDriver(options: HitlessOptions): Promise<Driver> {
  const [{ createDriver }, { accessWriterFor }] = await Promise.all([import('./dataplane/create-driver.js'), import('./observability/access-log.js')]);
  return createDriver(options.snapshot.config, options.log, { accessWriters: accessWriterFor });
}
