// What every worker holds that is not config: the endpoint overrides (endpoint-override.ts) and
// the TLS session ticket keys (dataplane/builtin/tls/ticket-keys.ts). The supervisor keeps both,
// gives them to a new worker (start, crash restart, code upgrade) before its first config, and
// sends every change to every worker alive, those of a generation still starting included.
import { EMPTY_OVERRIDES, type OverrideTable } from '../dataplane/endpoint-override.js';
import { TicketKeyRotation } from '../dataplane/builtin/tls/ticket-keys.js';
import type { Logger } from '../observability/log.js';
import { REQUEST_TIMEOUT_MS } from './fleet-commit.js';
import type { WorkerLink } from './worker-link.js';

export class WorkerSharedState {
  private overrides: OverrideTable = EMPTY_OVERRIDES;
  /** The same keys on every worker and the next generation: a session resumes whichever worker accepts it. */
  private readonly tickets = new TicketKeyRotation((keys) => {
    for (const w of this.workers()) w.post({ t: 'ticket-keys', keys });
  });

  /** `workers`: every worker process not yet exited. */
  constructor(
    private readonly workers: () => Iterable<WorkerLink>,
    private readonly log: Logger,
  ) {
    this.tickets.start();
  }

  /** A new worker, before its first config: it never serves without either (messages arrive in order). */
  async giveTo(w: WorkerLink, timeoutMs: number): Promise<void> {
    // First: no TLS handshake before the keys every worker shares.
    w.post({ t: 'ticket-keys', keys: this.tickets.keys });
    if (this.overrides.size > 0) await w.request({ t: 'overrides', table: this.overrides }, timeoutMs);
  }

  /**
   * Endpoint overrides for every worker, now and for every worker started later. Not serialised
   * with applies: the table travels on its own message and a worker folds it into whatever config
   * it runs or receives next. A serving worker that cannot take it is replaced, as after a failed
   * commit, and its replacement starts with it.
   */
  async setOverrides(table: OverrideTable): Promise<void> {
    this.overrides = table;
    const targets = [...this.workers()].filter((w) => w.alive);
    const results = await Promise.allSettled(targets.map((w) => w.request({ t: 'overrides', table }, REQUEST_TIMEOUT_MS)));
    results.forEach((r, i) => {
      const w = targets[i];
      if (r.status === 'fulfilled' || !w.alive || w.state === 'draining') return;
      this.log.error({ workerPid: w.pid, err: (r.reason as Error).message }, 'worker failed to apply the endpoint overrides; replacing it');
      w.kill();
    });
  }

  /** Shutdown: no more key rotations. */
  stop(): void {
    this.tickets.stop();
  }
}
