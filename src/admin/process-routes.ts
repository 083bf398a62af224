// The admin routes of the process model (`hitless run` with workers): POST /upgrade (a code
// upgrade of the workers; ?supervisor=1 re-execs the supervisor too), and a fresh read of the
// workers' counters before every answer built from the status. The operations are the process
// model's (process/supervised.ts); this file only maps them to HTTP.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, HitlessError, httpStatusOf } from '../errors.js';
import type { ProcessControl } from '../process/supervised.js';
import type { AdminExtension } from './admin-server.js';
import { sendError, sendJson } from './http-util.js';

/** Routes whose answer is built from the status: the workers are asked first, so counters are current. */
const STATUS_ROUTES = new Set(['GET /status', 'GET /metrics', 'GET /dashboard/data']);
/** Of those, the ones that show process metrics (event-loop lag, heap...): the workers collect theirs too. */
const PROCESS_ROUTES = new Set(['GET /metrics', 'GET /dashboard/data']);

export function processRoutes(control: ProcessControl): AdminExtension {
  return {
    async handle(route: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
      if (STATUS_ROUTES.has(route)) {
        await control.refreshStatus(PROCESS_ROUTES.has(route));
        return false;
      }
      if (route !== 'POST /upgrade') return false;
      req.resume();
      if (new URL(req.url ?? '/', 'http://admin').searchParams.get('supervisor') === '1') await upgradeSupervisor(control, res);
      else await upgradeWorkers(control, res);
      return true;
    },
  };
}

async function upgradeWorkers(control: ProcessControl, res: ServerResponse): Promise<void> {
  const result = await orError(res, () => control.upgradeWorkers());
  if (!result) return;
  if (result.ok) sendJson(res, 200, result);
  else sendError(res, 500, ErrorCodes.UPGRADE_FAILED, `upgrade failed; generation ${result.generation} keeps serving: ${result.error}`, result);
}

/** The successor answers for the service once this answer is sent: only then does this supervisor let go. */
async function upgradeSupervisor(control: ProcessControl, res: ServerResponse): Promise<void> {
  const handover = await orError(res, () => control.upgradeSupervisor());
  if (!handover) return;
  res.once('finish', () => void handover.letGo());
  sendJson(res, 200, handover.result);
}

/** `op`'s result; or, when it refuses (nothing to upgrade, shutting down, ...), that answered with its code and status, and null. */
async function orError<T>(res: ServerResponse, op: () => Promise<T>): Promise<T | null> {
  try {
    return await op();
  } catch (err) {
    if (!(err instanceof HitlessError)) throw err;
    sendError(res, httpStatusOf(err.code), err.code, err.message);
    return null;
  }
}
