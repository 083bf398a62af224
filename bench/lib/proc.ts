// CPU time and memory of a process (tree), read from /proc, for the benches that report work per
// proxy-CPU-second. The tree walk is the torture bench's (src/bench/torture/proc-sampler.ts).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { processTree, sampleOnce } from '../../src/bench/torture/proc-sampler.js';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** utime + stime of one process, in seconds; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14, 15)
  } catch {
    return 0;
  }
}

/** utime + stime of `root` and every process below it, in seconds. */
export async function treeCpuSeconds(root: number): Promise<number> {
  return (await processTree([root])).reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

/** Process count and total RSS (MB) of `root` and every process below it. */
export async function treeRss(root: number): Promise<{ processes: number; rssMb: number }> {
  const s = await sampleOnce([root], 0);
  return { processes: s.processes, rssMb: Math.round(s.rssBytes / (1024 * 1024)) };
}
