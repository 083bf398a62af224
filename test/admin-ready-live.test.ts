// GET /ready and GET /live, the probes Kubernetes (or any orchestrator) sends without a token:
// /live answers while the event loop does; /ready only when the config is applied, the listeners
// accept (a worker process is ready) and every discovery source has answered. Neither reveals a
// service name, address or hash. Real `hitless run`, a real DNS server going silent, a real
// worker crash loop.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';
import { DnsServer } from './helpers/dns-server.js';
import { spawnOnFile, waitAnswering, type FileProcess } from './helpers/config-file-process.js';
import { httpRequest, startBackend, type Backend } from './observability-helpers.js';

const TOKEN = 'ready-live-admin-token-0123456789';

describe('GET /ready and GET /live', () => {
  let backend: Backend;
  let dns: DnsServer;
  let dir = '';
  let running: FileProcess | null = null;
  let admin = { host: '127.0.0.1', port: 0 };
  let web = 0;
  let found = 0;
  const faultFile = () => join(dir, 'worker-fault');
  const auth = { authorization: `Bearer ${TOKEN}` };

  const base = () => `admin: { listen: "127.0.0.1:${admin.port}", token: "${TOKEN}" }
discovery_defaults: { initial_wait: 10m }
services:
  web: { mode: http, listen: "127.0.0.1:${web}", endpoints: ["${backend.address}"] }
`;
  const probe = (path: string, method = 'GET') => httpRequest(admin, method, path);

  before(async () => {
    backend = await startBackend();
    dns = await DnsServer.start();
    dir = mkdtempSync(join(tmpdir(), 'hitless-ready-'));
    admin = { host: '127.0.0.1', port: await reservePort() };
    web = await reservePort();
    found = await reservePort();
    const path = join(dir, 'hitless.yaml');
    writeFileSync(path, base());
    running = spawnOnFile(path, { env: { HITLESS_TEST_WORKER_FAULT_FILE: faultFile() } });
    await waitAnswering(running, admin, TOKEN);
  });

  after(async () => {
    await running?.stop();
    await Promise.all([backend?.close(), dns?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers both without a token, 200 once the config runs, and names nothing', async () => {
    const live = await probe('/live');
    assert.equal(live.status, 200);
    assert.deepEqual(JSON.parse(live.text), { live: true });
    const ready = await probe('/ready');
    assert.equal(ready.status, 200, ready.text);
    assert.deepEqual(JSON.parse(ready.text), { ready: true, reasons: [] });
    assert.equal(ready.headers['cache-control'], 'no-store');
    assert.equal((await probe('/ready', 'HEAD')).status, 200);
    assert.equal((await probe('/live', 'HEAD')).status, 200);
    // Only the probes are open: everything else still needs the token.
    assert.equal((await probe('/status')).status, 401);
    assert.equal((await probe('/ready', 'POST')).status, 401, 'a probe path with another method is not a probe');
  });

  it('is not ready while a discovery source added by an apply has not answered, and ready once it has', async () => {
    dns.mode = 'silent';
    dns.a.set('found.test', ['127.0.0.1']);
    const withDiscovery = `${base()}  found:
    mode: tcp
    listen: "127.0.0.1:${found}"
    discovery: { dns: { name: found.test, port: ${backend.address.split(':')[1]}, server: "${dns.address}", min_ttl: 10s } }
`;
    const put = await httpRequest(admin, 'PUT', '/config', withDiscovery, { ...auth, 'content-type': 'application/yaml' });
    assert.equal(put.status, 200, put.text);
    const waiting = await probe('/ready');
    assert.equal(waiting.status, 503, waiting.text);
    const body = JSON.parse(waiting.text) as { ready: boolean; reasons: string[] };
    assert.equal(body.ready, false);
    assert.deepEqual(body.reasons, ['1 discovery source has not answered yet (waiting up to discovery_defaults.initial_wait)']);
    for (const secret of ['found', 'web', 'found.test', String(found), String(web), backend.address, dns.address]) {
      assert.ok(!waiting.text.includes(secret), `/ready reveals ${secret}: ${waiting.text}`);
    }
    assert.equal((await probe('/live')).status, 200, 'not ready is still live');
    dns.mode = 'ok';
    await waitFor('ready once the DNS source answered', async () => (await probe('/ready')).status === 200, { timeoutMs: 15_000 });
  });

  it('is not ready while no worker process can serve, and ready again once one can', async () => {
    const status = JSON.parse((await httpRequest(admin, 'GET', '/status', undefined, auth)).text) as { process: { workers: Array<{ pid: number; state: string }> } };
    const worker = status.process.workers.find((w) => w.state === 'ready');
    assert.ok(worker, JSON.stringify(status.process.workers));
    // Every restart of the worker now crashes at startup (the supervisor's test hook).
    writeFileSync(faultFile(), 'crash');
    process.kill(worker.pid, 'SIGKILL');
    const down = await waitFor('503 while no worker is ready', async () => {
      const res = await probe('/ready');
      return res.status === 503 ? res : undefined;
    });
    assert.deepEqual(JSON.parse(down.text), { ready: false, reasons: ['no worker process is ready'] });
    unlinkSync(faultFile());
    await waitFor('ready once a worker restarted', async () => (await probe('/ready')).status === 200, { timeoutMs: 20_000 });
  });
});
