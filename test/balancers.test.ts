// One conformance suite for every balancing algorithm, then what only one algorithm promises.
// Balancers are pure in-process objects, so these tests drive them directly; the numbers below
// are real shares over many picks, and each tolerance is far tighter than a broken balancer
// (uniform instead of weighted, bursting, ignoring health) would meet.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BALANCE_ALGORITHMS, type BalanceAlgorithm } from '../src/config/schema.js';
import type { Balancer, BalancerEndpoint, PickContext } from '../src/dataplane/balancers/balancer.js';
import { BALANCER_FACTORIES, createBalancer } from '../src/dataplane/balancers/index.js';
import { RandomTwoBalancer } from '../src/dataplane/balancers/random-two.js';
import { RoundRobinBalancer } from '../src/dataplane/balancers/round-robin.js';
import { EndpointState } from '../src/dataplane/endpoint-state.js';

function endpoint(key: string, weight = 1, state = new EndpointState('svc', 'default', key)): BalancerEndpoint {
  const [host, port] = key.split(':');
  return { key, host, port: Number(port), weight, state };
}

function endpoints(weights: Record<string, number>): BalancerEndpoint[] {
  return Object.entries(weights).map(([name, w]) => endpoint(`${name}:80`, w));
}

// Distinct client addresses, so source-hash spreads like the others; the rest ignore them.
const CLIENTS = Array.from({ length: 50_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
const client = (i: number, exclude?: ReadonlySet<string>): PickContext => ({ clientKey: CLIENTS[i % CLIENTS.length], exclude });

function countPicks(b: Balancer, picks: number, exclude?: ReadonlySet<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const e = b.pick(client(i, exclude));
    assert.ok(e, `pick ${i} found no endpoint`);
    counts.set(e.key, (counts.get(e.key) ?? 0) + 1);
  }
  return counts;
}

/** Each endpoint's share is within `tolerance` (absolute) of weight / total weight. */
function assertShares(counts: ReadonlyMap<string, number>, eps: readonly BalancerEndpoint[], tolerance: number): void {
  const picks = [...counts.values()].reduce((a, b) => a + b, 0);
  const total = eps.reduce((a, e) => a + e.weight, 0);
  for (const e of eps) {
    const share = (counts.get(e.key) ?? 0) / picks;
    const want = e.weight / total;
    assert.ok(Math.abs(share - want) <= tolerance, `${e.key}: share ${share.toFixed(4)}, want ${want.toFixed(4)} ± ${tolerance}`);
  }
}

// Round-robin and least-conn are exact; random-two is sampling noise (σ ≤ 0.0055 at ≥ 9000 picks, so 0.03 is over 5σ). Source-hash
// carries the ring's own error: an endpoint holding m of M points owns m/M ± √m/M of the hash
// space (σ ≈ 0.02 for weights 3:1:1), fixed by the endpoint keys; an unweighted spread would
// still miss these shares by 0.25 or more.
const TOLERANCE: Record<BalanceAlgorithm, number> = {
  'round-robin': 0.002,
  'least-conn': 0.002,
  'random-two': 0.03,
  'source-hash': 0.06,
};

for (const algorithm of BALANCE_ALGORITHMS) {
  describe(`balancer conformance: ${algorithm}`, () => {
    const tolerance = TOLERANCE[algorithm];

    it('is built by its factory and reports its algorithm', () => {
      const b = createBalancer(algorithm, endpoints({ a: 1 }));
      assert.equal(b.algorithm, algorithm);
      assert.equal(BALANCER_FACTORIES[algorithm](endpoints({ a: 1 })).algorithm, algorithm);
    });

    it('returns undefined for an empty endpoint list', () => {
      const b = createBalancer(algorithm, []);
      assert.equal(b.pick({}), undefined);
      assert.equal(b.pick(client(1)), undefined);
    });

    it('returns the only eligible endpoint every time', () => {
      const eps = endpoints({ a: 0, b: 3, c: 1 });
      eps[2].state.healthy = false;
      const b = createBalancer(algorithm, eps);
      assert.deepEqual(countPicks(b, 1000), new Map([['b:80', 1000]]));
    });

    it('follows the weights while idle (every endpoint at 0 active)', () => {
      const eps = endpoints({ a: 5, b: 1, c: 1 });
      assertShares(countPicks(createBalancer(algorithm, eps), 35_000), eps, tolerance);
    });

    it('follows the weights when connections are held', () => {
      const eps = endpoints({ a: 5, b: 2, c: 1 });
      const b = createBalancer(algorithm, eps);
      for (let i = 0; i < 24_000; i++) b.pick(client(i))!.state.active++;
      const active = new Map(eps.map((e) => [e.key, e.state.active]));
      assertShares(active, eps, tolerance);
      if (algorithm === 'least-conn') assert.deepEqual([...active.values()], [15_000, 6_000, 3_000]);
    });

    it('follows the weights with bounded concurrency (connections open and close)', () => {
      const eps = endpoints({ a: 3, b: 1, c: 1 });
      const b = createBalancer(algorithm, eps);
      const inFlight: BalancerEndpoint[] = [];
      const counts = new Map<string, number>();
      for (let i = 0; i < 30_000; i++) {
        // Oldest finishes first: equal service times, 40 connections in flight.
        if (inFlight.length === 40) inFlight.shift()!.state.active--;
        const e = b.pick(client(i))!;
        e.state.active++;
        inFlight.push(e);
        counts.set(e.key, (counts.get(e.key) ?? 0) + 1);
      }
      assertShares(counts, eps, tolerance);
      for (const e of inFlight) e.state.active--;
      assert.ok(eps.every((e) => e.state.active === 0));
    });

    it('never picks an endpoint of weight 0', () => {
      const eps = endpoints({ a: 1, b: 0, c: 2 });
      const counts = countPicks(createBalancer(algorithm, eps), 9_000);
      assert.equal(counts.get('b:80'), undefined);
      assertShares(counts, eps, tolerance);
    });

    it('never picks an unhealthy endpoint, and picks it again once healthy', () => {
      const eps = endpoints({ a: 1, b: 1, c: 1 });
      const b = createBalancer(algorithm, eps);
      eps[1].state.healthy = false;
      const down = countPicks(b, 9_000);
      assert.equal(down.get('b:80'), undefined);
      assert.ok(down.get('a:80')! > 3_000 && down.get('c:80')! > 3_000, `a and c share: ${[...down]}`);
      eps[1].state.healthy = true;
      const up = countPicks(b, 9_000);
      assertShares(up, eps, tolerance);
    });

    it('honours exclude', () => {
      const eps = endpoints({ a: 4, b: 1, c: 1 });
      const b = createBalancer(algorithm, eps);
      const withoutA = countPicks(b, 9_000, new Set(['a:80']));
      assert.equal(withoutA.get('a:80'), undefined);
      assertShares(withoutA, eps.slice(1), tolerance);
      assert.deepEqual(countPicks(b, 500, new Set(['a:80', 'b:80'])), new Map([['c:80', 500]]));
    });

    it('returns undefined when no endpoint is eligible', () => {
      const eps = endpoints({ a: 0, b: 1, c: 1 });
      eps[1].state.healthy = false;
      const b = createBalancer(algorithm, eps);
      const exclude = new Set(['c:80']);
      for (let i = 0; i < 200; i++) assert.equal(b.pick(client(i, exclude)), undefined);
      assert.equal(b.pick({ exclude }), undefined);
      // And it recovers as soon as one is eligible again: nothing got stuck.
      assert.equal(b.pick(client(0))?.key, 'c:80');
    });

    it('a balancer built from a changed list distributes over the new set only', () => {
      const before = endpoints({ a: 1, b: 1, c: 1 });
      const old = createBalancer(algorithm, before);
      countPicks(old, 300);
      // b and c keep their state objects (invariant 4), a leaves, d and e arrive.
      const after = [before[1], before[2], endpoint('d:80'), endpoint('e:80')];
      const counts = countPicks(createBalancer(algorithm, after), 12_000);
      assert.deepEqual([...counts.keys()].sort(), ['b:80', 'c:80', 'd:80', 'e:80']);
      assertShares(counts, after, tolerance);
      // The old generation keeps working for the connections that still hold it.
      assert.ok(old.pick(client(1)));
    });
  });
}

describe('round-robin', () => {
  it('interleaves weights 5:1:1 instead of bursting', () => {
    const eps = endpoints({ a: 5, b: 1, c: 1 });
    const b = new RoundRobinBalancer(eps);
    const seq = Array.from({ length: 700 }, () => b.pick({})!.key[0]).join('');
    assert.equal(seq.slice(0, 7), 'aabacaa');
    // Each cycle of 7 holds exactly 5 a, 1 b, 1 c.
    for (let i = 0; i < seq.length; i += 7) assert.deepEqual([...seq.slice(i, i + 7)].sort().join(''), 'aaaaabc');
    // A bursting balancer would run a 5 times in a row; smooth RR never exceeds 4 (2 + 2 across
    // the cycle boundary) and never repeats b or c.
    assert.ok(Math.max(...seq.split(/[bc]+/).map((r) => r.length)) <= 4, seq.slice(0, 28));
    assert.ok(!/bb|cc|bc|cb/.test(seq), seq.slice(0, 28));
    // At every prefix each endpoint is within one pick of its exact share.
    const seen = { a: 0, b: 0, c: 0 };
    for (let n = 1; n <= seq.length; n++) {
      seen[seq[n - 1] as 'a' | 'b' | 'c']++;
      for (const e of eps) {
        const name = e.key[0] as 'a' | 'b' | 'c';
        assert.ok(Math.abs(seen[name] - (n * e.weight) / 7) < 1, `prefix ${n}: ${name}=${seen[name]}`);
      }
    }
  });

  it('rotates equal weights strictly', () => {
    const b = new RoundRobinBalancer(endpoints({ a: 1, b: 1, c: 1 }));
    assert.equal(Array.from({ length: 9 }, () => b.pick({})!.key[0]).join(''), 'abcabcabc');
  });
});

describe('least-conn', () => {
  it('picks the lowest active/weight', () => {
    const eps = endpoints({ a: 1, b: 3, c: 2 });
    eps[0].state.active = 1; // 1
    eps[1].state.active = 2; // 0.67
    eps[2].state.active = 2; // 1
    const b = createBalancer('least-conn', eps);
    assert.equal(b.pick({})?.key, 'b:80');
    eps[1].state.active = 4; // 1.33
    assert.notEqual(b.pick({})?.key, 'b:80');
  });

  it('shares ties in rotation so equal endpoints get equal load', () => {
    const b = createBalancer('least-conn', endpoints({ a: 1, b: 1, c: 1 }));
    assert.equal(Array.from({ length: 9 }, () => b.pick({})!.key[0]).join(''), 'abcabcabc');
  });
});

describe('random-two', () => {
  it('never picks the most loaded endpoint: the second draw is always a different one', () => {
    const eps = endpoints({ a: 1, b: 1, c: 1 });
    eps[0].state.active = 9;
    eps[1].state.active = 1;
    const counts = countPicks(createBalancer('random-two', eps), 9_000);
    assert.equal(counts.get('a:80'), undefined);
    // c (0 active) wins every pair it is in: 2 of 3 pairs.
    assert.ok(Math.abs(counts.get('c:80')! / 9_000 - 2 / 3) < 0.03, `${[...counts]}`);
  });

  it('draws by weight with an injected random source', () => {
    // u = 0.9 lands in c's range [5, 6) of cumulative weights 4, 5, 6 for both draws.
    const b = new RandomTwoBalancer(endpoints({ a: 4, b: 1, c: 1 }), () => 0.9);
    const e = b.pick({});
    assert.equal(e?.key, 'c:80');
  });
});

describe('source-hash', () => {
  const ten = () => Array.from({ length: 10 }, (_, i) => endpoint(`10.1.0.${i + 1}:8080`));
  const assign = (b: Balancer, n: number) => Array.from({ length: n }, (_, i) => b.pick(client(i))!.key);

  it('maps a client to the same endpoint every time, whatever the list order', () => {
    const eps = ten();
    const b = createBalancer('source-hash', eps);
    const shuffled = createBalancer('source-hash', [...eps].reverse());
    for (let i = 0; i < 2_000; i++) {
      const first = b.pick(client(i))!.key;
      assert.equal(b.pick(client(i))!.key, first);
      assert.equal(shuffled.pick(client(i))!.key, first);
    }
  });

  it('removing 1 of 10 endpoints moves only that endpoint’s clients (about 1/10)', () => {
    const eps = ten();
    const before = assign(createBalancer('source-hash', eps), 20_000);
    const gone = eps[3].key;
    const after = assign(createBalancer('source-hash', eps.filter((e) => e.key !== gone)), 20_000);
    let others = 0;
    let kept = 0;
    let moved = 0;
    for (let i = 0; i < before.length; i++) {
      if (before[i] !== after[i]) moved++;
      if (before[i] === gone) continue;
      others++;
      if (before[i] === after[i]) kept++;
    }
    assert.ok(kept / others >= 0.95, `only ${kept}/${others} clients of other endpoints stayed`);
    assert.equal(kept, others, 'a ring moves no client of an unaffected endpoint');
    assert.ok(Math.abs(moved / before.length - 1 / 10) < 0.03, `moved ${moved}/${before.length}`);
  });

  it('adding an 11th endpoint moves about 1/11 of the clients, all to the new one', () => {
    const eps = ten();
    const before = assign(createBalancer('source-hash', eps), 20_000);
    const added = endpoint('10.1.0.11:8080');
    const after = assign(createBalancer('source-hash', [...eps, added]), 20_000);
    let moved = 0;
    for (let i = 0; i < before.length; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      assert.equal(after[i], added.key);
    }
    assert.ok(Math.abs(moved / before.length - 1 / 11) < 0.03, `moved ${moved}/${before.length}`);
  });

  it('an unhealthy endpoint’s clients move, and come back when it recovers', () => {
    const eps = ten();
    const b = createBalancer('source-hash', eps);
    const before = assign(b, 10_000);
    eps[6].state.healthy = false;
    const during = assign(b, 10_000);
    for (let i = 0; i < before.length; i++) {
      if (before[i] === eps[6].key) assert.notEqual(during[i], eps[6].key);
      else assert.equal(during[i], before[i]);
    }
    eps[6].state.healthy = true;
    assert.deepEqual(assign(b, 10_000), before);
  });

  it('a retry with exclude goes to a different endpoint, the same one each time', () => {
    const b = createBalancer('source-hash', ten());
    for (let i = 0; i < 500; i++) {
      const first = b.pick(client(i))!.key;
      const retry = b.pick(client(i, new Set([first])))!.key;
      assert.notEqual(retry, first);
      assert.equal(b.pick(client(i, new Set([first])))!.key, retry);
    }
  });

  it('without a client key, falls back to the weighted round-robin order', () => {
    const eps = endpoints({ a: 5, b: 1, c: 1 });
    const sh = createBalancer('source-hash', eps);
    const rr = new RoundRobinBalancer(eps);
    for (let i = 0; i < 70; i++) assert.equal(sh.pick({})?.key, rr.pick({})?.key);
  });

  it('keeps weights proportional when large weights hit the ring cap', () => {
    const eps = Array.from({ length: 40 }, (_, i) => endpoint(`10.2.0.${i + 1}:80`, i < 20 ? 1000 : 500));
    const counts = countPicks(createBalancer('source-hash', eps), 50_000);
    let heavy = 0;
    for (let i = 0; i < 20; i++) heavy += counts.get(eps[i].key) ?? 0;
    assert.ok(Math.abs(heavy / 50_000 - 2 / 3) < 0.03, `heavy half got ${heavy}/50000`);
  });
});
