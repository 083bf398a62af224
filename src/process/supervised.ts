// Wiring for `hitless run --workers N`: the supervisor behind the ordinary Hitless instance (its
// Controller, admin API, discovery and SIGHUP reload are unchanged), the operations the admin API's
// process routes call (admin/process-routes.ts: code upgrades, a fresh status), and SIGUSR2.
import type { ConfigSnapshot } from '../config/model.js';
import type { ConfigSource } from '../control/controller.js';
import { ErrorCodes, HitlessError } from '../errors.js';
import type { Hitless } from '../hitless.js';
import { SupervisorDriver } from './supervisor-driver.js';
import { notifySystemd } from './sd-notify.js';
import { inheritFromPredecessor, startSuccessor } from './supervisor-handover.js';
import { Supervisor, type SupervisorOptions, type UpgradeResult } from './supervisor.js';

/** A supervisor re-exec that succeeded: the successor runs; `letGo()` once the caller has been answered. */
export interface SupervisorUpgrade {
  readonly result: { readonly ok: true; readonly at: string; readonly durationMs: number; readonly supervisorPid: number | undefined; readonly previousSupervisorPid: number };
  /** Closes this admin API, drains the old workers into the successor, and exits. */
  letGo(): Promise<void>;
}

/** What the admin API can ask of the process model. */
export interface ProcessControl {
  /** Asks the workers for their counters now (and their process metrics too, when `processMetrics`). */
  refreshStatus(processMetrics: boolean): Promise<void>;
  /** A code upgrade of the workers; throws (HitlessError) when there is nothing to upgrade or hitless is stopping. */
  upgradeWorkers(): Promise<UpgradeResult>;
  /** Re-execs the supervisor (and with it the workers); throws (HitlessError) when it cannot, this supervisor serving on. */
  upgradeSupervisor(): Promise<SupervisorUpgrade>;
}

export interface Supervised {
  readonly supervisor: Supervisor;
  readonly driver: SupervisorDriver;
  readonly control: ProcessControl;
  /** Set when this supervisor replaces another: the config to start with is the one it ran, and where that came from. */
  readonly initialConfig?: () => Promise<{ snapshot: ConfigSnapshot; source: ConfigSource }>;
  /** Called once the instance runs: SIGUSR2, and what a supervisor upgrade needs to hand over. */
  attach(hitless: Hitless): void;
}

export function createSupervised(options: SupervisorOptions): Supervised {
  const { log } = options;
  const supervisor = new Supervisor(options);
  const initialConfig = inheritFromPredecessor(supervisor, log);
  let hitless: Hitless | null = null;
  let handingOver = false;

  const upgradeSupervisor = async (): Promise<SupervisorUpgrade> => {
    const running = hitless?.controller.base ?? hitless?.controller.current;
    if (!hitless || !running || handingOver) throw new HitlessError(ErrorCodes.UPGRADE_FAILED, 'a supervisor upgrade is already in progress (or hitless is still starting)');
    handingOver = true;
    const started = Date.now();
    try {
      const successor = await startSuccessor(supervisor, running, hitless.controller.baseSource ?? 'file', options.readyTimeoutMs * 2, log);
      // Under systemd (Type=notify), the new supervisor becomes the service's main pid before
      // this one exits; otherwise systemd would take this exit for the service's end.
      if (successor.child.pid !== undefined) await notifySystemd({ MAINPID: successor.child.pid, STATUS: `supervisor upgrade: pid ${successor.child.pid} takes over from ${process.pid}` }, log);
      const instance = hitless;
      return {
        result: { ok: true, at: new Date(started).toISOString(), durationMs: Date.now() - started, supervisorPid: successor.child.pid, previousSupervisorPid: process.pid },
        async letGo() {
          await instance.admin.close();
          successor.adminReleased();
          await supervisor.retireAll(successor.sink);
          log.info('supervisor upgrade: every old worker drained; exiting');
          process.exit(0);
        },
      };
    } catch (err) {
      handingOver = false;
      log.error({ err: (err as Error).message }, 'supervisor upgrade failed; this supervisor keeps serving');
      throw new HitlessError(ErrorCodes.UPGRADE_FAILED, `supervisor upgrade failed; the running supervisor keeps serving: ${(err as Error).message}`);
    }
  };

  const control: ProcessControl = {
    refreshStatus: (processMetrics) => supervisor.refreshStatus(undefined, processMetrics),
    upgradeWorkers: () => supervisor.upgrade(),
    upgradeSupervisor,
  };

  return {
    supervisor,
    driver: new SupervisorDriver(supervisor),
    control,
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

