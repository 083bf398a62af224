// Starts the bundled backends as separate processes, so that their CPU use does not disturb the
// load generator's event loop (and their pids stay out of the target's process tree).
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

export interface Backend {
  readonly pid: number;
  readonly httpPort: number;
  readonly echoPort: number;
}

export interface BackendSet {
  readonly backends: readonly Backend[];
  stop(): Promise<void>;
}

// Under tsx this module is a .ts file, in dist a .js file: fork the sibling of the same kind.
const SCRIPT = fileURLToPath(new URL(`./backend-process${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

export async function startBackends(count: number): Promise<BackendSet> {
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map((child) => stopChild(child)));
  };
  try {
    // Ports from the run's range, chosen here one after another (never twice).
    const taken = new Set<number>();
    const ports: [number, number][] = [];
    for (let i = 0; i < count; i++) ports.push([await freePort('127.0.0.1', taken), await freePort('127.0.0.1', taken)]);
    const backends = await Promise.all(ports.map((p) => startOne(children, p)));
    return { backends, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function startOne(children: ChildProcess[], [http, echo]: [number, number]): Promise<Backend> {
  const child = fork(SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, HITLESS_BACKEND_PORTS: `${http},${echo}` } });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('backend did not start within 10 s')), 10_000);
    child.once('message', (message: { httpPort: number; echoPort: number }) => {
      clearTimeout(timer);
      resolve({ pid: child.pid!, httpPort: message.httpPort, echoPort: message.echoPort });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`backend exited early (code ${code})`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
