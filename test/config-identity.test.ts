// The one config identity (src/config/service-identity.ts, endpoint-list.ts): an endpoint list's
// print follows deltas exactly (it always equals the print of the whole list), names the order,
// and keeps only the latest derivation step; a service's identity is computed once per object and
// kept on it, where a spread copy, canonical text and a structured clone (IPC) never see it.
// Random deltas are seeded, so a failure replays.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deserialize, serialize } from 'node:v8';
import { canonical } from '../src/config/canonical.js';
import type { EndpointDelta } from '../src/config/endpoint-delta.js';
import { deltaBetween, deriveEndpoints, endpointListPrint, sealEndpoints } from '../src/config/endpoint-list.js';
import { parseConfig } from '../src/config/load.js';
import type { EndpointConfig, ServiceConfig } from '../src/config/model.js';
import { changedFields, identityParts, sealService, serviceDigest } from '../src/config/service-identity.js';

/** mulberry32: a small seeded generator. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const endpoint = (n: number, weight = 1): EndpointConfig => Object.freeze({ host: `127.0.${n >> 8}.${n & 255}`, port: 80, key: `127.0.${n >> 8}.${n & 255}:80`, weight });
/** The same endpoints in a frozen list of its own: no slot, no derivation, so its print is computed whole. */
const wholePrint = (list: readonly EndpointConfig[]): bigint => endpointListPrint(Object.freeze([...list]));

function service(text: Record<string, unknown>, name = 'web'): ServiceConfig {
  return parseConfig(JSON.stringify({ admin: { listen: 'unix:/tmp/hitless-identity-test.sock' }, services: { [name]: text } }), 'identity.json').config.services.get(name)!;
}

describe('endpoint list print', () => {
  it('a list derived delta after delta has the print of the whole list, whether or not each step was asked for', () => {
    const next = random(5);
    let list = sealEndpoints(Array.from({ length: 40 }, (_, i) => endpoint(i + 1)));
    let counter = 1000;
    for (let step = 0; step < 300; step++) {
      const removed = list.filter(() => next() < 0.05);
      const gone = new Set(removed.map((e) => e.key));
      const reweighted = list.filter((e) => !gone.has(e.key) && next() < 0.05).map((before) => ({ before, after: { ...before, weight: before.weight + 1 } }));
      const added = Array.from({ length: Math.floor(next() * 3) }, () => endpoint(counter++));
      // Now and then the very first or last endpoint goes: the pairs at either end.
      if (next() < 0.1 && list.length > 0 && !gone.has(list[0].key) && !reweighted.some((r) => r.before === list[0])) removed.push(list[0]);
      const delta: EndpointDelta = { added, removed, reweighted };
      const derived = deriveEndpoints(list, delta);
      assert.equal(deltaBetween(list, derived), delta, `step ${step}: derived from the list before`);
      if (next() < 0.7) assert.equal(endpointListPrint(derived), wholePrint(derived), `step ${step}: the print follows the delta`);
      list = derived;
    }
    assert.equal(endpointListPrint(list), wholePrint(list));
  });

  it('names the order: the same endpoints in another order print differently, equal lists equally', () => {
    const [a, b, c] = [endpoint(1), endpoint(2), endpoint(3)];
    assert.equal(wholePrint([a, b, c]), wholePrint([endpoint(1), endpoint(2), endpoint(3)]));
    const orders = [[a, b, c], [a, c, b], [b, a, c], [b, c, a], [c, a, b], [c, b, a], [a, b], [a, b, endpoint(3, 2)], []];
    assert.equal(new Set(orders.map((o) => wholePrint(o))).size, orders.length);
  });

  it('keeps only the latest step: deriving from a list forgets how that list was derived', () => {
    const first = sealEndpoints([endpoint(1), endpoint(2)]);
    const second = deriveEndpoints(first, { added: [endpoint(3)], removed: [], reweighted: [] });
    assert.ok(deltaBetween(first, second));
    const third = deriveEndpoints(second, { added: [], removed: [endpoint(1)], reweighted: [] });
    assert.equal(deltaBetween(first, second), undefined, 'the older step is gone');
    assert.ok(deltaBetween(second, third));
    assert.equal(deltaBetween(first, third), undefined, 'only from the list it came from');
    assert.equal(endpointListPrint(third), wholePrint([endpoint(2), endpoint(3)]));
  });
});

describe('service identity', () => {
  const web = { mode: 'http', listen: '127.0.0.1:7000', endpoints: ['127.0.1.1:80', '127.0.1.2:80'], timeouts: { connect: '1s' } };

  it('is computed once per service and kept on it, out of sight of spreads, canonical text and structured clones', () => {
    const s = service(web);
    const text = canonical(s);
    const parts = identityParts(s);
    assert.equal(identityParts(s), parts, 'the same parts object: computed once');
    assert.equal(canonical(s), text, 'canonical text does not see it');
    assert.deepEqual(Object.keys(s), Object.keys({ ...s }));
    assert.deepEqual(Object.getOwnPropertySymbols({ ...s }), [], 'a spread copy has no identity of its own yet');
    const clone = deserialize(serialize(s)) as ServiceConfig;
    assert.deepEqual(Object.getOwnPropertySymbols(clone), [], 'IPC does not carry it');
    assert.equal(serviceDigest(clone), serviceDigest(s), 'a clone has the same identity');
    assert.equal(identityParts(clone), identityParts(clone), "a clone keeps its own once it is computed");
  });

  it('a copy with other content has its own identity, never its source\'s', () => {
    const s = service(web);
    void serviceDigest(s);
    const slower = Object.freeze({ ...s, timeouts: Object.freeze({ ...s.timeouts, connect: 2_000 }) });
    assert.notEqual(serviceDigest(slower), serviceDigest(s));
    assert.deepEqual(changedFields(s, slower), ['timeouts']);
    assert.deepEqual(changedFields(slower, s), ['timeouts']);
  });

  it('a service made from another reuses its parts where a field is the same object, and has the parts it would have from scratch', () => {
    const s = service(web);
    void identityParts(s);
    const endpoints = deriveEndpoints(s.endpoints, { added: [endpoint(9)], removed: [s.endpoints[0]], reweighted: [] });
    const clusters = new Map([[s.defaultCluster, Object.freeze({ ...s.clusters.get(s.defaultCluster)!, endpoints })]]);
    const derived = sealService({ ...s, endpoints, clusters, retries: 5 }, s);
    const scratch = Object.freeze({ ...derived });
    assert.deepEqual(identityParts(derived), identityParts(scratch));
    assert.equal(serviceDigest(derived), serviceDigest(scratch));
    assert.deepEqual(changedFields(s, derived), ['clusters', 'retries']);
  });

  it('means the same whatever the spelling, and names the service', () => {
    const spelled = service({ mode: 'http', listen: ['127.0.0.1:7000'], endpoints: [{ address: '127.0.1.1:80', weight: 1 }, '127.0.1.2:80'], timeouts: { connect: '1000ms' } });
    assert.equal(serviceDigest(spelled), serviceDigest(service(web)));
    assert.deepEqual(changedFields(spelled, service(web)), []);
    assert.notEqual(serviceDigest(service(web, 'api')), serviceDigest(service(web)), 'same settings, another service');
  });
});
