// Helpers to start and stop the processes of a built-in target. We only ever signal pids that we
// started (or that a process we started wrote into a pid file in our own temp dir), one by one.
import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants, mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from '../traffic/budget.js';
import type { Endpoint } from '../loopback.js';
import { processTree } from '../proc-sampler.js';

export async function makeTempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `hitless-torture-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export async function findBinary(candidates: readonly string[]): Promise<string | undefined> {
  for (const file of candidates) {
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // Try the next candidate.
    }
  }
  return undefined;
}

export { capture } from '../../../util/capture.js';

/** Starts a long-running child whose output goes to a log we can show when it fails. */
export function startChild(file: string, args: readonly string[], env?: NodeJS.ProcessEnv): { child: ChildProcess; log: () => string } {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  let log = '';
  const add = (chunk: Buffer) => (log = (log + chunk.toString('utf8')).slice(-8000));
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  child.on('error', (err) => add(Buffer.from(`spawn error: ${err.message}\n`)));
  return { child, log: () => log };
}

/** Readiness = the port accepts a TCP connection. Polls until the deadline, then throws. */
export async function waitForPort(endpoint: Endpoint, timeoutMs: number, isDead?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const dead = isDead?.();
    if (dead) throw new Error(dead);
    if (await accepts(endpoint)) return;
    await sleep(50);
  }
  throw new Error(`nothing accepted connections on ${endpoint.host}:${endpoint.port} within ${timeoutMs} ms`);
}

function accepts(endpoint: Endpoint): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export async function readPidFile(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split(/\s+/)
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 1);
}

/** True when the pid is alive and its command line mentions `marker` (our temp dir): guards pid reuse. */
export async function isOurs(pid: number, marker: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.replace(/\0/g, ' ').includes(marker);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops the given pids: the polite signal first, SIGKILL for whatever is still there after
 * graceMs. With a marker, each pid is checked against it before every signal; without one the
 * caller vouches that the pids are ours (descendants of a child we started, read just before).
 */
export async function stopPids(
  pids: readonly number[],
  marker: string | undefined,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 3000,
): Promise<void> {
  const check = async (pid: number) => alive(pid) && (marker === undefined || (await isOurs(pid, marker)));
  const ours = async () => (await Promise.all(pids.map(async (pid) => ((await check(pid)) ? pid : 0)))).filter((p) => p > 0);
  for (const pid of await ours()) signalQuietly(pid, signal);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(alive)) await sleep(50);
  for (const pid of await ours()) signalQuietly(pid, 'SIGKILL');
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** Waits for a child we spawned to exit, killing it after graceMs. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

export function exitDescription(child: ChildProcess, log: () => string): string | undefined {
  if (child.exitCode === null && child.signalCode === null) return undefined;
  return `exited early (${child.exitCode ?? child.signalCode}): ${log().trim().split('\n').slice(-5).join(' | ')}`;
}

/** A target's main process, started and serving, with a stop that takes its whole tree down. */
export interface ServingChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Idempotent: stops the process tree (children remembered first) and removes `dir`. */
  stop(): Promise<void>;
}

/**
 * Starts `file args`, waits until `endpoint` accepts, and returns a stop for the whole process
 * tree; on a failed start it cleans up and throws. `marker`: a path the tree's command lines
 * must contain for pids to be signalled (undefined: children of our own child are ours).
 */
export async function startServingChild(
  file: string,
  args: readonly string[],
  endpoint: Endpoint,
  timeoutMs: number,
  dir: { remove(): Promise<void> },
  marker?: string,
): Promise<ServingChild> {
  const { child, log } = startChild(file, args);
  const pid = child.pid!;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      // Children (workers, HAProxy under hitless) are remembered before their parent goes.
      const tree = await processTree([pid]);
      await stopChild(child);
      await stopPids(tree, marker);
      await dir.remove();
    })());
  try {
    await waitForPort(endpoint, timeoutMs, () => exitDescription(child, log));
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, pid, stop };
}
