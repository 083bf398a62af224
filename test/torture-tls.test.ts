// The torture bench's TLS traffic kinds and certificate rotation, over real TLS on loopback: a
// handshake that cannot complete is counted as a failed handshake (not a reset), and rotating
// hitless's certificate files 10 times a second under TLS traffic costs no handshake and no
// request while clients see the new certificates during the churn (hitless reads the files
// while they keep changing). HAProxy's runtime API rotation runs where haproxy is installed.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { runTorture, type TrafficOptions } from '../src/bench/torture/run-torture.js';
import { runSuite } from '../src/bench/torture/suite.js';
import { makeTortureTls, type TortureTls } from '../src/bench/torture/tls-material.js';
import { MAIN } from '../src/bench/torture/targets/hitless.js';
import { setPortRange } from '../src/bench/torture/targets/ports.js';
import { portInRange } from './helpers/port-range.js';

const TRAFFIC: TrafficOptions = {
  newConnection: 0,
  keepAlive: 0,
  longLived: 0,
  longLivedMode: 'raw',
  longLivedLifeMs: [1000, 1000],
  pingIntervalMs: 20,
  timeoutMs: 3000,
  maxRequests: 1_000_000,
  tlsNewConnection: 2,
  tlsKeepAlive: 2,
};

let tls: TortureTls;
before(async () => {
  // The targets and backends listen in the tests' range, as every test's ports do.
  setPortRange(25_000, 25_999);
  tls = await makeTortureTls();
});
after(async () => {
  await tls?.remove();
});

describe('torture: TLS traffic kinds', () => {
  it('counts a TLS connection to a server that does not speak TLS as a failed handshake', async () => {
    // Accepts and closes at once: the client's ClientHello gets no answer.
    const server = net.createServer((s) => s.destroy());
    const port = await portInRange();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      const result = await runTorture({
        target: 'plain',
        https: { host: '127.0.0.1', port },
        tls,
        traffic: { ...TRAFFIC, tlsKeepAlive: 0 },
        durationMs: 400,
        baselineMs: 0,
        actionRate: 0,
        maxActions: 0,
      });
      const k = result.kinds.find((x) => x.kind === 'tlsNewConnection');
      assert.ok(k, 'no tls new conn results');
      assert.ok(k.failures.handshake > 0, JSON.stringify(k.failures));
      assert.equal(k.failed, k.failures.handshake, `other failure kinds: ${JSON.stringify(k.failures)}`);
      assert.equal(k.ok, 0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

const shape = { durationMs: 4000, baselineMs: 500, actionRate: 10, maxActions: 40, traffic: TRAFFIC };

describe('torture: certificate rotation', { skip: existsSync(MAIN) ? false : `${MAIN} not built` }, () => {
  it('hitless: files replaced 10 times a second cost no handshake and no request, and clients see new certificates during the churn', async () => {
    const suite = await runSuite({ builtins: ['hitless-http'], action: 'cert', backends: 1, shape, signal: new AbortController().signal, log: () => {} });
    const [result] = suite.targets;
    assert.equal(result.skipped, undefined, result.skipped);
    assert.ok(result.actions.ok >= 10, `only ${result.actions.ok} rotations: ${result.actions.errorSamples.join('; ')}`);
    for (const k of result.kinds) assert.equal(k.failed, 0, `${k.kind}: ${JSON.stringify(k.failures)} ${k.errorSamples.join('; ')}`);
    const fresh = result.kinds.find((k) => k.kind === 'tlsNewConnection')!;
    assert.ok(fresh.ok > 0);
    const seen = Object.keys(fresh.certificates ?? {});
    assert.ok(seen.some((name) => name !== 'A'), `only certificate A was served while the files changed: ${JSON.stringify(fresh.certificates)}`);
    // Keep-alive connections are never re-established by a rotation.
    const kept = result.kinds.find((k) => k.kind === 'tlsKeepAlive')!;
    assert.ok(kept.ok > 0);
    assert.equal(Object.values(kept.certificates ?? {}).reduce((a, b) => a + b, 0), TRAFFIC.tlsKeepAlive);
  });

  it('HAProxy runtime API: set ssl cert + commit ssl cert rotates with nothing lost', { skip: existsSync('/usr/sbin/haproxy') ? false : 'haproxy not installed' }, async () => {
    const suite = await runSuite({ builtins: ['haproxy-runtime-cert'], action: 'cert', backends: 1, shape, signal: new AbortController().signal, log: () => {} });
    const [result] = suite.targets;
    assert.equal(result.skipped, undefined, result.skipped);
    assert.equal(result.actions.failed, 0, result.actions.errorSamples.join('; '));
    for (const k of result.kinds) assert.equal(k.failed, 0, `${k.kind}: ${k.errorSamples.join('; ')}`);
    const fresh = result.kinds.find((k) => k.kind === 'tlsNewConnection')!;
    assert.ok(Object.keys(fresh.certificates ?? {}).length >= 2, JSON.stringify(fresh.certificates));
  });
});
