// `npm run build`: compile into a fresh folder next to dist/, make the CLI executable, then move
// each file into dist/ by rename (atomic per file) and remove what the new build no longer has.
// A test run or a second build reading dist/ meanwhile never finds a file missing (the old way,
// rm -rf dist then tsc, left it empty for seconds), and `npx hitless` keeps working after every
// build (tsc writes files without the execute bit the bin needs). Plain JavaScript: it runs
// before anything is compiled.
import { execFileSync } from 'node:child_process';
import process from 'node:process';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const fresh = `dist.build-${process.pid}`;
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', fresh], { stdio: 'inherit' });
} catch {
  rmSync(fresh, { recursive: true, force: true });
  process.exit(1);
}
chmodSync(join(fresh, 'cli', 'main.js'), 0o755);
moveInto(fresh, 'dist');
rmSync(fresh, { recursive: true, force: true });

/** Moves every file of `from` into `to` (same relative path), then drops what `to` has beyond it. */
function moveInto(from, to) {
  mkdirSync(to, { recursive: true });
  const wanted = new Set();
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    wanted.add(entry.name);
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    // A name that changed between file and folder is replaced whole (the only non-atomic case).
    if (existsSync(target) && statSync(target).isDirectory() !== entry.isDirectory()) rmSync(target, { recursive: true, force: true });
    if (entry.isDirectory()) moveInto(source, target);
    else renameSync(source, target);
  }
  for (const name of readdirSync(to)) if (!wanted.has(name)) rmSync(join(to, name), { recursive: true, force: true });
}
