// `hitless run` options for the process model: --workers N puts a supervisor in front of N worker
// processes; without it hitless runs in one process (see the default noted in process/README.md).
import { availableParallelism } from 'node:os';
import { Option } from 'commander';
import { parseDuration } from '../config/duration.js';
import type { Logger } from '../observability/log.js';
import { createSupervised, type Supervised } from './supervised.js';

export interface ProcessCliOptions {
  readonly workers?: string;
  readonly upgradeDrain: string;
  readonly readyTimeout: string;
}

/** HITLESS_WORKERS sets the default, so wrappers (and CI) can switch the model without new flags. */
export function processOption(): Option {
  const option = new Option('--workers <n>', `worker processes behind a supervisor ("auto": one per core, ${availableParallelism()} here); 0 or absent: one process`);
  return process.env.HITLESS_WORKERS ? option.default(process.env.HITLESS_WORKERS) : option;
}

export function supervisedFromCli(opts: ProcessCliOptions, fail: (message: string) => never, log: Logger): Supervised | undefined {
  if (opts.workers === undefined) return undefined;
  const workers = opts.workers === 'auto' ? availableParallelism() : Number(opts.workers);
  if (!Number.isInteger(workers) || workers < 0 || workers > 256) fail(`--workers ${opts.workers}: expected a whole number 0-256 or "auto"`);
  if (workers === 0) return undefined;
  const upgradeDrainMs = parseDuration(opts.upgradeDrain);
  if (upgradeDrainMs === undefined) fail(`--upgrade-drain ${opts.upgradeDrain}: expected a duration such as 500ms, 2s, 10m`);
  const readyTimeoutMs = parseDuration(opts.readyTimeout);
  if (readyTimeoutMs === undefined || readyTimeoutMs <= 0) fail(`--ready-timeout ${opts.readyTimeout}: expected a duration such as 5s`);
  return createSupervised({ workers, log, upgradeDrainMs: upgradeDrainMs!, readyTimeoutMs: readyTimeoutMs! });
}
