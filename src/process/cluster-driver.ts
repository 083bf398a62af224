// The supervisor seen as a Driver, so the Controller, admin API, discovery and SIGHUP reload
// work unchanged on top of it: prepare/commit/abort are the supervisor's, across its workers
// (supervisor.ts); status is the aggregate of the workers' (refreshed by the admin API before it
// answers) plus a `process` section.
import type { Config } from '../config/model.js';
import type { Plan } from '../control/plan.js';
import type { DataplaneStatus, Driver, PreparedChange } from '../dataplane/driver.js';
import type { CountersClock } from '../observability/telemetry.js';
import { ownReport, type ProcessReport, type ProcessReporter } from '../observability/process-metrics.js';
import type { Supervisor } from './supervisor.js';
import type { OverrideTable } from '../dataplane/endpoint-override.js';

export class ClusterDriver implements Driver, CountersClock, ProcessReporter {
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
    return { ...this.supervisor.status(), generation: this.supervisor.generation, process: processSection(this.supervisor) };
  }

  close(drainMs: number): Promise<void> {
    return this.supervisor.stop(drainMs);
  }
}

/**
 * Who serves: the supervisor, each worker (pid, generation, state, the config digest it computed,
 * how many configs it committed as patches or whole and what the last one carried), restarts and
 * upgrades.
 */
export function processSection(s: Supervisor) {
  const workers = s.allWorkers().map((w) => ({
    pid: w.pid,
    generation: w.generation,
    slot: w.slot,
    state: w.state,
    configHash: w.configHash,
    inSync: w.state !== 'ready' || w.configHash === s.configDigest,
    committed: { ...w.committed },
    lastCommit: w.lastCommit,
    startedAt: new Date(w.startedAt).toISOString(),
    rssBytes: w.lastStatus?.rssBytes ?? null,
    heapUsedBytes: w.lastStatus?.heapUsedBytes ?? null,
    connections: w.lastStatus?.openConnections ?? null,
    ...(w.exit ? { exit: w.exit.signal ?? `code ${w.exit.code}` } : {}),
  }));
  const supervisorRss = process.memoryUsage.rss();
  return {
    mode: 'supervisor' as const,
    supervisorPid: process.pid,
    /** process.memoryUsage() of the supervisor, in bytes: rss, heapTotal, heapUsed, external, arrayBuffers. */
    supervisorMemory: process.memoryUsage(),
    workersPerGeneration: s.options.workers,
    generation: s.generation,
    configHash: s.configDigest,
    draining: s.draining ? { generation: s.draining.number, since: new Date(s.draining.since).toISOString() } : null,
    workers,
    processes: 1 + workers.filter((w) => !w.exit).length,
    rssBytes: supervisorRss + workers.reduce((sum, w) => sum + (w.exit ? 0 : (w.rssBytes ?? 0)), 0),
    restarts: s.crashes.total,
    crashLoops: s.crashes.loopsNow(),
    upgrades: { ...s.upgrades, handedOffConnections: s.handedOff, last: s.lastUpgrade },
  };
}
