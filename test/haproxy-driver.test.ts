// The HAProxy data plane against Debian's real HAProxy, through Hitless.start in process: endpoint
// churn costs no reload and no request, a structural change costs exactly one seamless reload and
// no request (new or keep-alive connections), structural applies issued together share a reload,
// a config HAProxy rejects changes nothing, and health/admin states survive a reload through the
// server-state file.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config/load.js';
import { diffConfigs } from '../src/control/plan.js';
import { HaproxyDriver } from '../src/dataplane/haproxy/haproxy-driver.js';
import { serverName } from '../src/dataplane/haproxy/render-config.js';
import { Hitless } from '../src/hitless.js';
import { silentLogger } from '../src/observability/log.js';
import { startHttpBackend, type HttpBackend } from './helpers/http-backends.js';
import { reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';

const HAPROXY = '/usr/sbin/haproxy';
const skip = existsSync(HAPROXY) ? false : `${HAPROXY} not found: install Debian's haproxy package (.ci/run does) to run these tests`;

interface Load {
  ok: number;
  failed: number;
  readonly errors: string[];
  stop(): Promise<void>;
}

/** Requests in a loop until stopped; `keepAlive: false` makes every request a new connection. */
function startLoad(port: number, loops: number, keepAlive: boolean, path = '/'): Load {
  const agent = new http.Agent({ keepAlive, maxSockets: loops });
  let running = true;
  const load: Load = { ok: 0, failed: 0, errors: [], stop: async () => {} };
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) load.ok++;
          else fail(`HTTP ${res.statusCode}`);
          resolve();
        });
        res.on('error', (err) => (fail(err.message), resolve()));
      });
      req.on('error', (err) => (fail(err.message), resolve()));
    });
  const fail = (why: string) => {
    load.failed++;
    if (load.errors.length < 10) load.errors.push(why);
  };
  const workers = Array.from({ length: loops }, async () => {
    while (running) await one();
  });
  load.stop = async () => {
    running = false;
    await Promise.all(workers);
    agent.destroy();
  };
  return load;
}

/** Waits until each load has completed `n` more requests (ok or failed) than when called. */
async function served(what: string, loads: readonly Load[], n = 10): Promise<void> {
  const at = loads.map((l) => l.ok + l.failed);
  await waitFor(what, () => loads.every((l, i) => l.ok + l.failed >= at[i] + n), { timeoutMs: 20_000, intervalMs: 5 });
}

interface Setup {
  readonly dir: string;
  readonly admin: string;
  readonly port: number;
  readonly extraPort: number;
}

function configText(s: Setup, services: Record<string, unknown>): string {
  return stringify({ admin: { listen: `unix:${s.admin}` }, dataplane: { driver: 'haproxy', haproxy: { state_dir: join(s.dir, 'haproxy') } }, services }, { lineWidth: 0 });
}

describe('HAProxy data plane', { skip }, () => {
  let backends: HttpBackend[] = [];
  let h: Hitless | undefined;
  let driver: HaproxyDriver;
  let setup: Setup;
  let masterPid: number | undefined;

  const apply = (text: string) => h!.controller.apply(parseConfig(text, 'test.yaml'), { origin: 'admin' });
  const proc = () => driver.process.showProc();
  const web = (endpoints: unknown[], extra: Record<string, unknown> = {}) => ({
    web: { mode: 'http', listen: `127.0.0.1:${setup.port}`, endpoints, timeouts: { drain: '5s' }, ...extra },
  });

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hitless-haproxy-test-'));
    setup = { dir, admin: join(dir, 'admin.sock'), port: await reservePort(), extraPort: await reservePort() };
    backends = await Promise.all(['b0', 'b1', 'b2', 'b3'].map((n) => startHttpBackend(n)));
    const text = configText(setup, web([backends[0].address]));
    h = await Hitless.start({ snapshot: parseConfig(text, 'test.yaml'), log: silentLogger() });
    assert.ok(h.controller.driver instanceof HaproxyDriver, `expected the haproxy driver, got ${h.controller.driver.name}`);
    driver = h.controller.driver;
    masterPid = driver.process.pid;
  });

  after(async () => {
    await h?.stop(0);
    // Belt and braces: the master we spawned (by pid), should stop() have failed.
    if (masterPid !== undefined) {
      try {
        process.kill(masterPid, 'SIGKILL');
      } catch {
        // Already gone, as it should be.
      }
    }
    await Promise.all(backends.map((b) => b.close()));
    await rm(setup.dir, { recursive: true, force: true });
  });

  it('applies 200 endpoint changes under load with no reload and no failed request', async () => {
    const CHANGES = 200;
    const before = await proc();
    const keepAlive = startLoad(setup.port, 4, true);
    const fresh = startLoad(setup.port, 2, false);
    await served('requests before the first change', [keepAlive, fresh]);
    for (let i = 1; i <= CHANGES; i++) {
      // Adds, removals and weight changes; there is always at least one endpoint.
      const picked = backends.filter((_, b) => (i + b) % 3 !== 0 || b === i % 4);
      await apply(configText(setup, web(picked.map((b, j) => ({ address: b.address, weight: 1 + ((i + j) % 4) })))));
      // Traffic through every state the changes make, not only the last one.
      await served(`a request after change ${i}`, [keepAlive, fresh], 1);
    }
    await served('requests after the last change', [keepAlive, fresh]);
    await Promise.all([keepAlive.stop(), fresh.stop()]);
    // Every removed server drained and was deleted (none left in maintenance).
    await waitFor('the removals to finish', () => driver.status().haproxy.draining === 0);
    const after = await proc();
    const status = await driver.refreshStatus();
    assert.equal(status.haproxy.stuckRemovals, 0);
    const dump = await driver.process.worker.showServersState();
    assert.equal(dump.split('\n').filter((l) => /^\d+ web:default /.test(l)).length, status.services[0].endpoints.length, dump);
    const figures = { changes: CHANGES, requests: keepAlive.ok + fresh.ok, failed: keepAlive.failed + fresh.failed, reloads: after.master.reloads - before.master.reloads };
    console.log(`# endpoint churn: ${JSON.stringify(figures)}; runtime commands ${status.haproxy.runtimeCommands}`);
    assert.equal(after.master.reloads, before.master.reloads, 'the master reloaded');
    assert.equal(after.workers[0]?.pid, before.workers[0]?.pid, 'the worker changed');
    assert.equal(after.oldWorkers.length, 0);
    assert.equal(status.haproxy.reloads, 0);
    assert.equal(status.haproxy.runtimeApplies, CHANGES);
    assert.deepEqual([...keepAlive.errors, ...fresh.errors], []);
    assert.equal(figures.failed, 0);
    assert.ok(figures.requests > CHANGES, `only ${figures.requests} requests went through`);
    // The file kept in step: the served servers are exactly the last config's.
    const servers = status.services[0].endpoints.map((e) => e.address).sort();
    const last = backends.filter((_, b) => (CHANGES + b) % 3 !== 0 || b === CHANGES % 4).map((b) => b.address).sort();
    assert.deepEqual(servers, last);
  });

  it('reloads exactly once for a structural change, with no failed request (new and keep-alive connections)', async () => {
    const before = await proc();
    const load = startLoad(setup.port, 4, false);
    const keepAlive = startLoad(setup.port, 2, true);
    await served('both kinds of requests before the change', [load], 10);
    await served('both kinds of requests before the change', [keepAlive], 10);
    // A new service on a new port, and a route on the existing one.
    const services = {
      ...web([backends[0].address, backends[1].address], { clusters: { api: { endpoints: [backends[2].address] } }, routes: [{ path: '/api', cluster: 'api' }] }),
      extra: { mode: 'http', listen: `127.0.0.1:${setup.extraPort}`, endpoints: [backends[3].address] },
    };
    await apply(configText(setup, services));
    // The old worker is draining now: requests of both kinds must pass through the hand-over.
    await served('new-connection requests after the reload', [load], 20);
    await served('keep-alive requests after the reload', [keepAlive], 20);
    await Promise.all([load.stop(), keepAlive.stop()]);
    const after = await proc();
    const figures = { requests: load.ok, failed: load.failed, keepAliveRequests: keepAlive.ok, keepAliveFailed: keepAlive.failed };
    console.log(`# structural change: ${JSON.stringify({ ...figures, reloads: after.master.reloads - before.master.reloads })}`);
    assert.equal(after.master.reloads, before.master.reloads + 1);
    assert.notEqual(after.workers[0]?.pid, before.workers[0]?.pid);
    // The listening sockets pass to the new worker, and `option idle-close-on-response` keeps the
    // old worker from closing connections it accepted but has not read yet (render-config.ts).
    assert.deepEqual([...load.errors, ...keepAlive.errors], []);
    assert.ok(load.ok > 0 && keepAlive.ok > 0, JSON.stringify(figures));
    const routed = await new Promise<string>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port: setup.port, path: '/api/x', agent: false }, (res) => (res.resume(), resolve(String(res.headers['x-backend'])))).on('error', reject),
    );
    assert.equal(routed, 'b2');
    const extra = await new Promise<string>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port: setup.extraPort, path: '/', agent: false }, (res) => (res.resume(), resolve(String(res.headers['x-backend'])))).on('error', reject),
    );
    assert.equal(extra, 'b3');
  });

  it('coalesces structural applies issued together, or during a reload, into one reload', async () => {
    const at = (connect: string) => parseConfig(configText(setup, web([backends[0].address], { timeouts: { drain: '5s', connect } })), 'test.yaml').config;
    const running = h!.controller.current!.config;
    // Straight to the driver: the controller awaits each apply before it sends the next.
    const send = (connect: string) => driver.apply(at(connect), diffConfigs(running, at(connect)));
    const before = await proc();
    await Promise.all(['1s', '2s', '3s'].map(send));
    const burst = await proc();
    assert.equal(burst.master.reloads, before.master.reloads + 1, 'three applies issued together');
    const first = send('4s');
    // The driver takes a batch one event-loop turn after the first apply arrives (pump()): once an
    // immediate queued after it has run, the batch holding only '4s' is being checked or reloaded.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await Promise.all([first, send('5s'), send('6s')]);
    const during = await proc();
    assert.equal(during.master.reloads, burst.master.reloads + 2, 'one apply, then two while it reloaded');
    assert.match(await readFile(driver.paths.config, 'utf8'), /timeout connect 6000ms/);
    // The controller catches up with what the driver runs: the same text, so no reload.
    await apply(configText(setup, web([backends[0].address], { timeouts: { drain: '5s', connect: '6s' } })));
    assert.equal((await proc()).master.reloads, during.master.reloads);
  });

  it('rejects a config HAProxy refuses with its own message, and the old config keeps serving', async () => {
    const before = await proc();
    const running = h!.controller.current!.hash;
    const text = configText(setup, web([backends[0].address, 'no-such-host.invalid:8080']));
    await assert.rejects(apply(text), (err: Error) => {
      console.log(`# rejected: ${err.message}`);
      assert.match(err.message, /could not resolve address 'no-such-host\.invalid'/);
      return true;
    });
    // Through the admin API: a data-plane refusal has its own code and a 4xx, not a bind failure's.
    const put = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ socketPath: setup.admin, method: 'PUT', path: '/config', headers: { 'content-type': 'application/yaml' } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject).end(text);
    });
    assert.equal(put.status, 422, put.body);
    assert.equal((JSON.parse(put.body) as { error: { code: string } }).error.code, 'HITLESS_ERR_DATAPLANE_REJECTED');
    const after = await proc();
    assert.equal(after.master.reloads, before.master.reloads);
    assert.equal(after.workers[0]?.pid, before.workers[0]?.pid);
    assert.equal(h!.controller.current!.hash, running);
    const load = startLoad(setup.port, 1, false);
    await served('requests on the old config', [load], 10);
    await load.stop();
    assert.ok(load.ok > 0);
    assert.equal(load.failed, 0);
  });

  it('keeps health and admin states across a reload (server-state file)', async () => {
    const [up, down, maint] = backends;
    down.healthy = false;
    const health = { active: { path: '/health', interval: '300ms', fall: 1, rise: 3 } };
    await apply(configText(setup, web([up.address, down.address, maint.address], { health })));
    const be = 'web:default';
    await driver.process.worker.run(`set server ${be}/${serverName(maint.address)} state maint`);
    await waitFor('the unhealthy server to be marked DOWN', async () => {
      const rows = await driver.process.worker.showStat(`${be} 4 -1`);
      return rows.find((r) => r.svname === serverName(down.address))?.status.startsWith('DOWN');
    });
    // Healthy again: without the state file the new worker would start it UP at once;
    // restored, it stays DOWN until `rise` (3) checks pass.
    down.healthy = true;
    const before = await proc();
    await apply(configText(setup, { ...web([up.address, down.address, maint.address], { health }), extra: { listen: `127.0.0.1:${setup.extraPort}`, endpoints: [up.address] } }));
    const after = await proc();
    assert.equal(after.master.reloads, before.master.reloads + 1);
    const rows = await driver.process.worker.showStat(`${be} 4 -1`);
    const state = (b: HttpBackend) => rows.find((r) => r.svname === serverName(b.address))?.status;
    console.log(`# after reload: ${JSON.stringify({ up: state(up), down: state(down), maint: state(maint) })}`);
    assert.match(state(maint) ?? '', /^MAINT/);
    assert.match(state(down) ?? '', /^DOWN/);
    assert.match(state(up) ?? '', /^UP/);
  });

  it('loads the weights of the config after a reload, not the old runtime ones', async () => {
    const eps = (w: number) => [{ address: backends[0].address, weight: 1 }, { address: backends[1].address, weight: w }];
    await apply(configText(setup, web(eps(5), { balance: 'round-robin' })));
    await apply(configText(setup, web(eps(9), { balance: 'round-robin' }))); // runtime: set weight 9
    await apply(configText(setup, web(eps(5), { balance: 'least-conn' }))); // reload with weight 5 again
    const rows = await driver.process.worker.showStat('web:default 4 -1');
    assert.equal(rows.find((r) => r.svname === serverName(backends[1].address))?.weight, '5');
  });

  it('restarts HAProxy when its master dies on its own', async () => {
    const pid = driver.process.pid!;
    process.kill(pid, 'SIGKILL'); // the master this test's hitless spawned
    await waitFor('a new master', () => driver.process.pid !== undefined && driver.process.pid !== pid && driver.status().haproxy.restarts === 1, { timeoutMs: 15_000 });
    masterPid = driver.process.pid;
    const load = startLoad(setup.port, 1, false);
    await waitFor('a request through the new master', () => load.ok > 0, { timeoutMs: 10_000 });
    await load.stop();
  });

  it('refuses to change dataplane.driver in a running process', async () => {
    const text = stringify({ admin: { listen: `unix:${setup.admin}` }, services: web([backends[0].address]) }, { lineWidth: 0 });
    await assert.rejects(apply(text), /dataplane\.driver cannot change from haproxy to builtin/);
  });
});
