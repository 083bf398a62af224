// `hitless validate FILE` (offline: parse and check the file, nothing else), `hitless apply FILE
// --admin ADDR` and `hitless reload --admin ADDR`.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { adminRequest, errorMessage, type AdminResponse } from './admin-client.js';
import { DEFAULT_ADMIN } from './defaults.js';

export function registerConfigCommands(program: Command): void {
  program
    .command('validate')
    .description('offline: checks the file; exit 0 when valid, 1 with every problem on stderr. POST /config/validate on a running hitless also tries binds and the data plane')
    .argument('<file>', 'config file (YAML or JSON)')
    .option('--json', 'print the result as JSON on stdout ({valid, hash, services} or {valid: false, problems})')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { loadConfigFile } = await import('../config/load.js');
      try {
        const snapshot = await loadConfigFile(file);
        const n = snapshot.config.services.size;
        if (opts.json) process.stdout.write(JSON.stringify({ valid: true, file, hash: snapshot.hash, services: [...snapshot.config.services.keys()] }) + '\n');
        else process.stdout.write(`${file}: valid (${n} service${n === 1 ? '' : 's'}, hash ${snapshot.hash.slice(0, 12)})\n`);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        if (opts.json) process.stdout.write(JSON.stringify({ valid: false, file, problems: err.problems }) + '\n');
        process.stderr.write(`${err.message}\n`);
        process.exitCode = 1;
      }
    });

  program
    .command('apply')
    .description('send a config file to a running hitless, which writes it into its own config file (admin.api_apply); exit 0 when applied, 1 when rejected (with the reason)')
    .argument('<file>', 'config file (YAML or JSON)')
    .option('--admin <address>', 'admin API address: unix:/path or host:port', DEFAULT_ADMIN)
    .option('--token <token>', 'admin bearer token (default: $HITLESS_ADMIN_TOKEN)')
    .option('--if-match <hash>', 'apply only if the running config has this hash')
    .option('--json', 'print the apply record (or the error document) as JSON on stdout')
    .action(async (file: string, opts: { admin: string; token?: string; ifMatch?: string; json?: boolean }) => {
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
      reportApply(res, opts.json, (message) => message.replaceAll('request:', `${file}:`));
    });

  program
    .command('reload')
    .description('make a running hitless re-read its config file, as SIGHUP does, and report the outcome: exit 0 when applied (or unchanged), 1 when rejected (with the reason); the unit\'s ExecReload=')
    .option('-c, --config <file>', 'the config file hitless runs from: --admin and --token default to its admin.listen and admin.token')
    .option('--admin <address>', `admin API address: unix:/path or host:port (default: the config's admin.listen, else ${DEFAULT_ADMIN})`)
    .option('--token <token>', "admin bearer token (default: $HITLESS_ADMIN_TOKEN, else the config's admin.token)")
    .option('--json', 'print the apply record (or the error document) as JSON on stdout')
    .action(async (opts: { config?: string; admin?: string; token?: string; json?: boolean }) => {
      const { adminOfConfigFile } = await import('./admin-of-config.js');
      const fromFile = opts.config === undefined ? {} : await adminOfConfigFile(opts.config);
      const target = { admin: opts.admin ?? fromFile.listen ?? DEFAULT_ADMIN, token: opts.token ?? process.env.HITLESS_ADMIN_TOKEN ?? fromFile.token };
      const res = await adminRequest(target, 'POST', '/config/reload', '').catch((err: Error) => {
        process.stderr.write(`${err.message}\n`);
        process.exit(1);
      });
      reportApply(res, opts.json);
    });
}

/** One line for an apply's outcome (stdout), or the rejection (stderr, exit code 1). */
function reportApply(res: AdminResponse, json: boolean | undefined, explain: (message: string) => string = (m) => m): void {
  if (json) process.stdout.write(res.body.trimEnd() + '\n');
  if (res.status !== 200) {
    process.stderr.write(`rejected: ${explain(errorMessage(res))}\n`);
    process.exitCode = 1;
    return;
  }
  const record = JSON.parse(res.body) as { result: string; summary: string; durationMs: number; hashAfter: string; warning?: string; file?: { written: boolean; path: string | null; backup?: string } };
  if (!json) {
    process.stdout.write(`${record.result}: ${record.summary} (${record.durationMs.toFixed(1)} ms, hash ${record.hashAfter.slice(0, 12)})\n`);
    if (record.file?.written) process.stdout.write(`written to ${record.file.path}${record.file.backup ? ` (previous content in ${record.file.backup})` : ''}\n`);
  }
  // Applied, but SIGHUP or a restart would not keep it: impossible to miss, even with --json.
  if (record.warning) process.stderr.write(`warning: ${record.warning}\n`);
}
