// The supervisor → worker config patch and the digest both sides compute (src/process/
// config-patch.ts, config-digest.ts), in process: a worker that rebuilds the next config from its
// own (a structured clone, as IPC delivers it) and the patch ends with the same digest as the
// whole config would give, keeps its unchanged service objects, receives only what changed, and
// gets with it the plan it would have computed itself (so it never computes one).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deserialize, serialize } from 'node:v8';
import { freezeMap } from '../src/config/freeze-map.js';
import { parseConfig } from '../src/config/load.js';
import type { Config, ServiceConfig } from '../src/config/model.js';
import { deriveEndpoints } from '../src/config/endpoint-list.js';
import { IDENTITY_FIELDS, serviceDigest } from '../src/config/service-identity.js';
import { diffConfigs, withLazyLists, type Derivation, type Plan } from '../src/control/plan.js';
import { ConfigDigest } from '../src/process/config-digest.js';
import { applyPatch, changeBetween, type ConfigPatch } from '../src/process/config-patch.js';

const ADMIN = { listen: 'unix:/tmp/hitless-patch-test.sock' };

function services(n: number, port = 7000): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) out[`svc-${i}`] = { mode: 'tcp', listen: `127.0.0.1:${port + i}`, endpoints: [`127.0.1.1:${9000 + i}`, `127.0.1.2:${9000 + i}`] };
  return out;
}

const parse = (data: Record<string, unknown>): Config => parseConfig(JSON.stringify({ admin: ADMIN, ...data }), 'patch-test.yaml').config;
const clone = <T>(value: T): T => deserialize(serialize(value)) as T;

/** A config and, for a discovery step, how it was derived from the one before: what the assembler hands the controller. */
interface Step {
  readonly config: Config;
  readonly derivation?: Derivation;
}

/** What the discovery assembler does: one service's endpoints replaced, every other object kept. */
function rediscover(from: Config, name: string, endpoints: string[]): Step {
  const base = from.services.get(name)!;
  const eps = Object.freeze(endpoints.map((a) => Object.freeze({ host: a.split(':')[0], port: Number(a.split(':')[1]), key: a, weight: 1 })));
  const cluster = base.clusters.get(base.defaultCluster)!;
  const service: ServiceConfig = Object.freeze({ ...base, endpoints: eps, clusters: new Map([...base.clusters, [base.defaultCluster, Object.freeze({ ...cluster, endpoints: eps })]]) });
  const config = Object.freeze({ ...from, services: freezeMap(new Map(from.services).set(name, service)) });
  return { config, derivation: { from, touched: [name] } };
}

/** What the discovery assembler does for a set that changed by a few endpoints: the list derived by that delta. */
function rediscoverBy(from: Config, name: string, change: { add?: string[]; remove?: string[]; weigh?: Record<string, number> }): Step {
  const base = from.services.get(name)!;
  const byKey = new Map(base.endpoints.map((e) => [e.key, e]));
  const endpoint = (a: string, weight = 1) => Object.freeze({ host: a.split(':')[0], port: Number(a.split(':')[1]), key: a, weight });
  const delta = {
    added: (change.add ?? []).map((a) => endpoint(a)),
    removed: (change.remove ?? []).map((a) => byKey.get(a)!),
    reweighted: Object.entries(change.weigh ?? {}).map(([a, w]) => ({ before: byKey.get(a)!, after: endpoint(a, w) })),
  };
  const eps = deriveEndpoints(base.endpoints, delta);
  const cluster = base.clusters.get(base.defaultCluster)!;
  const service: ServiceConfig = Object.freeze({ ...base, endpoints: eps, clusters: new Map([...base.clusters, [base.defaultCluster, Object.freeze({ ...cluster, endpoints: eps })]]) });
  const config = Object.freeze({ ...from, services: freezeMap(new Map(from.services).set(name, service)) });
  return { config, derivation: { from, touched: [name] } };
}

/** Another value of the same shape. */
function different(value: unknown): unknown {
  if (value === null) return 1;
  if (typeof value === 'number') return value + 1;
  if (typeof value === 'string') return `${value}x`;
  if (Array.isArray(value)) return value.length > 0 ? [...value, ...value] : [{ host: null, path: '/x', cluster: 'default' }];
  if (value instanceof Map) return new Map([...value, ['extra', [...value.values()][0]]]);
  return { ...(value as object), extra: 1 };
}

/** Supervisor and worker state side by side; every step is checked against a digest of the whole. */
class Pair {
  supervisor: Config;
  worker: Config;
  readonly supervisorDigest: ConfigDigest;
  readonly workerDigest: ConfigDigest;

  constructor(config: Config) {
    this.supervisor = config;
    this.worker = clone(config);
    this.supervisorDigest = ConfigDigest.of(config);
    this.workerDigest = ConfigDigest.of(this.worker);
    assert.equal(this.workerDigest.value, this.supervisorDigest.value, 'the digest survives a structured clone');
  }

  step({ config: next, derivation }: Step): ConfigPatch {
    const change = changeBetween(this.supervisor, next, diffConfigs(this.supervisor, next, derivation), this.supervisorDigest);
    const patch = clone(change.patch);
    assert.equal(patch.base, this.workerDigest.value);
    const before = this.worker;
    const rebuilt = applyPatch(before, patch);
    const workerStep = this.workerDigest.next(rebuilt.changed, patch.removed, patch.top);
    assert.equal(workerStep.value, patch.hash, 'the worker computes the digest the supervisor announced');
    // The plan the patch carries is the one the worker would compute from its own config.
    const carried = withLazyLists(patch.plan, rebuilt.config.services);
    const own = diffConfigs(before, rebuilt.config, { from: before, touched: rebuilt.touched });
    const names = (p: Plan) => [p.services.added, p.services.removed, p.services.changed.map((c) => c.name), [...p.services.unchanged].sort()];
    const listeners = (p: Plan) => [[...p.listeners.add].sort(), [...p.listeners.remove].sort(), [...p.listeners.keep].sort()];
    assert.deepEqual(names(carried), names(own));
    assert.deepEqual(listeners(carried), listeners(own));
    assert.deepEqual(carried.services.changed, own.services.changed);
    for (const [name, service] of rebuilt.config.services) {
      if (!rebuilt.touched.includes(name)) assert.equal(service, before.services.get(name), `${name}: the worker keeps its own object`);
    }
    change.digest.commit();
    workerStep.commit();
    this.supervisor = next;
    this.worker = rebuilt.config;
    const whole = ConfigDigest.of(next).value;
    assert.equal(this.supervisorDigest.value, whole, 'the patched digest is the digest of the whole config');
    assert.equal(ConfigDigest.of(clone(this.worker)).value, whole, "the worker's config is the supervisor's");
    for (const [name, service] of next.services) {
      assert.deepEqual(this.worker.services.get(name)!.endpoints.map((e) => e.key), service.endpoints.map((e) => e.key), `${name}: the same endpoints in the same order`);
    }
    return patch;
  }
}

describe('config patch (supervisor → worker)', () => {
  it('one identity: a change of any field of its list changes the service digest, the config digest and the plan, which names that field', () => {
    const config = parse({ services: services(1) });
    const service = config.services.get('svc-0')!;
    const digest = ConfigDigest.of(config).value;
    const withService = (s: ServiceConfig): Config => ({ ...config, services: new Map([['svc-0', s]]) });
    for (const field of IDENTITY_FIELDS) {
      const changed = { ...service, [field]: different(service[field]) } as ServiceConfig;
      assert.notEqual(serviceDigest(changed), serviceDigest(service), `${field}: the service digest`);
      assert.notEqual(ConfigDigest.of(withService(changed)).value, digest, `${field}: the config digest`);
      const plan = diffConfigs(config, withService(changed));
      assert.deepEqual(plan.services.changed.map((c) => [c.name, c.fields]), [['svc-0', [field]]], `${field}: the plan changes the service, for that field`);
    }
    // Within clusters: one endpoint's weight, and the endpoints' order.
    const [first, second] = service.endpoints;
    const reweighed = rediscoverBy(config, 'svc-0', { weigh: { [first.key]: 7 } }).config;
    const reordered = rediscover(config, 'svc-0', [second.key, first.key]).config;
    for (const [what, next] of [['a weight', reweighed], ['the order', reordered]] as const) {
      assert.notEqual(ConfigDigest.of(next).value, digest, `${what}: the config digest`);
      assert.deepEqual(diffConfigs(config, next).services.changed.map((c) => c.fields), [['clusters']], `${what}: the plan`);
    }
    // Outside the list: where endpoints are discovered from is the supervisor's alone.
    const discovered = { ...service, discovery: parse({ services: { d: { listen: '127.0.0.1:7999', discovery: { file: { path: '/x' } } } } }).services.get('d')!.discovery };
    assert.equal(serviceDigest(discovered), serviceDigest(service), 'discovery: not in the identity');
    assert.equal(ConfigDigest.of(withService(discovered)).value, digest);
    assert.equal(diffConfigs(config, withService(discovered)).empty, true);
  });

  it('discovery applies send only the changed service; admin applies add, remove, change and move services and the top settings', () => {
    const pair = new Pair(parse({ services: services(50) }));
    for (let k = 0; k < 20; k++) {
      const name = `svc-${(k * 7) % 50}`;
      const patch = pair.step(rediscover(pair.supervisor, name, [`127.0.2.${k}:80`, `127.0.3.${k}:81`]));
      assert.deepEqual(patch.services.map((s) => s.name), [name]);
      assert.deepEqual(patch.removed, []);
      assert.equal(patch.top, undefined, 'a derived config shares the top settings');
    }
    // An admin apply (a new parse): svc-3 removed, svc-4 changed, svc-50 added on svc-3's old
    // address (moved, not rebound), and discovery_defaults changed. The services discovery
    // changed above return to their static endpoints (no assembler here), so they travel too.
    const edited = services(50);
    delete edited['svc-3'];
    (edited['svc-4'] as { endpoints: string[] }).endpoints = ['127.0.9.9:1'];
    edited['svc-50'] = { mode: 'tcp', listen: '127.0.0.1:7003', endpoints: ['127.0.9.9:2'] };
    const next = parse({ services: edited, discovery_defaults: { coalesce: '50ms' } });
    const patch = pair.step({ config: next });
    const sent = patch.services.map((s) => s.name);
    assert.ok(sent.includes('svc-4') && sent.includes('svc-50') && sent.includes('svc-7'), sent.join(' '));
    assert.ok(!sent.includes('svc-1') && !sent.includes('svc-2') && !sent.includes('svc-3'), sent.join(' '));
    assert.deepEqual(patch.removed, ['svc-3']);
    assert.ok(patch.top, 'the top settings travel when they change');
    const reparsed = parse({ services: edited, discovery_defaults: { coalesce: '50ms' } });
    const change = changeBetween(pair.supervisor, reparsed, diffConfigs(pair.supervisor, reparsed), ConfigDigest.of(pair.supervisor));
    assert.equal(change.patch.services.length, 0, 'reparsing the same text changes nothing');
    assert.deepEqual([change.bind, change.release], [[], []]);
    // Discovery again on top of the new base.
    pair.step(rediscover(pair.supervisor, 'svc-50', ['127.0.9.9:3']));
  });

  it('a service whose endpoint list changed by a delta travels as that delta; the worker derives the same list, in the same order', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => `127.0.4.${i + 1}:80`);
    const config = parse({ services: { big: { mode: 'tcp', listen: '127.0.0.1:7000', endpoints: many(200) }, ...services(3, 7100) } });
    const pair = new Pair(config);
    const steps: Array<Parameters<typeof rediscoverBy>[2]> = [
      { add: ['127.0.5.1:80'], remove: ['127.0.4.7:80'] },
      { weigh: { '127.0.4.100:80': 5 }, remove: ['127.0.4.1:80', '127.0.4.200:80'] },
      { add: ['127.0.4.7:80', '127.0.5.2:80'] }, // one comes back: at the end now, on both sides
      { weigh: { '127.0.5.1:80': 0 } },
    ];
    for (const change of steps) {
      const next = rediscoverBy(pair.supervisor, 'big', change);
      const patch = pair.step(next);
      assert.deepEqual(patch.services, [], 'no service travels whole');
      assert.deepEqual(patch.endpoints.map((p) => p.service), ['big']);
      const { delta } = patch.endpoints[0].clusters[0];
      assert.deepEqual([delta.added.length, delta.removed.length, delta.reweighted.length], [change.add?.length ?? 0, change.remove?.length ?? 0, Object.keys(change.weigh ?? {}).length]);
    }
    assert.deepEqual(pair.worker.services.get('big')!.endpoints.slice(-3).map((e) => e.key), ['127.0.5.1:80', '127.0.4.7:80', '127.0.5.2:80']);
  });

  it('binds and releases only the addresses that come and go', () => {
    const from = parse({ services: services(3) });
    const edited = services(3);
    (edited['svc-1'] as { listen: string[] }).listen = ['127.0.0.1:7001', '127.0.0.1:7100'];
    delete edited['svc-2'];
    const to = parse({ services: edited });
    const change = changeBetween(from, to, diffConfigs(from, to), ConfigDigest.of(from));
    assert.deepEqual(change.bind.map((a) => a.key), ['127.0.0.1:7100']);
    assert.deepEqual(change.release, ['127.0.0.1:7002']);
    assert.deepEqual(change.listen, ['127.0.0.1:7001', '127.0.0.1:7100']);
  });

  it('the digest does not depend on service order, and names every setting the workers use', () => {
    const a = parse({ services: services(5) });
    const reversed = Object.fromEntries(Object.entries(services(5)).reverse());
    assert.equal(ConfigDigest.of(parse({ services: reversed })).value, ConfigDigest.of(a).value);
    const other = services(5);
    (other['svc-2'] as { endpoints: string[] }).endpoints = ['127.0.1.1:9002'];
    assert.notEqual(ConfigDigest.of(parse({ services: other })).value, ConfigDigest.of(a).value);
    assert.notEqual(ConfigDigest.of(parse({ services: services(5), admin: { listen: 'unix:/tmp/other.sock' } })).value, ConfigDigest.of(a).value);
  });
});
