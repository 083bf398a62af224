// npm run bench:memory — does memory stay flat with many endpoints and discovery churn?
// `hitless run` (a supervisor and its workers, the default process model) on a config of
// BENCH_MEMORY_ENDPOINTS endpoints (default 10,000) in BENCH_MEMORY_SERVICES services, each
// discovered from a file; one endpoint of one service (round robin) is replaced every
// BENCH_MEMORY_CHURN_MS. No client traffic: what grows here grows with time and churn alone.
// Prints, once a minute, the RSS of the supervisor and of each worker, GET /status latency
// (until the answer's head arrives: median and max of the probes made that minute, one every 5 s)
// and the applies done; at the end, the growth of each process after minute 2 (the median of the
// last three samples against that of the first three from minute 2 on; goal: < 10 %).
//   BENCH_MEMORY_MINUTES (default 10; fractions allowed for a short run), BENCH_MEMORY_SAMPLE_S
//   (default 60), BENCH_MEMORY_WORKERS (default: hitless's own default), HITLESS_BENCH_CLI (another
//   build's dist/cli/main.js, to compare two builds the same way), BENCH_MEMORY_NODE_ARGS (node
//   flags for hitless and its workers, e.g. "--heapsnapshot-signal=SIGPROF" or "--cpu-prof").
// hitless gets this process's environment: run it with MALLOC_ARENA_MAX=2 as the systemd unit
// does (without, glibc's per-thread arenas make the supervisor's RSS creep while its heap is flat).
// Loopback only (listeners on 127.0.0.1 from port 24000; endpoints are never connected to: no
// health checks, no traffic); the hitless started here is stopped by pid at the end.
import { spawn } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { processTree } from '../src/bench/torture/proc-sampler.js';
import { adminGet, median, rssMb } from './lib/admin-probe.js';
import { freePort } from './lib/free-port.js';

const CLI = process.env.HITLESS_BENCH_CLI ?? fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const MINUTES = Number(process.env.BENCH_MEMORY_MINUTES ?? 10);
const SAMPLE_MS = Number(process.env.BENCH_MEMORY_SAMPLE_S ?? 60) * 1000;
const ENDPOINTS = Number(process.env.BENCH_MEMORY_ENDPOINTS ?? 10_000);
const SERVICES = Number(process.env.BENCH_MEMORY_SERVICES ?? 20);
const CHURN_MS = Number(process.env.BENCH_MEMORY_CHURN_MS ?? 100);
const WORKERS = process.env.BENCH_MEMORY_WORKERS;
const NODE_ARGS = (process.env.BENCH_MEMORY_NODE_ARGS ?? '').split(' ').filter(Boolean);
const STATUS_PROBE_MS = 5_000;

const dir = mkdtempSync(join(tmpdir(), 'hitless-bench-memory-'));
const perService = Math.ceil(ENDPOINTS / SERVICES);
/** sets[s][i]: the port of endpoint i of service s (host 127.2.<s>.<i % 250>); churn bumps one port. */
const sets = Array.from({ length: SERVICES }, () => Array.from({ length: perService }, (_, i) => 10_000 + i));
const fileOf = (s: number): string => join(dir, `svc-${s}.json`);
const render = (s: number): string => JSON.stringify(sets[s].map((port, i) => `127.2.${s}.${(i % 250) + 1}:${port}`));

/** Replaced by rename, as a config manager would: the source never reads half a file. */
function writeSet(s: number): void {
  writeFileSync(`${fileOf(s)}.tmp`, render(s));
  renameSync(`${fileOf(s)}.tmp`, fileOf(s));
}

interface Row {
  readonly minute: number;
  readonly rss: Record<string, number>;
  /** V8 heap in use by pid, as GET /status reports it (MB). */
  readonly heap: Map<number, number>;
  readonly statusMs: number[];
  readonly applies: number;
}

async function main(): Promise<void> {
  const socket = join(dir, 'admin.sock');
  const first = await freePort(24_000, 24_999 - SERVICES);
  const services: Record<string, unknown> = {};
  for (let s = 0; s < SERVICES; s++) {
    writeSet(s);
    services[`svc-${s}`] = { listen: `127.0.0.1:${first + s}`, discovery: { file: { path: fileOf(s) } } };
  }
  const config = join(dir, 'hitless.yaml');
  writeFileSync(config, stringify({ admin: { listen: `unix:${socket}` }, services }));
  const workers = WORKERS === undefined ? [] : ['--workers', WORKERS];
  const child = spawn(process.execPath, [...NODE_ARGS, CLI, 'run', '--config', config, '--log-level', 'warn', ...workers], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (c: Buffer) => process.stderr.write(c));
  try {
    await run(child.pid!, socket);
  } finally {
    child.kill('SIGTERM');
    await Promise.race([new Promise((r) => child.once('exit', r)), sleep(10_000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

async function run(pid: number, socket: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await adminGet(socket, '/status').catch(() => null))?.status !== 200) {
    if (Date.now() > deadline) throw new Error('hitless did not answer GET /status within 60 s');
    await sleep(200);
  }
  console.log(`bench:memory — ${ENDPOINTS} endpoints in ${SERVICES} file-discovered services, one endpoint replaced every ${CHURN_MS} ms, no traffic; ${MINUTES} min, ${availableParallelism()} x ${cpus()[0]?.model ?? '?'}, node ${process.version}`);
  console.log(`cli: ${CLI}; MALLOC_ARENA_MAX ${process.env.MALLOC_ARENA_MAX ?? 'unset'} for the supervisor (docs/operations.md; workers get 2 unless it is set)`);
  const started = performance.now();
  const end = started + MINUTES * 60_000;
  let churned = 0;
  const churn = (async () => {
    for (let k = 0; performance.now() < end; k++) {
      const s = k % SERVICES;
      const i = Math.floor(k / SERVICES) % perService;
      sets[s][i] += perService; // a new port: one endpoint removed, one added
      writeSet(s);
      churned++;
      await sleep(CHURN_MS);
    }
  })();
  const rows: Row[] = [];
  let statusMs: number[] = [];
  let nextSample = started + Math.min(SAMPLE_MS, MINUTES * 60_000);
  while (performance.now() < end + 1) {
    const res = await adminGet(socket, '/status');
    statusMs.push(res.firstByteMs);
    if (performance.now() >= nextSample) {
      const doc = JSON.parse(res.text) as StatusDoc;
      const applies = doc.applyStats?.count['discovery/applied'] ?? 0;
      rows.push({ minute: (performance.now() - started) / 60_000, rss: await treeRss(pid), heap: heapByPid(doc), statusMs, applies });
      print(rows.at(-1)!);
      statusMs = [];
      nextSample += SAMPLE_MS;
    }
    const wait = Math.min(STATUS_PROBE_MS, Math.max(0, nextSample - performance.now()), Math.max(0, end - performance.now()));
    if (performance.now() >= end) break;
    await sleep(Math.max(50, wait));
  }
  await churn;
  summarise(rows, churned);
}

interface StatusDoc {
  applyStats?: { count: Record<string, number> };
  process?: { supervisorPid: number; supervisorMemory?: NodeJS.MemoryUsage; workers: Array<{ pid: number; heapUsedBytes?: number | null }> };
}

function heapByPid(doc: StatusDoc): Map<number, number> {
  const out = new Map<number, number>();
  const p = doc.process;
  if (p?.supervisorMemory) out.set(p.supervisorPid, p.supervisorMemory.heapUsed / 1048576);
  for (const w of p?.workers ?? []) if (typeof w.heapUsedBytes === 'number') out.set(w.pid, w.heapUsedBytes / 1048576);
  return out;
}

/** RSS (MB) of the supervisor and of each of its children, by pid. */
async function treeRss(root: number): Promise<Record<string, number>> {
  const pids = (await processTree([root])).sort((a, b) => (a === root ? -1 : b === root ? 1 : a - b));
  const out: Record<string, number> = {};
  for (const pid of pids) out[pid === root ? `supervisor ${pid}` : `worker ${pid}`] = await rssMb(pid);
  return out;
}

function print(row: Row): void {
  const rss = Object.entries(row.rss)
    .map(([who, mb]) => {
      const heap = row.heap.get(Number(who.split(' ')[1]));
      return `${who} ${mb.toFixed(0)} MB${heap === undefined ? '' : ` (heap ${heap.toFixed(0)})`}`;
    })
    .join(', ');
  const s = row.statusMs;
  console.log(`  min ${row.minute.toFixed(1).padStart(4)}: ${rss}; GET /status median ${median(s).toFixed(1)} ms, max ${Math.max(...s).toFixed(1)} ms (${s.length} probes); discovery applies so far ${row.applies}`);
}

/**
 * Growth after the first 2 minutes, per process. RSS moves by tens of MB from one sample to the
 * next as the garbage collector takes and returns pages, so two single samples say little: the
 * median of the last three samples is compared with the median of the first three from minute 2
 * on (for a run of 10 minutes: minutes 8-10 against minutes 2-4), along with the range seen.
 */
function summarise(rows: readonly Row[], churned: number): void {
  console.log(`\n${churned} endpoint replacements written`);
  const settled = rows.filter((r) => r.minute >= 1.99);
  if (settled.length < 2) return void console.log('run too short for a growth figure (needs samples after minute 2)');
  const k = Math.min(3, Math.floor(settled.length / 2));
  const first = settled.slice(0, k);
  const last = settled.slice(-k);
  const span = (rs: readonly Row[]) => `min ${rs[0].minute.toFixed(0)}-${rs.at(-1)!.minute.toFixed(0)}`;
  for (const who of Object.keys(settled.at(-1)!.rss)) {
    const samples = settled.map((r) => r.rss[who]).filter((x) => x !== undefined);
    if (samples.length < settled.length) continue; // a process that came or went during the run
    const from = median(first.map((r) => r.rss[who]));
    const to = median(last.map((r) => r.rss[who]));
    const growth = ((to - from) / from) * 100;
    console.log(
      `  ${who}: median ${from.toFixed(0)} MB (${span(first)}) -> ${to.toFixed(0)} MB (${span(last)}): ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} % (goal < 10 %); range after min 2: ${Math.min(...samples).toFixed(0)}-${Math.max(...samples).toFixed(0)} MB`,
    );
  }
  const all = rows.flatMap((r) => r.statusMs);
  console.log(`  GET /status over the run: median ${median(all).toFixed(1)} ms, max ${Math.max(...all).toFixed(1)} ms (goal < 50 ms)`);
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
