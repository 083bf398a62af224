// What `npm run build` leaves behind: a CLI that runs as the package's bin (execute bit set, so
// `npx hitless` works after any build), and a build that swaps dist/ in whole, so a second build
// meanwhile never sees it missing.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CLI, ROOT, assertBuilt } from './helpers/paths.js';

describe('npm run build', () => {
  it('leaves dist/cli/main.js executable, runnable directly as the bin', () => {
    assertBuilt();
    assert.ok((statSync(CLI).mode & 0o111) !== 0, `${CLI} has no execute bit`);
    const run = spawnSync(CLI, ['--version'], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^\d+\.\d+\.\d+/);
  });

  it('never removes dist/cli/main.js while a build runs', async () => {
    const build = spawn(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => build.once('exit', resolve));
    let missing = 0;
    let done = false;
    void exited.then(() => (done = true));
    // Bounded: a build takes seconds; this samples until it exits (or 120 s).
    const deadline = Date.now() + 120_000;
    while (!done && Date.now() < deadline) {
      if (!existsSync(CLI)) missing++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(await exited, 0);
    assert.equal(missing, 0, 'dist/cli/main.js was missing while the build ran');
    assert.ok((statSync(CLI).mode & 0o111) !== 0);
  });
});
