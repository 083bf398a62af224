// The systemd unit (docs/hitless.service), issue 15 finding 8. systemd is not PID 1 here, so the
// unit is checked by systemd-analyze (verify, and a security exposure of 4 or less), and its own
// command lines (ExecStart=, ExecReload=) are run as systemd would run them: with the service's
// $RUNTIME_DIRECTORY and a $NOTIFY_SOCKET that this test reads. What they must do:
// - ExecStart= tells systemd READY=1 (and its MAINPID) once it serves, not before;
// - ExecReload= applies the file SIGHUP would, and fails, with the reason, when it is rejected;
// - the admin socket is in the RuntimeDirectory, where the CLI finds it without --admin;
// - a supervisor upgrade hands MAINPID to the new supervisor before the old one exits.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SYSTEMD_ADMIN_SOCKET, clientAdminDefault, defaultAdminListen } from '../src/config/admin-default.js';
import { adminRequest } from './helpers/admin.js';
import { startEchoServer, type EchoServer } from './helpers/echo-server.js';
import { NotifySocket } from './helpers/notify-socket.js';
import { CLI, ROOT, assertBuilt } from './helpers/paths.js';
import { reservePort } from './helpers/ports.js';
import { reapOnExit } from './helpers/reap.js';
import { waitFor } from './helpers/wait.js';

const UNIT = join(ROOT, 'docs', 'hitless.service');
const unitText = readFileSync(UNIT, 'utf8');
const has = (binary: string) => spawnSync('sh', ['-c', `command -v ${binary}`]).status === 0;

/** The values of `key=` in the unit, in order. */
function directive(key: string): string[] {
  return unitText.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

/** A command line of the unit, with node, the CLI and the config file pointed at this checkout. */
function unitCommand(key: string, config: string): string[] {
  const [line] = directive(key);
  assert.ok(line, `${key}= is missing from ${UNIT}`);
  return line.split(/\s+/).map((word, i) => (i === 0 ? process.execPath : word.endsWith('/dist/cli/main.js') ? CLI : word === '/etc/hitless/hitless.yaml' ? config : word));
}

function run(argv: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000) {
  const r = spawnSync(argv[0], argv.slice(1), { cwd: ROOT, env, encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function echoThrough(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(line));
    let got = '';
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no echo from 127.0.0.1:${port} within 5 s`)));
    socket.on('data', (c: Buffer) => {
      got += c.toString();
      if (got.length >= line.length) {
        socket.end();
        resolve(got);
      }
    });
    socket.on('error', reject);
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the systemd unit, as systemd-analyze sees it', () => {
  it('systemd-analyze verify accepts it, and security rates its exposure 4 or less', (t) => {
    if (!has('systemd-analyze')) return t.skip('systemd-analyze is not installed (apt-get install systemd)');
    const dir = mkdtempSync(join(tmpdir(), 'hitless-unit-'));
    try {
      // verify checks that ExecStart='s binary exists: point it at this node.
      const unit = join(dir, 'hitless.service');
      writeFileSync(unit, unitText.replaceAll('/usr/bin/node ', `${process.execPath} `));
      const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(verify.status, 0, `systemd-analyze verify: ${verify.stderr}`);
      assert.equal(verify.stderr.split('\n').filter((l) => l.includes('hitless.service')).join('\n'), '', 'verify warns about the unit');
      const security = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', unit], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(security.status, 0, `systemd-analyze security: ${security.stderr}`);
      const score = /Overall exposure level for hitless\.service: ([\d.]+) (\S+)/.exec(security.stdout);
      assert.ok(score, `no overall exposure in:\n${security.stdout.slice(-500)}`);
      t.diagnostic(`systemd-analyze security: ${score[1]} ${score[2]}`);
      console.log(`systemd-analyze security hitless.service: ${score[1]} ${score[2]}`);
      assert.ok(Number(score[1]) <= 4, `exposure ${score[1]} ${score[2]} is above 4:\n${security.stdout.split('\n').filter((l) => l.startsWith('✗')).join('\n')}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('creates the folders it writes to, instead of requiring them (a missing folder fails the start)', () => {
    assert.deepEqual(directive('RuntimeDirectory'), ['hitless']);
    assert.deepEqual(directive('LogsDirectory'), ['hitless']);
    for (const path of directive('ReadWritePaths').flatMap((v) => v.split(/\s+/))) assert.ok(path.startsWith('-'), `ReadWritePaths=${path} fails the start when the folder is missing: prefix it with "-"`);
  });
});

describe('the admin socket default', () => {
  it('is $RUNTIME_DIRECTORY/admin.sock under systemd, and the CLI looks for it there, then at /run/hitless/admin.sock', () => {
    const systemd = { RUNTIME_DIRECTORY: '/run/hitless' };
    assert.equal(defaultAdminListen(systemd), `unix:${SYSTEMD_ADMIN_SOCKET}`);
    assert.equal(clientAdminDefault(systemd, () => false), `unix:${SYSTEMD_ADMIN_SOCKET}`);
    // An operator's shell on that host: no $RUNTIME_DIRECTORY, the socket exists.
    assert.equal(clientAdminDefault({}, (p) => p === SYSTEMD_ADMIN_SOCKET), `unix:${SYSTEMD_ADMIN_SOCKET}`);
    // Elsewhere: the temp folder, as the server's default there.
    assert.equal(clientAdminDefault({}, () => false), defaultAdminListen({}));
    assert.match(defaultAdminListen({}), /^unix:.*hitless-admin\.sock$/);
  });
});

describe("the unit's ExecStart= and ExecReload=, run as systemd runs them", () => {
  let dir: string;
  let config: string;
  let env: NodeJS.ProcessEnv;
  let notify: NotifySocket | undefined;
  let child: ChildProcess | undefined;
  let echo: EchoServer;
  let second: EchoServer | undefined;
  let port: number;
  let successorPid: number | undefined;
  const socket = () => join(dir, 'run', 'admin.sock');
  const serviceConfig = (endpoint: string, extra = '') => `services:\n  echo:\n    mode: tcp\n    listen: 127.0.0.1:${port}\n    endpoints: [${endpoint}]\n${extra}`;
  const runningText = async () => (await adminRequest(socket(), 'GET', '/config')).text;

  before(async () => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'hitless-systemd-'));
    mkdirSync(join(dir, 'run'), { mode: 0o750 });
    config = join(dir, 'hitless.yaml');
    echo = await startEchoServer();
    port = await reservePort();
    writeFileSync(config, serviceConfig(echo.address));
    // What systemd gives the service: RuntimeDirectory=hitless → $RUNTIME_DIRECTORY. One worker
    // behind the supervisor: the unit's default (one per core) but smaller.
    env = { ...process.env, RUNTIME_DIRECTORY: join(dir, 'run'), HITLESS_WORKERS: '1', HITLESS_LOG_LEVEL: 'info' };
  });

  after(async () => {
    for (const pid of [child?.pid, successorPid]) {
      if (pid === undefined || !alive(pid)) continue;
      process.kill(pid, 'SIGTERM');
      await waitFor(`pid ${pid} to exit`, () => !alive(pid), { timeoutMs: 15_000 }).catch(() => process.kill(pid, 'SIGKILL'));
    }
    await notify?.close();
    await echo?.close();
    await second?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ExecStart= sends READY=1 with its MAINPID once it serves; the CLI then finds the admin socket in the RuntimeDirectory', async (t) => {
    const canNotify = has('systemd-notify') && has('perl');
    if (canNotify) {
      notify = await NotifySocket.bind(join(dir, 'notify.sock'));
      env = { ...env, NOTIFY_SOCKET: notify.path };
    }
    assert.equal(run(unitCommand('ExecStartPre', config), env).code, 0, 'ExecStartPre= (validate)');
    const argv = unitCommand('ExecStart', config);
    let output = '';
    child = reapOnExit(spawn(argv[0], argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }));
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    if (!notify) {
      // The later tests (ExecReload=) still run; this one's subject cannot.
      await waitFor('the admin API in $RUNTIME_DIRECTORY', async () => (await adminRequest(socket(), 'GET', '/status', undefined, {}, 2_000)).status === 200, { timeoutMs: 20_000 });
      return t.skip('systemd-notify (apt-get install systemd) or perl is missing: READY=1 not checked');
    }
    const ready = await notify.waitFor('READY').catch((err: Error) => assert.fail(`${err.message}; hitless said:\n${output.slice(-2000)}`));
    assert.equal(ready.fields.READY, '1');
    assert.equal(Number(ready.fields.MAINPID), child.pid, 'MAINPID is the supervisor');
    assert.match(ready.fields.STATUS ?? '', /serving 1 listener/);
    // Ready means serving: no wait between READY=1 and the first connection.
    assert.equal(await echoThrough(port, 'first\n'), 'first\n');
    // `hitless status` with no --admin, in the service's environment (as an ExecReload= would run).
    const status = run([process.execPath, CLI, 'status', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { pid: number }).pid, child.pid);
  });

  it('ExecReload= applies the file as SIGHUP would and exits 0; a rejected file makes it exit 1 with the reason, the old config serving', async (t) => {
    if (!child) return t.skip('needs the process of the previous test');
    second = await startEchoServer();
    writeFileSync(config, serviceConfig(second.address));
    const applied = run(unitCommand('ExecReload', config), env);
    assert.equal(applied.code, 0, `ExecReload=: ${applied.stderr}`);
    assert.match(applied.stdout, /^applied: /);
    assert.equal(await runningText(), readFileSync(config, 'utf8'), 'the running config is the file');
    const accepted = second.accepted();
    assert.equal(await echoThrough(port, 'second\n'), 'second\n');
    assert.equal(second.accepted(), accepted + 1, 'the connection went to the endpoint of the reloaded file');

    const good = await runningText();
    writeFileSync(config, serviceConfig(second.address, '    balance: sideways\n'));
    const rejected = run(unitCommand('ExecReload', config), env);
    assert.equal(rejected.code, 1, 'a rejected config fails the reload');
    assert.match(rejected.stderr, /^rejected: .*hitless\.yaml:6:14: services\.echo\.balance: expected one of/m, rejected.stderr);
    assert.equal(await runningText(), good, 'the running config is unchanged');
    assert.equal(await echoThrough(port, 'still\n'), 'still\n');
    const s = (await adminRequest(socket(), 'GET', '/status')).json<{ applies: Array<{ origin: string; result: string }> }>();
    assert.deepEqual(s.applies.slice(-2).map((a) => `${a.origin}/${a.result}`), ['reload/applied', 'reload/rejected']);
    // The file and the running config agree again (the next test reloads it).
    writeFileSync(config, serviceConfig(second.address));
  });

  it('a supervisor upgrade makes the new supervisor the MAINPID before the old one exits', async (t) => {
    if (!child) return t.skip('needs the process of the first test');
    if (!notify) return t.skip('systemd-notify (apt-get install systemd) or perl is missing');
    const old = child.pid!;
    let oldExitedAt = 0;
    child.once('exit', () => (oldExitedAt = Date.now()));
    const from = notify.messages.length;
    const res = await adminRequest(socket(), 'POST', '/upgrade?supervisor=1', '', {}, 60_000);
    assert.equal(res.status, 200, res.text);
    successorPid = res.json<{ supervisorPid: number }>().supervisorPid;
    const handed = await notify.waitFor('MAINPID', from);
    assert.equal(Number(handed.fields.MAINPID), successorPid);
    assert.ok(oldExitedAt === 0 || handed.at <= oldExitedAt, 'MAINPID moved before the old supervisor exited');
    await waitFor('the old supervisor to exit', () => !alive(old), { timeoutMs: 30_000 });
    assert.equal(await echoThrough(port, 'after\n'), 'after\n');
    const reload = run(unitCommand('ExecReload', config), env);
    assert.equal(reload.code, 0, `ExecReload= on the new supervisor: ${reload.stderr}`);
  });
});

describe('hitless reload --config FILE', () => {
  it('takes the admin address and token from the file (ExecReload= names only the file)', async () => {
    assertBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'hitless-reload-'));
    const echo = await startEchoServer();
    const port = await reservePort();
    const config = join(dir, 'hitless.yaml');
    const token = 'a-token-of-at-least-16-characters';
    writeFileSync(config, `admin:\n  listen: unix:${join(dir, 'admin.sock')}\n  token: ${token}\nservices:\n  s:\n    listen: 127.0.0.1:${port}\n    endpoints: [${echo.address}]\n`);
    const cleanEnv = { ...process.env };
    delete cleanEnv.HITLESS_ADMIN_TOKEN;
    const h = reapOnExit(spawn(process.execPath, [CLI, 'run', '--config', config, '--workers', '0'], { cwd: ROOT, stdio: 'ignore', env: cleanEnv }));
    try {
      await waitFor('the admin API', async () => (await adminRequest(join(dir, 'admin.sock'), 'GET', '/status', undefined, { authorization: `Bearer ${token}` }, 2_000)).status === 200, { timeoutMs: 15_000 });
      const ok = run([process.execPath, CLI, 'reload', '--config', config], cleanEnv);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /^noop: identical config/);
      const wrongToken = run([process.execPath, CLI, 'reload', '--config', config, '--token', 'wrong-token-wrong-token'], cleanEnv);
      assert.equal(wrongToken.code, 1);
      assert.match(wrongToken.stderr, /HITLESS_ERR_UNAUTHORIZED/);
    } finally {
      h.kill('SIGTERM');
      await waitFor('hitless to exit', () => h.exitCode !== null || h.signalCode !== null, { timeoutMs: 15_000 }).catch(() => h.kill('SIGKILL'));
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
