// `hitless import synapse PATH` and `hitless import nerve PATH`: a SmartStack config as a hitless
// config on stdout, and on stderr every option that was not carried over, with why and what to
// do instead (docs/migrating-from-smartstack.md). Exit 0; 1 when nothing could be converted, or
// with --strict when an option was not carried over.
import type { Command } from 'commander';

interface Common {
  confDir?: string;
  instanceId?: string;
  strict?: boolean;
}

function portOffset(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65_534) {
    process.stderr.write(`hitless import: --port-offset expects a whole number below 65535, found "${text}"\n`);
    process.exit(2);
  }
  return n;
}

function dataplane(text: string): 'builtin' | 'haproxy' {
  if (text !== 'builtin' && text !== 'haproxy') {
    process.stderr.write(`hitless import: --dataplane expects builtin or haproxy, found "${text}"\n`);
    process.exit(2);
  }
  return text;
}

async function run(request: import('../import/run-import.js').ImportRequest, strict: boolean | undefined): Promise<void> {
  const { runImport } = await import('../import/run-import.js');
  const outcome = await runImport(request);
  if (outcome.text !== null) process.stdout.write(outcome.text);
  process.stderr.write(outcome.report.map((l) => `${l}\n`).join(''));
  if (outcome.text === null || (strict && outcome.notMapped > 0)) process.exitCode = 1;
}

export function registerImportCommand(program: Command): void {
  const command = program
    .command('import')
    .description('convert a SmartStack config (synapse, nerve) into a hitless config: YAML on stdout, every option not carried over (with why) on stderr');

  command
    .command('synapse')
    .description("a synapse config as hitless services: each listens where synapse's HAProxy frontend did, discovers as synapse did")
    .argument('<path>', 'synapse config (JSON or YAML), or a directory of per-service files (a service_conf_dir)')
    .option('--nerve <path>', "also import this nerve config (file or directory) as the config's register: list")
    .option('--conf-dir <dir>', "read the per-service files from here instead of the config's service_conf_dir")
    .option('--nerve-conf-dir <dir>', "the same for the nerve config's service_conf_dir")
    .option('--dataplane <driver>', 'builtin, or haproxy: hitless drives HAProxy, and per-service HAProxy options it allows are passed through', 'builtin')
    .option('--port-offset <n>', 'add N to every listen port, to run hitless beside synapse while comparing them', '0')
    .option('--instance-id <id>', "the nerve instance_id to announce (nerve's --instance_id)")
    .option('--admin <address>', 'admin.listen of the output (unix:/path or host:port)')
    .option('--strict', 'exit 1 when an option was not carried over')
    .action(async (path: string, opts: Common & { nerve?: string; nerveConfDir?: string; dataplane: string; portOffset: string; admin?: string }) => {
      await run(
        {
          synapse: path,
          nerve: opts.nerve,
          confDir: opts.confDir,
          nerveConfDir: opts.nerveConfDir,
          dataplane: dataplane(opts.dataplane),
          portOffset: portOffset(opts.portOffset),
          instanceId: opts.instanceId,
          admin: opts.admin,
        },
        opts.strict,
      );
    });

  command
    .command('nerve')
    .description('a nerve config as a hitless register: list (run it with hitless register --config FILE, or inside hitless run)')
    .argument('<path>', 'nerve config (JSON or YAML), or a directory of per-service files (a service_conf_dir)')
    .option('--conf-dir <dir>', "read the per-service files from here instead of the config's service_conf_dir")
    .option('--instance-id <id>', "the instance_id to announce, in place of the config's (nerve's --instance_id)")
    .option('--strict', 'exit 1 when an option was not carried over')
    .action(async (path: string, opts: Common) => {
      await run({ nerve: path, confDir: opts.confDir, dataplane: 'builtin', portOffset: 0, instanceId: opts.instanceId }, opts.strict);
    });
}
