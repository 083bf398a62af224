// replaceFileAtomically, which writes a config applied through the admin API into the config file:
// the content is the old one or the new one, never a mix; the previous one is kept as FILE.prev
// with the same mode; a symlinked file keeps its link; nothing temporary is left behind.
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { replaceFileAtomically } from '../src/util/atomic-file.js';

describe('replaceFileAtomically', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hitless-atomic-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('replaces the content, keeps the previous one as FILE.prev, both with the file mode', async () => {
    const file = join(dir, 'a.yaml');
    writeFileSync(file, 'old\n', { mode: 0o640 });
    const result = await replaceFileAtomically(file, 'new\n');
    assert.deepEqual(result, { path: file, backup: `${file}.prev` });
    assert.equal(readFileSync(file, 'utf8'), 'new\n');
    assert.equal(readFileSync(`${file}.prev`, 'utf8'), 'old\n');
    assert.equal(statSync(file).mode & 0o777, 0o640);
    assert.equal(statSync(`${file}.prev`).mode & 0o777, 0o640);
    await replaceFileAtomically(file, 'newer\n');
    assert.equal(readFileSync(`${file}.prev`, 'utf8'), 'new\n', 'the backup is the content just replaced');
  });

  it('creates a missing file with mode 0600 and no backup', async () => {
    const file = join(dir, 'b.yaml');
    assert.deepEqual(await replaceFileAtomically(file, 'x\n'), { path: file, backup: null });
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it('writes the target of a symlink and leaves the link in place', async () => {
    const target = join(dir, 'release.yaml');
    const link = join(dir, 'link.yaml');
    writeFileSync(target, 'v1\n');
    symlinkSync(target, link);
    const result = await replaceFileAtomically(link, 'v2\n');
    assert.equal(result.path, target);
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), target);
    assert.equal(readFileSync(link, 'utf8'), 'v2\n');
    assert.equal(readFileSync(`${target}.prev`, 'utf8'), 'v1\n');
  });

  it('leaves one whole content and no temporary file when writers race', async () => {
    const file = join(dir, 'race.yaml');
    writeFileSync(file, 'start\n');
    const texts = Array.from({ length: 20 }, (_, i) => `writer ${i}\n`.repeat(1000));
    await Promise.all(texts.map((t) => replaceFileAtomically(file, t)));
    assert.ok(texts.includes(readFileSync(file, 'utf8')), 'the file holds exactly one writer\'s text');
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
  });
});
