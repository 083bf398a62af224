// `hitless top`: a live view of a running hitless, redrawn every interval from successive
// GET /status snapshots (rates are differences between two snapshots; nothing is kept in the
// proxy for it). q or Ctrl-C quits. With --json: one JSON line per interval, for scripts.
import type { Command } from 'commander';
import type { StatusDocument } from '../admin/status.js';
import { DEFAULT_ADMIN } from './defaults.js';
import { parseDuration } from '../config/duration.js';
import { histogramDelta, quantileMs } from '../observability/quantile.js';
import { rate, serviceTotals, type Rate } from '../observability/rate-sampler.js';
import { adminRequest, errorMessage, type AdminTarget } from './admin-client.js';
import { formatBytes } from './status-command.js';
import { renderTable } from './table.js';

interface TopOptions extends AdminTarget {
  readonly interval: string;
  readonly json?: boolean;
  readonly count?: string;
}

export interface TopRow {
  readonly service: string;
  readonly mode: string;
  readonly rate: Rate;
  readonly total: number;
  /** p99 over the last interval (http), ms. */
  readonly p99: number | null;
  readonly endpointsUp: number;
  readonly endpoints: number;
}

export function registerTopCommand(program: Command): void {
  program
    .command('top')
    .description('live per-service rates of a running hitless (q or Ctrl-C quits)')
    .option('--admin <address>', 'admin API address: unix:/path or host:port', DEFAULT_ADMIN)
    .option('--token <token>', 'bearer token: admin.token or the read-only admin.read_token (default: $HITLESS_ADMIN_TOKEN)')
    .option('--interval <duration>', 'time between snapshots', '1s')
    .option('--count <n>', 'stop after this many intervals (default: run until q or Ctrl-C)')
    .option('--json', 'print one JSON line per interval instead of a screen')
    .action(async (opts: TopOptions, command: Command) => {
      const intervalMs = parseDuration(opts.interval);
      if (intervalMs === undefined || intervalMs < 100) command.error(`--interval ${opts.interval}: expected a duration of at least 100ms`, { exitCode: 2 });
      const count = opts.count === undefined ? Infinity : Number(opts.count);
      if (!(count > 0)) command.error(`--count ${opts.count}: expected a positive number`, { exitCode: 2 });
      await runTop(opts, intervalMs!, count);
    });
}

async function fetchStatus(opts: AdminTarget): Promise<StatusDocument> {
  const res = await adminRequest(opts, 'GET', '/status').catch((err: Error) => fail(err.message));
  if (res.status !== 200) fail(errorMessage(res));
  return JSON.parse(res.body) as StatusDocument;
}

function fail(message: string): never {
  restoreTerminal();
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

async function runTop(opts: TopOptions, intervalMs: number, count: number): Promise<void> {
  const screen = !opts.json && process.stdout.isTTY === true;
  if (screen) watchKeys();
  let previous = await fetchStatus(opts);
  let previousAt = countersTime(previous);
  // Bounded: a snapshot whose counters are no newer than the last one (a data plane that samples
  // its counters every second, read twice within one) is skipped, not shown as a zero rate.
  for (let shown = 0, tries = 0; shown < count && tries < count * 3; tries++) {
    await new Promise((r) => setTimeout(r, intervalMs));
    const current = await fetchStatus(opts);
    const now = countersTime(current);
    if (now <= previousAt) continue;
    shown++;
    const rows = topRows(previous, current, now - previousAt);
    if (opts.json) process.stdout.write(JSON.stringify({ time: new Date(now).toISOString(), intervalMs: now - previousAt, pid: current.pid, services: rows }) + '\n');
    else process.stdout.write((screen ? '\x1b[H\x1b[2J' : '') + renderTop(current, rows, intervalMs) + '\n');
    previous = current;
    previousAt = now;
  }
  restoreTerminal();
}

/**
 * When a snapshot's counters were read: the server says so (`countersAt`); an older hitless that
 * does not gets the time the answer arrived here.
 */
function countersTime(s: StatusDocument): number {
  const at: unknown = s.countersAt;
  return typeof at === 'number' && Number.isFinite(at) ? at : Date.now();
}

/** Per-service rates between two snapshots whose counters were read `dtMs` apart. */
export function topRows(before: StatusDocument, after: StatusDocument, dtMs: number): TopRow[] {
  const old = new Map(before.services.map((s) => [s.name, s]));
  return after.services.map((s) => {
    const was = old.get(s.name);
    const zero = { requests: 0, errors: 0, retries: 0, bytes: 0, active: 0 };
    return {
      service: s.name,
      mode: s.mode,
      rate: rate(was ? serviceTotals(was) : zero, serviceTotals(s), dtMs),
      total: s.total,
      p99: quantileMs(histogramDelta(was?.latency, s.latency), 0.99),
      endpointsUp: s.endpoints.filter((e) => e.healthy).length,
      endpoints: s.endpoints.length,
    };
  });
}

export function renderTop(s: StatusDocument, rows: readonly TopRow[], intervalMs: number): string {
  const sum = (f: (r: TopRow) => number) => rows.reduce((a, r) => a + f(r), 0);
  const head =
    `hitless ${s.version} pid ${s.pid}  up ${s.uptimeSeconds}s  config ${s.config?.hash.slice(0, 12) ?? '-'}  ` +
    `every ${intervalMs / 1000}s  (q quits)\n` +
    `total: ${sum((r) => r.rate.rps).toFixed(1)} req/s  ${sum((r) => r.rate.eps).toFixed(1)} err/s  ${formatBytes(Math.round(sum((r) => r.rate.bps)))}B/s  ${sum((r) => r.rate.active)} in flight\n`;
  // By name, never by rate: a row that moves with the numbers cannot be followed by eye.
  const sorted = [...rows].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
  const table = renderTable(
    ['SERVICE', 'MODE', 'REQ/S', 'ERR/S', 'ACTIVE', 'BYTES/S', 'P99 MS', 'UP', 'TOTAL'],
    sorted.map((r) => [r.service, r.mode, r.rate.rps, r.rate.eps, r.rate.active, formatBytes(Math.round(r.rate.bps)), r.p99 === null ? '-' : r.p99.toFixed(1), `${r.endpointsUp}/${r.endpoints}`, r.total]),
  );
  const last = s.lastApply ? `\nlast apply: ${s.lastApply.at} ${s.lastApply.origin} ${s.lastApply.result}: ${s.lastApply.summary}` : '';
  return head + '\n' + table + last;
}

let rawMode = false;

/** q, Q or Ctrl-C quit; the terminal is put back as it was. */
function watchKeys(): void {
  process.once('SIGINT', () => {
    restoreTerminal();
    process.exit(0);
  });
  if (!process.stdin.isTTY) return;
  process.stdin.setRawMode(true);
  rawMode = true;
  process.stdin.resume();
  process.stdin.on('data', (key: Buffer) => {
    const k = key.toString();
    if (k === 'q' || k === 'Q' || k === '\u0003') {
      restoreTerminal();
      process.exit(0);
    }
  });
  process.stdout.write('\x1b[?25l'); // hide the cursor while redrawing
}

function restoreTerminal(): void {
  if (rawMode) {
    process.stdin.setRawMode(false);
    process.stdin.pause();
    rawMode = false;
    process.stdout.write('\x1b[?25h\n');
  }
}
