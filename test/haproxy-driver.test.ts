// The HAProxy data plane against Debian's real HAProxy, through Hitless.start in process: endpoint
// churn costs no reload and no request, a structural change costs exactly one seamless reload and
// no request (new or keep-alive connections), one prepared change at a time and its abort changes
// nothing, a config HAProxy rejects changes nothing (applied or validated), POST /config/validate
// reports a port in use, and health/admin states survive a reload through the server-state file.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config/load.js';
import { diffConfigs } from '../src/control/plan.js';
import type { HaproxyDriver } from '../src/dataplane/haproxy/haproxy-driver.js';
import { serverName } from '../src/dataplane/haproxy/render-config.js';
import type { Hitless } from '../src/hitless.js';
import { adminRequest, type ErrorDoc } from './helpers/admin.js';
import { HaproxyUnderTest, haproxyMissing } from './helpers/haproxy-in-process.js';
import { startHttpBackend, type HttpBackend } from './helpers/http-backends.js';
import { bindable, listenInAnotherProcess, reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';

const skip = haproxyMissing;

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
  readonly haproxy: HaproxyUnderTest;
  readonly admin: string;
  readonly port: number;
  readonly extraPort: number;
}

function configText(s: Setup, services: Record<string, unknown>): string {
  return stringify({ admin: { listen: `unix:${s.admin}` }, dataplane: s.haproxy.dataplane, services }, { lineWidth: 0 });
}

describe('HAProxy data plane', { skip }, () => {
  let backends: HttpBackend[] = [];
  let h: Hitless | undefined;
  let driver: HaproxyDriver;
  let setup: Setup;

  const apply = (text: string) => h!.controller.apply(parseConfig(text, 'test.yaml'), { origin: 'admin' });
  const proc = () => driver.process.showProc();
  const web = (endpoints: unknown[], extra: Record<string, unknown> = {}) => ({
    web: { mode: 'http', listen: `127.0.0.1:${setup.port}`, endpoints, timeouts: { drain: '5s' }, ...extra },
  });

  before(async () => {
    const haproxy = await HaproxyUnderTest.create('hitless-haproxy-test-');
    setup = { haproxy, admin: haproxy.adminSocket, port: await reservePort(), extraPort: await reservePort() };
    backends = await Promise.all(['b0', 'b1', 'b2', 'b3'].map((n) => startHttpBackend(n)));
    h = await haproxy.start(configText(setup, web([backends[0].address])));
    driver = haproxy.driver;
  });

  after(async () => {
    try {
      await setup?.haproxy.close();
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
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

  it('prepares one change at a time, and an aborted one changes nothing', async () => {
    const at = (connect: string) => parseConfig(configText(setup, web([backends[0].address], { timeouts: { drain: '5s', connect } })), 'test.yaml').config;
    const running = h!.controller.current!.config;
    const text = await readFile(driver.paths.config, 'utf8');
    const before = await proc();
    // Straight to the driver, as the controller's queue never would: a second prepare is refused.
    const change = await driver.prepare(at('4s'), diffConfigs(running, at('4s')));
    assert.match(change.prepared.commit, /^seamless reload \(haproxy -c passed/);
    await assert.rejects(driver.prepare(at('5s'), diffConfigs(running, at('5s'))), /prepare while another prepared change is outstanding/);
    await change.abort();
    await assert.rejects(change.commit(), /commit of a prepared change already ended by abort/);
    assert.equal((await proc()).master.reloads, before.master.reloads);
    assert.equal(await readFile(driver.paths.config, 'utf8'), text);
    // Free again: the next prepare commits.
    const next = await driver.prepare(at('4s'), diffConfigs(running, at('4s')));
    await next.commit();
    assert.equal((await proc()).master.reloads, before.master.reloads + 1);
    assert.match(await readFile(driver.paths.config, 'utf8'), /timeout connect 4000ms/);
    // The controller catches up with what the driver runs: the same text, so no reload.
    await apply(configText(setup, web([backends[0].address], { timeouts: { drain: '5s', connect: '4s' } })));
    assert.equal((await proc()).master.reloads, before.master.reloads + 1);
  });

  /** POST /config/validate of `text`: the reply, and proof that nothing changed (config, history, reloads, worker). */
  async function validateChangesNothing(text: string) {
    const before = { hash: h!.controller.current!.hash, history: h!.controller.history.length, last: h!.controller.history.at(-1), proc: await proc(), file: await readFile(driver.paths.config, 'utf8') };
    const res = await adminRequest(setup.admin, 'POST', '/config/validate', text, { 'content-type': 'application/yaml' });
    const after = await proc();
    assert.equal(h!.controller.current!.hash, before.hash, 'the running config is unchanged');
    assert.equal(h!.controller.history.length, before.history, 'a validation is not recorded as an apply');
    assert.equal(h!.controller.history.at(-1), before.last);
    assert.equal(after.master.reloads, before.proc.master.reloads, 'no reload');
    assert.equal(after.workers[0]?.pid, before.proc.workers[0]?.pid);
    assert.equal(await readFile(driver.paths.config, 'utf8'), before.file);
    return res;
  }

  it('POST /config/validate: a config haproxy -c refuses → 422 HITLESS_ERR_DATAPLANE_REJECTED, nothing changed', async () => {
    const res = await validateChangesNothing(configText(setup, web([backends[0].address, 'no-such-host.invalid:8080'])));
    assert.equal(res.status, 422, res.text);
    const { error } = res.json<ErrorDoc>();
    assert.equal(error.code, 'HITLESS_ERR_DATAPLANE_REJECTED');
    assert.match(error.message, /^config rejected by haproxy -c, nothing changed: .*could not resolve address 'no-such-host\.invalid'/);
  });

  it('POST /config/validate: a listen port held by another process → 409 HITLESS_ERR_BIND_FAILED naming it, nothing changed', async () => {
    const taken = await reservePort();
    const foreign = await listenInAnotherProcess(taken);
    try {
      const text = configText(setup, { ...web([backends[0].address]), clash: { mode: 'http', listen: `127.0.0.1:${taken}`, endpoints: [backends[1].address] } });
      const res = await validateChangesNothing(text);
      assert.equal(res.status, 409, res.text);
      const { error } = res.json<ErrorDoc & { error: { details: Array<{ address: string; errno: string }> } }>();
      assert.equal(error.code, 'HITLESS_ERR_BIND_FAILED');
      assert.match(error.message, new RegExp(`^config rejected, nothing changed: cannot listen on 127\\.0\\.0\\.1:${taken}: address already in use`));
      assert.deepEqual(error.details.map((d) => [d.address, d.errno]), [[`127.0.0.1:${taken}`, 'EADDRINUSE']]);
    } finally {
      await foreign.stop();
    }
  });

  it('POST /config/validate of a valid structural change reports the reload it would make, makes none, and leaves the new port free', async () => {
    const free = await reservePort();
    const text = configText(setup, { ...web([backends[0].address]), more: { mode: 'http', listen: `127.0.0.1:${free}`, endpoints: [backends[1].address] } });
    const res = await validateChangesNothing(text);
    assert.equal(res.status, 200, res.text);
    const body = res.json<{ valid: boolean; summary: string; prepared: { driver: string; commit: string } }>();
    assert.equal(body.valid, true);
    assert.equal(body.prepared.driver, 'haproxy');
    assert.match(body.prepared.commit, /^seamless reload \(haproxy -c passed/);
    assert.equal(await bindable(free), true, 'the new port is free again');
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
    const load = startLoad(setup.port, 1, false);
    await waitFor('a request through the new master', () => load.ok > 0, { timeoutMs: 10_000 });
    await load.stop();
  });

  it('refuses to change dataplane.driver in a running process', async () => {
    const text = stringify({ admin: { listen: `unix:${setup.admin}` }, services: web([backends[0].address]) }, { lineWidth: 0 });
    await assert.rejects(apply(text), /dataplane\.driver cannot change from haproxy to builtin/);
  });
});
