// The folding behind SIGHUP (src/control/coalesced-run.ts), step by step: one run at a time,
// requests during a run become exactly one more run, which answers all of them. The real signal
// burst against a running process is in tcp-apply.test.ts ("a burst of SIGHUPs").
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoalescedRun } from '../src/control/coalesced-run.js';

describe('CoalescedRun: a burst of requests is at most one run after the running one', () => {
  it('20 requests during a run: one more run, answering 19; then idle; a failed run does not stop the next', async () => {
    const runs: Array<{ requests: number; finish: () => void }> = [];
    const r = new CoalescedRun(
      (requests) =>
        new Promise<void>((resolve, reject) => runs.push({ requests, finish: runs.length === 0 ? () => reject(new Error('first run fails')) : resolve })),
    );
    const outcomes = Array.from({ length: 20 }, () => r.request());
    assert.deepEqual(outcomes, ['started', 'queued', ...Array<string>(18).fill('folded')]);
    assert.deepEqual(runs.map((x) => x.requests), [1]);
    runs[0].finish();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(runs.map((x) => x.requests), [1, 19]);
    assert.equal(r.request(), 'queued', 'a request during the follow-up run queues exactly one more');
    runs[1].finish();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(runs.map((x) => x.requests), [1, 19, 1]);
    runs[2].finish();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(runs.length, 3, 'nothing runs without a request');
    assert.equal(r.request(), 'started');
  });
});
