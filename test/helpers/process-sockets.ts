// Which servers a process is connected to, read from the kernel (/proc/PID/fd and /proc/net/tcp):
// an independent witness, outside the process, of where its client connections go.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** /proc/net/tcp's state codes (include/net/tcp_states.h). */
const STATES: Record<string, string> = {
  '01': 'ESTABLISHED', '02': 'SYN-SENT', '03': 'SYN-RECV', '04': 'FIN-WAIT-1', '05': 'FIN-WAIT-2', '06': 'TIME-WAIT',
  '07': 'CLOSE', '08': 'CLOSE-WAIT', '09': 'LAST-ACK', '0A': 'LISTEN', '0B': 'CLOSING', '0C': 'NEW-SYN-RECV',
};

/** One TCP socket a process holds (an fd of it or of a child), in whatever state. */
export interface HeldSocket {
  /** The kernel's id of the socket: the same connection keeps it for its whole life. */
  readonly inode: string;
  readonly localPort: number;
  readonly remotePort: number;
  readonly state: string;
  /** Bytes received and not yet read by the process (a stopped process reads nothing). */
  readonly unread: number;
}

/** Remote ports of the established TCP connections of `pid` and its child processes. */
export function connectedPorts(pid: number): Set<number> {
  return new Set(heldSockets(pid).filter((s) => s.state === 'ESTABLISHED').map((s) => s.remotePort));
}

/**
 * Every TCP socket `pid` (and its children, unless `children` is false) holds, in any state: a
 * half-closed connection (FIN-WAIT-2, its peer not answering the close) is still one the process
 * keeps open. Sockets the process let go of (the kernel finishing a close alone) are not listed.
 */
export function heldSockets(pid: number, { children = true } = {}): HeldSocket[] {
  const inodes = new Set([pid, ...(children ? childrenOf(pid) : [])].flatMap(socketInodes));
  return tcpTable().filter((s) => s.inode !== '0' && inodes.has(s.inode));
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** Inodes of the sockets `pid` has open ("socket:[123]" links in /proc/PID/fd). */
function socketInodes(pid: number): string[] {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const inodes: string[] = [];
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.push(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  return inodes;
}

/**
 * Every TCP socket of the host, held or not: a connection a stopped server has not accepted yet
 * (inode 0, in its listening socket's queue) is listed too.
 */
export function tcpTable(): HeldSocket[] {
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f.length > 9)
      .map((f) => ({
        inode: f[9],
        localPort: parseInt(f[1].split(':')[1], 16),
        remotePort: parseInt(f[2].split(':')[1], 16),
        state: STATES[f[3]] ?? f[3],
        unread: parseInt(f[4].split(':')[1], 16),
      }));
  });
}
