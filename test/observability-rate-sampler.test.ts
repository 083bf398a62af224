// The dashboard's rate history (src/observability/rate-sampler.ts): its memory does not grow with
// the number of endpoints times the history length (it kept every endpoint's counters for 600
// readings: ~1.3 GB at 10,000 endpoints), and every rate is computed over the interval between
// the two readings of the counters that produced it (a supervisor's counters are read when its
// workers report, not when the sampler looks).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { DataplaneStatus, EndpointStatus } from '../src/dataplane/driver.js';
import { RateSampler } from '../src/observability/rate-sampler.js';

/** A status as a driver returns it: fresh objects on every call, `total` requests on every endpoint. */
function status(endpoints: number, total: number): DataplaneStatus {
  const list: EndpointStatus[] = [];
  for (let i = 0; i < endpoints; i++) {
    list.push({ cluster: 'default', address: `127.4.${i >> 8}.${i & 255}:80`, weight: 1, healthy: true, health: 'up', active: 0, total, failures: 0, ejections: 0, bytesIn: 0, bytesOut: 0 });
  }
  const service = { name: 'big', mode: 'tcp', balance: 'round-robin', listen: ['127.0.0.1:1'], active: 0, total: total * endpoints, rejected: 0, failed: 0, retries: 0, responses: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }, endpoints: list };
  return { driver: 'builtin', services: [service], listeners: [] };
}

function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

describe('rate sampler', () => {
  it('keeps per-endpoint counters of the last two readings only: memory does not grow with history x endpoints', () => {
    const ENDPOINTS = 2_000;
    const READINGS = 700; // more than the ring's 600
    let n = 0;
    const sampler = new RateSampler(() => ({ countersAt: ++n * 1000, status: () => status(ENDPOINTS, n) }));
    sampler.sample();
    const before = heapAfterGc();
    for (let i = 1; i < READINGS; i++) sampler.sample();
    const grown = heapAfterGc() - before;
    // Keeping every reading's per-endpoint totals took ~200 bytes per endpoint per reading: 240 MB here.
    assert.ok(grown < 20 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MB over ${READINGS} readings of ${ENDPOINTS} endpoints`);
    assert.equal(sampler.series().t.length, 599, 'the chart keeps 600 readings');
    const rates = sampler.latestRates();
    assert.equal(Object.keys(rates.endpoints).length, ENDPOINTS, 'every endpoint still has its latest rate');
    assert.equal(rates.endpoints['big/default/127.4.0.0:80'].rps, 1, 'one request per endpoint per second');
  });

  it('rates are per second over the interval between the readings of the counters', () => {
    const readings = [
      { countersAt: 10_000, total: 0 },
      { countersAt: 10_000, total: 0 }, // no newer counters: skipped, not a zero-length interval
      { countersAt: 12_000, total: 10 }, // read 2 s later: 10 requests → 5/s, not 10/s
    ];
    let i = 0;
    const sampler = new RateSampler(() => {
      const r = readings[Math.min(i++, readings.length - 1)];
      return { countersAt: r.countersAt, status: () => status(1, r.total) };
    });
    for (let k = 0; k < readings.length; k++) sampler.sample();
    const series = sampler.series();
    assert.deepEqual(series.t, [12_000]);
    assert.deepEqual(series.rps, [5]);
    assert.equal(sampler.latestRates().services.big.rps, 5);
    assert.equal(sampler.latestRates().endpoints['big/default/127.4.0.0:80'].rps, 5);
  });
});
