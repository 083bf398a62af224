// `hitless status --admin ADDR [--json]`: what is running, as tables.
import type { Command } from 'commander';
import type { StatusDocument as BaseStatus } from '../admin/status.js';
import type { EndpointOverrideView, EndpointStatusWithOverride } from '../admin/override-status.js';
import type { OverrideListing } from '../control/endpoint-overrides.js';
import { DEFAULT_ADMIN } from './defaults.js';
import { adminRequest, errorMessage } from './admin-client.js';
import { renderTable } from './table.js';
import { quantileMs } from '../observability/quantile.js';
import { certificateExpiry } from '../dataplane/certificate-expiry.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('show services, endpoints, listeners and recent applies of a running hitless')
    .option('--admin <address>', 'admin API address: unix:/path or host:port', DEFAULT_ADMIN)
    .option('--token <token>', 'bearer token: admin.token or the read-only admin.read_token (default: $HITLESS_ADMIN_TOKEN)')
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

/** GET /status as the admin server sends it (endpoint overrides included). */
type StatusDocument = BaseStatus & {
  readonly overrides?: OverrideListing | null;
  /** The process model's section (hitless run --workers N). */
  readonly process?: { readonly workers?: ReadonlyArray<{ readonly pid: number; readonly generation: number; readonly responding?: boolean; readonly lastHeardAt?: string }> };
};

export function renderStatus(s: StatusDocument): string {
  const out: string[] = [];
  out.push(`hitless ${s.version} pid ${s.pid}, up ${s.uptimeSeconds}s, driver ${s.driver}, config ${s.config?.hash.slice(0, 12) ?? '-'} ${configOrigin(s.config)}`);
  if (s.config?.warning) out.push(`WARNING: ${s.config.warning}`);
  for (const w of s.process?.workers ?? []) {
    if (w.responding === false) out.push(`WARNING: worker pid ${w.pid} (generation ${w.generation}) is not answering (last heard from at ${w.lastHeardAt ?? '?'}); its counters below are its last known ones`);
  }
  out.push('', 'SERVICES');
  out.push(
    renderTable(
      ['NAME', 'MODE', 'BALANCE', 'LISTEN', 'ACTIVE', 'TOTAL', '2XX', '4XX', '5XX', 'RETRIES', 'REJECTED', 'FAILED', 'P99 MS', 'BYTES IN/OUT'],
      s.services.map((v) => {
        const http = v.mode === 'http';
        const p99 = quantileMs(v.latency, 0.99);
        return [v.name, v.mode, v.balance, v.listen.join(','), v.active, v.total, http ? v.responses['2xx'] : '-', http ? v.responses['4xx'] : '-', http ? v.responses['5xx'] : '-',
          v.retries, v.rejected, v.failed, p99 === null ? '-' : p99.toFixed(1), `${formatBytes(v.bytesIn)}/${formatBytes(v.bytesOut)}`];
      }),
    ),
  );
  out.push('', 'ENDPOINTS');
  out.push(
    renderTable(
      ['SERVICE', 'CLUSTER', 'ADDRESS', 'WEIGHT', 'HEALTH', 'OVERRIDE', 'ACTIVE', 'TOTAL', 'FAILURES', 'EJECTIONS', 'BYTES IN/OUT', 'LAST CHECK FAILURE'],
      s.services.flatMap((v) =>
        v.endpoints.map((e: EndpointStatusWithOverride) => [v.name, e.cluster, e.address, e.weight, e.health === 'up' ? 'up' : e.health.toUpperCase(), overrideCell(e.override), e.active, e.total, e.failures, e.ejections, `${formatBytes(e.bytesIn)}/${formatBytes(e.bytesOut)}`, e.checkError ?? '-']),
      ),
    ),
  );
  // Overrides waiting for their endpoint (not in the service now) would otherwise be invisible here.
  const waiting = s.overrides?.overrides.filter((o) => !o.present) ?? [];
  if (waiting.length > 0) {
    out.push('', 'OVERRIDES WAITING FOR THEIR ENDPOINT (not in the service now; they apply when it appears)');
    out.push(renderTable(['SERVICE', 'ADDRESS', 'OVERRIDE'], waiting.map((o) => [o.service, o.address, overrideCell(o)])));
  }
  if (s.overrides?.stateFileError) out.push('', `ENDPOINT OVERRIDES NOT PERSISTED: ${s.overrides.stateFileError}`);
  const tls = s.services.filter((v) => v.tls);
  if (tls.length > 0) {
    // Soonest expiry first: what needs renewing is at the top.
    const rows = tls.flatMap((v) => v.tls!.certificates.map((c) => ({ v, c }))).sort((a, b) => a.c.daysLeft - b.c.daysLeft);
    out.push('', 'CERTIFICATES');
    out.push(
      renderTable(
        ['SERVICE', 'NAME', 'NAMES', 'NOT AFTER', 'DAYS LEFT', 'DEFAULT', 'KEY'],
        rows.map(({ v, c }) => [v.name, c.name, c.names.length > 3 ? `${c.names.slice(0, 3).join(',')},+${c.names.length - 3}` : c.names.join(',') || '-', c.notAfter, daysLeftCell(c.daysLeft), c.default ? 'yes' : '', c.keyType]),
      ),
    );
    out.push(
      renderTable(
        ['SERVICE', 'HANDSHAKES', 'RESUMED', 'VERSIONS', 'FAILURES'],
        tls.map((v) => [v.name, v.tls!.handshakes, v.tls!.resumed, counts(v.tls!.versions), counts(v.tls!.failures)]),
      ),
    );
  }
  const upstream = s.services.filter((v) => v.upstreamTls);
  if (upstream.length > 0) {
    out.push('', 'TLS TO ENDPOINTS');
    out.push(
      renderTable(
        ['SERVICE', 'HANDSHAKES', 'FAILURES', 'NOT VERIFIED (insecure_skip_verify)'],
        upstream.map((v) => [v.name, v.upstreamTls!.handshakes ?? '-', v.upstreamTls!.failures ? counts(v.upstreamTls!.failures) : '-', v.upstreamTls!.insecureSkipVerify.length > 0 ? `INSECURE: ${v.upstreamTls!.insecureSkipVerify.join(',')}` : '-']),
      ),
    );
  }
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

/** "(from api; file /etc/hitless.yaml: same)": where the running config came from, and whether the file agrees. */
function configOrigin(c: StatusDocument['config']): string {
  if (!c) return '';
  const file = c.file === null ? 'no config file' : `file ${c.file}: ${c.fileDiffers ? 'DIFFERS' : 'same'}`;
  return `(from ${c.source}; ${file})`;
}

/** "drain", "maint w=5", "w=5" (an override's state and weight), "-" without one. */
export function overrideCell(o: EndpointOverrideView | undefined): string {
  if (!o) return '-';
  return [o.state, o.weight === null ? null : `w=${o.weight}`].filter((x) => x !== null).join(' ');
}

/** 1234567 → "1.2M": tables stay narrow. */
export function formatBytes(n: number | undefined): string {
  if (n === undefined) return '-';
  if (n < 1024) return String(n);
  const units = ['K', 'M', 'G', 'T'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)}${units[i]}`;
}

/** {"TLSv1.3": 5, "timeout": 1} → "TLSv1.3=5 timeout=1"; "-" when empty. */
function counts(c: Readonly<Record<string, number>>): string {
  const parts = Object.entries(c).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`);
  return parts.length > 0 ? parts.join(' ') : '-';
}

/** Days left, with SOON / CRITICAL / EXPIRED when under the shared thresholds (certificate-expiry.ts). */
function daysLeftCell(daysLeft: number): string | number {
  const verdict = certificateExpiry(daysLeft);
  return verdict === 'ok' ? daysLeft : `${daysLeft} (${verdict.toUpperCase()})`;
}
