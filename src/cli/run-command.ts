// `hitless run --config FILE`: the long-running proxy, in the foreground. The definition is all
// that loads up front; the action imports what it runs (see main.ts).
import type { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
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
    .option('--state-file <file>', 'where endpoint overrides (hitless endpoint ...) are kept across restarts (default: $STATE_DIRECTORY/endpoint-overrides.json under systemd, else CONFIG.overrides.json)')
    .action(async (opts: { config: string; drain: string; logLevel: string; stateFile?: string } & ProcessCliOptions) => {
      const [{ createLogger }, { loadConfigFile }, { fail, installSignals, startOrExit }, { notifySystemd }] = await Promise.all([
        import('../observability/log.js'),
        import('../config/load.js'),
        import('./serve.js'),
        import('../process/sd-notify.js'),
      ]);
      const log = createLogger(opts.logLevel);
      const drainMs = parseDuration(opts.drain);
      if (drainMs === undefined) fail(log, `--drain ${opts.drain}: expected a duration such as 500ms, 2s, 10m`);
      const peekDriver = () => loadConfigFile(opts.config).then((s) => s.config.dataplane.driver, () => undefined);
      const supervised = await supervisedFromCli(opts, (message) => fail(log, message), log, peekDriver);
      const hitless = await startOrExit(opts.config, log, supervised, opts.stateFile);
      installSignals(hitless, log, drainMs!);
      supervised?.attach(hitless);
      // Type=notify (docs/hitless.service): every listener is bound and the workers serve.
      const listeners = hitless.controller.driver.status().listeners.length;
      await notifySystemd({ READY: 1, MAINPID: process.pid, STATUS: `serving ${listeners} listener(s); admin API on ${hitless.adminAddress}` }, log);
    });
}
