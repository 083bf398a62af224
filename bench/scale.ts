// npm run bench:scale — how hitless scales with worker processes, and what an upgrade storm costs.
//  1. Requests per second through `hitless run --workers N` (http mode, keep-alive) for N = 1, 2
//     (and the core count when larger), with wrk (or a Node client in its own process), against
//     an nginx backend (`return 200`) so that backend CPU is not Node's. Prints the scaling ratio.
//  2. An upgrade storm: 36 upgrades in a row while long-lived TCP connections keep arriving, for
//     hitless (POST /upgrade, at most one draining generation) and for HAProxy master-worker
//     (`haproxy -W -S sock`, USR2 per reload). Prints processes and total RSS after the storm.
// Loopback only; every process started here is stopped by pid at the end.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from './lib/free-port.js';
import { treeRss } from './lib/proc.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
const NGINX = '/usr/sbin/nginx';
const HAPROXY = '/usr/sbin/haproxy';
const SECONDS = Number(process.env.BENCH_SCALE_SECONDS ?? 5);
const RELOADS = Number(process.env.BENCH_SCALE_RELOADS ?? 36);
const children = new Set<ChildProcess>();
const dir = mkdtempSync(join(tmpdir(), 'hitless-scale-'));

function start(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.resume();
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${port}`);
}

async function startNginx(): Promise<number> {
  const port = await freePort(23_000, 23_999);
  const prefix = join(dir, 'nginx');
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  writeFileSync(join(prefix, 'nginx.conf'), `worker_processes 1; daemon off; master_process off; pid ${prefix}/nginx.pid; error_log ${prefix}/logs/error.log warn;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000; client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  server { listen 127.0.0.1:${port} backlog=4096; location / { return 200 "ok\\n"; } } }
`);
  start(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'logs/error.log')]);
  await waitPort(port);
  return port;
}

interface Hitless {
  readonly port: number;
  readonly tcpPort: number;
  readonly pid: number;
  readonly socket: string;
}

async function startHitless(workers: number, backend: number, echo: number): Promise<Hitless> {
  const port = await freePort(23_000, 23_999);
  const tcpPort = await freePort(port + 1, 23_999);
  const socket = join(dir, `admin-${port}.sock`);
  const config = join(dir, `hitless-${port}.yaml`);
  writeFileSync(config, `admin: { listen: "unix:${socket}" }
services:
  web: { mode: http, listen: 127.0.0.1:${port}, endpoints: [127.0.0.1:${backend}] }
  echo: { mode: tcp, listen: 127.0.0.1:${tcpPort}, endpoints: [127.0.0.1:${echo}], timeouts: { idle: 10m } }
`);
  const child = start(process.execPath, [CLI, 'run', '--config', config, '--workers', String(workers), '--log-level', 'warn', '--upgrade-drain', '10m']);
  await waitPort(port);
  return { port, tcpPort, pid: child.pid!, socket };
}

/** Requests per second for SECONDS of keep-alive load: wrk when installed, else a Node client process. */
function measure(port: number): number {
  const url = `http://127.0.0.1:${port}/`;
  if (spawnSync('which', ['wrk']).status === 0) {
    const out = spawnSync('wrk', ['-t2', '-c64', `-d${SECONDS}s`, url], { encoding: 'utf8' }).stdout;
    return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  }
  const script = `const http=require('http');const a=new http.Agent({keepAlive:true,maxSockets:64});let n=0;const end=Date.now()+${SECONDS * 1000};
function go(){if(Date.now()>end)return;http.get({host:'127.0.0.1',port:${port},agent:a},r=>{r.resume();r.on('end',()=>{n++;go()})}).on('error',go)}
for(let i=0;i<64;i++)go();setTimeout(()=>{console.log(n/${SECONDS});process.exit(0)},${SECONDS * 1000 + 200});`;
  return Number(spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' }).stdout.trim());
}

function upgradeHitless(socket: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method: 'POST', path: '/upgrade' }, (res) => (res.resume(), resolve(res.statusCode ?? 0)));
    req.on('error', reject);
    req.end();
  });
}

/** Runs `reload` RELOADS times while a new long-lived TCP connection (pinging) arrives every 50 ms. */
async function storm(tcpPort: number, reload: () => Promise<void>): Promise<{ opened: number; cut: number }> {
  const sockets = new Set<Socket>();
  let opened = 0;
  let cut = 0;
  let running = true;
  const opener = (async () => {
    while (running) {
      const s = connect({ host: '127.0.0.1', port: tcpPort });
      s.on('connect', () => opened++);
      s.on('error', () => {});
      s.on('close', () => running && (cut++, sockets.delete(s)));
      const ping = setInterval(() => s.writable && s.write('ping'), 200);
      s.on('close', () => clearInterval(ping));
      s.on('data', () => {});
      sockets.add(s);
      await sleep(50);
    }
  })();
  for (let i = 0; i < RELOADS; i++) await reload();
  await sleep(1000);
  running = false;
  await opener;
  const result = { opened, cut };
  (storm as { last?: Set<Socket> }).last = sockets;
  return result;
}

function closeAll(): void {
  for (const s of (storm as { last?: Set<Socket> }).last ?? []) s.destroy();
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: npm run build`);
  console.log(`machine: ${availableParallelism()} x ${cpus()[0]?.model ?? '?'}; load: ${spawnSync('which', ['wrk']).status === 0 ? 'wrk -t2 -c64' : 'node client (64 keep-alive)'}, ${SECONDS}s per point; backend nginx (1 worker)`);
  const backend = await startNginx();
  const echo = createServer((s) => (s.on('error', () => {}), s.pipe(s)));
  await new Promise<void>((r) => echo.listen({ host: '127.0.0.1', port: 0 }, r));
  const echoPort = (echo.address() as { port: number }).port;

  console.log('\n1. throughput by worker count (http, keep-alive)');
  const counts = [...new Set([1, 2, availableParallelism()])].filter((n) => n <= Math.max(2, availableParallelism()));
  const rps = new Map<number, number>();
  for (const n of counts) {
    const h = await startHitless(n, backend, echoPort);
    measure(h.port); // warm-up: JIT, pools
    rps.set(n, measure(h.port));
    process.kill(h.pid, 'SIGTERM');
    await sleep(800);
    console.log(`  --workers ${n}: ${rps.get(n)!.toFixed(0)} req/s`);
  }
  for (const n of counts.slice(1)) console.log(`  scaling ${n} workers / 1 worker: ${(rps.get(n)! / rps.get(1)!).toFixed(2)}x`);
  if (availableParallelism() <= 2) console.log('  (2 cores run wrk, nginx and the proxy together: the ratio is bounded well below 2x here)');

  console.log(`\n2. upgrade storm: ${RELOADS} reloads in a row, a long-lived TCP connection arriving every 50 ms`);
  const h = await startHitless(2, backend, echoPort);
  const hb = await treeRss(h.pid);
  const hs = await storm(h.tcpPort, async () => {
    if ((await upgradeHitless(h.socket)) !== 200) throw new Error('hitless upgrade failed');
  });
  const ht = await treeRss(h.pid);
  console.log(`  hitless --workers 2 (POST /upgrade): ${ht.processes} processes, ${ht.rssMb} MB RSS after the storm (before: ${hb.processes}, ${hb.rssMb} MB); ${hs.opened} connections opened, ${hs.cut} closed by shortened drains`);
  closeAll();
  process.kill(h.pid, 'SIGTERM');

  if (existsSync(HAPROXY)) {
    const port = await freePort(23_000, 23_999);
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, `global\n  stats socket ${join(dir, 'haproxy.sock')} mode 600 level admin expose-fd listeners\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10m\n  timeout server 10m\nlisten echo\n  bind 127.0.0.1:${port}\n  server s1 127.0.0.1:${echoPort}\n`);
    const master = start(HAPROXY, ['-W', '-S', join(dir, 'master.sock'), '-f', cfg]);
    await waitPort(port);
    await sleep(300);
    const tb = await treeRss(master.pid!);
    const hp = await storm(port, async () => {
      process.kill(master.pid!, 'SIGUSR2');
      await sleep(250); // a reload is asynchronous: let the new worker start before the next
    });
    const t = await treeRss(master.pid!);
    console.log(`  haproxy -W (USR2):                   ${t.processes} processes, ${t.rssMb} MB RSS after the storm (before: ${tb.processes}, ${tb.rssMb} MB); ${hp.opened} connections opened, ${hp.cut} closed`);
    closeAll();
  } else console.log(`  haproxy: ${HAPROXY} not installed, skipped`);
  echo.close();
}

try {
  await main();
} finally {
  for (const c of children) c.kill('SIGKILL');
  await sleep(300);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
