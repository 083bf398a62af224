// Which etcd member a client uses (src/discovery/etcd-members.ts): one pinned member at a time,
// the next one that has not failed when it fails, and any of them when all have failed. The
// real-cluster behaviour (a frozen member left for another) is test/etcd-hang.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GRPCUnavailableError, EtcdLeaseInvalidError } from 'etcd3';
import { EtcdMembers, MemberPolicy } from '../src/discovery/etcd-members.js';

const urls = ['http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:3'];
const policies = (members: EtcdMembers) => urls.map((url) => members.policyFor(url) as unknown as MemberPolicy);
const run = (policy: MemberPolicy) => policy.execute(() => policy.member.url).catch(() => null);

describe('etcd member choice', () => {
  it('sends every call to one pinned member', async () => {
    const members = new EtcdMembers(urls);
    const answered = (await Promise.all(policies(members).map(run))).filter((x) => x !== null);
    assert.deepEqual(answered, [members.current().url], 'exactly one member runs calls');
  });

  it('moves to the next member when the pinned one fails, and avoids the failed one', async () => {
    const members = new EtcdMembers(urls);
    const first = members.current();
    const policy = policies(members).find((p) => p.member === first)!;
    await assert.rejects(policy.execute(() => Promise.reject(new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: no leader'))));
    const second = members.current();
    assert.notEqual(second, first);
    assert.equal(second.url, urls[(urls.indexOf(first.url) + 1) % urls.length], 'the next one in the list');
    assert.equal(await run(policy), null, 'the failed member is passed over');
  });

  it('does not blame a member for an answer it gave (an invalid lease is not a dead member)', async () => {
    const members = new EtcdMembers(urls);
    const first = members.current();
    const policy = policies(members).find((p) => p.member === first)!;
    await assert.rejects(policy.execute(() => Promise.reject(new EtcdLeaseInvalidError('123'))));
    assert.equal(members.current(), first);
  });

  it('once every member has failed, sends calls to the one given up longest ago, and so to each in turn', async () => {
    const members = new EtcdMembers(urls);
    const order = [members.list[1], members.list[2], members.list[0]];
    for (const [i, m] of order.entries()) {
      members.failed(m, new Error('down'));
      m.avoidUntil += i; // distinct even within one millisecond
    }
    const answered = (await Promise.all(policies(members).map(run))).filter((x) => x !== null);
    assert.deepEqual(answered, [order[0].url], 'one member runs calls: trying one beats trying none');
    // Each failure again sends the next call to the member given up longest ago: never the same
    // one twice in a row while another waits, as a random pick could.
    const tried: string[] = [];
    for (let i = 0; i < 6; i++) {
      const m = members.current();
      tried.push(m.url);
      members.failed(m, new Error('down again'));
      m.avoidUntil += 10 + i;
    }
    assert.deepEqual(tried, [...order, ...order].map((m) => m.url));
  });
});
