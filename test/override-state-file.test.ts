// The endpoint overrides' state file: where it goes by default (systemd's $STATE_DIRECTORY, else
// next to the config), written whole and atomically (no temp file left, mode 0600), read back
// field by field as hostile input; a file that cannot be used never stops hitless (it is moved
// aside and the reason shown), and a change that cannot be written is in force and says so.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { defaultStateFile, readOverrideFile, writeOverrideFile } from '../src/control/override-file.js';
import { Hitless } from '../src/hitless.js';
import { silentLogger } from '../src/observability/log.js';
import { adminRequest } from './helpers/admin.js';
import { portInRange } from './helpers/port-range.js';

const dir = mkdtempSync(join(tmpdir(), 'hitless-override-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('endpoint override state file', () => {
  it('defaults to $STATE_DIRECTORY (systemd), else next to the config, else none', () => {
    assert.equal(defaultStateFile('/etc/hitless/hitless.yaml', { STATE_DIRECTORY: '/var/lib/hitless' }), '/var/lib/hitless/endpoint-overrides.json');
    assert.equal(defaultStateFile('/etc/hitless/hitless.yaml', { STATE_DIRECTORY: '/var/lib/a:/var/lib/b' }), '/var/lib/a/endpoint-overrides.json');
    assert.equal(defaultStateFile('/srv/hitless.yaml', {}), '/srv/hitless.yaml.overrides.json');
    assert.equal(defaultStateFile(undefined, {}), null);
  });

  it('is replaced whole, with no temp file left, mode 0600, and read back', async () => {
    const file = join(dir, 'roundtrip.json');
    const records = [
      { service: 'web', address: '10.0.0.1:80', state: 'drain' as const, weight: null, since: '2026-01-01T00:00:00.000Z', by: 'alice@host (unix)' },
      { service: 'web', address: '[::1]:81', state: null, weight: 7, since: '2026-01-01T00:00:01.000Z', by: 'unix' },
    ];
    await writeOverrideFile(file, records);
    await writeOverrideFile(file, records.slice(1));
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('roundtrip')), ['roundtrip.json']);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual((await readOverrideFile(file)).records, records.slice(1));
    assert.deepEqual(await readOverrideFile(join(dir, 'absent.json')), { records: [], skipped: [] });
  });

  it('reads entries as hostile input: a bad one is left out with its reason, the rest kept', async () => {
    const file = join(dir, 'mixed.json');
    const good = { service: 'web', address: '10.0.0.1:80', state: 'maint', weight: 3, since: '2026-01-01T00:00:00.000Z', by: 'x' };
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        overrides: [good, { ...good, address: '10.0.0.2' }, { ...good, address: '10.0.0.3:80', weight: 5000 }, { ...good, address: '10.0.0.4:80', state: 'up' }, good, 'junk', { ...good, service: '../x' }, { ...good, address: '10.0.0.5:80', state: null, weight: null }],
      }),
    );
    const { records, skipped } = await readOverrideFile(file);
    assert.deepEqual(records, [good]);
    assert.equal(skipped.length, 7, skipped.join('\n'));
    assert.match(skipped.join('\n'), /overrides\[1\]: address/);
    assert.match(skipped.join('\n'), /overrides\[2\]: weight/);
    assert.match(skipped.join('\n'), /overrides\[4\]: a second entry/);
    writeFileSync(file, '{"version": 2, "overrides": []}');
    await assert.rejects(readOverrideFile(file), /not a hitless override file/);
    writeFileSync(file, '{');
    await assert.rejects(readOverrideFile(file), /is not JSON/);
  });

  it('a file that cannot be used is moved aside; hitless starts, and a change that cannot be written is in force and says so', async () => {
    const port = await portInRange(['127.0.0.1']);
    const admin = join(dir, 'admin.sock');
    const text = `admin: { listen: "unix:${admin}" }\nservices:\n  echo: { mode: tcp, listen: "127.0.0.1:${port}", endpoints: ["127.0.0.1:9"] }\n`;
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, 'not json at all');
    let h = await Hitless.start({ snapshot: parseConfig(text, 'test.yaml'), log: silentLogger(), stateFile: broken });
    try {
      const listing = (await adminRequest(admin, 'GET', '/overrides')).json<{ stateFileError: string | null; overrides: unknown[] }>();
      assert.match(listing.stateFileError ?? '', /not JSON.*moved to .*broken\.json\.invalid.*started without overrides/);
      assert.deepEqual(listing.overrides, []);
      assert.equal(readFileSync(`${broken}.invalid`, 'utf8'), 'not json at all');
      // Once a change is written, the file matches the table again.
      const r = await adminRequest(admin, 'POST', '/overrides/echo/127.0.0.1:9', '{"state":"drain"}');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json<{ persisted: boolean }>().persisted, true);
      assert.equal((await adminRequest(admin, 'GET', '/overrides')).json<{ stateFileError: string | null }>().stateFileError, null);
    } finally {
      await h.stop(0);
    }
    const unwritable = join(dir, 'no-such-folder', 'overrides.json');
    h = await Hitless.start({ snapshot: parseConfig(text, 'test.yaml'), log: silentLogger(), stateFile: unwritable });
    try {
      const r = await adminRequest(admin, 'POST', '/overrides/echo/127.0.0.1:9', '{"weight":4}');
      assert.equal(r.status, 200, r.text);
      const answer = r.json<{ persisted: boolean; warnings: string[]; override: { weight: number } }>();
      assert.equal(answer.persisted, false);
      assert.equal(answer.override.weight, 4);
      assert.match(answer.warnings.join('\n'), /not written to the state file .*no-such-folder.*a restart would lose it/);
      const status = (await adminRequest(admin, 'GET', '/status')).json<{ overrides: { stateFileError: string }; services: Array<{ endpoints: Array<{ weight: number }> }> }>();
      assert.match(status.overrides.stateFileError, /ENOENT/);
      assert.equal(status.services[0].endpoints[0].weight, 4, 'in force although not persisted');
      assert.ok(!existsSync(unwritable));
    } finally {
      await h.stop(0);
    }
  });
});
