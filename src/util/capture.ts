// Runs a command to completion and keeps the tail of its output (for `haproxy -c`, `-v`...).
import { spawn } from 'node:child_process';

export interface Captured {
  /** Exit code; -1 when the command could not be started, null when killed by the timeout. */
  readonly code: number | null;
  readonly output: string;
}

export function capture(file: string, args: readonly string[], timeoutMs = 10_000, keepChars = 16_000): Promise<Captured> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const add = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-keepChars));
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, output: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
