// sd_notify(3) for a Type=notify systemd unit (docs/hitless.service), without a native module.
// The protocol is one datagram on the unix socket named by $NOTIFY_SOCKET, and Node has no unix
// datagram sockets; so the message goes through systemd's own `systemd-notify`, which is there
// wherever systemd is. The unit sets NotifyAccess=all because the sender is that child process,
// not hitless's main pid; systemd-notify waits (BARRIER=1) until systemd has read the message,
// so systemd still finds the sender in the service's cgroup and accepts it.
//
// What hitless sends: READY=1 with MAINPID= once every listener is bound and the workers serve
// (so `systemctl start` returns, and units ordered after hitless start, only then), and MAINPID=
// of the new supervisor during a supervisor upgrade, before the old one exits (else systemd
// would take the old supervisor's exit for the service's end and stop the new one).
import { execFile } from 'node:child_process';
import type { Logger } from '../observability/log.js';

export type NotifyFields = Readonly<Record<string, string | number>>;

/** systemd-notify's own wait for the barrier is 5 s; this bounds a hung binary. */
const NOTIFY_TIMEOUT_MS = 10_000;

/**
 * Sends `fields` (READY=1, MAINPID=…, STATUS=…) to systemd when $NOTIFY_SOCKET is set; resolves
 * false, doing nothing, when it is not (not under systemd, or Type= is not notify). A failure is
 * logged with its fix and resolves false: hitless keeps serving, and systemd, which waits for
 * READY=1, fails the start at TimeoutStartSec= with the reason in the journal.
 */
export function notifySystemd(fields: NotifyFields, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve(false);
  // One line per assignment: a newline inside a value would start another assignment.
  const assignments = Object.entries(fields).map(([key, value]) => `${key}=${String(value).replace(/[\r\n]+/g, ' ')}`);
  return new Promise((resolve) => {
    execFile('systemd-notify', assignments, { env, timeout: NOTIFY_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (!err) {
        log.debug({ notify: assignments }, 'told systemd');
        resolve(true);
        return;
      }
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'systemd-notify is not installed' : (stderr.trim() || err.message);
      log.error(
        { notify: assignments, err: reason },
        `cannot tell systemd ${assignments.join(' ')} through $NOTIFY_SOCKET (${env.NOTIFY_SOCKET}): ${reason}; the unit needs NotifyAccess=all and systemd-notify on PATH, or use Type=exec`,
      );
      resolve(false);
    });
  });
}
