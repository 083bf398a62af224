// Imported ZooKeeper configs serve traffic from a real ZooKeeper (issue 19). For each synapse
// fixture, its import (moved onto this test's ZooKeeper and ports, every other setting as
// imported) runs as `hitless run`; backends are announced the way nerve announces them, and every
// service that can be served answers from its backend — on the builtin data plane, and on HAProxy
// with the passed-through options. For each nerve fixture, `hitless register` runs its import:
// synapse's way of reading finds nerve's entries (ephemeral INSTANCE_ID_<seq> znodes), and a
// hitless service reading the same paths serves them.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type zookeeper from 'node-zookeeper-client';
import { stringify } from 'yaml';
import { closeClient } from '../src/discovery/zookeeper-session.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import { haproxyMissing } from './helpers/paths.js';
import { reservePort } from './helpers/ports.js';
import {
  FIXTURES,
  httpAsk,
  httpBackend,
  readLikeSynapse,
  registerLikeNerve,
  RegisterProcess,
  relocate,
  runImport,
  tcpAsk,
  tcpBackend,
  zkClient,
  type Backend,
  type Loose,
} from './helpers/smartstack.js';
import { waitFor } from './helpers/wait.js';
import { ZookeeperServer, zookeeperMissing } from './helpers/zookeeper.js';


describe('imported configs serve from a real ZooKeeper', { skip: zookeeperMissing() ?? false }, () => {
  let zk: ZookeeperServer;
  let client: zookeeper.Client;
  const backends: Backend[] = [];
  const running: Array<HitlessProcess | RegisterProcess> = [];

  before(async () => {
    zk = await ZookeeperServer.launch();
    client = await zkClient(zk.hosts);
  });

  after(async () => {
    for (const p of running) await (p instanceof HitlessProcess ? p.kill() : p.stop());
    if (client) await closeClient(client);
    await Promise.all(backends.map((b) => b.close()));
    await zk?.destroy();
  });

  const backend = async (mode: string, name: string) => {
    const b = mode === 'http' ? await httpBackend(name) : await tcpBackend(name);
    backends.push(b);
    return b;
  };
  const ask = (mode: string, port: number) => (mode === 'http' ? httpAsk(port) : tcpAsk(port));

  /**
   * Imports `args`, announces a backend for every ZooKeeper service as nerve would (under a path
   * of this run's own, so fixtures sharing a path do not meet), runs the import, and returns the
   * services with their listen ports and backends.
   */
  async function serve(tag: string, args: string[]): Promise<{ h: HitlessProcess; config: Loose; served: Map<string, { port: number; mode: string; backend: Backend }> }> {
    const imported = await runImport(args);
    assert.equal(imported.code, 0, imported.report.join('\n'));
    const config = imported.config;
    const ports = await relocate(config, { zk: zk.hosts, admin: 'unix:/placeholder', stateDir: mkdtempSync(join(tmpdir(), 'hitless-import-haproxy-')) });
    const served = new Map<string, { port: number; mode: string; backend: Backend }>();
    for (const [name, service] of Object.entries(config.services) as Array<[string, Loose]>) {
      if (service.endpoints) service.endpoints = [(await backend(service.mode, `${tag}-${name}-static`)).address];
      if (!service.discovery?.zookeeper) continue;
      const path = `/${tag}${service.discovery.zookeeper.path}`;
      service.discovery.zookeeper.path = path;
      const b = await backend(service.mode, `${tag}-${name}`);
      await registerLikeNerve(client, path, { host: '127.0.0.1', port: b.port, name: `i-${tag}-${name}`, weight: null, labels: { az: 'us-east-1a' } });
      served.set(name, { port: ports.get(name)!, mode: service.mode, backend: b });
    }
    const h = await HitlessProcess.start({
      // The HAProxy data plane runs in one process (hitless run --workers 0).
      workers: config.dataplane?.driver === 'haproxy' ? 0 : 1,
      config: (admin) => {
        config.admin.listen = admin;
        return stringify(config, { lineWidth: 0 });
      },
    });
    running.push(h);
    return { h, config, served };
  }

  async function assertServed(h: HitlessProcess, served: Map<string, { port: number; mode: string; backend: Backend }>, except: readonly string[] = []): Promise<void> {
    for (const [name, { port, mode, backend: b }] of served) {
      if (except.includes(name)) continue;
      await waitFor(`${name} answering from ${b.name} through 127.0.0.1:${port}`, async () => (await ask(mode, port)) === b.name, { timeoutMs: 20_000, intervalMs: 100 }).catch((err: Error) => {
        throw new Error(`${err.message}\n${h.logs().slice(-3_000)}`);
      });
    }
  }

  it('synapse-zookeeper: accounts (http, checked), billing (http, with a fallback server), sessions (tcp)', async () => {
    const { h, served } = await serve('zk', ['synapse', `${FIXTURES}/synapse-zookeeper/synapse.conf.yaml`]);
    assert.deepEqual([...served.keys()], ['accounts', 'billing', 'sessions']);
    await assertServed(h, served);
  });

  it('synapse-confd: services from conf.d files (http; tcp with a static node beside the discovered ones)', async () => {
    const { h, served } = await serve('confd', ['synapse', `${FIXTURES}/synapse-confd/synapse.conf.json`]);
    assert.deepEqual([...served.keys()], ['inventory', 'search']);
    await assertServed(h, served);
  });

  it('synapse-haproxy-options on the builtin data plane', async () => {
    const { h, served } = await serve('opts', ['synapse', `${FIXTURES}/synapse-haproxy-options/synapse.conf.json`]);
    assert.deepEqual([...served.keys()], ['storefront', 'cache', 'orders-db']);
    await assertServed(h, served);
  });

  it('synapse-haproxy-options on HAProxy: the passed-through options are in force (Redis-style tcp-check, HTTP check expecting 200)', { skip: haproxyMissing }, async () => {
    const { h, config, served } = await serve('hap', ['synapse', `${FIXTURES}/synapse-haproxy-options/synapse.conf.json`, '--dataplane', 'haproxy']);
    // orders-db's servers answer no MySQL handshake: its passed-through mysql-check keeps them down, as it should.
    await assertServed(h, served, ['orders-db']);
    const cfg = await readFile(join(config.dataplane.haproxy.state_dir, 'haproxy.cfg'), 'utf8');
    for (const line of ['  rate-limit sessions 500', '  timeout queue 10s', '  http-check expect status 200', '  tcp-check send PING\\r\\n', '  tcp-check expect string +PONG', '  option mysql-check user haproxy_check']) {
      assert.ok(cfg.includes(`\n${line}\n`), `${line.trim()} in the rendered haproxy.cfg`);
    }
    assert.match(cfg, /server \S+ 127\.0\.0\.1:\d+ weight 1 check inter 3000ms fall 3 rise 2 observe layer7 error-limit 5 on-error mark-down maxconn 200 slowstart 30s\n/);
    assert.match(cfg, /server \S+ 127\.0\.0\.1:\d+ weight 1 check inter 2000ms fall 3 rise 2 port 9200 fastinter 500ms downinter 5s send-proxy\n/);
  });

  for (const [fixture, file] of [
    ['nerve-zookeeper', 'nerve.conf.json'],
    ['nerve-confd', 'nerve.yaml'],
  ] as const) {
    it(`${fixture}: hitless register announces as nerve did, synapse's reading finds the entries, hitless serves them`, async () => {
      const imported = await runImport(['nerve', `${FIXTURES}/${fixture}/${file}`]);
      assert.equal(imported.code, 0);
      const config = imported.config;
      await relocate(config, { zk: zk.hosts, admin: 'unix:/unused' });
      delete config.admin;
      const wanted = new Map<string, { path: string; mode: string; backend: Backend; entry: Loose }>();
      for (const entry of config.register) {
        entry.zookeeper.path = `/${fixture}${entry.zookeeper.path}`;
        const mode = entry.check.type === 'http' ? 'http' : 'tcp';
        const b = await backend(mode, `${fixture}-${entry.service}`);
        entry.host = '127.0.0.1';
        entry.port = b.port;
        if (entry.check.port !== undefined) entry.check.port = b.port;
        wanted.set(entry.service, { path: entry.zookeeper.path, mode, backend: b, entry });
      }
      const register = RegisterProcess.start(stringify(config));
      running.push(register);
      for (const [service, { path, backend: b, entry }] of wanted) {
        const found = await waitFor(`${service} announced at ${path}`, async () => {
          const read = await readLikeSynapse(client, path);
          return read.length === 1 ? read[0] : false;
        }, { timeoutMs: 20_000, intervalMs: 100 }).catch((err: Error) => {
          throw new Error(`${err.message}\n${register.logs().slice(-3_000)}`);
        });
        assert.ok(found.ephemeral, 'an ephemeral znode, gone with the session');
        assert.match(found.child, new RegExp(`^${entry.name.replace(/\./g, '\\.')}_\\d{10}$`), "nerve's name: INSTANCE_ID_ and a sequence number");
        const expected: Record<string, unknown> = { host: '127.0.0.1', port: b.port, name: entry.name };
        if (entry.weight !== undefined) expected.weight = entry.weight;
        if (entry.labels !== undefined) expected.labels = entry.labels;
        assert.deepEqual(found.value, expected, "nerve's JSON, label types kept");
      }
      const services: Record<string, unknown> = {};
      const ports = new Map<string, number>();
      for (const [service, { path, mode }] of wanted) {
        const port = await reservePort();
        ports.set(service, port);
        services[service] = { mode, listen: `127.0.0.1:${port}`, discovery: { zookeeper: { hosts: zk.hosts, path } } };
      }
      const h = await HitlessProcess.start({ workers: 1, config: (admin) => stringify({ admin: { listen: admin }, services }) });
      running.push(h);
      for (const [service, { mode, backend: b }] of wanted) {
        await waitFor(`${service} served from ${b.name}`, async () => (await ask(mode, ports.get(service)!)) === b.name, { timeoutMs: 20_000, intervalMs: 100 });
      }
      // nerve's way out: stopping deregisters, and the entries go.
      await register.stop();
      for (const [service, { path }] of wanted) await waitFor(`${service} withdrawn`, async () => (await readLikeSynapse(client, path)).length === 0, { timeoutMs: 20_000 });
    });
  }
});
