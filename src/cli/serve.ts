// What `hitless run` and `hitless demo` share once they run: start a Hitless (or exit 1 with the
// reason) and the signals that reload and stop it. Loaded by their actions only.
import { processRoutes } from '../admin/process-routes.js';
import { loadConfigFile } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { CoalescedRun } from '../control/coalesced-run.js';
import { HitlessError } from '../errors.js';
import { Hitless } from '../hitless.js';
import type { Logger } from '../observability/log.js';
import type { Supervised } from '../process/supervised.js';

/** `stateFile`: where endpoint overrides are kept (undefined: the default, see Hitless; null: memory only). */
export async function startOrExit(configPath: string, log: Logger, supervised?: Supervised, stateFile?: string | null): Promise<Hitless> {
  try {
    // After a supervisor upgrade: the config the previous supervisor ran (a PUT may have superseded the file).
    const { snapshot, source } = (await supervised?.initialConfig?.()) ?? { snapshot: await loadConfigFile(configPath), source: 'file' as const };
    const hitless = await Hitless.start({
      snapshot,
      source,
      configPath,
      log,
      ...(stateFile !== undefined ? { stateFile } : {}),
      ...(supervised ? { driver: supervised.driver, adminExtension: processRoutes(supervised.control) } : {}),
    });
    const status = hitless.controller.driver.status();
    log.info({ admin: hitless.adminAddress, listeners: status.listeners.map((l) => `${l.address} → ${l.service}`) }, 'hitless ready');
    return hitless;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof HitlessError) fail(log, err.message);
    throw err;
  }
}

export function fail(log: Logger, message: string): never {
  log.fatal(message);
  process.stderr.write(`hitless: ${message}\n`);
  process.exit(1);
}

export function installSignals(hitless: Hitless, log: Logger, drainMs: number): void {
  // A burst of SIGHUPs is one re-read (plus at most one after a running one): the file's latest
  // content is what counts, and every re-read costs an apply (with HAProxy, a reload).
  const reread = new CoalescedRun(async (signals) => {
    if (signals === 1) log.info('SIGHUP: re-reading the config');
    else log.info({ signals }, `SIGHUP: re-reading the config once for ${signals} signals (coalesced)`);
    await hitless.reload().catch((err: Error) => log.error({ err: err.message }, 'reload rejected; the running config keeps serving'));
  });
  process.on('SIGHUP', () => {
    const outcome = reread.request();
    if (outcome === 'queued') log.info('SIGHUP during a re-read: one more re-read follows it; further signals until then are coalesced into it');
    else if (outcome === 'folded') log.debug('SIGHUP coalesced into the pending re-read');
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
