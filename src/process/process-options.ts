// `hitless run` options for the process model: a supervisor in front of N worker processes, one
// per core by default; `--workers 0` runs everything in one process (see process/README.md).
import { availableParallelism } from 'node:os';
import { Option } from 'commander';
import { parseDuration } from '../config/duration.js';
import type { Logger } from '../observability/log.js';
import type { Supervised } from './supervised.js';

export interface ProcessCliOptions {
  readonly workers?: string;
  readonly upgradeDrain: string;
  readonly readyTimeout: string;
}

/** No commander default: an explicit --workers is told apart from the default (HITLESS_WORKERS, else "auto"). */
export function processOption(): Option {
  return new Option(
    '--workers <n>',
    `worker processes behind a supervisor that owns the sockets: a number, or "auto" = one per core (${availableParallelism()} here); 0 = one process, no supervisor (default: $HITLESS_WORKERS, else auto)`,
  );
}

/**
 * The supervisor for the chosen worker count, or undefined for one process. `dataplaneDriver`
 * peeks at the config: without an explicit --workers, a config for the HAProxy data plane (which
 * runs in one process) gets one process rather than an error.
 */
export async function supervisedFromCli(opts: ProcessCliOptions, fail: (message: string) => never, log: Logger, dataplaneDriver: () => Promise<string | undefined>): Promise<Supervised | undefined> {
  const setting = opts.workers ?? process.env.HITLESS_WORKERS ?? 'auto';
  const workers = setting === 'auto' ? availableParallelism() : Number(setting);
  if (!Number.isInteger(workers) || workers < 0 || workers > 256) fail(`--workers ${setting}: expected a whole number 0-256 or "auto"`);
  if (workers === 0) return undefined;
  if (opts.workers === undefined) {
    const driver = await dataplaneDriver();
    if (driver !== undefined && driver !== 'builtin') {
      log.info({ driver }, `dataplane.driver ${driver} runs in one process (no worker processes)`);
      return undefined;
    }
  }
  const upgradeDrainMs = parseDuration(opts.upgradeDrain);
  if (upgradeDrainMs === undefined) fail(`--upgrade-drain ${opts.upgradeDrain}: expected a duration such as 500ms, 2s, 10m`);
  const readyTimeoutMs = parseDuration(opts.readyTimeout);
  if (readyTimeoutMs === undefined || readyTimeoutMs <= 0) fail(`--ready-timeout ${opts.readyTimeout}: expected a duration such as 5s`);
  // Loaded here, not at the top: `hitless run --help` and the other commands need processOption only.
  const { createSupervised } = await import('./supervised.js');
  return createSupervised({ workers, log, upgradeDrainMs: upgradeDrainMs!, readyTimeoutMs: readyTimeoutMs! });
}
