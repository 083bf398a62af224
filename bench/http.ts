// npm run bench:http — requests per proxy-CPU-second and p99 latency of hitless (http mode,
// keep-alive both sides) against HAProxy (mode http, 1 thread, http-reuse), nginx (1 worker,
// upstream keepalive) and three Node proxies (a naive node:http one, http-proxy-3, fastify with
// @fastify/reply-from), all in one run, behind the same nginx backend.
// Load: wrk, fixed connections and duration. Proxy CPU: utime+stime from /proc of the process tree.
//
//   --duration 10  --connections 50  --only hitless,haproxy  --profile (adds a --cpu-prof run of
//   hitless and prints where its CPU goes)  --no-pin (do not pin the proxy to its own CPU)
//   --compare NAME=/path/to/dist/cli/main.js (repeatable: another hitless build, same run)
//   --rounds 3: every proxy is measured this many times, interleaved (a, b, c, a, b, c, ...), and
//   the table shows the median round: the machines are shared and noisy.
//   --ports 24000-24999: the range the backend and the proxies listen in (several benches at once
//   on one machine each take their own).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { summariseProfile } from './lib/cpu-profile.js';
import { freePort } from './lib/free-port.js';
import { args, CLI, HAPROXY, option, PinnedProcesses, ROOT, pinning, stop, version, waitListening, wrk as wrkOn, type WrkResult } from './lib/pinned-peers.js';
import { NGINX, nginxCommon, nginxTemps, startNginxBackend } from './lib/nginx-conf.js';
import { treeCpuSeconds } from './lib/proc.js';

const DURATION = Number(option('duration', '10'));
const CONNECTIONS = Number(option('connections', '50'));
const ONLY = option('only', 'hitless,haproxy,nginx,naive-node,http-proxy-3,fastify-reply-from').split(',');
const PROFILE = args.includes('--profile');
const ROUNDS = Number(option('rounds', '3'));
const COMPARE = args.flatMap((a, i) => (args[i - 1] === '--compare' ? [a] : []));
const [PORT_LOW, PORT_HIGH] = option('ports', '24000-24999').split('-').map(Number);
if (!(PORT_LOW > 0 && PORT_HIGH >= PORT_LOW && PORT_HIGH < 65536)) throw new Error(`--ports: expected LOW-HIGH (e.g. 24000-24999), found "${option('ports', '')}"`);
/** Proxy on the last CPU; wrk and the backend share the others (less interference, same for all). */
const PIN = pinning(!args.includes('--no-pin'));
const PROXY_CPU = PIN.proxyCpu;
const LOAD_CPUS = PIN.loadCpus;

const dir = mkdtempSync(join(tmpdir(), 'hitless-bench-http-'));
const procs = new PinnedProcesses(PIN, ROOT);
const start = (name: string, cmd: string, argv: string[], cpu: string): ChildProcess => procs.start(name, cmd, argv, cpu);

// ---- wrk ----

const wrk = (port: number, seconds: number): Promise<WrkResult> => wrkOn(procs, `http://127.0.0.1:${port}/`, CONNECTIONS, seconds);

// ---- the backend and the proxies ----

interface Proxy {
  readonly name: string;
  start(port: number, backend: number, extraNodeArgs?: string[]): Promise<ChildProcess>;
}

const hitless = hitlessProxy('hitless', CLI);

/** hitless from a given build (`--compare before=/path/dist/cli/main.js` adds a row for it). */
function hitlessProxy(name: string, cli: string): Proxy {
  return {
    name,
    async start(port, backend, extraNodeArgs = []) {
      const config = `admin: { listen: "unix:${dir}/admin-${port}.sock" }
services:
  bench:
    mode: http
    listen: 127.0.0.1:${port}
    endpoints: [127.0.0.1:${backend}]
`;
      writeFileSync(join(dir, `hitless-${port}.yaml`), config);
      // One process (--workers 0), as HAProxy runs one thread and nginx one worker here.
      const argv = [...extraNodeArgs, cli, 'run', '--config', join(dir, `hitless-${port}.yaml`), '--workers', '0', '--drain', '100ms', '--log-level', 'warn'];
      const child = start(name, process.execPath, argv, PROXY_CPU);
      await waitListening(port, name);
      return child;
    },
  };
}

const haproxy: Proxy = {
  name: 'haproxy',
  async start(port, backend) {
    const conf = `global
  nbthread 1
  maxconn 4000
defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse always
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server s1 127.0.0.1:${backend}
`;
    writeFileSync(join(dir, 'haproxy.cfg'), conf);
    const child = start('haproxy', HAPROXY, ['-db', '-f', join(dir, 'haproxy.cfg')], PROXY_CPU);
    await waitListening(port, 'haproxy');
    return child;
  },
};

const nginx: Proxy = {
  name: 'nginx',
  async start(port, backend) {
    const conf = `${nginxCommon(dir, 'proxy')}
worker_processes 1;
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  ${nginxTemps(dir, 'proxy')}
  upstream be { server 127.0.0.1:${backend}; keepalive 128; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering on;
    }
  }
}`;
    writeFileSync(join(dir, 'proxy.conf'), conf);
    const child = start('nginx', NGINX, ['-p', dir, '-c', join(dir, 'proxy.conf'), '-e', join(dir, 'proxy-error.log')], PROXY_CPU);
    await waitListening(port, 'nginx');
    return child;
  },
};

/** Node proxies, each a small script in bench/peers/ (the libraries are devDependencies). */
function nodePeer(name: string, script: string): Proxy {
  return {
    name,
    async start(port, backend) {
      const child = start(name, process.execPath, [join(ROOT, 'bench/peers', script), String(port), String(backend)], PROXY_CPU);
      await waitListening(port, name);
      return child;
    },
  };
}

const NODE_PEERS = [nodePeer('naive-node', 'naive-node.mjs'), nodePeer('http-proxy-3', 'http-proxy-3.mjs'), nodePeer('fastify-reply-from', 'fastify-reply-from.mjs')];

// ---- measurement ----

interface Row {
  readonly name: string;
  readonly rps: number;
  readonly cpu: number;
  readonly perCpu: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: string;
}

async function measure(proxy: Proxy, backend: number): Promise<Row> {
  const port = await freePort(PORT_LOW, PORT_HIGH);
  const child = await proxy.start(port, backend);
  try {
    await wrk(port, 2); // warm-up: JIT, pools on both sides
    const cpu0 = await treeCpuSeconds(child.pid!);
    const r = await wrk(port, DURATION);
    const cpu = (await treeCpuSeconds(child.pid!)) - cpu0;
    return { name: proxy.name, rps: r.rps, cpu, perCpu: r.requests / cpu, p50: r.p50, p99: r.p99, errors: r.errors };
  } finally {
    await stop(child);
  }
}

function table(rows: Row[]): string {
  const base = rows.find((r) => r.name === 'haproxy')?.perCpu;
  const head = ['proxy', 'req/s', 'proxy CPU s', 'req per CPU-s', 'p50 ms', 'p99 ms', 'vs HAProxy', 'errors'];
  const body = rows.map((r) => [
    r.name,
    r.rps.toFixed(0),
    r.cpu.toFixed(2),
    r.perCpu.toFixed(0),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    base ? `${(r.perCpu / base).toFixed(2)}x` : '-',
    r.errors || '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

// ---- profile ----

async function profileHitless(backend: number): Promise<void> {
  const profDir = join(dir, 'prof');
  const port = await freePort(PORT_LOW, PORT_HIGH);
  const child = await hitless.start(port, backend, ['--cpu-prof', '--cpu-prof-dir', profDir]);
  await wrk(port, 2);
  const r = await wrk(port, DURATION);
  await stop(child, 'SIGTERM'); // the profile is written as the process exits
  const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) {
    console.log('no profile was written');
    return;
  }
  console.log(`\n## hitless CPU profile under load (${r.rps.toFixed(0)} req/s while profiling)\n${summariseProfile(join(profDir, files[0]), ROOT)}`);
}

async function main(): Promise<void> {
  const backendPort = await freePort(PORT_LOW, PORT_HIGH);
  const backend = await startNginxBackend(procs, dir, backendPort);
  console.log(`# bench:http — ${new Date().toISOString()}`);
  console.log(`machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}, Linux ${release()}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  console.log(`versions: node ${process.version}, ${version(HAPROXY, ['-v'])}, ${version(NGINX, ['-v'])}, ${version('wrk', ['-v'])}`);
  console.log(`load: wrk -t1 -c${CONNECTIONS} -d${DURATION}s (after a 2 s warm-up), GET / → nginx backend returning a fixed 200; ${ROUNDS} interleaved rounds, median shown`);
  console.log(PIN.enabled ? `pinning: proxy on CPU ${PROXY_CPU}; wrk and backend on CPU ${LOAD_CPUS}` : 'pinning: none');
  const compared = COMPARE.map((spec) => hitlessProxy(`hitless(${spec.split('=')[0]})`, spec.split('=')[1]));
  const proxies = [...[haproxy, nginx, ...NODE_PEERS, hitless].filter((p) => ONLY.includes(p.name)), ...compared];
  const rounds = new Map<string, Row[]>(proxies.map((p) => [p.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const proxy of proxies) {
      const row = await measure(proxy, backendPort);
      rounds.get(proxy.name)!.push(row);
      process.stderr.write(`round ${round}/${ROUNDS} ${proxy.name}: ${row.rps.toFixed(0)} req/s, ${row.perCpu.toFixed(0)} req per CPU-s\n`);
    }
  }
  // The median round by requests per CPU-second, with that round's other figures.
  const rows = proxies.map((p) => {
    const all = [...rounds.get(p.name)!].sort((a, b) => a.perCpu - b.perCpu);
    return all[Math.floor(all.length / 2)];
  });
  const spread = proxies.map((p) => `${p.name} ${rounds.get(p.name)!.map((r) => r.perCpu.toFixed(0)).join('/')}`).join('; ');
  console.log(`\n${table(rows)}\n`);
  console.log(`req per CPU-s in each round: ${spread}`);
  const h = rows.find((r) => r.name === 'hitless');
  const ha = rows.find((r) => r.name === 'haproxy');
  if (h && ha) console.log(`hitless / HAProxy requests per CPU-second: ${(h.perCpu / ha.perCpu).toFixed(2)}x (goal ≥ 0.6x)`);
  for (const peer of NODE_PEERS) {
    const n = rows.find((r) => r.name === peer.name);
    if (h && n) console.log(`hitless / ${peer.name} requests per CPU-second: ${(h.perCpu / n.perCpu).toFixed(2)}x (goal > 1x)`);
  }
  if (PROFILE) await profileHitless(backendPort);
  await stop(backend, 'SIGQUIT');
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    // SIGTERM first (stop() escalates after 10 s): a SIGKILLed nginx master orphans its worker.
    await procs.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });
