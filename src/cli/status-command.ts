// `hitless status --admin ADDR [--json]`: what is running, as tables.
import type { Command } from 'commander';
import type { StatusDocument } from '../admin/status.js';
import { DEFAULTS } from '../config/schema.js';
import { adminRequest, errorMessage } from './admin-client.js';
import { renderTable } from './table.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('show services, endpoints, listeners and recent applies of a running hitless')
    .option('--admin <address>', 'admin API address: unix:/path or host:port', DEFAULTS.adminListen)
    .option('--token <token>', 'admin bearer token (default: $HITLESS_ADMIN_TOKEN)')
    .option('--json', 'print the raw status document')
    .action(async (opts: { admin: string; token?: string; json?: boolean }) => {
      const res = await adminRequest(opts, 'GET', '/status').catch((err: Error) => {
        process.stderr.write(`${err.message}\n`);
        process.exit(1);
      });
      if (res.status !== 200) {
        process.stderr.write(`${errorMessage(res)}\n`);
        process.exit(1);
      }
      if (opts.json) {
        process.stdout.write(res.body);
        return;
      }
      process.stdout.write(renderStatus(JSON.parse(res.body) as StatusDocument) + '\n');
    });
}

export function renderStatus(s: StatusDocument): string {
  const out: string[] = [];
  out.push(`hitless ${s.version} pid ${s.pid}, up ${s.uptimeSeconds}s, driver ${s.driver}, config ${s.config?.hash.slice(0, 12) ?? '-'} (${s.config?.source ?? '-'})`);
  out.push('', 'SERVICES');
  out.push(
    renderTable(
      ['NAME', 'MODE', 'BALANCE', 'LISTEN', 'ACTIVE', 'TOTAL', 'REJECTED', 'FAILED'],
      s.services.map((v) => [v.name, v.mode, v.balance, v.listen.join(','), v.active, v.total, v.rejected, v.failed]),
    ),
  );
  out.push('', 'ENDPOINTS');
  out.push(
    renderTable(
      ['SERVICE', 'ADDRESS', 'WEIGHT', 'HEALTH', 'ACTIVE', 'TOTAL', 'FAILURES'],
      s.services.flatMap((v) => v.endpoints.map((e) => [v.name, e.address, e.weight, e.healthy ? 'up' : 'DOWN', e.active, e.total, e.failures])),
    ),
  );
  out.push('', 'LISTENERS');
  out.push(
    renderTable(
      ['ADDRESS', 'SERVICE', 'STATE', 'SINCE', 'SOCKET', 'CONNECTIONS'],
      s.listeners.map((l) => [l.address, l.service ?? '-', l.state, l.since, l.socket ?? '-', l.connections]),
    ),
  );
  out.push('', 'RECENT APPLIES');
  out.push(
    renderTable(
      ['AT', 'ORIGIN', 'RESULT', 'MS', 'CHANGES'],
      s.applies.slice(-5).map((a) => [a.at, a.origin, a.result, Number(a.durationMs.toFixed(1)), a.error ? `${a.summary}: ${a.error.message.split('\n')[0]}` : a.summary]),
    ),
  );
  return out.join('\n');
}
