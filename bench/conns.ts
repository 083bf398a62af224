// npm run bench:conns — memory per idle HTTP keep-alive client connection, for hitless (http
// mode, --workers 1) against HAProxy 2.6 (mode http), nginx (upstream keepalive) and a plain
// node:http server answering itself (Node's floor), one after the other in one run, behind the
// same nginx backend.
//
// For each target: warm-up (wrk, 2 s, 10 connections), then RSS (VmRSS summed over the target's
// processes) as the baseline; then N clients (several processes, each from its own 127.0.x.y
// source address) each send one GET, read the whole response and stay open, idle; RSS once all
// are answered and a few seconds have passed; then every client closes, and RSS 10 s later.
// bytes per connection = (held - baseline) / N. The kernel's socket buffers are not in RSS.
//
//   CONNS=2000 (default: 20,000, or what the hard RLIMIT_NOFILE leaves room for)
//   CONNS_ONLY=hitless,node-floor   CONNS_CLIENTS=4 (client processes)
//   CONNS_HITLESS_NODE_ARGS="--max-semi-space-size=1"   CONNS_HITLESS_ENV="MALLOC_ARENA_MAX=2"
//     (for experiments: node flags and environment for hitless only; the worker inherits both)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './lib/free-port.js';
import { IpcChild } from './lib/ipc-child.js';
import type { FromClients, ToClients } from './lib/idle-clients.js';
import { mb, openFds, treeMemory, type TreeMemory } from './lib/proc-memory.js';
import { treeCpuSeconds } from './lib/proc.js';
import {
  fdHardLimit, haproxy, HAPROXY, hitless, NGINX, nginx, nodeFloor, ROOT, startBackend, stopAll, stopProcess, version, type Target,
} from './lib/targets.js';

/** Descriptors a target needs besides its client connections (listeners, backend pool, IPC, epoll...). */
const FD_HEADROOM = 500;
const WANTED = 20_000;
const N = Number(process.env.CONNS ?? Math.min(WANTED, fdHardLimit() - FD_HEADROOM));
const CLIENT_PROCESSES = Number(process.env.CONNS_CLIENTS ?? Math.max(1, Math.ceil(N / 5_000)));
/** Connections each client process has in their opening exchange at once. */
const CONCURRENCY = 64;
const SETTLE_MS = 5_000;
const AFTER_CLOSE_MS = 10_000;
const HEADER_TIMEOUT_S = 10;
const IDLE_TIMEOUT_S = 600;
const ONLY = (process.env.CONNS_ONLY ?? 'hitless,haproxy,nginx,node-floor').split(',');
const HITLESS_NODE_ARGS = (process.env.CONNS_HITLESS_NODE_ARGS ?? '').split(' ').filter(Boolean);
const HITLESS_ENV = Object.fromEntries((process.env.CONNS_HITLESS_ENV ?? '').split(' ').filter(Boolean).map((kv) => kv.split('=', 2)));

const dir = mkdtempSync(join(tmpdir(), 'hitless-bench-conns-'));

interface Row {
  readonly target: Target;
  readonly baseline: TreeMemory;
  readonly held: TreeMemory;
  readonly after: TreeMemory;
  readonly answered: number;
  readonly failed: number;
  readonly lost: number;
  readonly openSeconds: number;
  /** CPU the target used while holding the idle connections, as % of one core. */
  readonly idleCpuPercent: number;
  /** Seconds from the clients' close until the target had let go of (nearly) every connection. */
  readonly releaseSeconds: number;
}

const bytesPerConn = (r: Row): number => (r.held.rssBytes - r.baseline.rssBytes) / r.answered;
/** The process with the most descriptors is the one holding the connections (a worker). */
const holder = (m: TreeMemory) => [...m.processes].sort((a, b) => b.fds - a.fds)[0];
/** Growth of the holding process alone: without the noise of a supervisor's or master's own GC. */
const holderBytesPerConn = (r: Row): number => {
  const pid = holder(r.held).pid;
  return (holder(r.held).rssBytes - (r.baseline.processes.find((p) => p.pid === pid)?.rssBytes ?? 0)) / r.answered;
};
/** RSS of the holding process 10 s after close, % above its own baseline. */
const holderAfterPercent = (r: Row): number => {
  const pid = holder(r.held).pid;
  const base = r.baseline.processes.find((p) => p.pid === pid)?.rssBytes ?? 0;
  const after = r.after.processes.find((p) => p.pid === pid)?.rssBytes ?? 0;
  return (100 * (after - base)) / base;
};
const afterPercent = (r: Row): number => (100 * (r.after.rssBytes - r.baseline.rssBytes)) / r.baseline.rssBytes;

/** wrk for 2 s on 10 keep-alive connections: JIT, pools and buffers warmed before the baseline. */
function warmUp(port: number): void {
  spawnSync('wrk', ['-t1', '-c10', '-d2s', `http://127.0.0.1:${port}/`], { stdio: 'ignore', timeout: 20_000 });
}

type Clients = IpcChild<ToClients, FromClients>;

/** N connections spread over the client processes; target `index` uses source addresses 127.0.(10+index).*. */
function startClients(port: number, index: number): Clients[] {
  const script = join(ROOT, 'bench/lib/idle-clients.ts');
  return Array.from({ length: CLIENT_PROCESSES }, (_, k) => {
    const count = Math.floor(N / CLIENT_PROCESSES) + (k < N % CLIENT_PROCESSES ? 1 : 0);
    const source = `127.0.${10 + index}.${k + 1}`;
    return new IpcChild<ToClients, FromClients>(`clients ${source}`, script, [String(port), source, String(count), String(CONCURRENCY)]);
  });
}

async function measure(target: Target, index: number, backend: number): Promise<Row> {
  const port = await freePort(20_000, 20_999);
  const settings = { dir, port, backend, headerTimeoutS: HEADER_TIMEOUT_S, idleTimeoutS: IDLE_TIMEOUT_S, connections: N };
  const child = await target.start(target === hitless ? { ...settings, nodeArgs: HITLESS_NODE_ARGS, env: HITLESS_ENV } : settings);
  const pid = child.pid!;
  let clients: Clients[] = [];
  try {
    warmUp(port);
    await sleep(2_000);
    const baseline = await treeMemory(pid);

    clients = startClients(port, index);
    const readies = await Promise.all(clients.map((c) => c.next('ready', 200_000)));
    const answered = readies.reduce((sum, r) => sum + r.answered, 0);
    const failed = readies.reduce((sum, r) => sum + r.failed, 0);
    const openSeconds = Math.max(...readies.map((r) => r.ms)) / 1000;
    const cpu0 = await treeCpuSeconds(pid);
    await sleep(SETTLE_MS);
    const idleCpuPercent = (100 * ((await treeCpuSeconds(pid)) - cpu0)) / (SETTLE_MS / 1000);
    const held = await treeMemory(pid);

    const closedAt = performance.now();
    for (const c of clients) c.send({ t: 'close' });
    const closed = await Promise.all(clients.map((c) => c.next('closed', 30_000)));
    const lost = closed.reduce((sum, r) => sum + r.lostBeforeClose, 0);
    const releaseSeconds = await released(holder(held).pid, holder(held).fds - Math.ceil(0.99 * answered), closedAt);
    await sleep(Math.max(0, AFTER_CLOSE_MS - (performance.now() - closedAt)));
    const after = await treeMemory(pid);
    return { target, baseline, held, after, answered, failed, lost, openSeconds, idleCpuPercent, releaseSeconds };
  } finally {
    for (const c of clients) await c.stop();
    await stopProcess(child);
  }
}

/**
 * Seconds after `since` until `pid` holds at most `fds` descriptors (NaN: not within 10 s). The
 * caller asks for 99% of the client connections gone: the endpoint pool a proxy keeps afterwards
 * (nginx's upstream keepalive grows during the opening burst) is not a client connection.
 */
async function released(pid: number, fds: number, since: number): Promise<number> {
  for (let i = 0; i < 40; i++) {
    if (openFds(pid) <= fds) return (performance.now() - since) / 1000;
    await sleep(250);
  }
  return NaN;
}

function table(rows: readonly Row[]): string {
  const head = ['target', 'RSS summed over', 'baseline', 'held', 'bytes/conn', 'holder only', 'fds held', 'idle CPU', 'released after', '10 s after close', 'above baseline', 'answered / failed / lost'];
  const body = rows.map((r) => [
    r.target.name,
    r.target.processes,
    mb(r.baseline.rssBytes),
    mb(r.held.rssBytes),
    bytesPerConn(r).toFixed(0),
    holderBytesPerConn(r).toFixed(0),
    String(r.held.fds),
    `${r.idleCpuPercent.toFixed(1)}%`,
    Number.isNaN(r.releaseSeconds) ? '> 10 s' : `${r.releaseSeconds.toFixed(1)} s`,
    mb(r.after.rssBytes),
    `${afterPercent(r).toFixed(1)}%`,
    `${r.answered} / ${r.failed} / ${r.lost}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

/** Each process's RSS at the three moments: where the growth is (the worker, not the supervisor). */
function perProcess(r: Row): string {
  return r.held.processes
    .map((p) => {
      const before = r.baseline.processes.find((q) => q.pid === p.pid)?.rssBytes ?? 0;
      const after = r.after.processes.find((q) => q.pid === p.pid)?.rssBytes ?? 0;
      return `  ${r.target.name} pid ${p.pid} (${p.name}): ${mb(before)} → ${mb(p.rssBytes)} held (${p.fds} fds) → ${mb(after)} after close`;
    })
    .join('\n');
}

function verdicts(rows: readonly Row[]): string[] {
  const h = rows.find((r) => r.target === hitless);
  if (!h) return [];
  const lines: string[] = [];
  for (const peer of rows.filter((r) => r !== h)) {
    lines.push(
      `hitless bytes/conn / ${peer.target.name}: ${(bytesPerConn(h) / bytesPerConn(peer)).toFixed(2)}x (${bytesPerConn(h).toFixed(0)} vs ${bytesPerConn(peer).toFixed(0)}; ` +
        `holding process only: ${(holderBytesPerConn(h) / holderBytesPerConn(peer)).toFixed(2)}x, ${holderBytesPerConn(h).toFixed(0)} vs ${holderBytesPerConn(peer).toFixed(0)})`,
    );
  }
  const floor = rows.find((r) => r.target === nodeFloor);
  const goal = Math.max(2048, floor ? 1.2 * holderBytesPerConn(floor) : 0);
  const goalText = goal > 2048 ? `1.2x the Node floor = ${goal.toFixed(0)} B` : '2 KB = 2048 B';
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  // Judged on both figures: the sum is what the brief asks for, but the supervisor holds no
  // connection and its own GC moves the sum by several MB either way between two samples.
  lines.push(`goal bytes/conn <= ${goalText}: hitless ${bytesPerConn(h).toFixed(0)} B (all processes) → ${met(bytesPerConn(h) <= goal)}; ${holderBytesPerConn(h).toFixed(0)} B (worker only) → ${met(holderBytesPerConn(h) <= goal)}`);
  const holderAfter = holderAfterPercent(h);
  lines.push(`goal RSS within 10% of baseline 10 s after close: hitless ${afterPercent(h).toFixed(1)}% (all processes) → ${met(afterPercent(h) <= 10)}; ${holderAfter.toFixed(1)}% (worker only) → ${met(holderAfter <= 10)}`);
  return lines;
}

async function main(): Promise<void> {
  if (spawnSync('which', ['wrk']).status !== 0) throw new Error('wrk is needed for the warm-up: apt-get install -y wrk');
  const backendPort = await freePort(20_000, 20_999);
  const backend = await startBackend(dir, backendPort);
  console.log(`# bench:conns — ${new Date().toISOString()}`);
  console.log(`machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}, Linux ${release()}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  console.log(`versions: node ${process.version}, ${version(HAPROXY, ['-v'])}, ${version(NGINX, ['-v'])}`);
  const limitNote = N < WANTED && !process.env.CONNS ? ` (${WANTED} asked; the hard RLIMIT_NOFILE here is ${fdHardLimit()} and cannot be raised, so ${FD_HEADROOM} fds are left for the rest)` : '';
  console.log(`connections: ${N}${limitNote}, from ${CLIENT_PROCESSES} client processes (one 127.0.x.y source each), ${CONCURRENCY} opening at a time per process`);
  console.log(`each: GET / → 200 from the nginx backend (a fixed ~60-byte body), read in full, then idle; timeouts: idle ${IDLE_TIMEOUT_S} s, header ${HEADER_TIMEOUT_S} s everywhere`);
  console.log(`RSS: VmRSS summed over the target's processes; baseline after a 2 s wrk warm-up + 2 s; held ${SETTLE_MS / 1000} s after the last answer; then ${AFTER_CLOSE_MS / 1000} s after every client closed`);
  console.log('"holder only": growth of the process with the connections (the worker) alone; "released after": until 99% of the connections were closed on its side');
  if (HITLESS_NODE_ARGS.length || Object.keys(HITLESS_ENV).length) console.log(`hitless runs with node ${HITLESS_NODE_ARGS.join(' ')} env ${JSON.stringify(HITLESS_ENV)}`);

  const targets = [hitless, haproxy, nginx, nodeFloor].filter((t) => ONLY.includes(t.name));
  const rows: Row[] = [];
  for (const [index, target] of targets.entries()) {
    process.stderr.write(`${target.name}: opening ${N} connections...\n`);
    const row = await measure(target, index, backendPort);
    process.stderr.write(`${target.name}: ${bytesPerConn(row).toFixed(0)} bytes/conn, ${afterPercent(row).toFixed(1)}% above baseline after close (opened in ${row.openSeconds.toFixed(1)} s)\n`);
    rows.push(row);
  }
  console.log(`\n${table(rows)}\n`);
  for (const r of rows) console.log(perProcess(r));
  console.log('');
  for (const line of verdicts(rows)) console.log(line);
  await stopProcess(backend, 'SIGTERM');
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  });
