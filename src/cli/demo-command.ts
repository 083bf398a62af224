// `hitless demo` (what `npm start` runs): three demo backends and hitless in front of them,
// from the bundled examples/demo.yaml, with a printed tour of what to try.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run hitless on the bundled example config in front of bundled demo backends')
    .action(async () => {
      const [{ startDemoBackends }, { createLogger }, { installSignals, startOrExit }] = await Promise.all([
        import('../demo/demo-backends.js'),
        import('../observability/log.js'),
        import('./serve.js'),
      ]);
      const log = createLogger();
      try {
        await startDemoBackends('127.0.0.1', [7101, 7102, 7103]);
      } catch (err) {
        process.stderr.write(`hitless demo: ${(err as Error).message}; stop what uses ports 7101-7103 and retry\n`);
        process.exit(1);
      }
      const config = `${EXAMPLES}demo.yaml`;
      // Not next to the bundled example (a package folder); a restarted demo finds them here.
      const hitless = await startOrExit(config, log, undefined, join(tmpdir(), 'hitless-demo-overrides.json'));
      installSignals(hitless, log, 2_000);
      const admin = hitless.adminAddress;
      process.stdout.write(`
hitless demo is running: 127.0.0.1:7000 balances over three demo backends (7101, 7102, 7103 with weight 2).

Try, in another terminal:
  curl -s http://127.0.0.1:7000/                         # repeat: backends take turns, 7103 twice as often
  npx hitless status --admin ${admin}             # services, endpoints, listeners, applies
  npx hitless apply ${EXAMPLES}demo-changed.yaml --admin ${admin}
                                                         # drains 7101, adds a sticky service on :7001,
                                                         # without closing a connection
  curl -s http://127.0.0.1:7001/                         # the new service, right after the apply
  npx hitless apply ${config} --admin ${admin}    # and back
  kill -HUP ${process.pid}                                  # re-reads ${config}

Ctrl-C stops it (open connections get 2s to finish).
`);
    });
}
