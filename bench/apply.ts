// npm run bench:apply — what one config change costs hitless, in a config of 1,000 tcp services
// (and of 100, to compare), given as the full text (YAML, and JSON) as PUT /config receives it:
// split into parse+validate, plan and driver apply; and, in the same run, what `haproxy -c` and an
// HAProxy reload cost for the same 1,000 services.
//
// hitless runs in this process (Hitless.start, silent logger) with every service listening on its
// own loopback port from 20000 up. Endpoints are never connected to, so they need not exist.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../src/config/load.js';
import { diffConfigs } from '../src/control/plan.js';
import { Hitless } from '../src/hitless.js';
import { silentLogger } from '../src/observability/log.js';
import { VERSION } from '../src/version.js';
import { freePort } from './lib/free-port.js';

const BASE_PORT = 20_000;
const REPS = Number(process.env.BENCH_APPLY_REPS ?? 50);
const WARMUP = 5;
const HAPROXY = '/usr/sbin/haproxy';
const HAPROXY_RELOADS = Number(process.env.BENCH_APPLY_RELOADS ?? 10);

interface Stats {
  median: number;
  p90: number;
  max: number;
}

function stats(samples: readonly number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { median: at(0.5), p90: at(0.9), max: s[s.length - 1] };
}

/** The config text: n services, service i on 127.0.0.1:BASE_PORT+i with 3 endpoints; the third one's port follows generation[i]. */
function renderHitless(admin: string, n: number, generation: readonly number[]): string {
  const out = [`admin:\n  listen: ${admin}\nservices:\n`];
  for (let i = 0; i < n; i++) {
    const a = `127.1.${i >> 8}.${i & 255}`;
    out.push(
      `  svc-${String(i).padStart(5, '0')}:\n    listen: 127.0.0.1:${BASE_PORT + i}\n    endpoints:\n` +
        `      - ${a}:8080\n      - { address: ${a}:8081, weight: 2 }\n      - ${a}:${10_000 + generation[i]}\n`,
    );
  }
  return out.join('');
}

type Format = 'YAML' | 'JSON';
const FORMATS: readonly Format[] = ['YAML', 'JSON'];

/** The same config as JSON, on one line (what a script PUTs). */
function renderJson(admin: string, n: number, generation: readonly number[]): string {
  const services: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const a = `127.1.${i >> 8}.${i & 255}`;
    services[`svc-${String(i).padStart(5, '0')}`] = {
      listen: `127.0.0.1:${BASE_PORT + i}`,
      endpoints: [`${a}:8080`, { address: `${a}:8081`, weight: 2 }, `${a}:${10_000 + generation[i]}`],
    };
  }
  return JSON.stringify({ admin: { listen: admin }, services });
}

const render = (format: Format, admin: string, n: number, generation: readonly number[]): string =>
  format === 'YAML' ? renderHitless(admin, n, generation) : renderJson(admin, n, generation);

interface Row {
  readonly what: string;
  /** The text the change came as (hitless rows), or "-". */
  readonly format: Format | '-';
  readonly config: string;
  readonly change: string;
  readonly stats: Stats;
  readonly n: number;
}

const rows: Row[] = [];
const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

function printTable(title: string, table: readonly Row[]): void {
  const header = ['operation', 'text', 'config', 'change', 'median ms', 'p90 ms', 'max ms', 'runs'];
  const body = table.map((r) => [r.what, r.format, r.config, r.change, fmt(r.stats.median), fmt(r.stats.p90), fmt(r.stats.max), String(r.n)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

function adminPut(socketPath: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'PUT', path: '/config', headers: { 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(200) : reject(new Error(`PUT /config: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Measures applies of changes touching `touched` services, in a running hitless with `n` services. */
async function benchHitless(n: number, dir: string): Promise<{ startMs: number }> {
  const socketPath = join(dir, `admin-${n}.sock`);
  const admin = `unix:${socketPath}`;
  const generation = new Array<number>(n).fill(0);
  const t0 = performance.now();
  const hitless = await Hitless.start({ snapshot: parseConfig(renderHitless(admin, n, generation), 'bench.yaml'), log: silentLogger() });
  const startMs = performance.now() - t0;
  const { controller } = hitless;
  const driver = controller.driver;
  const innerPrepare = driver.prepare.bind(driver);
  let driverMs = 0;
  // The driver's share of an apply: its prepare and its commit.
  driver.prepare = async (desired, plan) => {
    const start = performance.now();
    const change = await innerPrepare(desired, plan);
    const prepareMs = performance.now() - start;
    return {
      ...change,
      commit: async () => {
        const committing = performance.now();
        try {
          return await change.commit();
        } finally {
          driverMs = prepareMs + performance.now() - committing;
        }
      },
    };
  };
  let cursor = 0;
  const nextText = (touched: number, format: Format): string => {
    for (let j = 0; j < touched; j++) generation[(cursor + j) % n]++;
    cursor = (cursor + touched) % n;
    return render(format, admin, n, generation);
  };
  try {
    for (const format of FORMATS) {
      for (const touched of [1, 10, 100].filter((k) => k <= n)) {
        const samples = { parse: [] as number[], plan: [] as number[], driver: [] as number[], apply: [] as number[], total: [] as number[] };
        for (let rep = 0; rep < WARMUP + REPS; rep++) {
          const text = nextText(touched, format);
          const a = performance.now();
          const snapshot = parseConfig(text, 'bench.yaml');
          const b = performance.now();
          const plan = diffConfigs(controller.current!.config, snapshot.config);
          const c = performance.now();
          const record = await controller.apply(snapshot, { origin: 'admin' });
          const d = performance.now();
          if (record.result !== 'applied') throw new Error(`apply ${rep}: ${record.result}`);
          if (plan.services.changed.length !== touched) throw new Error(`expected ${touched} changed services, plan has ${plan.services.changed.length}`);
          if (rep < WARMUP) continue;
          samples.parse.push(b - a);
          samples.plan.push(c - b);
          samples.driver.push(driverMs);
          samples.apply.push(d - c);
          samples.total.push(b - a + (d - c));
        }
        const change = touched === 1 ? '1 endpoint' : `1 endpoint x ${touched} svc`;
        const config = `${n} svc`;
        rows.push({ what: 'hitless parse + validate', format, config, change, stats: stats(samples.parse), n: REPS });
        rows.push({ what: 'hitless plan (diff)', format, config, change, stats: stats(samples.plan), n: REPS });
        rows.push({ what: 'hitless driver apply', format, config, change, stats: stats(samples.driver), n: REPS });
        rows.push({ what: 'hitless controller apply (plan+driver)', format, config, change, stats: stats(samples.apply), n: REPS });
        rows.push({ what: 'hitless total (parse + apply)', format, config, change, stats: stats(samples.total), n: REPS });
      }
    }
    // End to end as a script sees it: PUT /config over the admin unix socket (body, parse, apply, answer).
    for (const format of FORMATS) {
      const roundTrips: number[] = [];
      for (let rep = 0; rep < WARMUP + REPS; rep++) {
        const text = nextText(1, format);
        const start = performance.now();
        await adminPut(socketPath, text);
        if (rep >= WARMUP) roundTrips.push(performance.now() - start);
      }
      rows.push({ what: 'hitless PUT /config round trip', format, config: `${n} svc`, change: '1 endpoint', stats: stats(roundTrips), n: REPS });
    }
    const listening = driver.status().listeners.filter((l) => l.state === 'active').length;
    if (listening !== n) throw new Error(`expected ${n} active listeners, status shows ${listening}`);
  } finally {
    await hitless.stop(0);
  }
  return { startMs };
}

// ---------------------------------------------------------------------------------------------
// HAProxy: the same services as `listen` sections, mode tcp.


function renderHaproxy(n: number, generation: readonly number[], probePort: number, tag: string, statsSocket: string): string {
  const out = [
    `global\n  maxconn 4000\n  stats socket ${statsSocket} mode 600 level admin expose-fd listeners\n`,
    `defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10m\n  timeout server 10m\n`,
    // The probe answers with the config's tag: the reload is done when the new tag is served.
    `listen probe\n  mode http\n  bind 127.0.0.1:${probePort}\n  http-request return status 200 content-type text/plain string ${tag}\n`,
  ];
  for (let i = 0; i < n; i++) {
    const a = `127.1.${i >> 8}.${i & 255}`;
    out.push(
      `listen svc-${String(i).padStart(5, '0')}\n  bind 127.0.0.1:${BASE_PORT + i}\n  balance roundrobin\n` +
        `  server e1 ${a}:8080\n  server e2 ${a}:8081 weight 2\n  server e3 ${a}:${10_000 + generation[i]}\n`,
    );
  }
  return out.join('');
}

function probe(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 1_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

async function waitForTag(port: number, tag: string, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`haproxy exited before serving "${tag}"`);
    if ((await probe(port)) === tag) return;
    await sleep(2);
  }
  throw new Error(`haproxy did not serve "${tag}" on :${port} within ${timeoutMs} ms`);
}

/** True once `pid` has a handler installed for signal number `signo` (/proc/<pid>/status SigCgt). */
function catchesSignal(pid: number, signo: number): boolean {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('SigCgt:'));
    return line !== undefined && ((BigInt(`0x${line.slice(7).trim()}`) >> BigInt(signo - 1)) & 1n) === 1n;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function benchHaproxy(n: number, dir: string): Promise<{ version: string }> {
  const version = spawnSync(HAPROXY, ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0];
  const probePort = await freePort(21_000, 21_999);
  const cfg = join(dir, 'haproxy.cfg');
  const generation = new Array<number>(n).fill(0);
  const render = (tag: string) => renderHaproxy(n, generation, probePort, tag, join(dir, 'haproxy-stats.sock'));
  writeFileSync(cfg, render('gen-0'));

  const checks: number[] = [];
  for (let rep = 0; rep < 6; rep++) {
    const start = performance.now();
    const r = spawnSync(HAPROXY, ['-c', '-q', '-f', cfg], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`haproxy -c failed: ${r.stderr}`);
    if (rep > 0) checks.push(performance.now() - start);
  }
  rows.push({ what: 'haproxy -c', format: '-', config: `${n} listen`, change: '-', stats: stats(checks), n: checks.length });

  // Master-worker with fd passing ("seamless"): USR2 to the master, until the new worker serves.
  const master: ChildProcess = spawn(HAPROXY, ['-W', '-S', join(dir, 'master.sock'), '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let masterErr = '';
  master.stderr!.on('data', (c: Buffer) => (masterErr += c.toString()));
  try {
    await waitForTag(probePort, 'gen-0', 30_000, () => master.exitCode === null).catch((err: Error) => {
      throw new Error(`${err.message}\n${masterErr}`);
    });
    const reloads: number[] = [];
    for (let rep = 1; rep <= HAPROXY_RELOADS; rep++) {
      // The master re-executes itself on each reload; a USR2 that arrives before it has installed
      // its handler again is lost. Wait for the handler (not counted in the reload time).
      const deadline = Date.now() + 30_000;
      while (!catchesSignal(master.pid!, 12) && Date.now() < deadline) await sleep(5);
      await sleep(50);
      generation[rep % n]++;
      writeFileSync(cfg, render(`gen-${rep}`));
      const start = performance.now();
      master.kill('SIGUSR2');
      await waitForTag(probePort, `gen-${rep}`, 30_000, () => master.exitCode === null).catch((err: Error) => {
        throw new Error(`${err.message}\n${masterErr}`);
      });
      reloads.push(performance.now() - start);
    }
    rows.push({ what: 'haproxy reload (-W, USR2) until new worker serves', format: '-', config: `${n} listen`, change: '1 endpoint', stats: stats(reloads), n: reloads.length });
  } finally {
    master.kill('SIGTERM');
    await new Promise((r) => (master.exitCode !== null ? r(null) : master.once('exit', r)));
  }

  // Classic: a new process binds every port again and tells the old one to finish (-sf).
  const pidFile = join(dir, 'haproxy.pid');
  const pids = new Set<number>();
  const readPid = () => Number(readFileSync(pidFile, 'utf8').trim().split('\n')[0]);
  try {
    writeFileSync(cfg, render('sf-0'));
    const first = spawnSync(HAPROXY, ['-D', '-p', pidFile, '-f', cfg], { encoding: 'utf8' });
    if (first.status !== 0) throw new Error(`haproxy -D failed: ${first.stderr}`);
    pids.add(readPid());
    await waitForTag(probePort, 'sf-0', 30_000);
    const restarts: number[] = [];
    for (let rep = 1; rep <= Math.min(HAPROXY_RELOADS, 5); rep++) {
      generation[rep % n]++;
      writeFileSync(cfg, render(`sf-${rep}`));
      const start = performance.now();
      const r = spawnSync(HAPROXY, ['-D', '-p', pidFile, '-f', cfg, '-sf', String(readPid())], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`haproxy -sf failed: ${r.stderr}`);
      pids.add(readPid());
      await waitForTag(probePort, `sf-${rep}`, 30_000);
      restarts.push(performance.now() - start);
    }
    rows.push({ what: 'haproxy -sf restart until new process serves', format: '-', config: `${n} listen`, change: '1 endpoint', stats: stats(restarts), n: restarts.length });
  } finally {
    for (const pid of pids) if (pidAlive(pid)) process.kill(pid, 'SIGTERM');
  }
  return { version };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hitless-bench-apply-'));
  try {
    console.log(`bench:apply — hitless ${VERSION}, node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${REPS} runs per row after ${WARMUP} warm-up`);
    const small = await benchHitless(100, dir);
    const large = await benchHitless(1000, dir);
    console.log(`hitless start (bind every listener): 100 services ${fmt(small.startMs)} ms, 1000 services ${fmt(large.startMs)} ms`);
    let haproxyVersion: string | null = null;
    if (existsSync(HAPROXY)) haproxyVersion = (await benchHaproxy(1000, dir)).version;
    else console.log(`${HAPROXY} not found: HAProxy rows skipped`);

    printTable('apply cost (ms)', rows);

    const row = (what: string, format: Format, config: string, change: string) =>
      rows.find((r) => r.what === what && r.format === format && r.config === config && r.change === change)!;
    console.log('\nscaling (median)');
    for (const format of FORMATS) {
      for (const what of ['hitless parse + validate', 'hitless plan (diff)', 'hitless driver apply', 'hitless total (parse + apply)']) {
        const s100 = row(what, format, '100 svc', '1 endpoint').stats.median;
        const s1000 = row(what, format, '1000 svc', '1 endpoint').stats.median;
        const c10 = row(what, format, '1000 svc', '1 endpoint x 10 svc').stats.median;
        const c100 = row(what, format, '1000 svc', '1 endpoint x 100 svc').stats.median;
        console.log(
          `  ${format} ${what.padEnd(30)} config 100 -> 1000 svc: x${(s1000 / s100).toFixed(1)}   change 1 -> 10 -> 100 svc (in 1000): x${(c10 / s1000).toFixed(1)}, x${(c100 / s1000).toFixed(1)}`,
        );
      }
    }
    console.log('\ngoal "median under 5 ms for one endpoint change in 1,000 services" (full text, parse + validate + plan + apply):');
    for (const format of FORMATS) {
      const total = row('hitless total (parse + apply)', format, '1000 svc', '1 endpoint').stats.median;
      const small = row('hitless total (parse + apply)', format, '100 svc', '1 endpoint').stats.median;
      const put = row('hitless PUT /config round trip', format, '1000 svc', '1 endpoint').stats.median;
      console.log(
        `  ${format}: ${fmt(total)} ms (${total < 5 ? 'met' : 'NOT met'}); 100 services ${fmt(small)} ms; PUT /config round trip over the admin socket ${fmt(put)} ms`,
      );
    }
    const apply1 = row('hitless controller apply (plan+driver)', 'YAML', '1000 svc', '1 endpoint');
    console.log(`  apply without parsing (plan + driver): ${fmt(apply1.stats.median)} ms`);
    const total1 = row('hitless total (parse + apply)', 'YAML', '1000 svc', '1 endpoint');
    const check = rows.find((r) => r.what === 'haproxy -c');
    const usr2 = rows.find((r) => r.what.startsWith('haproxy reload'));
    const sf = rows.find((r) => r.what.startsWith('haproxy -sf'));
    if (check && usr2 && sf) {
      const haproxyTotal = check.stats.median + usr2.stats.median;
      console.log(`${haproxyVersion}`);
      console.log(
        `ratio (median): haproxy -c + USR2 reload ${fmt(haproxyTotal)} ms / hitless total (YAML) ${fmt(total1.stats.median)} ms = ${(haproxyTotal / total1.stats.median).toFixed(1)}x; ` +
          `haproxy -c + -sf restart ${fmt(check.stats.median + sf.stats.median)} ms = ${((check.stats.median + sf.stats.median) / total1.stats.median).toFixed(1)}x`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
