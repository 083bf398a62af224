// Where a Node process's CPU went, from a --cpu-prof profile (bench:http's summary, shared), and
// from `perf record` for the native side (OpenSSL, libuv, V8), which --cpu-prof shows as "(program)".
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export function summariseProfile(file: string, root: string): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[] };
  // Percentages of busy samples: "(idle)" is time the process waited, not CPU it used.
  const idle = profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
  const total = profile.samples.length - idle;
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (!hits || node.callFrame.functionName === '(idle)') continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url.replace(/^file:\/\//, '').replace(root, '');
    const fn = `${functionName || '(anonymous)'} ${where ? `${where.split('/').slice(-2).join('/')}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + hits);
    const module =
      !url ? functionName // (program), (garbage collector), (idle), native
      : url.includes('node_modules/undici') ? 'undici'
      : url.startsWith('node:internal/http') || url.includes('_http_') ? 'node:http'
      : url.startsWith('node:internal/streams') || url.includes('stream') ? 'node:streams'
      : url.startsWith('node:') ? 'node: other'
      : url.includes('/dist/') || url.includes('/src/') ? 'hitless'
      : 'other';
    byModule.set(module, (byModule.get(module) ?? 0) + hits);
  }
  const pct = (n: number) => `${((100 * n) / total).toFixed(1)}%`.padStart(6);
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `  ${pct(v)}  ${k}`)
      .join('\n');
  return `busy samples: ${total} (idle: ${idle}); percentages are of busy time\nby module (self time):\n${top(byModule, 12)}\ntop functions (self time):\n${top(byFunction, 30)}`;
}


/** `perf report` of a perf.data file: the top symbols by self time, with their library. */
export function summarisePerf(file: string, lines = 35): string {
  const out = execFileSync('perf', ['report', '-i', file, '--stdio', '--no-children', '--sort', 'dso,sym', '--percent-limit', '0.7'], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  const rows = out.split('\n').filter((l) => /^\s+[\d.]+%/.test(l));
  const byDso = new Map<string, number>();
  const all = execFileSync('perf', ['report', '-i', file, '--stdio', '--no-children', '--sort', 'dso'], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  for (const l of all.split('\n')) {
    const m = /^\s+([\d.]+)%\s+(\S.*)$/.exec(l);
    if (m) byDso.set(m[2].trim(), Number(m[1]));
  }
  const dsos = [...byDso.entries()].slice(0, 10).map(([d, p]) => `  ${p.toFixed(1).padStart(5)}%  ${d}`).join('\n');
  return `by library (self time):\n${dsos}\ntop symbols (self time):\n${rows.slice(0, lines).map((r) => `  ${r.trim().replace(/\s+/g, ' ')}`).join('\n')}`;
}
