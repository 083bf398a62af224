// HAProxy must not outlive the hitless that started it. On SIGTERM/SIGINT hitless stops it itself
// (HaproxyProcess.stop), but a hitless that is SIGKILLed, OOM-killed or crashes runs no more code:
// its HAProxy would keep serving a config nobody updates any more, on ports a restarted hitless
// binds again (HAProxy sets SO_REUSEPORT, so both would take connections). HAProxy 2.6 has no option
// to watch its parent; Linux has one, the parent-death signal (prctl PR_SET_PDEATHSIG), which
// util-linux's `setpriv --pdeathsig` sets before it execs HAProxy. It survives exec (so also the
// master's re-exec on every reload) and keeps the pid. The signal is SIGUSR1, HAProxy's soft stop,
// as on hitless's own graceful stop: the listeners close at once, open connections finish, bounded
// by hard-stop-after.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PARENT_DEATH_SIGNAL = 'USR1';
const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv'];

let found: string | null | undefined;

/** The setpriv that takes --pdeathsig (util-linux ≥ 2.33), or null; probed once per process. */
export function setprivWithPdeathsig(): string | null {
  if (found !== undefined) return found;
  found = null;
  for (const path of SETPRIV_PATHS) {
    if (!existsSync(path)) continue;
    // An older setpriv refuses the option: it would then fail every HAProxy start, so probe it.
    const probe = spawnSync(path, ['--pdeathsig', PARENT_DEATH_SIGNAL, '--', 'true'], { stdio: 'ignore', timeout: 5_000 });
    if (probe.status === 0) found = path;
    break;
  }
  return found;
}

/**
 * The command that runs `binary args` with the parent-death signal set (HAProxy's soft stop unless
 * `signal` says otherwise), or null when this host cannot.
 */
export function withParentDeathSignal(binary: string, args: readonly string[], signal: string = PARENT_DEATH_SIGNAL): { command: string; args: string[] } | null {
  const setpriv = setprivWithPdeathsig();
  return setpriv ? { command: setpriv, args: ['--pdeathsig', signal, '--', binary, ...args] } : null;
}
