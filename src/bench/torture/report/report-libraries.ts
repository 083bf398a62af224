// The chart libraries of `bench torture --report` (vega, vega-lite, @resvg/resvg-js: 29 MB with
// what they pull in, 40 % of the former production install) are optional peer dependencies: the
// proxy never needs them, so `npm ci --omit=dev` and `npm install hitless` leave them out. Loaded
// here, only for --report, and checked before the benchmark runs, so a missing one costs no run.
import { readFileSync } from 'node:fs';

export interface ReportLibraries {
  readonly vega: typeof import('vega');
  readonly vegaLite: typeof import('vega-lite');
  readonly resvg: typeof import('@resvg/resvg-js');
}

const LIBRARIES = ['vega', 'vega-lite', '@resvg/resvg-js'] as const;

/** What the command line reports as is (no stack): the fix is in the message. */
export class ReportLibrariesMissing extends Error {
  override readonly name = 'ReportLibrariesMissing';
}

let loading: Promise<ReportLibraries> | undefined;

/** The three libraries, or an error that names the missing ones and the command that installs them. */
export function loadReportLibraries(): Promise<ReportLibraries> {
  loading ??= (async () => {
    const missing: string[] = [];
    const optional = <T>(name: string, load: () => Promise<T>): Promise<T | undefined> =>
      load().catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ERR_MODULE_NOT_FOUND' && err.code !== 'MODULE_NOT_FOUND') throw err;
        // The package itself is absent (the usual case), or something it needs (resvg's binary).
        const first = err.message.split('\n')[0];
        missing.push(first.includes(`'${name}'`) ? name : `${name} (${first})`);
        return undefined;
      });
    const [vega, vegaLite, resvg] = await Promise.all([
      optional('vega', () => import('vega')),
      optional('vega-lite', () => import('vega-lite')),
      optional('@resvg/resvg-js', () => import('@resvg/resvg-js')),
    ]);
    if (!vega || !vegaLite || !resvg) throw new ReportLibrariesMissing(missingMessage(missing));
    return { vega, vegaLite, resvg };
  })();
  // A failed load is not cached: the libraries may be installed before the next try.
  loading.catch(() => (loading = undefined));
  return loading;
}

function missingMessage(missing: readonly string[]): string {
  const specs = LIBRARIES.map((name) => `${name}@${peerRange(name)}`).join(' ');
  return [
    `--report draws its charts with vega, vega-lite and @resvg/resvg-js, which a production install leaves out; cannot load ${missing.join(', ')}.`,
    `Install them where hitless is installed: npm install ${specs} (add -g for a global hitless), or run without --report (--json prints the results).`,
  ].join('\n');
}

/** The version range hitless declares for `name` (package.json peerDependencies), else "latest". */
function peerRange(name: string): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { peerDependencies?: Record<string, string> };
    return pkg.peerDependencies?.[name] ?? 'latest';
  } catch {
    return 'latest';
  }
}
