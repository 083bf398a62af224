// What a test started must end with it: hitless, and what hitless started (HAProxy's master and
// workers above all, which hold listening ports). Those are found through /proc whatever their
// parent is now (a SIGKILLed hitless leaves its children to init, where no parent-based search
// finds them), by a mark only they carry: an environment variable set on the hitless a test
// spawns, which everything it starts inherits; or, for an HAProxy started by Hitless in the test's
// own process, the test's private directory in HAProxy's command line.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { waitFor } from './wait.js';

const MARK_VARIABLE = 'HITLESS_TEST_TREE';

export interface Proc {
  readonly pid: number;
  /** The kernel's short name (`haproxy`, `node`). */
  readonly comm: string;
  readonly cmdline: string;
}

/** A fresh mark for one spawned hitless: `env` goes into its environment. */
export function treeMark(): { readonly value: string; readonly env: Record<string, string> } {
  const value = randomBytes(8).toString('hex');
  return { value, env: { [MARK_VARIABLE]: value } };
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return null; // exited meanwhile, or not ours to read
  }
}

/** Live processes (zombies have neither command line nor environment) for which `keep` holds. */
function scan(keep: (pid: number, cmdline: string) => boolean): Proc[] {
  const out: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const cmdline = read(`/proc/${pid}/cmdline`);
    if (!cmdline) continue;
    if (!keep(pid, cmdline)) continue;
    out.push({ pid, comm: (read(`/proc/${pid}/comm`) ?? '').trim(), cmdline: cmdline.replaceAll('\0', ' ').trim() });
  }
  return out;
}

/** Every live process that carries `mark` in its environment. */
export function processesMarked(mark: string): Proc[] {
  const needle = `\0${MARK_VARIABLE}=${mark}\0`;
  return scan((pid) => `\0${read(`/proc/${pid}/environ`) ?? ''}`.includes(needle));
}

/** Every live HAProxy process whose command line names a path under `dir`. */
export function haproxyNaming(dir: string): Proc[] {
  return scan((pid, cmdline) => cmdline.includes(`${dir}/`) && (read(`/proc/${pid}/comm`) ?? '').trim() === 'haproxy');
}

function killAll(procs: readonly Proc[]): void {
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
}

/**
 * For teardown, once hitless itself has exited (by SIGTERM, SIGKILL or on its own): waits (bounded)
 * for the HAProxy processes `find` sees to end on their own, as hitless guarantees (it stops
 * HAProxy on SIGTERM; HAProxy soft-stops on its parent's death otherwise), then kills by pid
 * whatever is left, HAProxy or not. Throws, naming them, when HAProxy processes had to be killed:
 * a test must never leave one behind, nor hide that hitless did.
 */
export async function endLeftovers(what: string, find: () => Proc[], timeoutMs = 10_000): Promise<void> {
  const haproxy = () => find().filter((p) => p.comm === 'haproxy');
  let stuck: Proc[] = [];
  await waitFor(`${what}: its HAProxy processes to exit`, () => haproxy().length === 0, { timeoutMs, intervalMs: 20 }).catch(() => {
    stuck = haproxy();
  });
  // Other processes of the tree (the supervisor's workers drain for up to 5 s after it dies) are not waited for.
  killAll(find());
  if (stuck.length > 0) {
    throw new Error(`${what}: HAProxy still running ${timeoutMs} ms after hitless ended; killed by pid: ${stuck.map((p) => `${p.pid} (${p.cmdline})`).join('; ')}`);
  }
}
