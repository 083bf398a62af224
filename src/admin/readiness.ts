// GET /ready and GET /live: the probes an orchestrator (Kubernetes, a load balancer in front of
// hosts, systemd scripts) sends without a token. They answer whether to send traffic here and
// whether the process is alive, and reveal nothing else: counts, never names, addresses or hashes.
import type { Controller } from '../control/controller.js';

export interface Readiness {
  readonly ready: boolean;
  /** Why not, one line per unmet condition (empty when ready). */
  readonly reasons: readonly string[];
}

/**
 * Ready: a config is applied, every listen address it names has an active listener (with worker
 * processes: at least one worker is ready to accept), and every discovery source has answered or
 * been given up on after discovery_defaults.initial_wait.
 */
export function readiness(controller: Controller): Readiness {
  const current = controller.current;
  if (!current) return { ready: false, reasons: ['no config applied yet'] };
  const reasons: string[] = [];
  const status = controller.driver.status();
  const active = new Set(status.listeners.filter((l) => l.state === 'active').map((l) => l.address));
  let wanted = 0;
  let missing = 0;
  for (const service of current.config.services.values()) {
    for (const l of service.listen) {
      wanted++;
      if (!active.has(l.key)) missing++;
    }
  }
  if (missing > 0) reasons.push(`${missing} of ${wanted} listen addresses not active yet`);
  // A worker that died keeps its last state until it is replaced: `exit` says it is gone.
  const workers = (status as { process?: { workers?: ReadonlyArray<{ state: string; exit?: string }> } }).process?.workers;
  if (workers && !workers.some((w) => w.state === 'ready' && w.exit === undefined)) reasons.push('no worker process is ready');
  const unsynced = controller.assembler?.unsynced?.() ?? 0;
  if (unsynced > 0) reasons.push(`${unsynced} discovery source${unsynced === 1 ? ' has' : 's have'} not answered yet (waiting up to discovery_defaults.initial_wait)`);
  return { ready: reasons.length === 0, reasons };
}
