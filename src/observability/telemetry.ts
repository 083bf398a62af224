// What the admin process keeps about a running instance beyond the data plane's counters:
// cumulative apply stats (for /metrics), the audit log, and the per-second rate ring (for the
// dashboard). Created before the first apply so the startup apply is counted and audited too.
import type { Controller } from '../control/controller.js';
import type { Logger } from './log.js';
import { ApplyStats } from './apply-stats.js';
import { AuditLog } from './audit-log.js';
import { RateSampler } from './rate-sampler.js';

/**
 * A driver whose status() serves counters read earlier (a supervisor: its workers' last reports)
 * says when they were read, so that rates are computed over the interval that produced them.
 */
export interface CountersClock {
  /** Unix milliseconds at which the counters status() returns were read. */
  countersAt(): number;
}

export class Telemetry {
  readonly applies = new ApplyStats();
  readonly audit: AuditLog;
  readonly sampler: RateSampler;

  constructor(controller: Controller, log: Logger) {
    this.audit = new AuditLog(controller, log);
    const driver = controller.driver as Partial<CountersClock>;
    this.sampler = new RateSampler(() => ({ countersAt: driver.countersAt?.() ?? Date.now(), status: () => controller.driver.status() }));
    controller.onRecord(this.applies.record);
    controller.onRecord(this.audit.record);
  }
}
