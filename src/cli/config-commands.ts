// `hitless validate FILE` and `hitless apply FILE --admin ADDR`.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { adminRequest, errorMessage } from './admin-client.js';
import { DEFAULTS } from '../config/schema.js';

export function registerConfigCommands(program: Command): void {
  program
    .command('validate')
    .description('check a config file; exit 0 when valid, 1 with every problem on stderr')
    .argument('<file>', 'config file (YAML or JSON)')
    .action(async (file: string) => {
      try {
        const snapshot = await loadConfigFile(file);
        const n = snapshot.config.services.size;
        process.stdout.write(`${file}: valid (${n} service${n === 1 ? '' : 's'}, hash ${snapshot.hash.slice(0, 12)})\n`);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`${err.message}\n`);
        process.exitCode = 1;
      }
    });

  program
    .command('apply')
    .description('send a config file to a running hitless; exit 0 when applied, 1 when rejected (with the reason)')
    .argument('<file>', 'config file (YAML or JSON)')
    .option('--admin <address>', 'admin API address: unix:/path or host:port', DEFAULTS.adminListen)
    .option('--token <token>', 'admin bearer token (default: $HITLESS_ADMIN_TOKEN)')
    .option('--if-match <hash>', 'apply only if the running config has this hash')
    .action(async (file: string, opts: { admin: string; token?: string; ifMatch?: string }) => {
      const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        process.stderr.write(`cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}\n`);
        process.exit(1);
      });
      const res = await adminRequest(opts, 'PUT', '/config', text, {
        'content-type': 'application/yaml',
        ...(opts.ifMatch ? { 'if-match': `"${opts.ifMatch}"` } : {}),
      }).catch((err: Error) => {
        process.stderr.write(`${err.message}\n`);
        process.exit(1);
      });
      if (res.status !== 200) {
        process.stderr.write(`rejected: ${errorMessage(res).replaceAll('request:', `${file}:`)}\n`);
        process.exitCode = 1;
        return;
      }
      const record = JSON.parse(res.body) as { result: string; summary: string; durationMs: number; hashAfter: string };
      process.stdout.write(`${record.result}: ${record.summary} (${record.durationMs.toFixed(1)} ms, hash ${record.hashAfter.slice(0, 12)})\n`);
    });
}
