// npm run bench:tcp — requests per proxy-CPU-second through hitless (tcp mode, one process) and
// through HAProxy (mode tcp, nbthread 1) and a bare Node pipe proxy (Node's own floor), in the
// same run, for a new connection per request and for keep-alive traffic. The backend is nginx (`return 200`, one worker) so that backend CPU is
// not Node's; the load generator is wrk (or, without it, a Node client in its own process). The
// proxy's CPU time is utime+stime from /proc/<pid>/stat before and after each run. Loopback only.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../src/version.js';
import { freePort } from './lib/free-port.js';
import { cpuSeconds } from './lib/proc.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
const NGINX = '/usr/sbin/nginx';
const HAPROXY = '/usr/sbin/haproxy';
const DURATION_S = Number(process.env.BENCH_TCP_SECONDS ?? 6);
const WARMUP_S = 1;
/** Each proxy is measured in every round, in alternating order, so drift on a shared machine hits both alike. */
const ROUNDS = 2;
const CONNECTIONS = Number(process.env.BENCH_TCP_CONNECTIONS ?? 50);

type Kind = 'keep-alive' | 'new connection per request';
const KINDS: readonly Kind[] = ['keep-alive', 'new connection per request'];

interface Proxy {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly errors: number;
  readonly non2xx: number;
}

const children: ChildProcess[] = [];


async function waitListening(port: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${what} is not listening on ${port} after 15 s`);
}

/**
 * As bench:http does: the proxy gets the last CPU to itself, the backend and wrk share the others,
 * so proxies are compared on equal terms and not against the load generator for one CPU.
 * BENCH_TCP_PIN=0 turns it off.
 */
const PIN = process.env.BENCH_TCP_PIN !== '0' && cpus().length >= 2 && existsSync('/usr/bin/taskset');
const PROXY_CPU = String(cpus().length - 1);
const LOAD_CPUS = `0-${Math.max(0, cpus().length - 2)}`;

function pinned(cpu: string, command: string, args: readonly string[]): [string, readonly string[]] {
  return PIN ? ['/usr/bin/taskset', ['-c', cpu, command, ...args]] : [command, args];
}

function start(command: string, args: readonly string[], what: string, cpu = PROXY_CPU): ChildProcess {
  const [cmd, argv] = pinned(cpu, command, args);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
    if (err.length > 20_000) err = err.slice(-10_000);
  });
  child.once('exit', (code, signal) => {
    if (code !== 0 && code !== null && signal === null) process.stderr.write(`${what} exited with code ${code}: ${err.slice(-2000)}\n`);
  });
  children.push(child);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function startNginx(dir: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort(22_000, 22_999);
  const prefix = join(dir, 'nginx');
  spawnSync('mkdir', ['-p', join(prefix, 'logs')]);
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
master_process off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { return 200 "ok\\n"; }
  }
}
`,
  );
  const child = start(NGINX, ['-p', prefix, '-c', conf, '-e', join(prefix, 'logs/error.log')], 'nginx', LOAD_CPUS);
  await waitListening(port, child, 'nginx');
  return { port, child };
}

async function startHitless(dir: string, backendPort: number): Promise<Proxy> {
  const port = await freePort(22_000, 22_999);
  const cfg = join(dir, 'hitless.yaml');
  writeFileSync(
    cfg,
    `admin:\n  listen: unix:${join(dir, 'hitless-admin.sock')}\nservices:\n  bench:\n    mode: tcp\n    listen: 127.0.0.1:${port}\n    endpoints: [127.0.0.1:${backendPort}]\n    timeouts: { connect: 2s, idle: 1m }\n`,
  );
  // One process (--workers 0), as HAProxy runs one thread here: the CPU read from this pid is all of it.
  const child = start(process.execPath, [CLI, 'run', '--config', cfg, '--workers', '0', '--log-level', 'warn', '--drain', '0'], 'hitless');
  await waitListening(port, child, 'hitless');
  return { name: 'hitless', port, pid: child.pid!, stop: () => stopChild(child) };
}

/**
 * The floor of a Node proxy: accept, connect, pipe, nothing else (no balancing, retries, timeouts,
 * counters). What this costs per connection is what Node itself costs, whatever a proxy adds.
 */
const NODE_PIPE = `
const net = require('node:net');
const [port, backend] = process.argv.slice(1).map(Number);
net.createServer({ noDelay: true }, (c) => {
  const u = net.connect({ host: '127.0.0.1', port: backend, noDelay: true });
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
  c.pipe(u);
  u.pipe(c);
}).listen(port, '127.0.0.1');
`;

async function startNodePipe(backendPort: number): Promise<Proxy> {
  const port = await freePort(22_000, 22_999);
  const child = start(process.execPath, ['-e', NODE_PIPE, String(port), String(backendPort)], 'node-pipe');
  await waitListening(port, child, 'node-pipe');
  return { name: 'node-pipe', port, pid: child.pid!, stop: () => stopChild(child) };
}

async function startHaproxy(dir: string, backendPort: number): Promise<Proxy> {
  const port = await freePort(22_000, 22_999);
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    `global\n  nbthread 1\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 1m\n  timeout server 1m\n` +
      `listen bench\n  bind 127.0.0.1:${port}\n  server nginx 127.0.0.1:${backendPort}\n`,
  );
  const child = start(HAPROXY, ['-db', '-f', cfg], 'haproxy');
  await waitListening(port, child, 'haproxy');
  return { name: 'HAProxy', port, pid: child.pid!, stop: () => stopChild(child) };
}

// ---------------------------------------------------------------------------------------------
// Load generation: wrk when installed, otherwise a small Node client in a separate process.

const WRK = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((p) => existsSync(p)) ?? null;

function parseWrk(out: string): LoadResult {
  const requests = Number(/(\d+) requests in /.exec(out)?.[1] ?? NaN);
  const m = /requests in ([\d.]+)(ms|s|m)/.exec(out);
  const seconds = m ? Number(m[1]) * (m[2] === 'ms' ? 0.001 : m[2] === 'm' ? 60 : 1) : NaN;
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = se ? Number(se[1]) + Number(se[2]) + Number(se[3]) + Number(se[4]) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  if (!Number.isFinite(requests) || !Number.isFinite(seconds)) throw new Error(`cannot read wrk output:\n${out}`);
  return { requests, seconds, errors, non2xx };
}

// The fallback client: CONNECTIONS raw sockets sending GET and counting "HTTP/1.1 200" answers.
const NODE_LOADGEN = `
const net = require('net');
const [port, conns, seconds, close] = process.argv.slice(1).map(Number);
const req = 'GET / HTTP/1.1\\r\\nHost: bench\\r\\n' + (close ? 'Connection: close\\r\\n' : '') + '\\r\\n';
let requests = 0, errors = 0, running = true;
const start = Date.now();
function client() {
  if (!running) return;
  const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
  let buf = '';
  s.on('connect', () => s.write(req));
  s.on('data', (d) => {
    buf += d.toString('latin1');
    let i;
    while ((i = buf.indexOf('ok\\n')) !== -1) {
      buf = buf.slice(i + 3);
      requests++;
      if (!close && running) s.write(req);
    }
  });
  s.on('error', () => errors++);
  s.on('close', () => { if (close || running) setImmediate(client); });
}
for (let i = 0; i < conns; i++) client();
setTimeout(() => {
  running = false;
  process.stdout.write(JSON.stringify({ requests, seconds: (Date.now() - start) / 1000, errors, non2xx: 0 }));
  process.exit(0);
}, seconds * 1000);
`;

function runLoad(port: number, kind: Kind, seconds: number): Promise<LoadResult> {
  const close = kind === 'new connection per request';
  return new Promise((resolve, reject) => {
    const args = WRK
      ? ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, ...(close ? ['-H', 'Connection: close'] : []), `http://127.0.0.1:${port}/`]
      : ['-e', NODE_LOADGEN, String(port), String(CONNECTIONS), String(seconds), close ? '1' : '0'];
    const [cmd, argv] = pinned(LOAD_CPUS, WRK ?? process.execPath, args);
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}: ${out}`));
      try {
        resolve(WRK ? parseWrk(out) : (JSON.parse(out) as LoadResult));
      } catch (err) {
        reject(err);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------

interface Measurement {
  readonly proxy: string;
  readonly kind: Kind;
  readonly load: LoadResult;
  readonly cpu: number;
}

async function measure(proxy: Proxy, kind: Kind): Promise<Measurement> {
  await runLoad(proxy.port, kind, WARMUP_S);
  await sleep(300);
  const before = cpuSeconds(proxy.pid);
  const load = await runLoad(proxy.port, kind, DURATION_S);
  const cpu = cpuSeconds(proxy.pid) - before;
  return { proxy: proxy.name, kind, load, cpu };
}

function printTable(rows: readonly string[][], header: readonly string[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
  const dir = mkdtempSync(join(tmpdir(), 'hitless-bench-tcp-'));
  const proxies: Proxy[] = [];
  let nginx: ChildProcess | undefined;
  try {
    const haproxyVersion = existsSync(HAPROXY) ? spawnSync(HAPROXY, ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] : 'not installed';
    const nginxVersion = existsSync(NGINX) ? spawnSync(NGINX, ['-v'], { encoding: 'utf8' }).stderr.trim() : 'not installed';
    const loadgen = WRK ? spawnSync(WRK, ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0].split(' Copyright')[0] : `node ${process.version} raw-socket client (wrk not installed)`;
    console.log(`bench:tcp — hitless ${VERSION} on node ${process.version}; ${haproxyVersion}`);
    console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, linux ${release()}; backend ${nginxVersion} (1 worker, return 200)`);
    console.log(`load: ${loadgen}, 1 thread, ${CONNECTIONS} connections, ${ROUNDS} runs of ${DURATION_S} s per proxy and traffic kind (alternating order, each after ${WARMUP_S} s warm-up); proxy CPU from /proc/<pid>/stat (utime+stime)`);
    console.log(PIN ? `pinning: proxy on CPU ${PROXY_CPU}; nginx and the load generator on CPU ${LOAD_CPUS}` : 'pinning: none');
    if (!existsSync(NGINX)) throw new Error(`${NGINX} not found: the backend of this benchmark is nginx (apt-get install nginx-light)`);

    const backend = await startNginx(dir);
    nginx = backend.child;
    const direct: Record<string, number> = {};
    for (const kind of KINDS) {
      const r = await runLoad(backend.port, kind, 3);
      direct[kind] = r.requests / r.seconds;
    }
    console.log(`nginx direct (no proxy, 3 s): ${KINDS.map((k) => `${k} ${direct[k].toFixed(0)} req/s`).join(', ')}`);

    proxies.push(await startHitless(dir, backend.port));
    if (existsSync(HAPROXY)) proxies.push(await startHaproxy(dir, backend.port));
    else console.log(`${HAPROXY} not found: HAProxy runs skipped`);
    proxies.push(await startNodePipe(backend.port));

    const results: Measurement[] = [];
    for (const kind of KINDS) {
      const rounds: Measurement[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        for (const proxy of round % 2 === 0 ? proxies : [...proxies].reverse()) rounds.push(await measure(proxy, kind));
      }
      for (const proxy of proxies) {
        const mine = rounds.filter((m) => m.proxy === proxy.name);
        const sum = (f: (m: Measurement) => number) => mine.reduce((n, m) => n + f(m), 0);
        results.push({
          proxy: proxy.name,
          kind,
          cpu: sum((m) => m.cpu),
          load: { requests: sum((m) => m.load.requests), seconds: sum((m) => m.load.seconds), errors: sum((m) => m.load.errors), non2xx: sum((m) => m.load.non2xx) },
        });
      }
    }

    console.log('');
    printTable(
      results.map((m) => [
        m.proxy,
        m.kind,
        (m.load.requests / m.load.seconds).toFixed(0),
        m.cpu.toFixed(2),
        m.cpu > 0 ? (m.load.requests / m.cpu).toFixed(0) : '-',
        String(m.load.errors + m.load.non2xx),
      ]),
      ['proxy', 'traffic', 'req/s', 'proxy CPU s (all runs)', 'req per CPU-s', 'errors'],
    );
    console.log('');
    for (const kind of KINDS) {
      const h = results.find((m) => m.proxy === 'hitless' && m.kind === kind);
      const x = results.find((m) => m.proxy === 'HAProxy' && m.kind === kind);
      const floor = results.find((m) => m.proxy === 'node-pipe' && m.kind === kind);
      if (!h || !x) continue;
      const perCpu = (m: Measurement) => m.load.requests / m.cpu;
      console.log(
        `${kind}: hitless/HAProxy = ${(perCpu(h) / perCpu(x)).toFixed(2)}x requests per proxy-CPU-second ` +
          `(${(h.load.requests / h.load.seconds / (x.load.requests / x.load.seconds)).toFixed(2)}x req/s); goal >= 0.9x` +
          (floor ? `; the bare Node pipe reaches ${(perCpu(floor) / perCpu(x)).toFixed(2)}x, hitless is ${(perCpu(h) / perCpu(floor)).toFixed(2)}x of it` : ''),
      );
    }
  } finally {
    for (const p of proxies) await p.stop();
    if (nginx) await stopChild(nginx);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
