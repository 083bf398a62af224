// npm's `prepare` (run by `npm install` / `npm ci` in a clone, and by `npm pack`): build dist/ when
// the build tools are installed. `npm ci --omit=dev` has no typescript (a dev dependency), so it
// cannot build; it used to fail there. It now succeeds and says how to get a runnable hitless:
// a production install needs dist/, which either a full install builds or a packed tarball brings.
// Plain JavaScript: it runs before anything is compiled.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import process from 'node:process';
import { URL } from 'node:url';

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  tsc = undefined;
}

if (tsc === undefined) {
  const built = existsSync(new URL('../dist/cli/main.js', import.meta.url));
  process.stderr.write(
    built
      ? 'hitless: typescript is not installed (npm ci --omit=dev): dist/ was not rebuilt; the one present is used.\n'
      : [
          'hitless: typescript is not installed (npm ci --omit=dev), so dist/ was not built and `hitless` cannot run from this folder yet.',
          'For a production install, either build once with the dev dependencies and then drop them:',
          '  npm ci && npm run build && npm prune --omit=dev',
          'or install a package built where the dev dependencies are (it contains dist/):',
          '  npm pack   # then, where hitless runs: npm install --omit=dev ./hitless-<version>.tgz',
          '',
        ].join('\n'),
  );
  process.exit(0);
}

const build = spawnSync(process.execPath, [new URL('build.mjs', import.meta.url).pathname], { stdio: 'inherit' });
process.exit(build.status ?? 1);
