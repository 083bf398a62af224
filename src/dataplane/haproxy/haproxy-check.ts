// Checks made before anything changes: `haproxy -c` on the exact text to be loaded, and a bind
// test of the listen addresses the new config adds (`-c` does not bind, and a reload that cannot
// bind fails in the master, where we would only see it afterwards).
import { capture, type Captured } from '../../util/capture.js';
import { bindTcpHandle } from '../../util/node-internals.js';
import { bindErrorOf } from '../socket-pool/bind-error.js';

function run(binary: string, args: readonly string[]): Promise<Captured> {
  return capture(binary, args, 15_000);
}

/** HAProxy's own complaint about `file` (its [ALERT] lines), or null when it accepts it. */
export async function checkConfig(binary: string, file: string, shownAs: string): Promise<string | null> {
  const { code, output } = await run(binary, ['-c', '-f', file]);
  if (code === 0) return null;
  const alerts = output
    .split('\n')
    .filter((l) => l.includes('[ALERT]'))
    .map((l) => l.replace(/^\[ALERT\]\s+\(\d+\)\s+:\s+/, '').replaceAll(file, shownAs));
  return alerts.length > 0 ? alerts.join(' | ') : output.trim().split('\n').slice(-3).join(' | ');
}

export async function haproxyVersion(binary: string): Promise<string | null> {
  const { output } = await run(binary, ['-v']);
  return /version (\S+)/.exec(output)?.[1] ?? null;
}

function bindAddresses(text: string): Set<string> {
  const found = new Set<string>();
  // A TLS service's bind line goes on with `ssl crt-list ...` (render-tls.ts).
  for (const m of text.matchAll(/^ {2}bind (\S+)(?: |$)/gm)) found.add(m[1]);
  return found;
}

/** Why a listen address cannot be bound: the admin API's details of a BIND_FAILED rejection. */
export interface BindProblem {
  readonly address: string;
  readonly errno: string;
  readonly message: string;
}

/** The first new listen address that cannot be bound right now, with the reason; null when all can. */
export function checkBindable(nextText: string, currentText: string): BindProblem | null {
  const current = bindAddresses(currentText);
  for (const address of bindAddresses(nextText)) {
    if (current.has(address)) continue;
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
    if (!m) continue;
    // Bound and closed without listening: no client can be accepted (and reset) by the test.
    const bound = bindTcpHandle(m[1], Number(m[2]));
    if (typeof bound === 'number') {
      const e = bindErrorOf(address, bound);
      return { address, errno: e.errno, message: e.message };
    }
    bound.close();
  }
  return null;
}
