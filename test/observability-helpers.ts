// Helpers for the observability, admin-security and dashboard tests: the real `hitless run`
// process with a TCP (or unix) admin API, small HTTP backends, bounded client traffic, and a
// parser for Prometheus' text exposition format.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { endLeftovers, processesMarked, treeMark } from './helpers/leftover-processes.js';
import { CLI, ROOT, assertBuilt } from './helpers/paths.js';
import { reapOnExit } from './helpers/reap.js';
import { sleep } from './helpers/wait.js';

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

/** One HTTP request to host:port or a unix socket; never throws on HTTP status. */
export function httpRequest(target: { host: string; port: number } | { socketPath: string }, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { ...target, method, path, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) }, timeout: timeoutMs, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface RunningHitless {
  readonly child: ChildProcess;
  readonly dir: string;
  readonly configPath: string;
  /** The config text as written, with $DIR replaced by `dir`. */
  readonly config: string;
  logs(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL (by pid) if still running, then what it started (rejects if an HAProxy of it outlived it; see endLeftovers), then remove the temp dir. Idempotent. */
  kill(): Promise<void>;
}

/** Starts `hitless run --config FILE` on `config`; does not wait for readiness (see waitReady). */
export function spawnHitless(config: string, args: string[] = []): RunningHitless {
  assertBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'hitless-obs-'));
  const configPath = join(dir, 'hitless.yaml');
  const written = config.replaceAll('$DIR', dir);
  writeFileSync(configPath, written);
  const mark = treeMark();
  const child = reapOnExit(spawn(process.execPath, [CLI, 'run', '--config', configPath, '--drain', '300ms', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...mark.env } }));
  let output = '';
  const keep = (c: Buffer) => {
    output = (output + c.toString()).slice(-500_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve((exit = { code, signal }))),
  );
  return {
    child,
    dir,
    configPath,
    config: written,
    exited,
    logs: () => output,
    async kill() {
      if (!exit && child.pid) {
        process.kill(child.pid, 'SIGKILL');
        await exited;
      }
      try {
        await endLeftovers(`hitless (pid ${child.pid})`, () => processesMarked(mark.value));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Polls GET /status on the admin address until 200 (bounded), or fails with the logs. */
export async function waitReady(h: RunningHitless, target: { host: string; port: number } | { socketPath: string }, token?: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void h.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`hitless exited before it was ready:\n${h.logs()}`);
    try {
      const res = await httpRequest(target, 'GET', '/status', undefined, token ? { authorization: `Bearer ${token}` } : {}, 2_000);
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`hitless did not answer GET /status in ${timeoutMs} ms:\n${h.logs()}`);
    await sleep(30);
  }
}

export interface Backend {
  readonly address: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** An HTTP backend on 127.0.0.1:0 answering `status` with a short body naming itself. */
export async function startBackend(status = 200): Promise<Backend> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(`backend ${(server.address() as AddressInfo).port} says ${status}\n`);
    });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    address,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Sends exactly `n` GET requests, `concurrency` at a time; returns the status codes seen. */
export async function sendRequests(port: number, n: number, concurrency = 4, path = '/'): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const res = await httpRequest({ host: '127.0.0.1', port }, 'GET', path);
      statuses.push(res.status);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return statuses;
}

/** Requests in the background until stop() (or `max`), for "numbers move under traffic" checks. */
export function backgroundTraffic(port: number, options: { max?: number; paths?: string[] } = {}): { stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const max = options.max ?? 200_000;
  const paths = options.paths ?? ['/'];
  const loop = (async () => {
    while (running && sent < max) {
      sent++;
      await httpRequest({ host: '127.0.0.1', port }, 'GET', paths[sent % paths.length]).catch(() => {});
      if (sent % 20 === 0) await sleep(5);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return sent;
    },
  };
}

export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** Parses Prometheus' text format (what prom-client writes) into samples; # lines are checked for shape. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) {
      if (line.startsWith('# ') && !/^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* /.test(line)) throw new Error(`malformed comment line: ${line}`);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`malformed sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1], labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`; 0 when absent. */
export function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value ?? 0;
}
