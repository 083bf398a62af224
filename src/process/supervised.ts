// Wiring for `hitless run --workers N`: the supervisor behind the ordinary Hitless instance (its
// Controller, admin API, discovery and SIGHUP reload are unchanged), plus POST /upgrade, a
// fresh status before every status read, and SIGUSR2.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminExtension } from '../admin/admin-server.js';
import { sendError, sendJson } from '../admin/http-util.js';
import { ErrorCodes } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { ClusterDriver } from './cluster-driver.js';
import { Supervisor, type SupervisorOptions } from './supervisor.js';

export interface Supervised {
  readonly supervisor: Supervisor;
  readonly driver: ClusterDriver;
  readonly adminExtension: AdminExtension;
}

/** Routes whose answer is built from the status: the workers are asked first, so counters are current. */
const STATUS_ROUTES = new Set(['GET /status', 'GET /metrics', 'GET /dashboard/data']);

export function createSupervised(options: SupervisorOptions): Supervised {
  const supervisor = new Supervisor(options);
  const adminExtension: AdminExtension = {
    async handle(route: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
      if (STATUS_ROUTES.has(route)) {
        await supervisor.refreshStatus();
        return false;
      }
      if (route !== 'POST /upgrade') return false;
      req.resume();
      const result = await supervisor.upgrade();
      if (result.ok) sendJson(res, 200, result);
      else sendError(res, 500, ErrorCodes.UPGRADE_FAILED, `upgrade failed; generation ${result.generation} keeps serving: ${result.error}`, result);
      return true;
    },
  };
  return { supervisor, driver: new ClusterDriver(supervisor), adminExtension };
}

export function installUpgradeSignal(supervisor: Supervisor, log: Logger): void {
  process.on('SIGUSR2', () => {
    log.info('SIGUSR2: upgrading the workers to the code on disk');
    supervisor.upgrade().catch((err: Error) => log.error({ err: err.message }, 'upgrade failed'));
  });
}
