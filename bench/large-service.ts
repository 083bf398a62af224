// npm run bench:large — what one endpoint change costs in a large service, and what GET /status
// costs while such a service churns. For each size in BENCH_LARGE_SIZES (default 500, 5,000,
// 10,000 endpoints, one service discovered from a file) and each process model in
// BENCH_LARGE_WORKERS (default "0,2": hitless alone, and a supervisor with 2 workers):
//  1. apply: one endpoint replaced in the file, BENCH_LARGE_REPS times (default 40, after 5
//     warm-up); the apply's own duration as hitless logs it ("config applied", ms: the controller's
//     plan + driver apply, with workers the two-phase commit over IPC), median / p90 / max. The
//     source's reading and parsing of the file come before the apply and are not in it.
//  2. status: for BENCH_LARGE_STATUS_S seconds (default 10) one endpoint is replaced every 100 ms
//     while GET /status is asked every 250 ms: its latency until the answer's head arrives (hitless
//     sends it once the whole document is made), median / p90 / max.
// HITLESS_BENCH_CLI runs another build's dist/cli/main.js instead of this one. BENCH_LARGE_BASELINE
// names a second build (another checkout's dist/cli/main.js) measured in the same run, round by
// round (BENCH_LARGE_ROUNDS, default 2, alternating), with the ratio: the machines are shared and
// noisy, so before/after figures come from one run.
// Loopback only: the service listens on 127.0.0.1 (a port from BENCH_LARGE_PORTS, default
// 24000-24999: give each concurrent run its own range), its endpoints are never connected to;
// every hitless started here is stopped by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { adminGet } from './lib/admin-probe.js';
import { freePort } from './lib/free-port.js';

const CLI = process.env.HITLESS_BENCH_CLI ?? fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const BASELINE = process.env.BENCH_LARGE_BASELINE;
const ROUNDS = Number(process.env.BENCH_LARGE_ROUNDS ?? (BASELINE ? 2 : 1));
const SIZES = (process.env.BENCH_LARGE_SIZES ?? '500,5000,10000').split(',').map(Number);
const WORKERS = (process.env.BENCH_LARGE_WORKERS ?? '0,2').split(',').map(Number);
const REPS = Number(process.env.BENCH_LARGE_REPS ?? 40);
const WARMUP = 5;
const STATUS_SECONDS = Number(process.env.BENCH_LARGE_STATUS_S ?? 10);
const APPLY_WAIT_MS = 30_000;
const [PORT_LOW, PORT_HIGH] = (process.env.BENCH_LARGE_PORTS ?? '24000-24999').split('-').map(Number);

interface Stats {
  readonly median: number;
  readonly p90: number;
  readonly max: number;
  readonly n: number;
}

function stats(samples: readonly number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  return { median: at(0.5), p90: at(0.9), max: s[s.length - 1], n: s.length };
}

const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const show = (s: Stats): string => `median ${fmt(s.median)} ms, p90 ${fmt(s.p90)} ms, max ${fmt(s.max)} ms (${s.n})`;

/** One `hitless run` on a one-service config whose endpoints come from a file we rewrite. */
class Instance {
  private readonly ports: number[];
  private readonly applied: number[] = [];
  private waiting: (() => void) | null = null;
  private lineBuffer = '';
  private constructor(
    readonly child: ChildProcess,
    readonly socket: string,
    private readonly file: string,
    size: number,
  ) {
    this.ports = Array.from({ length: size }, (_, i) => 10_000 + i);
    child.stderr!.on('data', (c: Buffer) => this.onLog(c.toString()));
  }

  static async start(cli: string, dir: string, size: number, workers: number): Promise<Instance> {
    const file = join(dir, `set-${size}-${workers}.json`);
    const socket = join(dir, `admin-${size}-${workers}.sock`);
    const config = join(dir, `hitless-${size}-${workers}.yaml`);
    const listen = await freePort(PORT_LOW, PORT_HIGH);
    writeFileSync(config, stringify({ admin: { listen: `unix:${socket}` }, services: { big: { listen: `127.0.0.1:${listen}`, discovery: { file: { path: file } } } } }));
    const args = [cli, 'run', '--config', config, '--log-level', 'info', '--workers', String(workers)];
    const instance = new Instance(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] }), socket, file, size);
    instance.write();
    const deadline = Date.now() + 60_000;
    while ((await adminGet(socket, '/status').catch(() => null))?.status !== 200) {
      if (Date.now() > deadline || instance.child.exitCode !== null) throw new Error(`hitless (${size} endpoints, --workers ${workers}) did not start`);
      await sleep(200);
    }
    return instance;
  }

  /** "config applied" lines of discovery applies: their `ms` is the apply's duration. */
  private onLog(text: string): void {
    const lines = (this.lineBuffer + text).split('\n');
    this.lineBuffer = lines.pop()!;
    for (const line of lines) {
      if (!line.includes('"config applied"') || !line.includes('"origin":"discovery"')) continue;
      this.applied.push((JSON.parse(line) as { ms: number }).ms);
      this.waiting?.();
    }
  }

  private write(): void {
    const text = JSON.stringify(this.ports.map((port, i) => `127.3.${Math.floor(i / 250) % 250}.${(i % 250) + 1}:${port}`));
    writeFileSync(`${this.file}.tmp`, text);
    renameSync(`${this.file}.tmp`, this.file);
  }

  /** Replaces endpoint `i` (a new port): one removed, one added. */
  replace(i: number): void {
    this.ports[i % this.ports.length] += this.ports.length;
    this.write();
  }

  /** Replaces one endpoint and resolves with the duration of the apply it caused. */
  async changeOne(i: number): Promise<number> {
    const before = this.applied.length;
    const done = new Promise<void>((resolve) => (this.waiting = resolve));
    this.replace(i);
    await Promise.race([done, sleep(APPLY_WAIT_MS)]);
    this.waiting = null;
    if (this.applied.length === before) throw new Error(`no discovery apply within ${APPLY_WAIT_MS} ms`);
    return this.applied.at(-1)!;
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await Promise.race([new Promise((r) => this.child.once('exit', r)), sleep(10_000)]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

async function statusUnderChurn(instance: Instance): Promise<number[]> {
  const end = performance.now() + STATUS_SECONDS * 1000;
  const churn = (async () => {
    for (let i = 0; performance.now() < end; i++) {
      instance.replace(i);
      await sleep(100);
    }
  })();
  const latencies: number[] = [];
  while (performance.now() < end) {
    const res = await adminGet(instance.socket, '/status');
    if (res.status !== 200) throw new Error(`GET /status: HTTP ${res.status}`);
    latencies.push(res.firstByteMs);
    await sleep(250);
  }
  await churn;
  return latencies;
}

/** One build on one cell: apply durations and status latencies. */
async function measure(cli: string, dir: string, size: number, workers: number): Promise<{ apply: number[]; status: number[] }> {
  const instance = await Instance.start(cli, dir, size, workers);
  try {
    const apply: number[] = [];
    for (let rep = 0; rep < WARMUP + REPS; rep++) {
      const ms = await instance.changeOne(rep * 7919);
      if (rep >= WARMUP) apply.push(ms);
    }
    return { apply, status: await statusUnderChurn(instance) };
  } finally {
    await instance.stop();
  }
}

async function main(): Promise<void> {
  console.log(`bench:large — one file-discovered service; ${availableParallelism()} x ${cpus()[0]?.model ?? '?'}, node ${process.version}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`cli: ${CLI}${BASELINE ? `\nbaseline: ${BASELINE} (rounds alternate baseline, this build; ${ROUNDS} rounds)` : ''}`);
  const dir = mkdtempSync(join(tmpdir(), 'hitless-bench-large-'));
  const builds = BASELINE ? [{ name: 'baseline', cli: BASELINE }, { name: 'this build', cli: CLI }] : [{ name: 'this build', cli: CLI }];
  try {
    for (const workers of WORKERS) {
      for (const size of SIZES) {
        const samples = new Map(builds.map((b) => [b.name, { apply: [] as number[], status: [] as number[] }]));
        for (let round = 0; round < ROUNDS; round++) {
          for (const b of builds) {
            const m = await measure(b.cli, dir, size, workers);
            samples.get(b.name)!.apply.push(...m.apply);
            samples.get(b.name)!.status.push(...m.status);
          }
        }
        const label = `${String(size).padStart(6)} endpoints, --workers ${workers}`;
        for (const b of builds) {
          const m = samples.get(b.name)!;
          console.log(`${label}, ${b.name.padEnd(10)}: one endpoint change applies in ${show(stats(m.apply))}; GET /status under churn ${show(stats(m.status))}`);
        }
        if (BASELINE) {
          const [base, now] = builds.map((b) => samples.get(b.name)!);
          console.log(`${label}: baseline / this build (medians): apply ${(stats(base.apply).median / stats(now.apply).median).toFixed(1)}x, GET /status ${(stats(base.status).median / stats(now.status).median).toFixed(1)}x`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('\ngoals: one endpoint change in a 5,000-endpoint service < 5 ms median; GET /status < 50 ms at 10,000 endpoints');
  console.log('note: the file source reads the whole file on every change (JSON.parse, then only the entries that changed are validated), in the process that also answers GET /status');
}

await main();
