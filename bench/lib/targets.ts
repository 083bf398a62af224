// The processes that bench:conns and bench:slowloris measure, configured alike: hitless (http
// mode, a supervisor and one worker), HAProxy (mode http, one process, one thread), nginx (a
// master and one worker, upstream keep-alive) and a plain node:http server answering directly
// (Node's own floor for an idle keep-alive connection), all behind one nginx backend that returns
// a fixed 200. Every process started here is remembered and stopped by its pid.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { withParentDeathSignal } from '../../src/dataplane/haproxy/parent-death.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const HAPROXY = '/usr/sbin/haproxy';
export const NGINX = '/usr/sbin/nginx';
const NODE_FLOOR = join(ROOT, 'bench/lib/node-floor-server.mjs');

/** The fixed response of the backend (and of the Node floor server, which answers itself). */
export const BODY = 'hello from the backend, a fixed body of about sixty bytes\n';

export interface TargetSettings {
  /** Scratch directory for configs, pid files and logs. */
  readonly dir: string;
  readonly port: number;
  readonly backend: number;
  /** How long a request head may take to arrive (slowloris), the same for every target. */
  readonly headerTimeoutS: number;
  /** How long an idle keep-alive client connection is kept. */
  readonly idleTimeoutS: number;
  /** Client connections the target must accept at once (sizes maxconn, worker_connections). */
  readonly connections: number;
  /** Extra node flags for hitless (the supervisor passes them on to its worker). */
  readonly nodeArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

export interface Target {
  readonly name: string;
  /** Which processes the RSS figure sums, said in the output. */
  readonly processes: string;
  start(settings: TargetSettings): Promise<ChildProcess>;
}

// ---- child processes ----

const children = new Set<ChildProcess>();

/**
 * `cmd argv` so that it gets SIGTERM when this bench dies (setpriv --pdeathsig, which then execs
 * it: same pid), or as is where this host's setpriv cannot: a bench killed by its timeout or by
 * hand leaves no server behind it (one left from a killed run went on holding a port and CPU
 * while later runs measured).
 */
export function orphanProof(cmd: string, argv: readonly string[]): [string, string[]] {
  const run = withParentDeathSignal(cmd, argv, 'TERM');
  return run ? [run.command, run.args] : [cmd, [...argv]];
}

/** Starts a long-running process, keeping the tail of its stderr for the error message. */
export function startProcess(name: string, cmd: string, argv: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(...orphanProof(cmd, argv), { stdio: ['ignore', 'ignore', 'pipe'], cwd: ROOT, env: env ?? process.env });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  child.once('exit', (code, signal) => {
    children.delete(child);
    if (code) process.stderr.write(`${name} exited ${code ?? signal}: ${err}\n`);
  });
  children.add(child);
  return child;
}

/** SIGTERM (nginx and HAProxy stop their workers on it), SIGKILL after 10 s. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Every process this module started and that is still running, one by one. */
export async function stopAll(): Promise<void> {
  for (const child of [...children]) await stopProcess(child).catch(() => {});
}

/** Resolves once 127.0.0.1:`port` accepts; fails fast if `child` (the process meant to listen) exits. */
export async function waitListening(port: number, what: string, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} before listening on ${port}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`${what} is not listening on ${port}`);
    await sleep(50);
  }
}

/** First line of `cmd -v` (HAProxy and nginx print to different streams). */
export function version(cmd: string, argv: readonly string[]): string {
  const r = spawnSync(cmd, argv, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim();
}

/** The hard RLIMIT_NOFILE every process started here inherits (no CAP_SYS_RESOURCE: no raising it). */
export function fdHardLimit(): number {
  const r = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 1024;
}

// ---- the backend ----

const nginxCommon = (dir: string, name: string, workerConnections: number) => `
daemon off;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}-error.log warn;
worker_processes 1;
worker_rlimit_nofile ${fdHardLimit()};
events { worker_connections ${workerConnections}; }
`;
const nginxTemps = (dir: string, name: string) =>
  ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${name}-${t};`).join('\n  ');

export async function startBackend(dir: string, port: number): Promise<ChildProcess> {
  const conf = `${nginxCommon(dir, 'backend', 4096)}
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 600s;
  ${nginxTemps(dir, 'backend')}
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { default_type text/plain; return 200 "${BODY.replace('\n', '\\n')}"; }
  }
}`;
  writeFileSync(join(dir, 'backend.conf'), conf);
  const child = startProcess('backend nginx', NGINX, ['-p', dir, '-c', join(dir, 'backend.conf'), '-e', join(dir, 'backend-error.log')]);
  await waitListening(port, 'backend nginx');
  return child;
}

// ---- the targets ----

export const hitless: Target = {
  name: 'hitless',
  processes: 'supervisor + 1 worker',
  async start(s) {
    const config = `admin: { listen: "unix:${s.dir}/admin-${s.port}.sock" }
services:
  bench:
    mode: http
    listen: 127.0.0.1:${s.port}
    endpoints: [127.0.0.1:${s.backend}]
    timeouts: { idle: ${s.idleTimeoutS}s, header: ${s.headerTimeoutS}s }
`;
    const file = join(s.dir, `hitless-${s.port}.yaml`);
    writeFileSync(file, config);
    const argv = [...(s.nodeArgs ?? []), join(ROOT, 'dist/cli/main.js'), 'run', '--config', file, '--workers', '1', '--drain', '1s', '--log-level', 'warn'];
    const child = startProcess('hitless', process.execPath, argv, { ...process.env, ...s.env });
    await waitListening(s.port, 'hitless');
    return child;
  },
};

export const haproxy: Target = {
  name: 'haproxy',
  processes: '1 process (-db, nbthread 1)',
  async start(s) {
    // maxconn sized for the clients; HAProxy would like ~2 fds per connection and warns that it
    // cannot raise its limit beyond the hard one, which is fine: idle clients share a few
    // server connections (http-reuse always), so they need one fd each.
    const conf = `global
  nbthread 1
  maxconn ${s.connections + 200}
  no strict-limits
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 2s
  timeout client ${s.idleTimeoutS}s
  timeout server 60s
  timeout http-keep-alive ${s.idleTimeoutS}s
  timeout http-request ${s.headerTimeoutS}s
frontend fe
  bind 127.0.0.1:${s.port}
  default_backend be
backend be
  server s1 127.0.0.1:${s.backend}
`;
    const file = join(s.dir, `haproxy-${s.port}.cfg`);
    writeFileSync(file, conf);
    const child = startProcess('haproxy', HAPROXY, ['-db', '-f', file]);
    await waitListening(s.port, 'haproxy');
    return child;
  },
};

export const nginx: Target = {
  name: 'nginx',
  processes: 'master + 1 worker',
  async start(s) {
    const name = `proxy-${s.port}`;
    // worker_connections counts upstream connections too. nginx closes idle keep-alive clients
    // once fewer than 1/16 of its slots are free (ngx_drain_connections), so it gets 1/8 more
    // slots than clients even beyond the fd limit (it then warns, harmlessly: idle clients need
    // one fd each, which the limit has room for).
    const workerConnections = Math.ceil(s.connections * 1.125) + 512;
    const conf = `${nginxCommon(s.dir, name, workerConnections)}
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout ${s.idleTimeoutS}s;
  client_header_timeout ${s.headerTimeoutS}s;
  ${nginxTemps(s.dir, name)}
  upstream be { server 127.0.0.1:${s.backend}; keepalive 128; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:${s.port} backlog=4096;
    location / {
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}`;
    const file = join(s.dir, `${name}.conf`);
    writeFileSync(file, conf);
    const child = startProcess('nginx', NGINX, ['-p', s.dir, '-c', file, '-e', join(s.dir, `${name}-error.log`)]);
    await waitListening(s.port, 'nginx');
    return child;
  },
};

/** Not a proxy: what Node itself needs to hold an idle keep-alive connection in node:http. */
export const nodeFloor: Target = {
  name: 'node-floor',
  processes: '1 process (plain node:http server answering itself)',
  async start(s) {
    const argv = [NODE_FLOOR, String(s.port), String(s.headerTimeoutS), String(s.idleTimeoutS), BODY];
    const child = startProcess('node-floor', process.execPath, argv);
    await waitListening(s.port, 'node-floor');
    return child;
  },
};
