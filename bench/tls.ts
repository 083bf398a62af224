// npm run bench:tls — TLS termination cost of hitless (builtin data plane, one process:
// `run --workers 0`) against HAProxy (nbthread 1) and nginx (1 worker), in one run, every proxy
// pinned to one CPU (the last) and the load generators and the backend on the others:
//   - full TLS handshakes per proxy-CPU-second, ECDSA P-256 and RSA-2048 certificates
//     (`openssl s_time -new`: a new connection and a full handshake each time, no resumption,
//     several clients at once);
//   - TLS keep-alive requests per proxy-CPU-second (wrk against https://, ECDSA certificate),
//     through to a plain nginx backend.
// Proxy CPU: utime+stime from /proc of the proxy's process tree, before and after each run.
// Certificates are made at bench time in a temp dir and removed with it.
//
// Also node-tls-floor (bench/peers/): node:tls alone, answering 200 itself, no proxying: Node's
// floor, to tell Node's cost from hitless's (not a proxy; no ratio is taken against it).
//
//   --duration 10  --rounds 3 (interleaved, median shown)  --clients 8 (parallel s_time)
//   --connections 50 (wrk)  --only hitless,haproxy,nginx,node-tls-floor  --no-pin
//   --ports 23000-23499 (the range the backend and the proxies listen in)
//   --compare NAME=/path/to/dist/cli/main.js (repeatable: another hitless build, same run)
//   --profile: afterwards, hitless again under each load with --cpu-prof and `perf record`,
//   and where its CPU went.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { summarisePerf, summariseProfile } from './lib/cpu-profile.js';
import { freePort } from './lib/free-port.js';
import { args, CLI, HAPROXY, option, PinnedProcesses, ROOT, pinning, stop, version, waitListening, wrk } from './lib/pinned-peers.js';
import { NGINX, nginxCommon, nginxTemps, startNginxBackend } from './lib/nginx-conf.js';
import { treeCpuSeconds } from './lib/proc.js';
import { makeCert, type BenchCert, type KeyType } from './lib/tls-certs.js';

const DURATION = Number(option('duration', '10'));
const ROUNDS = Number(option('rounds', '3'));
const CLIENTS = Number(option('clients', '8'));
const CONNECTIONS = Number(option('connections', '50'));
const ONLY = option('only', 'haproxy,nginx,hitless,node-tls-floor').split(',');
const PROFILE = args.includes('--profile');
const COMPARE = args.flatMap((a, i) => (args[i - 1] === '--compare' ? [a] : []));
const [PORT_LOW, PORT_HIGH] = option('ports', '23000-23499').split('-').map(Number);
if (!(PORT_LOW > 0 && PORT_HIGH >= PORT_LOW && PORT_HIGH < 65536)) throw new Error(`--ports: expected LOW-HIGH (e.g. 23000-23499), found "${option('ports', '')}"`);
for (const [name, value] of [['duration', DURATION], ['rounds', ROUNDS], ['clients', CLIENTS], ['connections', CONNECTIONS]] as const) {
  if (!(Number.isInteger(value) && value >= 1 && value <= 10_000)) throw new Error(`--${name}: expected a whole number from 1 to 10000, found ${value}`);
}

const dir = mkdtempSync(join(tmpdir(), 'hitless-bench-tls-'));
const procs = new PinnedProcesses(pinning(!args.includes('--no-pin')), ROOT);
const { proxyCpu: PROXY_CPU, loadCpus: LOAD_CPUS } = procs.pin;

// ---- the backend and the proxies ----

interface Proxy {
  readonly name: string;
  start(port: number, backend: number, cert: BenchCert, extra?: { nodeArgs?: string[] }): Promise<ChildProcess>;
}

const hitless = hitlessProxy('hitless', CLI);

/** hitless from a given build (`--compare before=/path/dist/cli/main.js` adds a row for it). */
function hitlessProxy(name: string, cli: string): Proxy {
  return {
    name,
    async start(port, backend, cert, extra = {}) {
      const file = join(dir, `hitless-${port}.yaml`);
      writeFileSync(
        file,
        `admin: { listen: "unix:${dir}/admin-${port}.sock" }
services:
  bench:
    mode: http
    listen: 127.0.0.1:${port}
    endpoints: [127.0.0.1:${backend}]
    tls:
      certificates: [{ cert: "${cert.cert}", key: "${cert.key}" }]
`,
      );
      // One process (--workers 0), as HAProxy runs one thread and nginx one worker here.
      const argv = [...(extra.nodeArgs ?? []), cli, 'run', '--config', file, '--workers', '0', '--drain', '100ms', '--log-level', 'warn'];
      const child = procs.start(name, process.execPath, argv, PROXY_CPU);
      await waitListening(port, name, child);
      return child;
    },
  };
}

const haproxy: Proxy = {
  name: 'haproxy',
  async start(port, backend, cert) {
    const file = join(dir, `haproxy-${port}.cfg`);
    writeFileSync(
      file,
      `global
  nbthread 1
  maxconn 4000
  ssl-default-bind-options ssl-min-ver TLSv1.2
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
  bind 127.0.0.1:${port} ssl crt ${cert.combined} alpn http/1.1
  default_backend be
backend be
  server s1 127.0.0.1:${backend}
`,
    );
    const child = procs.start('haproxy', HAPROXY, ['-db', '-f', file], PROXY_CPU);
    await waitListening(port, 'haproxy', child);
    return child;
  },
};

const nginx: Proxy = {
  name: 'nginx',
  async start(port, backend, cert) {
    const name = `proxy-${port}`;
    const file = join(dir, `${name}.conf`);
    writeFileSync(
      file,
      `${nginxCommon(dir, name)}
worker_processes 1;
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  ${nginxTemps(dir, name)}
  upstream be { server 127.0.0.1:${backend}; keepalive 128; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:${port} ssl backlog=4096;
    ssl_certificate ${cert.cert};
    ssl_certificate_key ${cert.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering on;
    }
  }
}`,
    );
    const child = procs.start('nginx', NGINX, ['-p', dir, '-c', file, '-e', join(dir, `${name}-error.log`)], PROXY_CPU);
    await waitListening(port, 'nginx', child);
    return child;
  },
};

/** Node's floor (bench/peers/node-tls-floor.mjs): node:tls alone, answering 200 itself (no proxying). */
const nodeTlsFloor: Proxy = {
  name: 'node-tls-floor',
  async start(port, _backend, cert) {
    const child = procs.start('node-tls-floor', process.execPath, [join(ROOT, 'bench/peers/node-tls-floor.mjs'), String(port), cert.cert, cert.key], PROXY_CPU);
    await waitListening(port, 'node-tls-floor', child);
    return child;
  },
};

// ---- load: full handshakes ----

interface HandshakeResult {
  readonly handshakes: number;
  readonly seconds: number;
  readonly failed: string;
}

/** `openssl s_time -new` × CLIENTS on the load CPUs: new connections, each a full handshake, no resumption. */
async function handshakes(port: number, seconds: number): Promise<HandshakeResult> {
  const runs = Array.from({ length: CLIENTS }, () => {
    const [cmd, argv] = procs.command(LOAD_CPUS, 'openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-time', String(seconds)]);
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    return new Promise<string>((resolve) => child.once('exit', () => resolve(out)));
  });
  const outs = await Promise.all(runs);
  let total = 0;
  let longest = 0;
  const failed: string[] = [];
  for (const out of outs) {
    // "12345 connections in 10.00s; ..." (user time) then "12345 connections in 10 real seconds, ..."
    const m = /(\d+) connections in (\d+(?:\.\d+)?) real seconds/.exec(out);
    if (!m) {
      failed.push(out.trim().split('\n').slice(-2).join(' | ').slice(0, 200));
      continue;
    }
    total += Number(m[1]);
    longest = Math.max(longest, Number(m[2]));
  }
  return { handshakes: total, seconds: longest, failed: failed.join('; ') };
}

// ---- measurement ----

type Load = 'ecdsa handshakes' | 'rsa handshakes' | 'keep-alive requests';
const LOADS: readonly Load[] = ['ecdsa handshakes', 'rsa handshakes', 'keep-alive requests'];

interface Row {
  readonly proxy: string;
  readonly load: Load;
  readonly perSecond: number;
  readonly cpu: number;
  /** Proxy CPU / wall time: near 1 means the proxy, not the client, was the limit. */
  readonly busy: number;
  readonly perCpu: number;
  readonly errors: string;
}

async function measure(proxy: Proxy, backend: number, certs: Record<KeyType, BenchCert>): Promise<Row[]> {
  const rows: Row[] = [];
  for (const type of ['ecdsa', 'rsa'] as const) {
    const port = await freePort(PORT_LOW, PORT_HIGH);
    const child = await proxy.start(port, backend, certs[type]);
    try {
      await handshakes(port, 2); // warm-up: JIT, allocator
      let cpu0 = await treeCpuSeconds(child.pid!);
      let t0 = Date.now();
      const h = await handshakes(port, DURATION);
      let cpu = (await treeCpuSeconds(child.pid!)) - cpu0;
      rows.push({ proxy: proxy.name, load: `${type} handshakes`, perSecond: h.handshakes / h.seconds, cpu, busy: cpu / ((Date.now() - t0) / 1000), perCpu: h.handshakes / cpu, errors: h.failed });
      if (type !== 'ecdsa') continue;
      const url = `https://127.0.0.1:${port}/`;
      await wrk(procs, url, CONNECTIONS, 2);
      cpu0 = await treeCpuSeconds(child.pid!);
      t0 = Date.now();
      const r = await wrk(procs, url, CONNECTIONS, DURATION);
      cpu = (await treeCpuSeconds(child.pid!)) - cpu0;
      rows.push({ proxy: proxy.name, load: 'keep-alive requests', perSecond: r.rps, cpu, busy: cpu / ((Date.now() - t0) / 1000), perCpu: r.requests / cpu, errors: r.errors });
    } finally {
      await stop(child);
    }
  }
  return rows;
}

function table(rows: readonly Row[]): string {
  const head = ['load', 'proxy', 'per s', 'proxy CPU s', 'proxy busy', 'per CPU-s', 'hitless/this', 'errors'];
  const body = rows.map((r) => {
    const h = rows.find((x) => x.proxy === 'hitless' && x.load === r.load);
    return [r.load, r.proxy, r.perSecond.toFixed(0), r.cpu.toFixed(2), `${(100 * r.busy).toFixed(0)}%`, r.perCpu.toFixed(0), h && r.proxy !== 'hitless' && r.proxy !== 'node-tls-floor' ? `${(h.perCpu / r.perCpu).toFixed(2)}x` : '-', r.errors || '-'];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

const GOALS: Record<Load, number> = { 'rsa handshakes': 0.8, 'ecdsa handshakes': 0.5, 'keep-alive requests': 0.5 };

// ---- profile ----

async function profileHitless(backend: number, certs: Record<KeyType, BenchCert>): Promise<void> {
  for (const load of LOADS) {
    const type: KeyType = load.startsWith('rsa') ? 'rsa' : 'ecdsa';
    const profDir = join(dir, `prof-${type}-${load.split(' ')[1]}`);
    mkdirSync(profDir, { recursive: true });
    const port = await freePort(PORT_LOW, PORT_HIGH);
    const child = await hitless.start(port, backend, certs[type], { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir, '--perf-basic-prof-only-functions'] });
    const run = () => (load === 'keep-alive requests' ? wrk(procs, `https://127.0.0.1:${port}/`, CONNECTIONS, DURATION) : handshakes(port, DURATION));
    if (load === 'keep-alive requests') await wrk(procs, `https://127.0.0.1:${port}/`, CONNECTIONS, 2);
    else await handshakes(port, 2);
    const perfData = join(profDir, 'perf.data');
    const perf = existsSync('/usr/bin/perf') ? spawn('perf', ['record', '-F', '499', '-g', '-p', String(child.pid), '-o', perfData, '--', 'sleep', String(DURATION)], { stdio: 'ignore' }) : null;
    await run();
    if (perf) await new Promise((r) => perf.once('exit', r));
    await stop(child, 'SIGTERM');
    await sleep(300);
    console.log(`\n## hitless under ${load}`);
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    console.log(files.length ? `### --cpu-prof\n${summariseProfile(join(profDir, files[0]), ROOT)}` : 'no --cpu-prof profile was written');
    if (perf && existsSync(perfData)) {
      try {
        console.log(`### perf record\n${summarisePerf(perfData)}`);
      } catch (err) {
        console.log(`perf report failed: ${(err as Error).message}`);
      }
    }
  }
}

async function main(): Promise<void> {
  const certs = { ecdsa: makeCert(dir, 'ecdsa'), rsa: makeCert(dir, 'rsa') };
  const backendPort = await freePort(PORT_LOW, PORT_HIGH);
  const backend = await startNginxBackend(procs, dir, backendPort);
  console.log(`# bench:tls — ${new Date().toISOString()}`);
  console.log(`machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}, Linux ${release()}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  console.log(`versions: node ${process.version} (OpenSSL ${process.versions.openssl}), ${version(HAPROXY, ['-v'])}, ${version(NGINX, ['-v'])}, ${version('openssl', ['version'])}, ${version('wrk', ['-v'])}`);
  console.log(`hitless: run --workers 0 (one process, builtin data plane, mode http)`);
  console.log(`handshakes: ${CLIENTS} × openssl s_time -new -time ${DURATION} (no SNI, TLS 1.3 as negotiated, no resumption), after a 2 s warm-up`);
  console.log(`keep-alive: wrk -t1 -c${CONNECTIONS} -d${DURATION}s https://, ECDSA certificate, GET / → nginx backend (plain HTTP) returning a fixed 200`);
  console.log(`${ROUNDS} interleaved rounds, median round by per-CPU-second shown`);
  console.log(procs.pin.enabled ? `pinning: proxy on CPU ${PROXY_CPU}; clients and backend on CPU ${LOAD_CPUS}` : 'pinning: none');
  const compared = COMPARE.map((spec) => hitlessProxy(`hitless(${spec.split('=')[0]})`, spec.split('=')[1]));
  const proxies = [...[haproxy, nginx, hitless, nodeTlsFloor].filter((p) => ONLY.includes(p.name)), ...compared];
  const rounds = new Map<string, Row[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const proxy of proxies) {
      for (const row of await measure(proxy, backendPort, certs)) {
        const key = `${row.proxy}/${row.load}`;
        rounds.set(key, [...(rounds.get(key) ?? []), row]);
        process.stderr.write(`round ${round}/${ROUNDS} ${proxy.name} ${row.load}: ${row.perSecond.toFixed(0)}/s, proxy busy ${(100 * row.busy).toFixed(0)}%, ${row.perCpu.toFixed(0)} per CPU-s${row.errors ? ` (${row.errors})` : ''}\n`);
      }
    }
  }
  const rows: Row[] = [];
  for (const load of LOADS) {
    for (const proxy of proxies) {
      const all = [...(rounds.get(`${proxy.name}/${load}`) ?? [])].sort((a, b) => a.perCpu - b.perCpu);
      if (all.length) rows.push(all[Math.floor(all.length / 2)]);
    }
  }
  console.log(`\n${table(rows)}\n`);
  for (const load of LOADS) {
    const spread = proxies.map((p) => `${p.name} ${(rounds.get(`${p.name}/${load}`) ?? []).map((r) => r.perCpu.toFixed(0)).join('/')}`).join('; ');
    console.log(`${load} per CPU-s in each round: ${spread}`);
  }
  for (const load of LOADS) {
    const h = rows.find((r) => r.proxy === 'hitless' && r.load === load);
    const ha = rows.find((r) => r.proxy === 'haproxy' && r.load === load);
    const ng = rows.find((r) => r.proxy === 'nginx' && r.load === load);
    if (!h) continue;
    const parts = [ha && `hitless/HAProxy ${(h.perCpu / ha.perCpu).toFixed(2)}x (goal ≥ ${GOALS[load]}x${h.perCpu / ha.perCpu >= GOALS[load] ? ', met' : ', NOT met'})`, ng && `hitless/nginx ${(h.perCpu / ng.perCpu).toFixed(2)}x`].filter(Boolean);
    console.log(`${load}: ${parts.join('; ')}`);
  }
  if (PROFILE) await profileHitless(backendPort, certs);
  await stop(backend, 'SIGQUIT');
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await procs.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });
