// The admin API's safety rules, on the real `hitless run` process: the unix socket is 0600, a
// token is required when set (401 without or with a wrong one), bodies are capped (413), a
// non-loopback admin address without a token is refused at start and in PUT /config, and every
// config change lands in the audit log with its peer and hashes.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { CLI, ROOT } from './helpers/paths.js';
import { reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';
import { httpRequest, spawnHitless, startBackend, waitReady, type Backend, type RunningHitless } from './observability-helpers.js';

const TOKEN = 'correct-horse-battery-staple-42';
const MAX_BODY = 4 * 1024 * 1024;

/**
 * PUT /config with a big body over a raw socket: the server may answer and close before the
 * upload ends, and Node's http client then reports EPIPE instead of the answer; curl (and this)
 * read the answer regardless.
 */
function putLarge(port: number, size: number, chunked: boolean, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    const timer = setTimeout(() => socket.destroy(new Error('no answer within 10s')), 10_000);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(received);
      if (m) resolve(Number(m[1]));
      else reject(err ?? new Error(`no HTTP answer: ${JSON.stringify(received.slice(0, 200))}`));
    };
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', () => {}); // EPIPE/ECONNRESET once the server stops reading: expected
    socket.on('close', () => done());
    const head = Object.entries({ ...headers, host: '127.0.0.1', ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(size) }) })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(`PUT /config HTTP/1.1\r\n${head}\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;
    const pump = (): void => {
      while (sent < size && !socket.destroyed) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        const body = n === chunk.length ? chunk : chunk.subarray(0, n);
        const ok = socket.write(chunked ? Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), body, Buffer.from('\r\n')]) : body);
        if (!ok) {
          socket.once('drain', pump);
          return;
        }
      }
      if (!socket.destroyed) socket.end(chunked ? '0\r\n\r\n' : '');
    };
    pump();
  });
}

describe('admin API over loopback TCP with a token', () => {
  let h: RunningHitless | undefined;
  let backend: Backend;
  let admin = 0;
  let config = '';
  const target = () => ({ host: '127.0.0.1', port: admin });
  const auth = { authorization: `Bearer ${TOKEN}` };

  before(async () => {
    backend = await startBackend();
    admin = await reservePort();
    const web = await reservePort();
    config = `admin: { listen: "127.0.0.1:${admin}", token: "${TOKEN}", audit_log: "$DIR/audit.jsonl" }
services:
  web: { mode: http, listen: "127.0.0.1:${web}", endpoints: ["${backend.address}"] }
`;
    h = spawnHitless(config);
    config = h.config;
    await waitReady(h, target(), TOKEN);
  });

  after(async () => {
    await h?.kill();
    await backend?.close();
  });

  it('answers 401 without a token and with a wrong one, 200 with the right one, on every data endpoint', async () => {
    for (const path of ['/status', '/config', '/metrics', '/dashboard/data']) {
      const none = await httpRequest(target(), 'GET', path);
      assert.equal(none.status, 401, `${path} without a token`);
      assert.equal(JSON.parse(none.text).error.code, 'HITLESS_ERR_UNAUTHORIZED');
      assert.equal((await httpRequest(target(), 'GET', path, undefined, { authorization: `Bearer ${TOKEN}x` })).status, 401, `${path} with a longer token`);
      assert.equal((await httpRequest(target(), 'GET', path, undefined, { authorization: 'Bearer short' })).status, 401, `${path} with a shorter token`);
      assert.equal((await httpRequest(target(), 'GET', path, undefined, { authorization: TOKEN })).status, 401, `${path} without "Bearer "`);
      assert.equal((await httpRequest(target(), 'GET', path, undefined, auth)).status, 200, `${path} with the token`);
    }
    const put = await httpRequest(target(), 'PUT', '/config', config, { 'content-type': 'application/yaml' });
    assert.equal(put.status, 401, 'PUT /config without a token');
  });

  it('serves the dashboard page itself without the token (it holds no data), and its data only with it', async () => {
    const page = await httpRequest(target(), 'GET', '/dashboard');
    assert.equal(page.status, 200);
    assert.match(page.text, /<title>hitless dashboard<\/title>/);
    assert.doesNotMatch(page.text, new RegExp(backend.address));
    assert.equal((await httpRequest(target(), 'GET', '/dashboard/app.js')).status, 200);
    assert.equal((await httpRequest(target(), 'GET', '/dashboard/data')).status, 401);
  });

  it('refuses bodies over 4 MiB with 413, declared or streamed, and keeps serving', async () => {
    assert.equal(await putLarge(admin, MAX_BODY + 1, false, auth), 413);
    assert.equal(await putLarge(admin, MAX_BODY + 64 * 1024, true, auth), 413);
    assert.equal((await httpRequest(target(), 'GET', '/status', undefined, auth)).status, 200);
  });

  it('rejects in PUT /config a non-loopback admin address without a token', async () => {
    const open = config.replace(`admin: { listen: "127.0.0.1:${admin}", token: "${TOKEN}", `, `admin: { listen: "0.0.0.0:${admin}", `);
    assert.notEqual(open, config);
    const res = await httpRequest(target(), 'PUT', '/config', open, { ...auth, 'content-type': 'application/yaml' });
    assert.equal(res.status, 400, res.text);
    assert.match(JSON.parse(res.text).error.message, /admin\.listen: admin address 0\.0\.0\.0:\d+ is not loopback: set admin\.token/);
  });

  it('records every config change in the append-only audit log (0600) with peer and hashes', async () => {
    const changed = config.replace('mode: http,', 'mode: http, retries: 1,');
    const before = JSON.parse((await httpRequest(target(), 'GET', '/status', undefined, auth)).text).config.hash as string;
    const res = await httpRequest(target(), 'PUT', '/config', changed, { ...auth, 'content-type': 'application/yaml' });
    assert.equal(res.status, 200, res.text);
    const afterHash = JSON.parse(res.text).hashAfter as string;
    const path = join(h!.dir, 'audit.jsonl');
    const lines = await waitFor('audit lines', () => {
      const all = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      return all.some((l) => l.hash_after === afterHash) ? all : undefined;
    });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(lines[0].origin, 'startup');
    const rejected = lines.find((l) => l.origin === 'admin' && l.result === 'rejected');
    assert.ok(rejected, 'the rejected PUT of the previous test is audited');
    assert.match(String(rejected.peer), /^127\.0\.0\.1:\d+$/);
    const applied = lines.find((l) => l.hash_after === afterHash)!;
    assert.equal(applied.result, 'applied');
    assert.equal(applied.hash_before, before);
    assert.match(String(applied.peer), /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(applied.diff, { services: { changed: ['web (retries)'] } });
    assert.match(String(applied.time), /^\d{4}-\d\d-\d\dT/);
  });
});

describe('admin API defaults and refusals', () => {
  it('creates its unix socket with mode 0600', async () => {
    const backend = await startBackend();
    const h = spawnHitless(`admin: { listen: "unix:$DIR/admin.sock" }\nservices:\n  web: { mode: http, listen: "127.0.0.1:${await reservePort()}", endpoints: ["${backend.address}"] }\n`);
    try {
      const socketPath = join(h.dir, 'admin.sock');
      await waitReady(h, { socketPath });
      const st = statSync(socketPath);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o600, `mode ${(st.mode & 0o777).toString(8)}`);
    } finally {
      await h.kill();
      await backend.close();
    }
  });

  it('refuses to start on a non-loopback admin address without a token: exit 1 and a clear message', async () => {
    const port = await reservePort();
    const h = spawnHitless(`admin: { listen: "0.0.0.0:${port}" }\nservices: {}\n`);
    try {
      const exit = await h.exited;
      assert.equal(exit.code, 1, h.logs());
      assert.match(h.logs(), /hitless: .*admin\.listen: admin address 0\.0\.0\.0:\d+ is not loopback: set admin\.token/);
      // Nothing was bound.
      await assert.rejects(httpRequest({ host: '127.0.0.1', port }, 'GET', '/status', undefined, {}, 1_000));
      // `hitless validate` says the same.
      const v = spawnSync(process.execPath, [CLI, 'validate', h.configPath], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(v.status, 1);
      assert.match(v.stderr, /is not loopback: set admin\.token/);
    } finally {
      await h.kill();
    }
  });

  it('starts on a non-loopback admin address with a token, and requires it', async () => {
    const port = await reservePort();
    const h = spawnHitless(`admin: { listen: "0.0.0.0:${port}", token: "${TOKEN}" }\nservices: {}\n`);
    try {
      await waitReady(h, { host: '127.0.0.1', port }, TOKEN);
      assert.equal((await httpRequest({ host: '127.0.0.1', port }, 'GET', '/status')).status, 401);
    } finally {
      await h.kill();
    }
  });
});
