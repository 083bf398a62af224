// `hitless bench torture`: the reload-torture benchmark, against built-in targets it starts itself
// or against your own proxy on loopback. The work is in src/bench/torture/, loaded only when
// `bench` is the command: even the list of built-in targets that the help shows (see below).
import { Command, Option } from 'commander';
import type { RawTortureOptions } from '../bench/torture/cli-options.js';
import type { TargetDefinition } from '../bench/torture/targets/target.js';

const examples = (targets: readonly TargetDefinition[]) => `
Examples:
  # every built-in target, 10 actions/s for 30 s each, with a report
  hitless bench torture --targets all --report ./torture-report

  # your own HAProxy (master-worker) on 127.0.0.1:8080, reloaded 10 times a second
  hitless bench torture --http 127.0.0.1:8080 --name my-haproxy \\
    --action-cmd 'kill -USR2 $(cat /run/haproxy.pid)' --pidfile /run/haproxy.pid

  # a running hitless, alternating two configs through its admin API
  hitless bench torture --http 127.0.0.1:8080 --action apply \\
    --admin unix:/tmp/hitless-admin.sock --apply-configs a.yaml,b.yaml   # --token T if admin.token is set

Traffic goes only to 127.0.0.1, 127.0.0.0/8 and ::1. Long-lived connections open an HTTP/1.1
"Upgrade: hitless-echo" tunnel on the HTTP address (the backend must echo lines after "101"), or,
with --long-lived-mode raw, talk line-echo directly to --tcp. The built-in targets bring their own
backends that do both.

Built-in targets (skipped with a note when their binary is missing):
${targets.map((t) => `  ${t.name.padEnd(11)} ${t.description}`).join('\n')}
`;

export function registerBenchCommand(program: Command): void {
  const bench = program.command('bench').description('Benchmarks that users can run against their own proxies.');
  const targets = new Option('--targets <list>'); // described once the targets are loaded (below)
  const torture = bench
    .command('torture')
    .description('Run traffic through a target while an action (reload, apply, upgrade) fires at a given rate; count every failure.')
    .addOption(targets)
    .option('--http <addr>', 'your own target: its HTTP address (host:port on loopback)')
    .option('--tcp <addr>', 'your own target: a TCP line-echo address for --long-lived-mode raw')
    .option('--name <name>', 'your own target: its name in the results', 'external')
    .option('--pid <pid>', 'your own target: sample processes/RSS of this pid and its descendants')
    .option('--pidfile <file>', 'your own target: like --pid, re-read during the run (every pid seen is watched)')
    .addOption(new Option('--action <kind>', 'what fires: native = the target\'s reload (hitless: apply), apply, upgrade, cert (rotate the TLS certificate as the target\'s users do), cert-put (hitless: by PUT /config), none').choices(['native', 'apply', 'upgrade', 'cert', 'cert-put', 'none']).default('native'))
    .option('--action-cmd <cmd>', 'a shell command as the action; {pid} = a built-in target\'s main pid')
    .option('--admin <addr>', 'hitless admin API for --action apply/upgrade on your own target (unix:/path or 127.0.0.1:port)')
    .option('--token <token>', 'bearer token for --admin (default: $HITLESS_ADMIN_TOKEN)')
    .option('--apply-configs <a,b>', 'two config files that --action apply alternates (your own target)')
    .option('--rate <n>', 'actions per second', '10')
    .option('--max-actions <n>', 'at most this many actions per target (default: rate x action phase)')
    .option('--duration <s>', 'seconds of traffic per target', '30')
    .option('--baseline <s>', 'seconds of traffic without actions first (default: 3, at most a quarter of --duration)')
    .option('--new-conn <n>', 'workers doing one new TCP connection per request (0 = off)', '4')
    .option('--keep-alive <n>', 'workers doing HTTP keep-alive requests, no retries (0 = off)', '4')
    .option('--long-lived <n>', 'long-lived connections kept open at all times (0 = off)', '20')
    .option('--long-lived-life <min-max>', 'seconds each long-lived connection lives', '2-5')
    .addOption(new Option('--long-lived-mode <mode>', 'upgrade (HTTP Upgrade tunnel on --http) or raw (line echo on --tcp)').choices(['upgrade', 'raw']))
    .option('--ping-interval <ms>', 'milliseconds between pings on a long-lived connection', '50')
    .option('--timeout <ms>', 'milliseconds for a connect, request or ping before it counts as a timeout', '5000')
    .option('--max-requests <n>', 'at most this many requests + connections per target', '5000000')
    .option('--backends <n>', 'bundled backend processes behind the built-in targets', '3')
    .option('--tls-new-conn <n>', 'workers doing one new TLS connection (full handshake) per request to the target\'s TLS listener (0 = off)', '0')
    .option('--tls-keep-alive <n>', 'workers doing HTTPS keep-alive requests, no retries (0 = off)', '0')
    .option('--ports <low-high>', 'the range built-in targets and backends listen in', '20000-32000')
    .option('--json', 'print the results as JSON on stdout (the tables go to stderr)')
    .option('--report <dir>', 'write a Markdown report with SVG and PNG charts and results.json into DIR (needs vega, vega-lite and @resvg/resvg-js, which a production install leaves out)')
    .action(async (raw: RawTortureOptions, command: Command) => {
      const { parseTortureOptions } = await import('../bench/torture/cli-options.js');
      let options;
      try {
        options = parseTortureOptions(raw);
      } catch (err) {
        command.error(`error: ${err instanceof Error ? err.message : String(err)}`, { exitCode: 2 });
      }
      const [{ runTortureCommand }, { ReportLibrariesMissing }] = await Promise.all([import('../bench/torture/torture-command.js'), import('../bench/torture/report/report-libraries.js')]);
      try {
        await runTortureCommand(options, { command: `hitless ${process.argv.slice(2).join(' ')}`, stdout: process.stdout, stderr: process.stderr });
      } catch (err) {
        if (!(err instanceof ReportLibrariesMissing)) throw err;
        process.stderr.write(`hitless bench torture: ${err.message}\n`);
        process.exitCode = 1;
      }
    });

  // Commander runs this hook before it parses anything after `bench` (torture's options, --help,
  // `bench help torture`), and for no other command: they never load the targets' modules.
  const describeTargets = async () => {
    const { BUILTIN_TARGETS } = await import('../bench/torture/targets/registry.js');
    targets.description = `built-in targets to start and torture, comma-separated, or "all" (${BUILTIN_TARGETS.map((t) => t.name).join(', ')})`;
    torture.addHelpText('after', examples(BUILTIN_TARGETS));
  };
  program.hook('preSubcommand', (_program, subcommand) => (subcommand === bench ? describeTargets() : undefined));
}
