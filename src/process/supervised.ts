// Wiring for `hitless run --workers N`: the supervisor behind the ordinary Hitless instance (its
// Controller, admin API, discovery and SIGHUP reload are unchanged), plus POST /upgrade (code
// upgrade; ?supervisor=1 re-execs the supervisor too), a fresh status before every status read,
// and SIGUSR2.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminExtension } from '../admin/admin-server.js';
import { sendError, sendJson } from '../admin/http-util.js';
import type { ConfigSnapshot } from '../config/model.js';
import type { ConfigSource } from '../control/controller.js';
import { ApplyError, ErrorCodes, httpStatusOf } from '../errors.js';
import type { Hitless } from '../hitless.js';
import { ClusterDriver } from './cluster-driver.js';
import { notifySystemd } from './sd-notify.js';
import { adoptHandover, startSuccessor } from './supervisor-handover.js';
import { Supervisor, type SupervisorOptions } from './supervisor.js';

export interface Supervised {
  readonly supervisor: Supervisor;
  readonly driver: ClusterDriver;
  readonly adminExtension: AdminExtension;
  /** Set when this supervisor replaces another: the config to start with is the one it ran, and where that came from. */
  readonly initialConfig?: () => Promise<{ snapshot: ConfigSnapshot; source: ConfigSource }>;
  /** Called once the instance runs: SIGUSR2, and what a supervisor upgrade needs to hand over. */
  attach(hitless: Hitless): void;
}

/** Routes whose answer is built from the status: the workers are asked first, so counters are current. */
const STATUS_ROUTES = new Set(['GET /status', 'GET /metrics', 'GET /dashboard/data']);
/** Of those, the ones that show process metrics (event-loop lag, heap...): the workers collect theirs too. */
const PROCESS_ROUTES = new Set(['GET /metrics', 'GET /dashboard/data']);

export function createSupervised(options: SupervisorOptions): Supervised {
  const { log } = options;
  const supervisor = new Supervisor(options);
  const initialConfig = adoptHandover(supervisor, log);
  let hitless: Hitless | null = null;
  let handingOver = false;

  const upgradeSupervisor = async (res: ServerResponse): Promise<void> => {
    const running = hitless?.controller.base ?? hitless?.controller.current;
    if (!hitless || !running || handingOver) return sendError(res, 409, ErrorCodes.UPGRADE_FAILED, 'a supervisor upgrade is already in progress (or hitless is still starting)');
    handingOver = true;
    const started = Date.now();
    try {
      const successor = await startSuccessor(supervisor, running, hitless.controller.baseSource ?? 'file', options.readyTimeoutMs * 2, log);
      // Under systemd (Type=notify), the new supervisor becomes the service's main pid before
      // this one exits; otherwise systemd would take this exit for the service's end.
      if (successor.child.pid !== undefined) await notifySystemd({ MAINPID: successor.child.pid, STATUS: `supervisor upgrade: pid ${successor.child.pid} takes over from ${process.pid}` }, log);
      const instance = hitless;
      res.once('finish', () => {
        void (async () => {
          await instance.admin.close();
          successor.adminReleased();
          await supervisor.retireAll(successor.sink);
          log.info('supervisor upgrade: every old worker drained; exiting');
          process.exit(0);
        })();
      });
      sendJson(res, 200, { ok: true, at: new Date(started).toISOString(), durationMs: Date.now() - started, supervisorPid: successor.child.pid, previousSupervisorPid: process.pid });
    } catch (err) {
      handingOver = false;
      log.error({ err: (err as Error).message }, 'supervisor upgrade failed; this supervisor keeps serving');
      sendError(res, 500, ErrorCodes.UPGRADE_FAILED, `supervisor upgrade failed; the running supervisor keeps serving: ${(err as Error).message}`);
    }
  };

  const adminExtension: AdminExtension = {
    async handle(route: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
      if (STATUS_ROUTES.has(route)) {
        await supervisor.refreshStatus(undefined, PROCESS_ROUTES.has(route));
        return false;
      }
      if (route !== 'POST /upgrade') return false;
      req.resume();
      if (new URL(req.url ?? '/', 'http://admin').searchParams.get('supervisor') === '1') {
        await upgradeSupervisor(res);
        return true;
      }
      let result;
      try {
        result = await supervisor.upgrade();
      } catch (err) {
        // Nothing to upgrade, or shutting down: the code says which, with its status.
        if (!(err instanceof ApplyError)) throw err;
        sendError(res, httpStatusOf(err.code), err.code, err.message);
        return true;
      }
      if (result.ok) sendJson(res, 200, result);
      else sendError(res, 500, ErrorCodes.UPGRADE_FAILED, `upgrade failed; generation ${result.generation} keeps serving: ${result.error}`, result);
      return true;
    },
  };

  return {
    supervisor,
    driver: new ClusterDriver(supervisor),
    adminExtension,
    ...(initialConfig ? { initialConfig } : {}),
    attach(instance: Hitless) {
      hitless = instance;
      process.on('SIGHUP', () => supervisor.reopenLogs());
      process.on('SIGUSR2', () => {
        log.info('SIGUSR2: upgrading the workers to the code on disk');
        supervisor.upgrade().catch((err: Error) => log.error({ err: err.message }, 'upgrade failed'));
      });
    },
  };
}

