// Resident memory and open descriptors of a process tree, read from /proc, for the benches that
// report memory per connection. VmRSS (from /proc/PID/status) is what `ps` and `top` show; the
// kernel's socket buffers are not in it (they are kernel memory, not the process's pages).
import { readdirSync, readFileSync } from 'node:fs';
import { processTree } from '../../src/bench/torture/proc-sampler.js';

export interface ProcessMemory {
  readonly pid: number;
  /** The command name from /proc/PID/comm (node, haproxy, nginx). */
  readonly name: string;
  readonly rssBytes: number;
  readonly fds: number;
}

export interface TreeMemory {
  readonly processes: readonly ProcessMemory[];
  readonly rssBytes: number;
  readonly fds: number;
}

/** VmRSS of one process in bytes; 0 once it is gone. */
export function vmRssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? 0 : Number(kb) * 1024;
  } catch {
    return 0;
  }
}

/** Open file descriptors of one process (sockets included); 0 once it is gone. */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** `root` and every process below it (a supervisor and its worker, a master and its workers). */
export async function treeMemory(root: number): Promise<TreeMemory> {
  const pids = (await processTree([root])).sort((a, b) => a - b);
  const processes = pids.map((pid) => ({ pid, name: comm(pid), rssBytes: vmRssBytes(pid), fds: openFds(pid) }));
  return {
    processes,
    rssBytes: processes.reduce((sum, p) => sum + p.rssBytes, 0),
    fds: processes.reduce((sum, p) => sum + p.fds, 0),
  };
}

export const mb = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
