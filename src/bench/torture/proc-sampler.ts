// Process count and total RSS of the target's process tree, read from /proc. Roots can change
// during a run (haproxy -sf starts a new daemon per reload), so the caller hands over a function;
// every root ever seen stays watched while it is alive, old generations included.
import { readdir, readFile } from 'node:fs/promises';

export interface ProcSample {
  readonly tMs: number;
  readonly processes: number;
  readonly rssBytes: number;
}

const PAGE_SIZE = 4096;

/** Reads pid → parent pid for every process; the snapshot is racy by nature, which is fine. */
async function parentMap(): Promise<Map<number, number>> {
  const parents = new Map<number, number>();
  const entries = await readdir('/proc').catch(() => [] as string[]);
  await Promise.all(
    entries
      .filter((name) => /^\d+$/.test(name))
      .map(async (name) => {
        const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => undefined);
        // The command name is in parentheses and may contain spaces: parse after the last ")".
        const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (fields && fields[0] !== 'Z') parents.set(Number(name), Number(fields[1]));
      }),
  );
  return parents;
}

export async function processTree(roots: readonly number[]): Promise<number[]> {
  const parents = await parentMap();
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const seen = new Set<number>();
  const queue = roots.filter((pid) => parents.has(pid));
  while (queue.length > 0 && seen.size < 10_000) {
    const pid = queue.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return [...seen];
}

async function rssBytes(pid: number): Promise<number> {
  const statm = await readFile(`/proc/${pid}/statm`, 'utf8').catch(() => '');
  return Number(statm.split(' ')[1] ?? 0) * PAGE_SIZE;
}

export async function sampleOnce(roots: readonly number[], tMs: number): Promise<ProcSample> {
  const pids = await processTree(roots);
  const rss = await Promise.all(pids.map(rssBytes));
  return { tMs, processes: pids.length, rssBytes: rss.reduce((a, b) => a + b, 0) };
}

/** Samples every intervalMs until stopped; at most maxSamples (the run's bounds apply here too). */
export function startSampler(
  roots: () => readonly number[],
  now: () => number,
  intervalMs = 250,
  maxSamples = 20_000,
): { stop(): Promise<ProcSample[]> } {
  const samples: ProcSample[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped && samples.length < maxSamples) {
      const started = now();
      const pids = roots();
      if (pids.length > 0) samples.push(await sampleOnce(pids, Math.round(started)));
      await new Promise((r) => setTimeout(r, Math.max(10, intervalMs - (now() - started))));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return samples;
    },
  };
}
