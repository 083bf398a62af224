// `hitless register --config FILE`: only the `register:` part of a config — health-check this
// host's services and keep them registered — without proxying anything (nerve's role).
import type { Command } from 'commander';

export function registerRegisterCommand(program: Command): void {
  program
    .command('register')
    .description('health-check local services and keep them registered in ZooKeeper/etcd (the config\'s register: list); SIGHUP re-reads, SIGTERM/SIGINT deregister and exit')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON) with a register: list')
    .option('--log-level <level>', 'trace, debug, info, warn, error', process.env.HITLESS_LOG_LEVEL ?? 'info')
    .action(async (opts: { config: string; logLevel: string }) => {
      const [{ loadConfigFile }, { createLogger }, { Registrar }] = await Promise.all([
        import('../config/load.js'),
        import('../observability/log.js'),
        import('../register/registrar.js'),
      ]);
      const log = createLogger(opts.logLevel);
      const load = async () => (await loadConfigFile(opts.config)).config.register;
      let list;
      try {
        list = await load();
      } catch (err) {
        process.stderr.write(`hitless: ${(err as Error).message}\n`);
        process.exit(1);
      }
      if (list.length === 0) log.warn(`${opts.config} has no register: entries; nothing to do until it has (SIGHUP re-reads)`);
      const registrar = new Registrar(log);
      await registrar.sync(list);
      log.info({ registrations: list.map((r) => `${r.service} ${r.host}:${r.port}`) }, 'registering');
      process.on('SIGHUP', () => {
        load().then(
          (next) => registrar.sync(next),
          (err: Error) => log.error({ err: err.message }, 'reload rejected; registrations unchanged'),
        );
      });
      const stop = (signal: string) => {
        log.info(`${signal}: deregistering`);
        registrar.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
