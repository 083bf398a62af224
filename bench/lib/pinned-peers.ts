// Starting and stopping the processes of a proxy bench, each pinned to its CPU, and driving wrk:
// the start/stop/wait code of bench/http.ts, shared so that a new bench does not copy it again.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ROOT, stopProcess } from './targets.js';

export { HAPROXY, ROOT } from './targets.js';
/** The built hitless the benches run. */
export const CLI = join(ROOT, 'dist/cli/main.js');

/** The bench's command-line arguments. */
export const args = process.argv.slice(2);

/** `--name value` from the command line, or `fallback`. */
export function option(name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
}

export interface Pinning {
  /** False on one CPU, without taskset, or when asked not to pin. */
  readonly enabled: boolean;
  /** The proxy's CPU: the last one. */
  readonly proxyCpu: string;
  /** The load generators' and backends' CPUs: all the others. */
  readonly loadCpus: string;
}

export function pinning(wanted: boolean): Pinning {
  const n = cpus().length;
  return { enabled: wanted && n >= 2 && existsSync('/usr/bin/taskset'), proxyCpu: String(n - 1), loadCpus: `0-${Math.max(0, n - 2)}` };
}

export class PinnedProcesses {
  private readonly children: ChildProcess[] = [];

  constructor(
    readonly pin: Pinning,
    private readonly cwd: string,
  ) {}

  command(cpu: string, cmd: string, argv: readonly string[]): [string, string[]] {
    return this.pin.enabled ? ['/usr/bin/taskset', ['-c', cpu, cmd, ...argv]] : [cmd, [...argv]];
  }

  /** Starts a long-running process on `cpu`; its last stderr is printed if it exits with an error. */
  start(name: string, cmd: string, argv: readonly string[], cpu: string): ChildProcess {
    const [c, a] = this.command(cpu, cmd, argv);
    const child = spawn(c, a, { stdio: ['ignore', 'ignore', 'pipe'], cwd: this.cwd });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child.once('exit', (code, signal) => {
      if (code && code !== 0) process.stderr.write(`${name} exited ${code ?? signal}: ${err}\n`);
    });
    this.children.push(child);
    return child;
  }

  /** Stops every process still running (SIGTERM first: a SIGKILLed nginx master orphans its worker). */
  async stopAll(): Promise<void> {
    for (const c of this.children) await stopProcess(c, 'SIGTERM').catch(() => {});
  }
}

// Stopping, waiting for a listener and reading a version are bench/lib/targets.ts's, shared.
export { stopProcess as stop, version, waitListening } from './targets.js';

export interface WrkResult {
  readonly rps: number;
  readonly requests: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: string;
}

function ms(text: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

/** wrk -t1 on the load CPUs against `url` (http:// or https://). */
export async function wrk(procs: PinnedProcesses, url: string, connections: number, seconds: number): Promise<WrkResult> {
  const [cmd, argv] = procs.command(procs.pin.loadCpus, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url]);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.once('exit', r));
  const errors = [/Socket errors:.*/.exec(out)?.[0], /Non-2xx or 3xx responses:.*/.exec(out)?.[0]].filter(Boolean).join('; ');
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    p50: ms(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
    p99: ms(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
    errors,
  };
}
