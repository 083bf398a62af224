// Issue 15, finding 1: a config applied through the admin API must not be undone by SIGHUP (or
// `systemctl reload`) or a restart. The rule (docs/operations.md, "Where the running config comes
// from"): an API apply is written to the config file atomically when hitless can write it, so file,
// running state and restart agree; when it cannot, the apply holds and the answer, the log and
// GET /status say loudly that the file differs. Real `hitless run`, real signals, and traffic
// through the proxy proving which config runs.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { CLI, ROOT } from './helpers/paths.js';
import { reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';
import { canDropPrivileges, spawnOnFile, waitAnswering, type FileProcess } from './helpers/config-file-process.js';
import { httpRequest, startBackend, type Backend } from './observability-helpers.js';

interface ConfigStatus {
  readonly hash: string;
  readonly source: string;
  readonly file: string | null;
  readonly fileDiffers: boolean | null;
  readonly warning: string | null;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('config applied through the admin API, then SIGHUP and restart', () => {
  let a: Backend;
  let b: Backend;
  let dir = '';
  let admin = { host: '127.0.0.1', port: 0 };
  let web = 0;
  let disc = 0;
  let running: FileProcess | null = null;

  /** The config text: `web` goes to `backend`; `disc` takes its endpoints from a discovery file. */
  const configFor = (backend: Backend, extraAdmin = '') => `# written by the test
admin: { listen: "127.0.0.1:${admin.port}"${extraAdmin} }
services:
  web: { mode: http, listen: "127.0.0.1:${web}", endpoints: ["${backend.address}"] }
  disc:
    mode: tcp
    listen: "127.0.0.1:${disc}"
    discovery: { file: { path: "${join(dir, 'endpoints.json')}" }, mode: replace }
`;

  /** Which backend the running config sends `web` to, proven by a request through the proxy. */
  const servedBy = async (): Promise<Backend> => {
    const res = await httpRequest({ host: '127.0.0.1', port: web }, 'GET', '/');
    assert.equal(res.status, 200, res.text);
    const port = /backend (\d+) says/.exec(res.text)?.[1];
    if (port === a.address.split(':')[1]) return a;
    if (port === b.address.split(':')[1]) return b;
    throw new Error(`unexpected answer ${res.text}`);
  };
  const status = async () => JSON.parse((await httpRequest(admin, 'GET', '/status')).text) as { config: ConfigStatus; applyStats: { count: Record<string, number> } };
  const sighups = async () => {
    const { count } = (await status()).applyStats;
    return (count['sighup/applied'] ?? 0) + (count['sighup/noop'] ?? 0) + (count['sighup/rejected'] ?? 0);
  };
  /** Sends SIGHUP and waits until its re-read has been applied (or found unchanged). */
  const reload = async (p: FileProcess) => {
    const seen = await sighups();
    p.signal('SIGHUP');
    await waitFor('the SIGHUP re-read', async () => (await sighups()) > seen);
  };
  const put = (text: string) => httpRequest(admin, 'PUT', '/config', text, { 'content-type': 'application/yaml' });

  before(async () => {
    [a, b] = await Promise.all([startBackend(), startBackend()]);
    dir = mkdtempSync(join(tmpdir(), 'hitless-persist-'));
    admin = { host: '127.0.0.1', port: await reservePort() };
    web = await reservePort();
    disc = await reservePort();
    writeFileSync(join(dir, 'endpoints.json'), JSON.stringify([a.address]));
  });

  after(async () => {
    await running?.stop();
    await Promise.all([a?.close(), b?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGHUP and a restart keep a config applied through PUT /config; the file holds the submitted text', async () => {
    const path = join(dir, 'hitless.yaml');
    const v1 = configFor(a);
    writeFileSync(path, v1, { mode: 0o640 });
    chmodSync(path, 0o640);
    running = spawnOnFile(path);
    await waitAnswering(running, admin);
    assert.equal(await servedBy(), a);
    assert.deepEqual(
      { source: (await status()).config.source, fileDiffers: (await status()).config.fileDiffers },
      { source: 'file', fileDiffers: false },
    );

    const v2 = configFor(b).replace('# written by the test', '# applied through the API');
    const res = await put(v2);
    assert.equal(res.status, 200, res.text);
    assert.equal(await servedBy(), b);
    const answer = JSON.parse(res.text) as { file: { written: boolean; path: string; differs: boolean; backup: string } };
    assert.equal(answer.file.written, true, res.text);
    assert.equal(answer.file.differs, false);
    // The operator's text, byte for byte: not the config assembled with discovered endpoints.
    assert.equal(readFileSync(path, 'utf8'), v2);
    assert.equal(readFileSync(`${path}.prev`, 'utf8'), v1, 'the previous file is kept as FILE.prev');
    assert.equal(statSync(path).mode & 0o777, 0o640, 'the file mode is kept');
    assert.equal(statSync(`${path}.prev`).mode & 0o777, 0o640, 'the backup gets the same mode (it may hold tokens)');
    assert.deepEqual(readdirSync(dir).sort(), ['endpoints.json', 'hitless.yaml', 'hitless.yaml.prev'], 'no temporary file is left behind');
    const afterPut = (await status()).config;
    assert.equal(afterPut.source, 'api');
    assert.equal(afterPut.fileDiffers, false);
    assert.equal(afterPut.file, path);

    await reload(running);
    assert.equal(await servedBy(), b, 'SIGHUP keeps the config applied through the API');

    await running.stop();
    running = spawnOnFile(path);
    await waitAnswering(running, admin);
    assert.equal(await servedBy(), b, 'a restart keeps the config applied through the API');
    assert.deepEqual({ source: (await status()).config.source, fileDiffers: (await status()).config.fileDiffers }, { source: 'file', fileDiffers: false });
  });

  it('shows a file changed on disk after an API apply as differing until SIGHUP applies it (the file wins)', async () => {
    assert.ok(running, 'runs after the previous test');
    const path = join(dir, 'hitless.yaml');
    assert.equal((await put(configFor(b).replace('# written by the test', '# again through the API'))).status, 200);
    const edited = configFor(a).replace('# written by the test', '# edited by the operator');
    writeFileSync(path, edited);
    const seen = await waitFor('status to notice the edited file', async () => ((await status()).config.fileDiffers === true ? (await status()).config : undefined));
    assert.equal(seen.source, 'api');
    assert.match(String(seen.warning), /differs from the running config \(the file changed on disk since hitless loaded or wrote it\)/);
    assert.equal(await servedBy(), b, 'nothing changes before the SIGHUP');
    await reload(running);
    assert.equal(await servedBy(), a);
    const now = (await status()).config;
    assert.deepEqual({ source: now.source, fileDiffers: now.fileDiffers, warning: now.warning }, { source: 'file', fileDiffers: false, warning: null });
  });

  it('orders SIGHUPs that arrive during API applies: the last apply is what runs and what the file holds', async () => {
    assert.ok(running);
    const path = join(dir, 'hitless.yaml');
    for (let round = 0; round < 6; round++) {
      const target = round % 2 === 0 ? b : a;
      const text = configFor(target).replace('# written by the test', `# round ${round}`);
      const seen = await sighups();
      // The SIGHUP lands while the PUT is read, queued or applied.
      const answer = put(text);
      running.signal('SIGHUP');
      assert.equal((await answer).status, 200);
      await waitFor('the SIGHUP re-read', async () => (await sighups()) > seen);
      assert.equal(await servedBy(), target, `round ${round}: the applied config still runs after the SIGHUP`);
      assert.equal(readFileSync(path, 'utf8'), text);
      assert.equal((await status()).config.fileDiffers, false);
    }
  });

  it('admin.api_apply: keep-file applies without writing and says the file differs; refuse answers 403 and changes nothing', async () => {
    assert.ok(running);
    const path = join(dir, 'hitless.yaml');
    const keep = configFor(a, ', api_apply: keep-file');
    writeFileSync(path, keep);
    await reload(running);
    assert.equal(await servedBy(), a);
    const res = await put(configFor(b, ', api_apply: keep-file'));
    assert.equal(res.status, 200, res.text);
    assert.equal(await servedBy(), b);
    const answer = JSON.parse(res.text) as { file: { written: boolean; differs: boolean }; warning: string };
    assert.deepEqual({ written: answer.file.written, differs: answer.file.differs }, { written: false, differs: true });
    assert.match(answer.warning, /keep-file/);
    assert.equal(readFileSync(path, 'utf8'), keep, 'keep-file never touches the file');
    const seen = (await status()).config;
    assert.deepEqual({ source: seen.source, fileDiffers: seen.fileDiffers }, { source: 'api', fileDiffers: true });
    assert.match(running.logs(), /not written to the config file/);

    const refuse = configFor(a, ', api_apply: refuse');
    writeFileSync(path, refuse);
    await reload(running);
    assert.equal(await servedBy(), a);
    const refused = await put(configFor(b, ', api_apply: refuse'));
    assert.equal(refused.status, 403, refused.text);
    assert.equal(JSON.parse(refused.text).error.code, 'HITLESS_ERR_API_APPLY_REFUSED');
    assert.equal(await servedBy(), a, 'a refused apply changes nothing');
    assert.equal(readFileSync(path, 'utf8'), refuse);
  });
});

describe('config file that hitless cannot write', { skip: canDropPrivileges() ? false : 'running as root without setpriv: cannot make a file read-only for hitless' }, () => {
  let a: Backend;
  let b: Backend;
  let dir = '';
  let running: FileProcess | null = null;

  before(async () => {
    [a, b] = await Promise.all([startBackend(), startBackend()]);
    dir = mkdtempSync(join(tmpdir(), 'hitless-readonly-'));
  });

  after(async () => {
    await running?.stop();
    await Promise.all([a?.close(), b?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies through the API, says loudly that the file differs, and SIGHUP then loads the file', async () => {
    const admin = { host: '127.0.0.1', port: await reservePort() };
    const web = await reservePort();
    const configFor = (backend: Backend) => `admin: { listen: "127.0.0.1:${admin.port}" }
services:
  web: { mode: http, listen: "127.0.0.1:${web}", endpoints: ["${backend.address}"] }
`;
    const path = join(dir, 'hitless.yaml');
    const v1 = configFor(a);
    writeFileSync(path, v1);
    // Readable by everyone, writable by nobody but its owner (root, when the test runs as root:
    // hitless then runs as nobody), in a directory only its owner may create files in.
    chmodSync(path, 0o444);
    chmodSync(dir, 0o755);
    running = spawnOnFile(path, { unprivileged: true });
    await waitAnswering(running, admin);
    const via = async () => (await httpRequest({ host: '127.0.0.1', port: web }, 'GET', '/')).text;
    assert.match(await via(), new RegExp(`backend ${a.address.split(':')[1]} `));

    const res = await httpRequest(admin, 'PUT', '/config', configFor(b), { 'content-type': 'application/yaml' });
    assert.equal(res.status, 200, res.text);
    assert.match(await via(), new RegExp(`backend ${b.address.split(':')[1]} `), 'the apply holds');
    const answer = JSON.parse(res.text) as { file: { written: boolean; differs: boolean; error: string }; warning: string };
    assert.equal(answer.file.written, false);
    assert.equal(answer.file.differs, true);
    assert.match(answer.file.error, /EACCES|permission/i);
    assert.match(answer.warning, /SIGHUP or a restart/);
    assert.equal(readFileSync(path, 'utf8'), v1, 'the file is untouched');
    const config = (JSON.parse((await httpRequest(admin, 'GET', '/status')).text) as { config: ConfigStatus }).config;
    assert.equal(config.source, 'api');
    assert.equal(config.fileDiffers, true);
    assert.match(String(config.warning), /differs from the running config \(applied through the admin API and not written to the file\): SIGHUP or a restart will load/);
    assert.match(running.logs(), /not written to the config file/);
    assert.notEqual(config.hash, sha256(v1));
    // The same text again through the CLI: a noop, and the warning again, on stderr.
    const again = join(tmpdir(), `hitless-readonly-apply-${process.pid}.yaml`);
    writeFileSync(again, configFor(b));
    const cli = spawnSync(process.execPath, [CLI, 'apply', again, '--admin', `127.0.0.1:${admin.port}`], { cwd: ROOT, encoding: 'utf8' });
    rmSync(again, { force: true });
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /^noop: identical config/);
    assert.match(cli.stderr, /^warning: .*hitless\.yaml could not be written \(EACCES/);

    running.signal('SIGHUP');
    await waitFor('SIGHUP to load the file again', async () => ((await via()).includes(`backend ${a.address.split(':')[1]} `) ? true : undefined));
    const reloaded = (JSON.parse((await httpRequest(admin, 'GET', '/status')).text) as { config: ConfigStatus }).config;
    assert.deepEqual({ source: reloaded.source, fileDiffers: reloaded.fileDiffers }, { source: 'file', fileDiffers: false });
  });
});

describe('supervisor upgrade after an API apply that was not written', () => {
  let a: Backend;
  let b: Backend;
  let dir = '';
  let running: FileProcess | null = null;
  let successor = 0;

  before(async () => {
    [a, b] = await Promise.all([startBackend(), startBackend()]);
    dir = mkdtempSync(join(tmpdir(), 'hitless-handover-'));
  });

  after(async () => {
    await running?.stop();
    if (successor > 0) {
      // The new supervisor is no child of this test: stop it by its pid, and wait (bounded) for it to go.
      try {
        process.kill(successor, 'SIGTERM');
        await waitFor('the new supervisor to exit', () => {
          try {
            process.kill(successor, 0);
            return false;
          } catch {
            return true;
          }
        });
      } catch {
        /* already gone */
      }
    }
    await Promise.all([a?.close(), b?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the running config, its source (api) and fileDiffers in the new supervisor', async () => {
    const admin = { host: '127.0.0.1', port: await reservePort() };
    const web = await reservePort();
    const configFor = (backend: Backend) => `admin: { listen: "127.0.0.1:${admin.port}", api_apply: keep-file }
services:
  web: { mode: http, listen: "127.0.0.1:${web}", endpoints: ["${backend.address}"] }
`;
    const path = join(dir, 'hitless.yaml');
    writeFileSync(path, configFor(a));
    running = spawnOnFile(path);
    await waitAnswering(running, admin);
    assert.equal((await httpRequest(admin, 'PUT', '/config', configFor(b))).status, 200);
    const upgrade = await httpRequest(admin, 'POST', '/upgrade?supervisor=1', undefined, {}, 30_000);
    assert.equal(upgrade.status, 200, upgrade.text);
    successor = (JSON.parse(upgrade.text) as { supervisorPid: number }).supervisorPid;
    const doc = await waitFor('the new supervisor to answer GET /status', async () => {
      const res = await httpRequest(admin, 'GET', '/status', undefined, {}, 2_000).catch(() => null);
      const parsed = res?.status === 200 ? (JSON.parse(res.text) as { pid: number; config: ConfigStatus }) : null;
      return parsed?.pid === successor ? parsed : undefined;
    }, { timeoutMs: 30_000 });
    assert.deepEqual({ source: doc.config.source, fileDiffers: doc.config.fileDiffers }, { source: 'api', fileDiffers: true });
    const res = await httpRequest({ host: '127.0.0.1', port: web }, 'GET', '/');
    assert.match(res.text, new RegExp(`backend ${b.address.split(':')[1]} `), 'the new supervisor runs the applied config, not the file');
  });
});
