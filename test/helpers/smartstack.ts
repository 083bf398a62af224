// SmartStack's side of the import tests: running `hitless import` on the fixtures, moving an
// imported config onto this test's ZooKeeper and ports, announcing backends the way nerve does
// (ephemeral sequential znodes INSTANCE_ID_<seq> holding nerve's JSON), and reading entries back
// the way synapse does (a child's data must decode to JSON with `host` and `port` keys).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zookeeper from 'node-zookeeper-client';
import { parse } from 'yaml';
import { runCli, type CliResult } from './cli.js';
import { assertBuilt, CLI, ROOT } from './paths.js';
import { reapOnExit } from './reap.js';
import { reservePort } from './ports.js';

export const FIXTURES = 'test/fixtures/smartstack';

/** Imported configs are checked field by field in the tests: plain parsed YAML. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Loose = any;

export interface Imported {
  readonly code: number | null;
  readonly text: string;
  /** stderr, one line per entry (the summary first). */
  readonly report: string[];
  readonly config: Loose;
}

/** `hitless import ARGS` through the real CLI (cwd: the repository root). */
export async function runImport(args: readonly string[]): Promise<Imported> {
  const r = await runCli(['import', ...args]);
  const report = r.stderr.split('\n').filter((l) => l.length > 0);
  return { code: r.code, text: r.stdout, report, config: r.stdout ? parse(r.stdout) : null };
}

/** `hitless validate` (the real CLI) on `text`. */
export async function validate(text: string): Promise<CliResult> {
  const dir = mkdtempSync(join(tmpdir(), 'hitless-import-'));
  const file = join(dir, 'hitless.yaml');
  writeFileSync(file, text);
  return runCli(['validate', file]);
}

const call = <T>(run: (cb: (err: unknown, value?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => run((err, value) => (err ? reject(err as Error) : resolve(value as T))));

export function zkClient(hosts: string): Promise<zookeeper.Client> {
  const client = zookeeper.createClient(hosts, { sessionTimeout: 10_000 });
  const connected = new Promise<void>((resolve) => client.once('connected', () => resolve()));
  client.connect();
  return connected.then(() => client);
}

/** What nerve writes for one instance (its reporter's get_service_data, plus labels as newer nerve writes them). */
export interface NerveEntry {
  readonly host: string;
  readonly port: number | string;
  readonly name: string;
  readonly weight?: unknown;
  readonly labels?: unknown;
  readonly [extra: string]: unknown;
}

/** Announces `entry` under `path` as nerve does: mkdir -p, then an ephemeral sequential NAME_ child. Returns the znode. */
export async function registerLikeNerve(client: zookeeper.Client, path: string, entry: NerveEntry, childName?: string): Promise<string> {
  await call((cb) => client.mkdirp(path, cb));
  const data = Buffer.from(JSON.stringify(entry));
  return call<string>((cb) => client.create(`${path}/${childName ?? `${entry.name}_`}`, data, zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, cb));
}

/** nerve's path-encoded child name (use_path_encoding): base64_<length>_<urlsafe base64 of the JSON>_ */
export function pathEncodedName(entry: NerveEntry): string {
  const encoded = Buffer.from(JSON.stringify(entry)).toString('base64url');
  // Ruby's urlsafe_encode64 keeps the padding; so does this, as nerve writes it.
  const padded = encoded + '='.repeat((4 - (encoded.length % 4)) % 4);
  return `base64_${padded.length}_${padded}_`;
}

export interface ReadEntry {
  readonly child: string;
  readonly ephemeral: boolean;
  readonly value: Record<string, unknown>;
}

/**
 * The children of `path` as synapse's zookeeper watcher reads them: each child's data decoded as
 * JSON, kept only when it has `host` and `port` keys (deserialize_service_instance).
 */
export async function readLikeSynapse(client: zookeeper.Client, path: string): Promise<ReadEntry[]> {
  const children = await call<string[]>((cb) => client.getChildren(path, cb)).catch(() => [] as string[]);
  const out: ReadEntry[] = [];
  for (const child of children.sort()) {
    const [data, stat] = await new Promise<[Buffer, zookeeper.Stat]>((resolve, reject) =>
      client.getData(`${path}/${child}`, (err, d, s) => (err ? reject(err) : resolve([d, s]))),
    );
    let value: unknown;
    try {
      value = JSON.parse(data.toString());
    } catch {
      continue;
    }
    if (value === null || typeof value !== 'object' || !('host' in value) || !('port' in value)) continue;
    // A non-zero owner session: the znode is ephemeral (it goes when its writer's session does).
    const ephemeral = !stat.ephemeralOwner.equals(Buffer.alloc(8));
    out.push({ child, ephemeral, value: value as Record<string, unknown> });
  }
  return out;
}

export interface Backend {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  close(): Promise<void>;
}

/** An HTTP backend answering every path 200 with its name (body and x-backend), health paths included. */
export async function httpBackend(name: string): Promise<Backend> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'x-backend': name, 'content-type': 'text/plain' });
    res.end(`${name}\n`);
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
  const port = (server.address() as { port: number }).port;
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/**
 * A TCP backend that answers "PING" with "+PONG" (a Redis-style health check) and anything else
 * with its name on one line.
 */
export async function tcpBackend(name: string): Promise<Backend> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
    s.on('data', (d: Buffer) => {
      if (d.toString().startsWith('PING')) s.write('+PONG\r\n');
      else s.end(`${name}\n`);
    });
  });
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
  const port = (server.address() as { port: number }).port;
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** The name of the tcp backend a connection through `port` reaches (it says its name when spoken to). */
export function tcpAsk(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let data = '';
    const timer = setTimeout(() => finish('timeout'), 5_000);
    function finish(result: string): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    }
    socket.on('data', (c: Buffer) => {
      data += c.toString();
      if (data.includes('\n')) finish(data.trim());
    });
    socket.on('error', (err) => finish(`error: ${err.message}`));
    socket.on('close', () => finish(data.trim() || 'closed'));
    socket.connect({ host: '127.0.0.1', port }, () => socket.write('hello\n'));
  });
}

/** The x-backend of one GET through `port` (a fresh connection), or the error. */
export function httpAsk(port: number, path = '/'): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? String(res.headers['x-backend']) : `HTTP ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve(`error: ${err.message}`));
  });
}

/**
 * Moves an imported config onto this test's environment, keeping every other setting: each
 * service listens on a free port, ZooKeeper sources and registrations use `zk`, static endpoints
 * become `staticEndpoint`, the admin API `admin`, HAProxy's state a temp dir. Returns the service → port map.
 */
export async function relocate(config: Loose, env: { zk: string; admin: string; staticEndpoint?: string; stateDir?: string }): Promise<Map<string, number>> {
  const ports = new Map<string, number>();
  config.admin = { listen: env.admin };
  if (config.dataplane?.driver === 'haproxy') config.dataplane.haproxy = { ...config.dataplane.haproxy, state_dir: env.stateDir };
  for (const [name, service] of Object.entries(config.services ?? {}) as Array<[string, Loose]>) {
    const port = await reservePort();
    ports.set(name, port);
    service.listen = `127.0.0.1:${port}`;
    if (service.discovery?.zookeeper) service.discovery.zookeeper.hosts = env.zk;
    if (service.endpoints && env.staticEndpoint) service.endpoints = [env.staticEndpoint];
  }
  for (const r of config.register ?? []) r.zookeeper.hosts = [env.zk];
  return ports;
}

/** `hitless register --config FILE` as a child process (nerve's role); stopped by pid, with SIGTERM (it deregisters). */
export class RegisterProcess {
  private output = '';
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    const keep = (c: Buffer) => (this.output = (this.output + c.toString()).slice(-50_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static start(configText: string): RegisterProcess {
    assertBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'hitless-register-'));
    const file = join(dir, 'register.yaml');
    writeFileSync(file, configText);
    const child = reapOnExit(spawn(process.execPath, [CLI, 'register', '--config', file, '--log-level', 'info'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    return new RegisterProcess(child);
  }

  logs(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(killer);
  }
}
