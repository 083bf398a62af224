// The real `hitless run --config PATH` on a config file the test owns (its path survives restarts,
// unlike the temp dir of spawnHitless), optionally as an unprivileged user: root writes any file,
// so a test of "the file is not writable" runs hitless as nobody (setpriv) when it runs as root.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { reapOnExit } from './reap.js';
import { CLI, ROOT, assertBuilt } from './paths.js';
import { httpRequest, type Reply } from '../observability-helpers.js';
import { sleep } from './wait.js';

export interface FileProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  logs(): string;
  signal(name: NodeJS.Signals): void;
  /** SIGTERM, then the exit (bounded; SIGKILL after 10 s). */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  /** Run as uid/gid 65534 (nobody): only meaningful, and only possible, when the test runs as root. */
  readonly unprivileged?: boolean;
  readonly args?: readonly string[];
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Whether this test can run hitless as a user that cannot write root's files. */
export function canDropPrivileges(): boolean {
  if (process.getuid?.() !== 0) return true; // not root: chmod alone makes a file read-only for us
  return spawnSync('setpriv', ['--version']).status === 0;
}

export function spawnOnFile(configPath: string, options: SpawnOptions = {}): FileProcess {
  assertBuilt();
  const args = [CLI, 'run', '--config', configPath, '--drain', '300ms', ...(options.args ?? ['--workers', '1'])];
  const asNobody = options.unprivileged === true && process.getuid?.() === 0;
  const [command, argv] = asNobody ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...args]] : [process.execPath, args];
  const child = reapOnExit(spawn(command, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } }));
  let output = '';
  const keep = (c: Buffer) => {
    output = (output + c.toString()).slice(-500_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve((exit = { code, signal }))));
  return {
    child,
    pid: child.pid!,
    exited,
    logs: () => output,
    signal(name) {
      if (!exit) process.kill(child.pid!, name);
    },
    async stop() {
      if (exit) return;
      process.kill(child.pid!, 'SIGTERM');
      const timer = setTimeout(() => !exit && process.kill(child.pid!, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits (bounded) until `GET path` on the admin address answers, or fails with the logs. */
export async function waitAnswering(p: FileProcess, admin: { host: string; port: number }, token?: string, path = '/status', timeoutMs = 15_000): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void p.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`hitless exited before it answered:\n${p.logs()}`);
    const res = await httpRequest(admin, 'GET', path, undefined, token ? { authorization: `Bearer ${token}` } : {}, 2_000).catch(() => null);
    if (res && res.status === 200) return res;
    if (Date.now() > deadline) throw new Error(`hitless did not answer GET ${path} within ${timeoutMs} ms:\n${p.logs()}`);
    await sleep(30);
  }
}
