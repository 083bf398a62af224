// Logs and the operator CLI against the real `hitless run` process: access log lines (json and
// combined, http and tcp), the apply log line naming what changed, audit lines in the main log
// when admin.audit_log is unset, and `hitless status` / `hitless top --json`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { CLI, ROOT } from './helpers/paths.js';
import { reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';
import { backgroundTraffic, httpRequest, sendRequests, spawnHitless, startBackend, waitReady, type Backend, type RunningHitless } from './observability-helpers.js';

const run = promisify(execFile);

describe('access log, apply log, audit, status and top', () => {
  let backends: Backend[] = [];
  let h: RunningHitless | undefined;
  let socketPath = '';
  let config = '';
  const ports = { web: 0, down: 0, raw: 0 };
  const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args, '--admin', `unix:${socketPath}`], { cwd: ROOT, timeout: 20_000 });

  before(async () => {
    backends = [await startBackend(200), await startBackend(200)];
    for (const k of Object.keys(ports) as Array<keyof typeof ports>) ports[k] = await reservePort();
    const closed = await reservePort();
    config = `admin: { listen: "unix:$DIR/admin.sock" }
services:
  web:
    mode: http
    listen: 127.0.0.1:${ports.web}
    endpoints: [${backends[0].address}]
    access_log: { path: $DIR/web.log }
  down:
    mode: http
    listen: 127.0.0.1:${ports.down}
    endpoints: [127.0.0.1:${closed}]
    retries: 0
    access_log: { path: $DIR/down.log, format: combined }
  raw:
    listen: 127.0.0.1:${ports.raw}
    endpoints: [${backends[1].address}]
    access_log: { path: $DIR/raw.log, format: json }
`;
    h = spawnHitless(config);
    socketPath = join(h.dir, 'admin.sock');
    config = h.config;
    await waitReady(h, { socketPath });
  });

  after(async () => {
    await h?.kill();
    await Promise.all(backends.map((b) => b.close()));
  });

  it('writes one json access line per http request, with the documented fields', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await httpRequest({ host: '127.0.0.1', port: ports.web }, 'GET', `/items/${i}?q=1`, undefined, { 'user-agent': 'obs-test/1' });
      assert.equal(res.status, 200);
    }
    const file = join(h!.dir, 'web.log');
    // The log is buffered: it reaches the file within a second (periodic flush).
    const got = await waitFor('5 access lines', () => (lines(file).length >= 5 ? lines(file) : undefined), { timeoutMs: 5_000 });
    // Workers each buffer their own lines: across workers, the file's order is the order of their flushes.
    const records = got.map((l) => JSON.parse(l) as Record<string, unknown>).sort((a, b) => String(a.path).localeCompare(String(b.path)));
    assert.deepEqual(records.map((r) => r.path), ['/items/0?q=1', '/items/1?q=1', '/items/2?q=1', '/items/3?q=1', '/items/4?q=1']);
    const r = records[0];
    assert.match(String(r.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(String(r.client), /^127\.0\.0\.1:\d+$/);
    assert.equal(r.service, 'web');
    assert.equal(r.mode, 'http');
    assert.equal(r.cluster, 'default');
    assert.equal(r.endpoint, backends[0].address);
    assert.equal(r.method, 'GET');
    assert.equal(r.status, 200);
    assert.equal(r.bytes_in, 0);
    assert.equal(r.bytes_out, `backend ${backends[0].address.split(':')[1]} says 200\n`.length);
    assert.equal(typeof r.duration_ms, 'number');
    assert.equal(r.retries, 0);
    assert.equal(r.error, null);
    assert.equal(r.user_agent, 'obs-test/1');
  });

  it('writes combined lines with the error code of a request hitless answered itself', async () => {
    const statuses = await sendRequests(ports.down, 2, 1, '/x');
    assert.deepEqual(statuses, [502, 502]);
    const file = join(h!.dir, 'down.log');
    const got = await waitFor('2 combined lines', () => (lines(file).length >= 2 ? lines(file) : undefined), { timeoutMs: 5_000 });
    assert.match(
      got[0],
      /^127\.0\.0\.1 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/x HTTP\/1\.1" 502 \d+ "-" "-" client=127\.0\.0\.1:\d+ service=down cluster=default endpoint=127\.0\.0\.1:\d+ bytes_in=0 duration_ms=[\d.]+ retries=0 error=HITLESS_ERR_UPSTREAM_CONNECT$/,
    );
  });

  it('writes one access line per tcp connection with its bytes and the client address', async () => {
    let local = '';
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: ports.raw }, () => {
        local = `${s.localAddress}:${s.localPort}`;
        s.write('GET / HTTP/1.0\r\n\r\n');
      });
      s.resume();
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    const file = join(h!.dir, 'raw.log');
    const got = await waitFor('a tcp access line', () => (lines(file).length >= 1 ? lines(file) : undefined), { timeoutMs: 5_000 });
    const r = JSON.parse(got[0]) as Record<string, unknown>;
    assert.equal(r.mode, 'tcp');
    assert.equal(r.client, local, 'the client address as hitless saw it at accept (it logged -:0)');
    assert.equal(r.service, 'raw');
    assert.equal(r.endpoint, backends[1].address);
    assert.equal(r.bytes_in, 'GET / HTTP/1.0\r\n\r\n'.length);
    assert.ok(Number(r.bytes_out) > 0);
    assert.equal(r.error, null);
  });

  it("logs hitless's own refusals (414, 400 from hitless and from llhttp) with their codes", async () => {
    const send = (text: string) =>
      new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: ports.web }, () => s.write(text));
        s.resume();
        s.on('close', () => resolve());
        s.on('error', () => resolve());
      });
    await send(`GET /long-${'x'.repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await send('GET /two-hosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
    await send('GET nonsense HTTP/1.1\r\nHost: a\r\n\r\n');
    const file = join(h!.dir, 'web.log');
    const refused = await waitFor('three refusal lines', () => {
      const records = lines(file).map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.error !== null);
      return records.length >= 3 ? records : undefined;
    }, { timeoutMs: 5_000 });
    const byPath = new Map(refused.map((r) => [String(r.path).slice(0, 10), [r.status, r.error]]));
    assert.deepEqual(byPath.get('/long-xxxx'), [414, 'HITLESS_ERR_URL_TOO_LONG']);
    assert.deepEqual(byPath.get('/two-hosts'), [400, 'HITLESS_ERR_BAD_REQUEST']);
    // llhttp refused this one before a request existed: no method or path to log.
    assert.deepEqual(byPath.get('null'), [400, 'HITLESS_ERR_BAD_REQUEST']);
  });

  it('logs an upgrade request once, with what it became', async () => {
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: ports.web }, () => s.write('GET /ws-refused HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'));
      s.resume();
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    const file = join(h!.dir, 'web.log');
    const line = await waitFor('the upgrade line', () => lines(file).map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.path === '/ws-refused'), { timeoutMs: 5_000 });
    // The endpoint answered 200, not 101: forwarded as one response, then the connection closed.
    assert.equal(line.status, 200);
    assert.equal(line.error, null);
    assert.equal(line.endpoint, backends[0].address);
  });

  it('logs an apply with what it added, changed and removed by name, and audits it in the main log', async () => {
    const changed = config.replace(`endpoints: [${backends[0].address}]`, `endpoints: [${backends[0].address}, ${backends[1].address}]`);
    const res = await httpRequest({ socketPath }, 'PUT', '/config', changed, { 'content-type': 'application/yaml' });
    assert.equal(res.status, 200, res.text);
    const logged = await waitFor('the apply and audit lines', () => {
      const json = h!.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const applied = json.find((l) => l.msg === 'config applied' && l.origin === 'admin');
      const audit = json.find((l) => l.msg === 'audit' && (l.audit as Record<string, unknown>).origin === 'admin');
      return applied && audit ? { applied, audit } : undefined;
    });
    assert.deepEqual(logged.applied.diff, { services: { changed: ['web (clusters)'] }, endpoints: { added: [`web/${backends[1].address}`] } });
    const audit = logged.audit.audit as Record<string, unknown>;
    assert.equal(audit.result, 'applied');
    assert.equal(audit.peer, 'unix');
    assert.equal(audit.hash_after, JSON.parse(res.text).hashAfter);
    assert.equal(logged.audit.level, 30);
  });

  it('`hitless status` shows clusters, health and http columns; --json is the status document', async () => {
    const { stdout } = await cli('status');
    assert.match(stdout, /SERVICES\nNAME +MODE +BALANCE +LISTEN +ACTIVE +TOTAL +2XX +4XX +5XX +RETRIES +REJECTED +FAILED +P99 MS +BYTES IN\/OUT/);
    assert.match(stdout, /ENDPOINTS\nSERVICE +CLUSTER +ADDRESS +WEIGHT +HEALTH/);
    assert.match(stdout, new RegExp(`web +default +${backends[1].address.replaceAll('.', '\\.')} +1 +up`));
    const doc = JSON.parse((await cli('status', '--json')).stdout) as { services: Array<{ name: string }>; applyStats: unknown };
    assert.deepEqual(doc.services.map((s) => s.name), ['web', 'down', 'raw']);
    assert.ok(doc.applyStats);
  });

  it('`hitless top --json` prints one line per interval with rates that see the traffic', async () => {
    const traffic = backgroundTraffic(ports.web, { max: 20_000 });
    try {
      const { stdout } = await cli('top', '--json', '--interval', '300ms', '--count', '3');
      const snapshots = stdout.trim().split('\n').map((l) => JSON.parse(l) as { time: string; services: Array<{ service: string; rate: { rps: number }; total: number }> });
      assert.equal(snapshots.length, 3);
      const web = snapshots.map((s) => s.services.find((r) => r.service === 'web')!);
      assert.ok(web.some((r) => r.rate.rps > 0), JSON.stringify(web));
      assert.ok(web[2].total > web[0].total);
    } finally {
      await traffic.stop();
    }
  });
});
