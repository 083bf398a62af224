// Supervisor upgrade (nginx's USR2 re-exec): the running supervisor starts a new one from the
// code on disk, passing every listening socket as an inherited file descriptor (fds 4, 5, ...)
// and its running config and generation through a state file. The new supervisor inherits the
// sockets without binding, starts its workers, and says ready; only then does the old one give
// up the admin API, drain its workers (handing idle keep-alive connections and moving tunnels to the new
// supervisor's workers) and exit. The sockets never close, so no connection is refused.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigSnapshot } from '../config/model.js';
import type { ConfigSource } from '../control/controller.js';
import { parseConfig } from '../config/load.js';
import type { Logger } from '../observability/log.js';
import type { TcpHandle } from './messages.js';
import type { Supervisor } from './supervisor.js';
import type { HandoverMessage, HandoverSink } from './connection-handover.js';
import { sendWithHandle } from '../util/node-internals.js';

export const ENV_HANDOVER = 'HITLESS_SUPERVISOR_HANDOVER';
const FIRST_FD = 4; // 0-2 stdio, 3 the IPC channel to the old supervisor

interface HandoverState {
  readonly configText: string;
  readonly source: string;
  /** Where the running config came from (file, api, embedded): the new supervisor says the same. */
  readonly from: ConfigSource;
  readonly generation: number;
  readonly sockets: ReadonlyArray<{ readonly key: string; readonly fd: number }>;
}

type SuccessionMessage = { t: 'ready'; pid: number } | { t: 'admin-released' } | HandoverMessage;

export interface StartedSuccessor {
  readonly child: ChildProcess;
  /** Call once the old admin API is closed: the new supervisor binds it next. */
  adminReleased(): void;
  /** Where the old workers' idle connections and tunnels go. */
  sink: HandoverSink;
}

/** Old side: spawns the successor and waits until its workers are ready (or it fails). */
export async function startSuccessor(supervisor: Supervisor, running: ConfigSnapshot, from: ConfigSource, timeoutMs: number, log: Logger): Promise<StartedSuccessor> {
  const dir = mkdtempSync(join(tmpdir(), 'hitless-handover-'));
  const file = join(dir, 'state.json');
  const descriptors = supervisor.sockets.descriptors();
  const state: HandoverState = {
    configText: running.text,
    source: running.source,
    from,
    generation: supervisor.generation,
    sockets: descriptors.map((d, i) => ({ key: d.key, fd: FIRST_FD + i })),
  };
  writeFileSync(file, JSON.stringify(state), { mode: 0o600 });
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc', ...descriptors.map((d) => d.fd)],
    env: { ...process.env, [ENV_HANDOVER]: file },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the new supervisor (pid ${child.pid}) did not report ready within ${timeoutMs} ms`)), timeoutMs);
      child.once('exit', (code, signal) => reject(new Error(`the new supervisor (pid ${child.pid}) exited before it was ready (${signal ?? `code ${code}`})`)));
      child.on('message', (msg: SuccessionMessage) => {
        if (msg.t !== 'ready') return;
        clearTimeout(timer);
        resolve();
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  child.removeAllListeners('exit');
  log.info({ newSupervisorPid: child.pid }, 'new supervisor ready; handing over');
  return {
    child,
    adminReleased: () => child.send({ t: 'admin-released' }),
    // The caller closes its copy of the handle once this settles.
    sink: (msg, handle) =>
      new Promise<void>((resolve, reject) => {
        if (!child.connected) return reject(new Error('the new supervisor is gone'));
        sendWithHandle(child, msg, handle, (err) => (err ? reject(err) : resolve()));
      }),
  };
}

/**
 * New side, at startup: when started by a supervisor upgrade, takes the inherited sockets into its
 * pool and returns the running config to start from (instead of the file, which may be older than
 * a PUT). The names of the environment variable, the state file's fields and the messages between
 * the two supervisors stay as they are: the old supervisor runs the previous version's code.
 */
export function inheritFromPredecessor(supervisor: Supervisor, log: Logger): (() => Promise<{ snapshot: ConfigSnapshot; source: ConfigSource }>) | undefined {
  const file = process.env[ENV_HANDOVER];
  if (!file) return undefined;
  delete process.env[ENV_HANDOVER];
  const state = JSON.parse(readFileSync(file, 'utf8')) as HandoverState;
  for (const s of state.sockets) supervisor.sockets.inherit(s.key, s.fd);
  supervisor.continueFrom(state.generation);
  let released: () => void = () => {};
  const adminFree = new Promise<void>((resolve) => (released = resolve));
  process.on('message', (msg: SuccessionMessage, handle: unknown) => {
    if (msg.t === 'admin-released') released();
    else if ((msg.t === 'conn' || msg.t === 'tunnel') && handle) supervisor.receiveConnection(msg, handle as TcpHandle);
  });
  // The old supervisor exits once drained; its channel going away is expected.
  process.on('disconnect', () => released());
  supervisor.afterFirstGeneration(async () => {
    process.send?.({ t: 'ready', pid: process.pid });
    // The admin API is still the old supervisor's until it has answered the upgrade request.
    await Promise.race([adminFree, new Promise((r) => setTimeout(r, 15_000))]);
  });
  log.info({ sockets: state.sockets.map((s) => s.key), generation: state.generation }, 'supervisor upgrade: inherited the listening sockets');
  return async () => ({ snapshot: parseConfig(state.configText, state.source), source: state.from });
}
