// The supervisor seen as a Driver, so the Controller, admin API, discovery and SIGHUP reload
// work unchanged on top of it: prepare/commit/abort are the supervisor's, across its workers
// (supervisor.ts, fleet-commit.ts); status is the aggregate of the workers' (refreshed by the
// admin API before it answers) plus a `process` section (supervisor-status.ts).
import type { Config } from '../config/model.js';
import type { Plan } from '../control/plan.js';
import type { DataplaneStatus, Driver, PreparedChange } from '../dataplane/driver.js';
import type { CountersClock } from '../observability/telemetry.js';
import { ownReport, type ProcessReport, type ProcessReporter } from '../observability/process-metrics.js';
import type { Supervisor } from './supervisor.js';
import { processSection } from './supervisor-status.js';
import type { OverrideTable } from '../dataplane/endpoint-override.js';

export class SupervisorDriver implements Driver, CountersClock, ProcessReporter {
  readonly name = 'builtin';

  constructor(readonly supervisor: Supervisor) {}

  prepare(desired: Config, plan: Plan): Promise<PreparedChange> {
    return this.supervisor.prepare(desired, plan);
  }

  setOverrides(table: OverrideTable): Promise<void> {
    return this.supervisor.setOverrides(table);
  }

  /** The workers' counters are read every few seconds (and before each status request), not on every status(). */
  countersAt(): number {
    return this.supervisor.countersAt;
  }

  /**
   * The supervisor's process metrics, collected now, and each live worker's as it last sent them
   * (the admin API asks the workers for them just before, on GET /metrics and /dashboard/data).
   */
  async processReports(): Promise<ProcessReport[]> {
    const reports = [await ownReport('supervisor')];
    for (const w of this.supervisor.allWorkers()) {
      if (!w.alive || !w.processMetrics) continue;
      reports.push({ labels: { role: 'worker', pid: w.pid, worker: w.slot, generation: w.generation }, at: w.processMetrics.at, families: w.processMetrics.families });
    }
    return reports;
  }

  status(): DataplaneStatus & { process: ReturnType<typeof processSection> } {
    return { ...this.supervisor.status(), generation: this.supervisor.generation, process: processSection(this.supervisor.processState()) };
  }

  close(drainMs: number): Promise<void> {
    return this.supervisor.stop(drainMs);
  }
}
