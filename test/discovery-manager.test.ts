// What control does with discovered sets, through a real in-process hitless and real file
// sources: an apply touches only the services whose set changed (the others keep their frozen
// config objects, so their runtimes are reused); `mode: add` keeps the static endpoints; a set
// below `min_endpoints` and a broken source both hold the last known good set, visibly; and a
// reload (PUT /config path: controller.apply) keeps the discovered endpoints in place.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config/load.js';
import type { FileTarget } from '../src/config/discovery-model.js';
import type { Config } from '../src/config/model.js';
import { Controller } from '../src/control/controller.js';
import { DiscoveryManager } from '../src/control/discovery-manager.js';
import type { Driver, PreparedChange } from '../src/dataplane/driver.js';
import type { Plan } from '../src/dataplane/plan-types.js';
import type { Source, SourceListener } from '../src/discovery/source.js';
import { Hitless } from '../src/hitless.js';
import { silentLogger } from '../src/observability/log.js';
import { reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';

/** A fake driver's prepared change: `onCommit` runs at commit. */
function committing(plan: Plan, onCommit: () => void): PreparedChange {
  return {
    plan,
    prepared: { bound: [], commit: 'test' },
    commit: async () => {
      onCommit();
      return { bound: [], released: [] };
    },
    abort: async () => {},
  };
}

describe('discovery manager: merging discovered sets into the running config', () => {
  let dir: string;
  let hitless: Hitless;
  let configText: (extra?: string) => string;
  const file = (name: string) => join(dir, `${name}.yaml`);
  const write = (name: string, ports: number[]) => writeFileSync(file(name), stringify(ports.map((port) => ({ host: '127.0.0.1', port }))));
  const endpoints = (name: string) => hitless.controller.current!.config.services.get(name)!.endpoints.map((e) => e.port);
  const state = (name: string) => hitless.discovery.describe().find((d) => d.service === name)!;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hitless-discovery-manager-'));
    write('a', [9001, 9002]);
    write('b', [9101]);
    write('c', [9201, 9202]);
    const ports = [await reservePort(), await reservePort(), await reservePort()];
    configText = (extra = '') =>
      stringify({
        admin: { listen: `unix:${join(dir, 'admin.sock')}` },
        discovery_defaults: { coalesce: '10ms' },
        services: {
          a: { listen: `127.0.0.1:${ports[0]}`, discovery: { file: { path: file('a') }, min_endpoints: 2 } },
          b: { listen: `127.0.0.1:${ports[1]}`, endpoints: ['127.0.0.1:9999'], discovery: { file: { path: file('b') }, mode: 'add' } },
          c: { listen: `127.0.0.1:${ports[2]}`, discovery: { file: { path: file('c') } } },
        },
      }) + extra;
    hitless = await Hitless.start({ snapshot: parseConfig(configText(), 'test'), log: silentLogger() });
  });

  after(async () => {
    await hitless?.stop(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts with the discovered sets in place (mode add keeps the static endpoints)', () => {
    assert.deepEqual(endpoints('a'), [9001, 9002]);
    assert.deepEqual(endpoints('b'), [9999, 9101]);
    assert.deepEqual(endpoints('c'), [9201, 9202]);
    assert.equal(state('a').state, 'healthy');
  });

  it('rebuilds only the service whose set changed', async () => {
    const before = hitless.controller.current!.config.services;
    write('c', [9201, 9203]);
    await waitFor('c to change', () => endpoints('c').includes(9203));
    const now = hitless.controller.current!.config.services;
    assert.equal(now.get('a'), before.get('a'), 'a keeps its frozen config object');
    assert.equal(now.get('b'), before.get('b'), 'b keeps its frozen config object');
    const last = hitless.controller.history.at(-1)!;
    assert.equal(last.origin, 'discovery');
    assert.deepEqual(last.plan?.services.changed.map((c) => c.name), ['c']);
  });

  it('holds the last known good set when a set falls below min_endpoints, and says so', async () => {
    write('a', [9001]);
    await waitFor('a to report the hold', () => /min_endpoints 2/.test(state('a').lastError ?? ''));
    assert.equal(state('a').state, 'degraded');
    assert.deepEqual(endpoints('a'), [9001, 9002]);
    write('a', [9001, 9003]);
    await waitFor('a to take the new set', () => endpoints('a').includes(9003));
    assert.equal(state('a').state, 'healthy');
  });

  it('holds the last known good set when the source breaks (malformed file)', async () => {
    writeFileSync(file('c'), '[ this is: not yaml');
    await waitFor('c degraded', () => state('c').state === 'degraded');
    assert.deepEqual(endpoints('c'), [9201, 9203]);
    write('c', [9201]);
    await waitFor('c healthy again', () => state('c').state === 'healthy' && endpoints('c').length === 1);
  });

  it('keeps the discovered endpoints across a reload of the file config', async () => {
    const record = await hitless.controller.apply(parseConfig(configText('# reloaded\n'), 'test'), { origin: 'admin' });
    // A comment changes nothing served: a no-op for the data plane, but the new text is the base.
    assert.deepEqual([record.result, record.summary], ['noop', 'no changes']);
    assert.deepEqual(endpoints('a'), [9001, 9003]);
    assert.deepEqual(endpoints('b'), [9999, 9101]);
    assert.equal(hitless.controller.base?.text.endsWith('# reloaded\n'), true);
  });
});

describe('discovery manager: a set that changes while the first apply is still running', () => {
  it('is applied right after that apply commits (a supervisor starting its workers takes a while)', async (t) => {
    // Fake timers fire the coalescing window exactly when the test says: no timing involved.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inDriver = new Promise<void>((resolve) => (entered = resolve));
    const applied: Config[] = [];
    let secondApply!: () => void;
    const second = new Promise<void>((resolve) => (secondApply = resolve));
    const driver: Driver = {
      name: 'builtin',
      async prepare(desired, plan) {
        if (applied.length === 0) {
          entered();
          await gate;
        }
        return committing(plan, () => {
          applied.push(desired);
          if (applied.length === 2) secondApply();
        });
      },
      status: () => ({ driver: 'builtin', services: [], listeners: [] }),
      close: async () => {},
    };
    let listener!: SourceListener;
    const source: Source = { description: 'fake', start: async (l) => void (listener = l), stop: async () => {} };
    const controller = new Controller(driver, silentLogger());
    const discovery = new DiscoveryManager(controller, silentLogger(), { createSource: () => source });
    controller.setAssembler({ assemble: (b) => discovery.assemble(b), committed: (b) => discovery.committed(b), status: () => ({}) });
    const snapshot = parseConfig(
      stringify({ admin: { listen: 'unix:/nonexistent/admin.sock' }, discovery_defaults: { coalesce: '10ms' }, services: { d: { listen: '127.0.0.1:1', discovery: { file: { path: '/nonexistent' } } } } }),
      'test',
    );
    discovery.committed(snapshot);
    listener.onEndpoints([{ host: '127.0.0.1', port: 9001 }]);
    t.mock.timers.tick(10); // nothing runs yet: that window opened before the first apply
    const startup = controller.apply(snapshot, { origin: 'startup' });
    await inDriver; // the startup config is assembled (with 9001 only) and in the driver
    listener.onEndpoints([{ host: '127.0.0.1', port: 9001 }, { host: '127.0.0.1', port: 9002 }]);
    t.mock.timers.tick(10); // this window closes while the startup apply is still in the driver
    release();
    await startup;
    t.mock.timers.tick(10);
    await second;
    assert.deepEqual(applied[1].services.get('d')!.endpoints.map((e) => e.port), [9001, 9002]);
    await discovery.stop();
  });
});

describe('discovery manager: a discovery apply patches the assembled config', () => {
  // Fake sources and a recording driver: what is asserted is what the controller hands the driver.
  const names = ['a', 'b', 'c', 'd'];
  const text = stringify({
    admin: { listen: 'unix:/nonexistent/admin.sock' },
    // The window never closes within a test: each step applies the running base itself.
    discovery_defaults: { coalesce: '1h' },
    services: {
      ...Object.fromEntries(names.map((n, i) => [n, { listen: `127.0.0.1:${i + 1}`, discovery: { file: { path: `/nonexistent/${n}` } } }])),
      plain: { listen: '127.0.0.1:9', endpoints: ['127.0.0.1:9000'] },
    },
  });
  const set = (...ports: number[]) => ports.map((port) => ({ host: '127.0.0.1', port }));

  async function start(fail: () => boolean = () => false) {
    const listeners = new Map<string, SourceListener>();
    const driver: Driver = {
      name: 'builtin',
      async prepare(_desired, plan) {
        if (fail()) throw new Error('refused by the test');
        return committing(plan, () => {});
      },
      status: () => ({ driver: 'builtin', services: [], listeners: [] }),
      close: async () => {},
    };
    const controller = new Controller(driver, silentLogger());
    const discovery = new DiscoveryManager(controller, silentLogger(), {
      createSource: (config) => ({
        description: 'fake',
        start: async (l) => void listeners.set((config.target as FileTarget).path.split('/').at(-1)!, l),
        stop: async () => {},
      }),
    });
    controller.setAssembler({ assemble: (b) => discovery.assemble(b), committed: (b) => discovery.committed(b), status: () => ({}) });
    const snapshot = parseConfig(text, 'test');
    discovery.committed(snapshot);
    names.forEach((n, i) => listeners.get(n)!.onEndpoints(set(9000 + 10 * i)));
    await controller.apply(snapshot, { origin: 'startup' });
    const step = async (changes: Record<string, number[]>) => {
      for (const [n, ports] of Object.entries(changes)) listeners.get(n)!.onEndpoints(set(...ports));
      return controller.apply(controller.base!, { origin: 'discovery' });
    };
    return { controller, discovery, step, snapshot };
  }

  it('hands the driver only the changed services, and keeps every other frozen object', async () => {
    const { controller, discovery, step } = await start();
    const before = controller.current!.config;
    const record = await step({ b: [9011, 9012] });
    const after = controller.current!.config;
    assert.deepEqual(record.plan!.services.changed.map((c) => c.name), ['b']);
    assert.deepEqual(record.plan!.services.changed[0].endpoints, { added: ['127.0.0.1:9011', '127.0.0.1:9012'], removed: ['127.0.0.1:9010'], reweighted: [] });
    assert.deepEqual(record.plan!.services.unchanged, ['a', 'c', 'd', 'plain']);
    for (const n of ['a', 'c', 'd', 'plain']) assert.equal(after.services.get(n), before.services.get(n), `${n} keeps its object`);
    assert.equal(after.admin, before.admin);
    assert.throws(() => (after.services as Map<string, unknown>).delete('a'), TypeError, 'the assembled map is frozen too');
    await discovery.stop();
  });

  it('the hash names the content: a set changed and changed back gives the same hash, and the same as a fresh assembly', async () => {
    const { controller, discovery, step } = await start();
    const original = controller.current!.hash;
    await step({ a: [9001], c: [9021, 9022] });
    const changed = controller.current!.hash;
    assert.notEqual(changed, original);
    assert.equal((await step({ c: [9021, 9022] })).result, 'noop', 'a set reported again unchanged is no apply');
    // A new base with the same text is assembled from scratch: same content, same hash.
    assert.equal(discovery.assemble(parseConfig(text, 'test')).snapshot.hash, changed);
    await step({ a: [9000], c: [9020] });
    assert.equal(controller.current!.hash, original);
    await discovery.stop();
  });

  it('names, with the config, the services it touched since the config before: what the plan compares', async () => {
    const { controller, discovery, step } = await start();
    const before = controller.current!.config;
    await step({ b: [9011], d: [9031, 9032] });
    const assembled = discovery.assemble(controller.base!);
    assert.equal(assembled.snapshot, controller.current, 'nothing changed since: the same assembly');
    assert.equal(assembled.derivation?.from, before);
    assert.deepEqual([...assembled.derivation!.touched].sort(), ['b', 'd']);
    assert.equal(discovery.assemble(parseConfig(text, 'test')).derivation, undefined, 'a new base is assembled whole');
    await discovery.stop();
  });

  it('after a rejected apply, the next one still carries every change the driver has not seen', async () => {
    let refuse = false;
    const { controller, discovery, step } = await start(() => refuse);
    refuse = true;
    await assert.rejects(step({ a: [9001] }), /refused by the test/);
    refuse = false;
    const record = await step({ d: [9031] });
    assert.deepEqual(record.plan!.services.changed.map((c) => c.name).sort(), ['a', 'd']);
    assert.deepEqual(controller.current!.config.services.get('a')!.endpoints.map((e) => e.port), [9001]);
    await discovery.stop();
  });

  it('a reload (new base) keeps the discovered sets and follows changes made meanwhile', async () => {
    const { controller, discovery, step, snapshot } = await start();
    await step({ b: [9011] });
    const reloaded = parseConfig(`${text}# reloaded\n`, 'test');
    const record = await controller.apply(reloaded, { origin: 'admin' });
    assert.equal(record.result, 'noop', 'nothing served changed (a comment)');
    assert.notEqual(controller.current!.hash, reloaded.hash, 'the assembled hash covers the discovered sets');
    assert.equal(controller.base, reloaded);
    assert.deepEqual(controller.current!.config.services.get('b')!.endpoints.map((e) => e.port), [9011]);
    await step({ b: [9012] });
    assert.deepEqual(controller.current!.config.services.get('b')!.endpoints.map((e) => e.port), [9012]);
    assert.notEqual(controller.base, snapshot);
    await discovery.stop();
  });
});
