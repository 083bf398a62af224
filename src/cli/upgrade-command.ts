// `hitless upgrade --admin ADDR [--supervisor]`: replace the worker generation with one started
// from the code now on disk (or, with --supervisor, re-exec the supervisor too), and report how
// it went. Exit status 1 when the upgrade failed (the running generation keeps serving).
import type { Command } from 'commander';
import { DEFAULT_ADMIN } from './defaults.js';
import { adminRequest, errorMessage } from './admin-client.js';

export function registerUpgradeCommand(program: Command): void {
  program
    .command('upgrade')
    .description('start new worker processes from the code on disk; the old ones drain (needs "hitless run --workers N")')
    .option('--admin <address>', 'admin API address: unix:/path or host:port', DEFAULT_ADMIN)
    .option('--token <token>', 'admin bearer token (default: $HITLESS_ADMIN_TOKEN)')
    .option('--supervisor', 're-exec the supervisor as well, handing its listening sockets over')
    .option('--json', 'print the raw answer')
    .action(async (opts: { admin: string; token?: string; supervisor?: boolean; json?: boolean }) => {
      const res = await adminRequest(opts, 'POST', `/upgrade${opts.supervisor ? '?supervisor=1' : ''}`, '').catch((err: Error) => {
        process.stderr.write(`${err.message}\n`);
        process.exit(1);
      });
      if (opts.json) process.stdout.write(res.body);
      if (res.status === 404) {
        process.stderr.write(`this hitless has no supervisor to upgrade (start it with "hitless run --workers N"): ${errorMessage(res)}\n`);
        process.exit(1);
      }
      if (res.status !== 200) {
        if (!opts.json) process.stderr.write(`upgrade failed: ${errorMessage(res)}\n`);
        process.exit(1);
      }
      if (opts.json) return;
      const r = JSON.parse(res.body) as { generation?: number; pids?: number[]; durationMs: number; previous?: { generation: number }; shortened?: number; supervisorPid?: number; previousSupervisorPid?: number };
      const parts: string[] = [];
      if (r.supervisorPid !== undefined) parts.push(`supervisor replaced in ${r.durationMs} ms: pid ${r.supervisorPid} serving, pid ${r.previousSupervisorPid} draining its workers`);
      else parts.push(`upgraded in ${r.durationMs} ms: generation ${r.generation} (pids ${(r.pids ?? []).join(', ')}) serving`);
      if (r.previous) parts.push(`generation ${r.previous.generation} draining`);
      if (r.shortened !== undefined) parts.push(`generation ${r.shortened}'s drain cut short`);
      process.stdout.write(parts.join('; ') + '\n');
    });
}
