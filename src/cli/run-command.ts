// `hitless run --config FILE`: the long-running proxy, in the foreground.
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { HitlessError } from '../errors.js';
import { Hitless } from '../hitless.js';
import { createLogger, type Logger } from '../observability/log.js';
import { parseDuration } from '../config/duration.js';
import type { Supervised } from '../process/supervised.js';
import { processOption, supervisedFromCli, type ProcessCliOptions } from '../process/process-options.js';

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run the proxy in the foreground; SIGHUP re-reads the config, SIGTERM/SIGINT drain and exit')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .option('--drain <duration>', 'on SIGTERM/SIGINT, how long open connections may finish', '30s')
    .option('--log-level <level>', 'trace, debug, info, warn, error', process.env.HITLESS_LOG_LEVEL ?? 'info')
    .addOption(processOption())
    .option('--upgrade-drain <duration>', 'after a code upgrade, how long the old workers\' long-lived connections may continue', '60s')
    .option('--ready-timeout <duration>', 'how long a new worker may take to report ready before its upgrade fails', '15s')
    .action(async (opts: { config: string; drain: string; logLevel: string } & ProcessCliOptions) => {
      const log = createLogger(opts.logLevel);
      const drainMs = parseDuration(opts.drain);
      if (drainMs === undefined) fail(log, `--drain ${opts.drain}: expected a duration such as 500ms, 2s, 10m`);
      const peekDriver = () => loadConfigFile(opts.config).then((s) => s.config.dataplane.driver, () => undefined);
      const supervised = await supervisedFromCli(opts, (message) => fail(log, message), log, peekDriver);
      const hitless = await startOrExit(opts.config, log, supervised);
      installSignals(hitless, log, drainMs!);
      supervised?.attach(hitless);
    });
}

export async function startOrExit(configPath: string, log: Logger, supervised?: Supervised): Promise<Hitless> {
  try {
    const snapshot = await (supervised?.initialConfig?.() ?? loadConfigFile(configPath));
    const hitless = await Hitless.start({ snapshot, configPath, log, ...(supervised ? { driver: supervised.driver, adminExtension: supervised.adminExtension } : {}) });
    const status = hitless.controller.driver.status();
    log.info({ admin: hitless.adminAddress, listeners: status.listeners.map((l) => `${l.address} → ${l.service}`) }, 'hitless ready');
    return hitless;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof HitlessError) fail(log, err.message);
    throw err;
  }
}

function fail(log: Logger, message: string): never {
  log.fatal(message);
  process.stderr.write(`hitless: ${message}\n`);
  process.exit(1);
}

export function installSignals(hitless: Hitless, log: Logger, drainMs: number): void {
  process.on('SIGHUP', () => {
    log.info('SIGHUP: re-reading the config');
    hitless.reload().catch((err: Error) => log.error({ err: err.message }, 'reload rejected; the running config keeps serving'));
  });
  const stop = (signal: string) => {
    log.info({ drainMs }, `${signal}: no longer accepting; draining open connections`);
    hitless.stop(drainMs).then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: Error) => {
        log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
