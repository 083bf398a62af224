// Kernel counters that explain connection-level latency: a full accept queue drops SYNs, and the
// client's retransmit costs it 1 s (then 3 s). Loopback only, so the counter is this machine's.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * TcpExt ListenOverflows from /proc/net/netstat: SYNs or handshakes dropped because a listening
 * socket's accept queue was full. Machine-wide (every listening socket), so read it around a
 * window in which only the measured target sees bursts.
 */
export function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i].startsWith('TcpExt:')) continue;
    const names = lines[i].split(/\s+/);
    const values = lines[i + 1].split(/\s+/);
    const at = names.indexOf('ListenOverflows');
    return at >= 0 ? Number(values[at]) : NaN;
  }
  return NaN;
}

/** The accept-queue length (backlog) of the socket listening on 127.0.0.1:port, from ss (Send-Q). */
export function listenBacklog(port: number): number {
  const r = spawnSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
  const fields = (r.stdout ?? '').trim().split(/\s+/);
  return fields.length >= 3 ? Number(fields[2]) : NaN;
}
