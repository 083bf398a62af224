// Every way a config is rejected by a running hitless, through PUT /config and `hitless apply`:
// the exact message and code, the HTTP status, exit code 1, and the old config still serving.
// Then the CLI's own rejections: `validate`, and `run` with a bad config or a busy admin socket.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApplyRecordDoc, ErrorDoc } from './helpers/admin.js';
import { runCli } from './helpers/cli.js';
import { loopback, renderConfig, type ServiceSpec } from './helpers/config-text.js';
import { startEchoServers, type EchoServer } from './helpers/echo-server.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import { listenInAnotherProcess, probeConnect, reservePort, type ForeignListener } from './helpers/ports.js';
import { echoOnce } from './helpers/tcp-client.js';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('rejected applies leave the running config serving', () => {
  let backends: EchoServer[] = [];
  let h: HitlessProcess;
  let foreign: ForeignListener | undefined;
  let dir = '';
  let port = 0;
  let running = '';
  let services: Record<string, ServiceSpec> = {};

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hitless-rejections-'));
    backends = await startEchoServers(2);
    port = await reservePort();
    services = { echo: { listen: loopback(port), endpoints: [backends[0].address] } };
    h = await HitlessProcess.start({ config: (admin) => (running = renderConfig({ admin, services })) });
  });

  after(async () => {
    await foreign?.stop();
    await h?.kill();
    await Promise.all(backends.map((b) => b.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Sends `text` both ways and checks the rejection: PUT /config answers `httpStatus` with `code`
   * and `message` (located in "request"); `hitless apply FILE` exits 1 with the same message,
   * located in FILE. Then the running config is unchanged and still serves traffic.
   */
  async function assertRejected(name: string, text: string, httpStatus: number, code: string, message: (source: string) => string): Promise<void> {
    const res = await h.put(text);
    assert.equal(res.status, httpStatus, res.text);
    const body = res.json<ErrorDoc>();
    assert.equal(body.error.code, code);
    assert.equal(body.error.message, message('request'));

    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, text);
    const cli = await runCli(['apply', file, '--admin', h.admin]);
    assert.equal(cli.code, 1, `hitless apply: ${cli.stdout}${cli.stderr}`);
    assert.equal(cli.stdout, '');
    assert.equal(cli.stderr, `rejected: ${message(file)} [${code}]\n`);

    const status = await h.status();
    assert.equal(status.config?.hash, sha256(running), 'the running config is unchanged');
    assert.equal(status.lastApply?.result, 'rejected');
    assert.equal(status.lastApply?.error?.code, code);
    assert.deepEqual(status.services.map((s) => [s.name, s.endpoints.map((e) => e.address)]), [['echo', [backends[0].address]]]);
    assert.deepEqual(await echoOnce(port), { ok: true }, 'traffic still flows through the old config');
  }

  /** The running config with its echo service pointed at a second backend: what each bad config also tries to change. */
  const changedServices = (): Record<string, ServiceSpec> => ({ echo: { ...services.echo, endpoints: [backends[1].address] } });

  it('malformed YAML → 400 HITLESS_ERR_CONFIG_INVALID', async () => {
    const text = `${renderConfig({ admin: h.admin, services: changedServices() })}  broken:\n    listen: [127.0.0.1:1\n`;
    const line = text.split('\n').length;
    await assertRejected('malformed', text, 400, 'HITLESS_ERR_CONFIG_INVALID', (f) =>
      `${f}:${line}:1: malformed YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`,
    );
  });

  it('a wrong type → 400 HITLESS_ERR_CONFIG_INVALID', async () => {
    const text = renderConfig({ admin: h.admin, services: { echo: { ...changedServices().echo, retries: 'many' as unknown as number } } });
    const line = text.split('\n').findIndex((l) => l.includes('retries:')) + 1;
    await assertRejected('wrong-type', text, 400, 'HITLESS_ERR_CONFIG_INVALID', (f) => `${f}:${line}:14: services.echo.retries: expected a number, found "many"`);
  });

  it('an unknown key → 400 HITLESS_ERR_CONFIG_INVALID, listing the allowed keys', async () => {
    const text = renderConfig({ admin: h.admin, services: { echo: { ...services.echo, endpoints: [{ address: backends[1].address, wieght: 2 } as never] } } });
    const lines = text.split('\n');
    const line = lines.findIndex((l) => l.includes('wieght:')) + 1;
    const col = lines[line - 1].indexOf('wieght') + 1;
    await assertRejected('unknown-key', text, 400, 'HITLESS_ERR_CONFIG_INVALID', (f) =>
      `${f}:${line}:${col}: services.echo.endpoints[0].wieght: unknown key "wieght"; allowed here: address, weight`,
    );
  });

  it('a listen address used by two services → 400 HITLESS_ERR_CONFIG_INVALID', async () => {
    const text = renderConfig({ admin: h.admin, services: { ...changedServices(), twin: { listen: loopback(port), endpoints: [backends[1].address] } } });
    const lines = text.split('\n');
    const line = lines.findIndex((l) => l.startsWith('  twin:')) + 2;
    await assertRejected('duplicate-listen', text, 400, 'HITLESS_ERR_CONFIG_INVALID', (f) =>
      `${f}:${line}:13: services.twin.listen: listen address ${loopback(port)} is already used by service "echo"; each address belongs to one service`,
    );
  });

  it('several problems → every one of them, in file order', async () => {
    const text = renderConfig({
      admin: h.admin,
      services: { echo: { ...changedServices().echo, retries: -1, balance: 'fastest' as never, timeouts: { idle: 'forever' } } },
    });
    const lines = text.split('\n');
    const at = (key: string) => `${lines.findIndex((l) => l.trimStart().startsWith(`${key}:`)) + 1}`;
    const col = (key: string) => lines[Number(at(key)) - 1].indexOf(':', lines[Number(at(key)) - 1].indexOf(key)) + 3;
    await assertRejected('several', text, 400, 'HITLESS_ERR_CONFIG_INVALID', (f) =>
      [
        `${f}:${at('balance')}:${col('balance')}: services.echo.balance: expected one of "round-robin", "least-conn", "random-two", "source-hash", found "fastest"`,
        `${f}:${at('idle')}:${col('idle')}: services.echo.timeouts.idle: expected a duration such as 500ms, 2s, 10m or 1h, found "forever"`,
        `${f}:${at('retries')}:${col('retries')}: services.echo.retries: expected a number >= 0, found number -1`,
      ]
        .sort((a, b) => Number(a.split(':')[1]) - Number(b.split(':')[1]))
        .join('\n'),
    );
  });

  it('a port held by another process → 409 HITLESS_ERR_BIND_FAILED, and the free new port is not left bound', async () => {
    const taken = await reservePort();
    const free = await reservePort();
    foreign = await listenInAnotherProcess(taken);
    const text = renderConfig({
      admin: h.admin,
      services: {
        ...changedServices(),
        fine: { listen: loopback(free), endpoints: [backends[1].address] },
        clash: { listen: loopback(taken), endpoints: [backends[1].address] },
      },
    });
    await assertRejected('port-in-use', text, 409, 'HITLESS_ERR_BIND_FAILED', () =>
      `config rejected, nothing changed: cannot listen on ${loopback(taken)}: address already in use (another process, or another listener of this config, holds it); choose a free port or stop what holds it (try: ss -ltnp 'sport = :${taken}')`,
    );
    const res = await h.put(text);
    assert.deepEqual(res.json<ErrorDoc>().error.details, [
      {
        address: loopback(taken),
        errno: 'EADDRINUSE',
        message: `cannot listen on ${loopback(taken)}: address already in use (another process, or another listener of this config, holds it); choose a free port or stop what holds it (try: ss -ltnp 'sport = :${taken}')`,
      },
    ]);
    // The transaction bound `free` first, then gave it back when `taken` failed.
    assert.equal(await probeConnect(free), 'refused');
    const status = await h.status();
    assert.deepEqual(status.listeners.map((l) => l.address), [loopback(port)]);

    // Once the other process lets go of the port, the same config applies.
    await foreign.stop();
    const applied = await h.put(text);
    assert.equal(applied.status, 200, applied.text);
    assert.equal(applied.json<ApplyRecordDoc>().result, 'applied');
    assert.deepEqual(await echoOnce(taken), { ok: true });
    assert.deepEqual(await echoOnce(free), { ok: true });
    running = text;
    services = changedServices();
  });

  it('`hitless apply` of a valid file exits 0 and prints what changed', async () => {
    const file = join(dir, 'ok.yaml');
    const text = renderConfig({ admin: h.admin, services: { echo: { listen: loopback(port), endpoints: [backends[0].address, backends[1].address] } } });
    writeFileSync(file, text);
    const cli = await runCli(['apply', file, '--admin', h.admin]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`^applied: services \\+0 -2 ~1 \\(endpoints \\+1 -0 weight 0\\); listeners \\+0 -2 \\(\\d+\\.\\d ms, hash ${sha256(text).slice(0, 12)}\\)\\nwritten to ${h.configPath} \\(previous content in ${h.configPath}\\.prev\\)\\n$`));
    const again = await runCli(['apply', file, '--admin', h.admin]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^noop: identical config /);
  });

  it('`hitless apply` with a missing file or an unreachable admin exits 1 with the reason', async () => {
    const missing = join(dir, 'missing.yaml');
    const noFile = await runCli(['apply', missing, '--admin', h.admin]);
    assert.equal(noFile.code, 1);
    assert.equal(noFile.stderr, `cannot read ${missing}: no such file\n`);

    const file = join(dir, 'ok.yaml');
    const nowhere = `unix:${join(dir, 'nobody.sock')}`;
    const noAdmin = await runCli(['apply', file, '--admin', nowhere]);
    assert.equal(noAdmin.code, 1);
    assert.equal(noAdmin.stderr, `cannot reach the admin API at ${nowhere}: ENOENT (is hitless running with admin.listen: ${nowhere}?)\n`);
  });
});

describe('hitless validate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hitless-validate-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 for a valid file and says so on stdout', async () => {
    const file = join(dir, 'ok.yaml');
    const text = 'services:\n  a:\n    listen: 127.0.0.1:7000\n    endpoints: [127.0.0.1:7101]\n  b:\n    listen: 127.0.0.1:7001\n';
    writeFileSync(file, text);
    const r = await runCli(['validate', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${file}: valid (2 services, hash ${sha256(text).slice(0, 12)})\n`);
    assert.equal(r.stderr, '');
  });

  it('exits 1 with every problem on stderr', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'services:\n  a:\n    listen: 127.0.0.1:7000\n    retries: many\n  b:\n    listen: 127.0.0.1:7000\n    endpoints: [backend]\n');
    const r = await runCli(['validate', file]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      [
        `${file}:4:14: services.a.retries: expected a number, found "many"`,
        `${file}:7:17: services.b.endpoints[0]: expected "host:port" (IPv6 as "[::1]:port"), found "backend"`,
        '',
      ].join('\n'),
    );
  });

  it('says in its help that it is offline, and what POST /config/validate adds', async () => {
    const r = await runCli(['validate', '--help']);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout.replace(/\s+/g, ' ');
    assert.ok(text.includes('offline: checks the file'), r.stdout);
    assert.ok(text.includes('POST /config/validate on a running hitless also tries binds and the data plane'), r.stdout);
  });

  it('exits 1 for a missing file', async () => {
    const file = join(dir, 'missing.yaml');
    const r = await runCli(['validate', file]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `${file}:1:1: cannot read the config: no such file\n`);
  });
});

describe('hitless run refuses to start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hitless-run-'));
  let first: HitlessProcess | undefined;
  let foreign: ForeignListener | undefined;
  after(async () => {
    await foreign?.stop();
    await first?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('with an invalid config: exit 1 and the located problem', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `admin:\n  listen: unix:${join(dir, 'bad.sock')}\nservices:\n  a:\n    listen: 127.0.0.1:7000\n    balance: fastest\n`);
    const r = await runCli(['run', '--config', file]);
    assert.equal(r.code, 1);
    assert.ok(
      r.stderr.split('\n').includes(`hitless: ${file}:6:14: services.a.balance: expected one of "round-robin", "least-conn", "random-two", "source-hash", found "fastest"`),
      r.stderr,
    );
  });

  it('with a missing config file: exit 1', async () => {
    const file = join(dir, 'missing.yaml');
    const r = await runCli(['run', '--config', file]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.split('\n').includes(`hitless: ${file}:1:1: cannot read the config: no such file`), r.stderr);
  });

  it('with a listen port held by another process: exit 1 and the bind error', async () => {
    const taken = await reservePort();
    foreign = await listenInAnotherProcess(taken);
    const file = join(dir, 'taken.yaml');
    writeFileSync(file, renderConfig({ admin: `unix:${join(dir, 'taken.sock')}`, services: { a: { listen: loopback(taken) } } }));
    const r = await runCli(['run', '--config', file]);
    assert.equal(r.code, 1);
    assert.ok(
      r.stderr
        .split('\n')
        .includes(
          `hitless: config rejected, nothing changed: cannot listen on ${loopback(taken)}: address already in use (another process, or another listener of this config, holds it); choose a free port or stop what holds it (try: ss -ltnp 'sport = :${taken}')`,
        ),
      r.stderr,
    );
    await foreign.stop();
  });

  it('with an admin socket another hitless is serving: exit 1, and the first one is untouched', async () => {
    const firstPort = await reservePort();
    const secondPort = await reservePort();
    first = await HitlessProcess.start({ config: (admin) => renderConfig({ admin, services: { a: { listen: loopback(firstPort) } } }) });
    const file = join(dir, 'second.yaml');
    writeFileSync(file, renderConfig({ admin: first.admin, services: { b: { listen: loopback(secondPort) } } }));
    const r = await runCli(['run', '--config', file]);
    assert.equal(r.code, 1);
    assert.ok(
      r.stderr
        .split('\n')
        .includes(`hitless: cannot start the admin API on ${first.admin}: another process is serving it (another hitless?); set admin.listen to another path`),
      r.stderr,
    );
    // The second process released the port it had bound, and the first still answers on its socket.
    assert.equal(await probeConnect(secondPort), 'refused');
    const status = await first.status();
    assert.equal(status.pid, first.pid);
    assert.equal(await probeConnect(firstPort), 'connected');
  });
});
