// Which servers a process is connected to, read from the kernel (/proc/PID/fd and /proc/net/tcp):
// an independent witness, outside the process, of where its client connections go.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

const ESTABLISHED = '01';

/** Remote ports of the established TCP connections of `pid` and its child processes. */
export function connectedPorts(pid: number): Set<number> {
  const inodes = new Set([pid, ...childrenOf(pid)].flatMap(socketInodes));
  return new Set(established().filter((e) => inodes.has(e.inode)).map((e) => e.remotePort));
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

function established(): Array<{ remotePort: number; inode: string }> {
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
      .filter((f) => f.length > 9 && f[3] === ESTABLISHED)
      .map((f) => ({ remotePort: parseInt(f[2].split(':')[1], 16), inode: f[9] }));
  });
}
