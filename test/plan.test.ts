// diffConfigs / summarizePlan: the typed plan an apply executes, computed from two parsed configs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/model.js';
import { HashTree } from '../src/config/hash.js';
import { diffConfigs, summarizePlan, type Derivation, type Plan, type ServiceChange } from '../src/control/plan.js';

interface Svc {
  listen: string | string[];
  balance?: string;
  endpoints?: Array<string | { address: string; weight?: number }>;
  timeouts?: Record<string, string>;
  retries?: number;
  max_connections?: number;
}

function config(services: Record<string, Svc>, admin: Record<string, string> = { listen: 'unix:/tmp/hitless-plan-test.sock' }): Config {
  return parseConfig(JSON.stringify({ admin, services }), 'plan-test.yaml').config;
}

const base: Record<string, Svc> = {
  web: { listen: '127.0.0.1:7000', endpoints: ['127.0.0.1:7101', '127.0.0.1:7102'] },
  api: { listen: ['127.0.0.1:7001', '127.0.0.1:7002'], balance: 'least-conn', endpoints: ['127.0.0.1:7201', { address: '127.0.0.1:7202', weight: 3 }] },
  db: { listen: '127.0.0.1:7003', endpoints: ['127.0.0.1:7301'] },
};

function change(plan: Plan, name: string): ServiceChange {
  const c = plan.services.changed.find((s) => s.name === name);
  assert.ok(c, `${name} is not in plan.services.changed: ${JSON.stringify(plan.services)}`);
  return c;
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

/**
 * Whether a change reports `setting` among its fields. Balance and endpoints belong to the
 * service's default cluster, and the plan may report them as "clusters" (the http model).
 */
function touches(c: ServiceChange, setting: 'balance' | 'endpoints'): boolean {
  return c.fields.includes(setting) || c.fields.includes('clusters');
}

describe('diffConfigs', () => {
  it('from nothing (startup): every service added, every listener bound', () => {
    const plan = diffConfigs(null, config(base));
    assert.deepEqual(plan.services, { added: ['web', 'api', 'db'], removed: [], changed: [], unchanged: [] });
    assert.deepEqual(plan.listeners, { add: ['127.0.0.1:7000', '127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'], keep: [], remove: [] });
    assert.equal(plan.adminChanged, false);
    assert.equal(plan.empty, false);
  });

  it('an identical config is an empty plan that keeps every listener', () => {
    const plan = diffConfigs(config(base), config(base));
    assert.equal(plan.empty, true);
    assert.deepEqual(plan.services, { added: [], removed: [], changed: [], unchanged: ['web', 'api', 'db'] });
    assert.deepEqual(plan.listeners, { add: [], keep: ['127.0.0.1:7000', '127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'], remove: [] });
    assert.equal(plan.adminChanged, false);
    assert.equal(summarizePlan(plan), 'no changes');
  });

  it('compares meaning, not text: spelling, defaults written out, and service order do not matter', () => {
    const respelled = config({
      db: { listen: 'localhost:7003', endpoints: [{ address: '127.0.0.1:7301', weight: 1 }], retries: 2, timeouts: { connect: '2000ms', drain: '30s' } },
      api: { listen: ['127.0.0.1:7001', '127.0.0.1:7002'], balance: 'least-conn', endpoints: ['127.0.0.1:7201', { address: '127.0.0.1:7202', weight: 3 }] },
      web: { listen: '127.0.0.1:7000', balance: 'round-robin', endpoints: ['127.0.0.1:7101', '127.0.0.1:7102'] },
    });
    const plan = diffConfigs(config(base), respelled);
    assert.equal(plan.empty, true, JSON.stringify(plan.services.changed));
    assert.deepEqual(sorted(plan.services.unchanged), ['api', 'db', 'web']);
  });

  it('a service added on a new port', () => {
    const plan = diffConfigs(config(base), config({ ...base, cache: { listen: '127.0.0.1:7004', endpoints: ['127.0.0.1:7401'] } }));
    assert.deepEqual(plan.services.added, ['cache']);
    assert.deepEqual(plan.services.removed, []);
    assert.deepEqual(plan.services.changed, []);
    assert.deepEqual(plan.services.unchanged, ['web', 'api', 'db']);
    assert.deepEqual(plan.listeners.add, ['127.0.0.1:7004']);
    assert.deepEqual(plan.listeners.remove, []);
    assert.equal(plan.listeners.keep.length, 4);
    assert.equal(plan.empty, false);
    assert.equal(summarizePlan(plan), 'services +1 -0 ~0; listeners +1 -0');
  });

  it('a service removed with both of its listeners', () => {
    const { api: _api, ...rest } = base;
    const plan = diffConfigs(config(base), config(rest));
    assert.deepEqual(plan.services.removed, ['api']);
    assert.deepEqual(plan.services.added, []);
    assert.deepEqual(plan.listeners, { add: [], keep: ['127.0.0.1:7000', '127.0.0.1:7003'], remove: ['127.0.0.1:7001', '127.0.0.1:7002'] });
    assert.equal(summarizePlan(plan), 'services +0 -1 ~0; listeners +0 -2');
  });

  it('an endpoint added', () => {
    const plan = diffConfigs(config(base), config({ ...base, web: { ...base.web, endpoints: ['127.0.0.1:7101', '127.0.0.1:7102', '127.0.0.1:7103'] } }));
    const web = change(plan, 'web');
    assert.ok(touches(web, 'endpoints'), web.fields.join());
    assert.ok(!web.fields.includes('listen'));
    assert.deepEqual(web.endpoints, { added: ['127.0.0.1:7103'], removed: [], reweighted: [] });
    assert.deepEqual(plan.services.unchanged, ['api', 'db']);
    assert.deepEqual(plan.listeners.add, []);
    assert.deepEqual(plan.listeners.remove, []);
    assert.equal(summarizePlan(plan), 'services +0 -0 ~1 (endpoints +1 -0 weight 0); listeners +0 -0');
  });

  it('an endpoint removed', () => {
    const plan = diffConfigs(config(base), config({ ...base, web: { ...base.web, endpoints: ['127.0.0.1:7102'] } }));
    assert.deepEqual(change(plan, 'web').endpoints, { added: [], removed: ['127.0.0.1:7101'], reweighted: [] });
    assert.equal(summarizePlan(plan), 'services +0 -0 ~1 (endpoints +0 -1 weight 0); listeners +0 -0');
  });

  it('an endpoint reweighted (including to 0, drained), the others untouched', () => {
    const plan = diffConfigs(
      config(base),
      config({ ...base, api: { ...base.api, endpoints: [{ address: '127.0.0.1:7201', weight: 0 }, { address: '127.0.0.1:7202', weight: 3 }] } }),
    );
    const api = change(plan, 'api');
    assert.deepEqual(api.endpoints, { added: [], removed: [], reweighted: ['127.0.0.1:7201'] });
    assert.ok(touches(api, 'endpoints'), api.fields.join());
    assert.equal(summarizePlan(plan), 'services +0 -0 ~1 (endpoints +0 -0 weight 1); listeners +0 -0');
  });

  it('endpoints added, removed and reweighted in one service, counted across services', () => {
    const plan = diffConfigs(
      config(base),
      config({
        ...base,
        web: { ...base.web, endpoints: [{ address: '127.0.0.1:7101', weight: 5 }, '127.0.0.1:7104', '127.0.0.1:7105'] },
        db: { ...base.db, endpoints: ['127.0.0.1:7302'] },
      }),
    );
    assert.deepEqual(change(plan, 'web').endpoints, { added: ['127.0.0.1:7104', '127.0.0.1:7105'], removed: ['127.0.0.1:7102'], reweighted: ['127.0.0.1:7101'] });
    assert.deepEqual(change(plan, 'db').endpoints, { added: ['127.0.0.1:7302'], removed: ['127.0.0.1:7301'], reweighted: [] });
    assert.deepEqual(plan.services.unchanged, ['api']);
    assert.equal(summarizePlan(plan), 'services +0 -0 ~2 (endpoints +3 -2 weight 1); listeners +0 -0');
  });

  it('a balance change alone changes no endpoint', () => {
    const plan = diffConfigs(config(base), config({ ...base, web: { ...base.web, balance: 'source-hash' } }));
    const web = change(plan, 'web');
    assert.ok(touches(web, 'balance'), web.fields.join());
    assert.ok(!web.fields.includes('endpoints'));
    assert.ok(!web.fields.includes('listen'));
    assert.deepEqual(web.endpoints, { added: [], removed: [], reweighted: [] });
  });

  it('timeouts, retries and max_connections are changes of their own', () => {
    const plan = diffConfigs(
      config(base),
      config({ ...base, web: { ...base.web, timeouts: { idle: '1m' } }, api: { ...base.api, retries: 0 }, db: { ...base.db, max_connections: 10 } }),
    );
    assert.ok(change(plan, 'web').fields.includes('timeouts'));
    assert.ok(change(plan, 'api').fields.includes('retries'));
    assert.ok(change(plan, 'db').fields.includes('maxConnections'));
    assert.deepEqual(plan.services.unchanged, []);
  });

  it('a defaults change reaches every service that inherits it', () => {
    const withDefaults = (balance: string) => parseConfig(JSON.stringify({ defaults: { balance }, services: base }), 'p.yaml').config;
    const plan = diffConfigs(withDefaults('round-robin'), withDefaults('random-two'));
    // api sets its own balance, so only web and db change.
    assert.deepEqual(plan.services.changed.map((c) => c.name), ['web', 'db']);
    assert.deepEqual(plan.services.unchanged, ['api']);
  });

  it('listeners: one added, one kept, one removed when a service moves one of its addresses', () => {
    const plan = diffConfigs(config(base), config({ ...base, api: { ...base.api, listen: ['127.0.0.1:7001', '127.0.0.1:7005'] } }));
    const api = change(plan, 'api');
    assert.ok(api.fields.includes('listen'));
    assert.deepEqual(api.endpoints, { added: [], removed: [], reweighted: [] });
    assert.deepEqual(plan.listeners, { add: ['127.0.0.1:7005'], keep: ['127.0.0.1:7000', '127.0.0.1:7001', '127.0.0.1:7003'], remove: ['127.0.0.1:7002'] });
    assert.equal(summarizePlan(plan), 'services +0 -0 ~1 (endpoints +0 -0 weight 0); listeners +1 -1');
  });

  it('an address handed from a removed service to a new one is kept, not re-bound', () => {
    const { db, ...rest } = base;
    const plan = diffConfigs(config(base), config({ ...rest, database: { ...db } }));
    assert.deepEqual(plan.services.added, ['database']);
    assert.deepEqual(plan.services.removed, ['db']);
    assert.ok(plan.listeners.keep.includes('127.0.0.1:7003'));
    assert.deepEqual(plan.listeners.add, []);
    assert.deepEqual(plan.listeners.remove, []);
  });

  it('an admin address change is a change of its own (nothing else differs)', () => {
    const plan = diffConfigs(config(base), config(base, { listen: 'unix:/tmp/other.sock' }));
    assert.equal(plan.adminChanged, true);
    assert.equal(plan.empty, false);
    assert.deepEqual(plan.services.changed, []);
    assert.equal(summarizePlan(plan), 'services +0 -0 ~0; listeners +0 -0; admin changed');
  });

  it('an admin token change is an admin change too', () => {
    const plan = diffConfigs(
      config(base, { listen: 'unix:/tmp/hitless-plan-test.sock' }),
      config(base, { listen: 'unix:/tmp/hitless-plan-test.sock', token: '0123456789abcdef0123' }),
    );
    assert.equal(plan.adminChanged, true);
    assert.equal(plan.empty, false);
  });

  it('everything at once, and the summary counts all of it', () => {
    const { db: _db, ...rest } = base;
    const plan = diffConfigs(
      config(base),
      config(
        {
          ...rest,
          web: { listen: '127.0.0.1:7000', endpoints: ['127.0.0.1:7101', '127.0.0.1:7109'] },
          cache: { listen: '127.0.0.1:7004', endpoints: ['127.0.0.1:7401'] },
          queue: { listen: '127.0.0.1:7006' },
        },
        { listen: 'unix:/tmp/other.sock' },
      ),
    );
    assert.deepEqual(plan.services.added, ['cache', 'queue']);
    assert.deepEqual(plan.services.removed, ['db']);
    assert.deepEqual(plan.services.changed.map((c) => c.name), ['web']);
    assert.deepEqual(plan.services.unchanged, ['api']);
    assert.deepEqual(sorted(plan.listeners.add), ['127.0.0.1:7004', '127.0.0.1:7006']);
    assert.deepEqual(plan.listeners.remove, ['127.0.0.1:7003']);
    assert.equal(summarizePlan(plan), 'services +2 -1 ~1 (endpoints +1 -1 weight 0); listeners +2 -1; admin changed');
  });

  it('is deterministic: the same inputs give the same plan', () => {
    const a = config(base);
    const b = config({ ...base, web: { ...base.web, endpoints: ['127.0.0.1:7102'] } });
    assert.deepEqual(diffConfigs(a, b), diffConfigs(a, b));
    assert.deepEqual(diffConfigs(a, b), diffConfigs(config(base), b));
  });

  it('endpoint order alone: the service is reported changed, with no endpoint added, removed or reweighted', () => {
    const plan = diffConfigs(config(base), config({ ...base, web: { ...base.web, endpoints: ['127.0.0.1:7102', '127.0.0.1:7101'] } }));
    const web = change(plan, 'web');
    assert.deepEqual(web.endpoints, { added: [], removed: [], reweighted: [] });
    assert.equal(plan.empty, false);
  });
});

describe('diffConfigs of a derived config (what the discovery assembler hands the controller)', () => {
  /** `from` with the services of `replaced` swapped in, and the derivation that says so. */
  function derive(from: Config, replaced: Config, names: string[], touched = names): { config: Config; derivation: Derivation } {
    const services = new Map(from.services);
    for (const name of names) {
      const service = replaced.services.get(name);
      if (service) services.set(name, service);
      else services.delete(name);
    }
    return { config: Object.freeze({ ...from, services }), derivation: { from, touched } };
  }

  it('compares only the services named (the others are the same objects)', () => {
    const running = config(base);
    const next = derive(running, config({ ...base, web: { ...base.web, endpoints: ['127.0.0.1:7109'] } }), ['web']);
    const plan = diffConfigs(running, next.config, next.derivation);
    assert.deepEqual(plan.services.changed.map((c) => c.name), ['web']);
    assert.deepEqual(change(plan, 'web').endpoints, { added: ['127.0.0.1:7109'], removed: ['127.0.0.1:7101', '127.0.0.1:7102'], reweighted: [] });
    assert.deepEqual(plan.services.unchanged, ['api', 'db']);
    assert.deepEqual(plan.listeners, { add: [], keep: ['127.0.0.1:7000', '127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'], remove: [] });
    assert.deepEqual(plan, diffConfigs(config(base), next.config), 'the same plan as a full comparison');
  });

  it('trusts the derivation: a service it does not name is not compared', () => {
    // A derivation that names nothing, although web changed: the plan follows what it is told
    // (this is what makes it cost what changed), so an assembler must name every service it touches.
    const running = config(base);
    const next = derive(running, config({ ...base, web: { ...base.web, endpoints: ['127.0.0.1:7109'] } }), ['web'], []);
    assert.equal(diffConfigs(running, next.config, next.derivation).empty, true);
    assert.deepEqual(diffConfigs(running, next.config).services.changed.map((c) => c.name), ['web'], 'without it, every service is compared');
  });

  it('reports a named service added or removed, with its listeners', () => {
    const running = config(base);
    const { db: _db, ...rest } = base;
    const next = derive(running, config({ ...rest, cache: { listen: '127.0.0.1:7004' } }), ['db', 'cache']);
    const plan = diffConfigs(running, next.config, next.derivation);
    assert.deepEqual(plan.services.added, ['cache']);
    assert.deepEqual(plan.services.removed, ['db']);
    assert.deepEqual(plan.listeners.add, ['127.0.0.1:7004']);
    assert.deepEqual(plan.listeners.remove, ['127.0.0.1:7003']);
  });

  it('falls back to comparing every service when the running config is not the one it was derived from', () => {
    const first = config(base);
    const running = config({ ...base, db: { ...base.db, endpoints: ['127.0.0.1:7309'] } });
    // Derived from `first` (say, an apply that was rejected), while `running` differs in db too.
    const next = derive(first, config({ ...base, web: { ...base.web, endpoints: ['127.0.0.1:7109'] } }), ['web']);
    assert.deepEqual(sorted(diffConfigs(running, next.config, next.derivation).services.changed.map((c) => c.name)), ['db', 'web']);
    assert.deepEqual(diffConfigs(null, next.config, next.derivation).services.added, ['web', 'api', 'db']);
  });

  it('a derivation is one step: two steps apart, every service is compared', () => {
    const a = config(base);
    const b = derive(a, config({ ...base, web: { ...base.web, endpoints: ['127.0.0.1:7109'] } }), ['web']);
    const c = derive(b.config, config({ ...base, api: { ...base.api, retries: 9 } }), ['api']);
    assert.deepEqual(diffConfigs(b.config, c.config, c.derivation).services.changed.map((x) => x.name), ['api']);
    // From a, c's derivation (from b) does not apply: the full comparison finds both steps.
    assert.deepEqual(sorted(diffConfigs(a, c.config, c.derivation).services.changed.map((x) => x.name)), ['api', 'web']);
  });
});

describe('HashTree', () => {
  const leaves = (n: number, tag = '') => Array.from({ length: n }, (_, i) => `leaf ${i}${tag}`);

  it('changing leaves gives the root a tree built from the new leaves has', () => {
    for (const n of [1, 2, 3, 5, 8, 13, 100]) {
      const tree = new HashTree(leaves(n));
      const expected = leaves(n);
      for (const i of new Set([0, n >> 1, n - 1])) {
        tree.set(i, `changed ${i}`);
        expected[i] = `changed ${i}`;
        assert.equal(tree.root, new HashTree(expected).root, `n=${n}, leaf ${i}`);
      }
      for (let i = 0; i < n; i++) tree.set(i, `leaf ${i}`);
      assert.equal(tree.root, new HashTree(leaves(n)).root, `n=${n}, back to the original leaves`);
    }
  });

  it('the root depends on every leaf, their order and their count', () => {
    const roots = new Set([
      new HashTree([]).root,
      new HashTree(['a']).root,
      new HashTree(['a', 'b']).root,
      new HashTree(['b', 'a']).root,
      new HashTree(['a', 'b', 'c']).root,
      new HashTree(['a', 'b', 'c', 'd']).root,
      new HashTree(['a', 'b', 'c', 'e']).root,
    ]);
    assert.equal(roots.size, 7);
  });

  it('refuses a leaf outside the tree', () => {
    assert.throws(() => new HashTree(['a']).set(1, 'b'), RangeError);
  });
});
