// A discovered set followed report after report (src/discovery/discovered-set.ts): the service it is
// merged into always holds exactly the reported endpoints with their weights, the endpoints that
// stay keep their order (new ones go last), each merged list is derived from the previous one by
// what changed (so the plan and the workers' patch cost that change), and its print, updated by
// the delta, is the print of the whole list (config/endpoint-list.ts). Random churn, seeded, so a failure replays.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deltaBetween, endpointListPrint } from '../src/config/endpoint-list.js';
import { parseConfig } from '../src/config/load.js';
import type { EndpointConfig } from '../src/config/model.js';
import { DiscoveredSet } from '../src/discovery/discovered-set.js';
import type { DiscoveredEndpoint } from '../src/discovery/source.js';

/** mulberry32: a small seeded generator. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const key = (e: DiscoveredEndpoint) => `${e.host}:${e.port}`;
/** The print of the same endpoints in a list of its own (no derivation to follow): computed whole. */
const fullPrint = (list: readonly EndpointConfig[]) => endpointListPrint(Object.freeze([...list]));

describe('discovered set', () => {
  for (const mode of ['replace', 'add'] as const) {
    it(`mode ${mode}: every merge holds the report, in stable order, derived by the change`, () => {
      const next = random(mode === 'replace' ? 7 : 11);
      const statics = mode === 'add' ? ['127.0.6.1:80', '127.0.6.2:80'] : [];
      const base = parseConfig(
        JSON.stringify({ admin: { listen: 'unix:/tmp/x.sock' }, services: { s: { listen: '127.0.0.1:7000', endpoints: statics, discovery: { file: { path: '/x' }, mode } } } }),
        'set.json',
      ).config.services.get('s')!;
      let report: DiscoveredEndpoint[] = Array.from({ length: 50 }, (_, i) => ({ host: `127.0.7.${i + 1}`, port: 80 }));
      // A static address reported too: in mode add it is listed once, as the static one.
      if (mode === 'add') report.push({ host: '127.0.6.1', port: 80, weight: 3 });
      const set = new DiscoveredSet();
      set.replace(set.candidate(report));
      let merged = set.mergeInto(base);
      let counter = 100;
      for (let step = 0; step < 200; step++) {
        const before = merged.endpoints;
        // Remove, add and reweigh a few, sometimes nothing; sometimes two reports before one merge.
        for (let r = 0; r < (next() < 0.2 ? 2 : 1); r++) {
          report = report.filter(() => next() > 0.03);
          for (let k = Math.floor(next() * 3); k > 0; k--) report.push({ host: `127.0.8.${(counter++ % 250) + 1}`, port: 80 + (counter >> 8) });
          report = report.map((e) => (next() < 0.03 ? { ...e, weight: Math.floor(next() * 5) } : e));
          set.replace(set.candidate(report));
        }
        merged = set.mergeInto(base);
        const wanted = new Map<string, number>();
        for (const k of statics) wanted.set(k, 1);
        for (const e of report) if (!wanted.has(key(e))) wanted.set(key(e), e.weight ?? 1);
        assert.deepEqual(new Map(merged.endpoints.map((e) => [e.key, e.weight])), wanted, `step ${step}: the merged list is the report`);
        assert.equal(merged.endpoints.length, wanted.size, `step ${step}: each address once`);
        assert.equal(merged.clusters.get(merged.defaultCluster)!.endpoints, merged.endpoints, 'the default cluster holds the same list');
        // Kept endpoints keep their relative order; new ones come after them.
        const stayed = before.filter((e) => wanted.has(e.key)).map((e) => e.key);
        assert.deepEqual(merged.endpoints.slice(0, stayed.length).map((e) => e.key), stayed, `step ${step}: stable order`);
        if (merged.endpoints !== before) {
          assert.ok(deltaBetween(before, merged.endpoints), `step ${step}: derived from the previous merge`);
          assert.equal(endpointListPrint(merged.endpoints), fullPrint(merged.endpoints), `step ${step}: the print follows the delta`);
        }
      }
    });
  }
});
