// One running hitless: config + controller + data plane + admin API, with the lifecycle the CLI
// (and tests, in process) drive: start, reload from file, stop gracefully.
import { loadConfigFile } from './config/load.js';
import { ConfigError } from './config/errors.js';
import type { ConfigSnapshot } from './config/model.js';
import { AdminServer } from './admin/admin-server.js';
import { Controller, type ApplyRecord } from './control/controller.js';
import { BuiltinDriver } from './dataplane/builtin/builtin-driver.js';
import { ErrorCodes, HitlessError } from './errors.js';
import type { Logger } from './observability/log.js';

export interface HitlessOptions {
  readonly snapshot: ConfigSnapshot;
  /** The file SIGHUP / reload() re-reads; absent for configs given as text. */
  readonly configPath?: string;
  readonly log: Logger;
}

export class Hitless {
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly controller: Controller,
    readonly admin: AdminServer,
    private readonly options: HitlessOptions,
  ) {}

  /** Binds every listener and the admin API, or throws with nothing left open. */
  static async start(options: HitlessOptions): Promise<Hitless> {
    const controller = new Controller(new BuiltinDriver(), options.log);
    await controller.apply(options.snapshot, { origin: 'startup' });
    const { admin } = options.snapshot.config;
    const adminServer = new AdminServer({ address: admin.listen, token: admin.token, controller, log: options.log, startedAt: Date.now() });
    try {
      await adminServer.start();
    } catch (err) {
      await controller.driver.close(0);
      throw err;
    }
    return new Hitless(controller, adminServer, options);
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
      await this.controller.driver.close(drainMs);
    })();
    return this.stopping;
  }
}
