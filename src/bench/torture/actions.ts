// What happens to the target at the given rate. An action resolves when done and throws to count
// as failed; ActionUnsupported stops the action schedule (there is no point firing it again).
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { adminClient, adminError } from './admin-client.js';

export interface Action {
  readonly name: string;
  fire(): Promise<void>;
}

export class ActionUnsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ActionUnsupported';
  }
}

const ACTION_TIMEOUT_MS = 10_000;

/** Runs a command; a non-zero exit or a run past the timeout is a failed action. */
export function runCommand(file: string, args: readonly string[], timeoutMs = ACTION_TIMEOUT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // 'exit', not 'close': a daemonising command (haproxy -D) may leave its stderr open in the
    // daemon, and we must not wait for the daemon to end.
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      child.stderr.destroy();
      if (code === 0) return resolve();
      const why = signal ? `killed by ${signal}` : `exit ${code}`;
      reject(new Error(`${file} ${why}${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-2).join(' | ')}` : ''}`));
    });
  });
}

/** `--action-cmd`: any shell command, e.g. `kill -USR2 1234` or `systemctl reload haproxy`. */
export function shellAction(command: string): Action {
  return { name: `cmd: ${command}`, fire: () => runCommand('/bin/sh', ['-c', command]) };
}

/** Sends a signal to a pid we know (the target's master process). */
export function signalAction(signal: NodeJS.Signals, pid: () => number): Action {
  return {
    name: `kill -${signal.replace(/^SIG/, '')}`,
    fire: async () => {
      process.kill(pid(), signal);
    },
  };
}

/** hitless apply: PUT /config alternating between two configs, so that every apply is a real change. */
export function applyAction(adminAddress: string, configFiles: readonly [string, string], token?: string): Action {
  const admin = adminClient(adminAddress, token);
  let bodies: string[] | undefined;
  let next = 0;
  return {
    name: 'hitless apply (PUT /config, alternating)',
    fire: async () => {
      bodies ??= await Promise.all(configFiles.map((file) => readFile(file, 'utf8')));
      // Start with the second config: the target normally runs the first one already.
      const body = bodies[++next % 2];
      const reply = await admin.request('PUT', '/config', body);
      if (reply.status === 404 && next === 1) throw new ActionUnsupported(`PUT /config answered 404: ${adminError(reply)}`);
      if (reply.status !== 200) throw new Error(`apply rejected: ${adminError(reply)}`);
    },
  };
}

/** hitless upgrade: POST /upgrade (replace the worker generation with a fresh one). */
export function upgradeAction(adminAddress: string, token?: string): Action {
  const admin = adminClient(adminAddress, token);
  return {
    name: 'hitless upgrade (POST /upgrade)',
    fire: async () => {
      const reply = await admin.request('POST', '/upgrade', '');
      if (reply.status === 404) {
        throw new ActionUnsupported(`the target does not support upgrades yet: POST /upgrade answered 404 (${adminError(reply)})`);
      }
      if (reply.status < 200 || reply.status >= 300) throw new Error(`upgrade failed: ${adminError(reply)}`);
    },
  };
}
