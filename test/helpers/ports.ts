// Ports for listen addresses that must be known before hitless binds them. They are drawn below
// the ephemeral range (32768-60999 here), so no outgoing connection can be holding one, each is
// claimed for this test process against every other one on the machine (claimPort), and checked
// free by binding it. Backends, which bind themselves, use port 0 instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One file per claimed port, holding the claiming process's pid. Test files run side by side, each
 * in its own process: a port checked free by two of them before either bound it went to both
 * (CI at a02c4b6: two tests' hitless processes were given the same admin port, and one's PUT
 * /config reached the other).
 */
const CLAIMS = join(tmpdir(), 'hitless-test-ports');
/** A claim left by a process that died without cleaning up is taken back only after this. */
const STALE_CLAIM_MS = 10 * 60_000;
const claimed: string[] = [];
let cleanupRegistered = false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims `port` for this process until it exits: false if another live test process holds it (or
 * this one already did). Claims of processes that died are taken back once old.
 */
export function claimPort(port: number): boolean {
  const path = join(CLAIMS, String(port));
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    mkdirSync(CLAIMS, { recursive: true });
    process.once('exit', () => {
      for (const p of claimed) {
        try {
          unlinkSync(p);
        } catch {
          // already gone
        }
      }
    });
  }
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' });
    claimed.push(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  try {
    const owner = Number(readFileSync(path, 'utf8'));
    if (owner === process.pid || alive(owner) || Date.now() - statSync(path).mtimeMs < STALE_CLAIM_MS) return false;
    unlinkSync(path);
    writeFileSync(path, String(process.pid), { flag: 'wx' });
    claimed.push(path);
    return true;
  } catch {
    return false; // another process took it back first
  }
}

/** Whether this process can bind and listen on host:port (127.0.0.1 unless said) right now (closed again at once). */
export function bindable(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Hands out ports of [low, high] that are free right now on every one of `hosts` (127.0.0.1
 * unless said) and were not handed out before by this process. Test files that run side by side
 * draw from separate ranges.
 */
export function portRange(low: number, high: number): (hosts?: readonly string[]) => Promise<number> {
  const handedOut = new Set<number>();
  return async (hosts = ['127.0.0.1']) => {
    for (let tries = 0; tries < 200; tries++) {
      const port = low + Math.floor(Math.random() * (high - low));
      if (handedOut.has(port)) continue;
      handedOut.add(port);
      if (!claimPort(port)) continue;
      let free = true;
      for (const host of hosts) free &&= await bindable(port, host);
      if (free) return port;
    }
    throw new Error(`no free port found in ${low}-${high} after 200 tries`);
  };
}

/** A port on 127.0.0.1 that is free right now and was not handed out before by this process (10000-19999; bench/apply.ts uses 20000 and up). */
export const reservePort = portRange(10_000, 19_999);

export type ConnectOutcome = 'connected' | 'refused' | 'other-error';

/** Whether a TCP connect to 127.0.0.1:port is accepted or refused (the connection is closed at once). */
export function probeConnect(port: number, timeoutMs = 2_000): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => done('other-error'), timeoutMs);
    function done(outcome: ConnectOutcome): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    }
    socket.once('connect', () => done('connected'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : 'other-error'));
  });
}

export interface ForeignListener {
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

/** Another process (not hitless, not this test process) listening on 127.0.0.1:port. */
export async function listenInAnotherProcess(port: number): Promise<ForeignListener> {
  const code = `require('net').createServer((s) => s.destroy()).listen({ host: '127.0.0.1', port: ${port} }, () => console.log('ready'))`;
  const child: ChildProcess = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const deadline = Date.now() + 10_000;
  while (!out.includes('ready')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the helper process could not listen on ${port}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    pid: child.pid!,
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
