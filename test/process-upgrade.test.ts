// Code upgrades under load: a new worker generation takes over the supervisor's sockets and the
// old one drains, handing idle keep-alive connections over; nothing is refused or reset.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MixedLoad, summarize } from './helpers/process-load.js';
import { mixedProcessSuite } from './helpers/process-backends.js';
import { waitFor } from './helpers/wait.js';

describe('process model: code upgrades', () => {
  const suite = mixedProcessSuite();

  it('20 upgrades under mixed load: 0 failed requests, 0 refused connections', async () => {
    const { h, ports } = await suite.start({ workers: 2 });
    const before = await h.status();
    const load = new MixedLoad({ httpPort: ports.http, tcpPort: ports.tcp, longLived: 4 });
    // Each upgrade waits for requests of both kinds answered since the previous one: traffic runs
    // through every generation, however fast the machine is (no sleep, no count that depends on speed).
    await waitFor('the long-lived connections open', () => load.report.longLived.opened === 4);
    await load.progressed('requests before the first upgrade');
    for (let i = 0; i < 20; i++) {
      const res = await h.upgrade();
      assert.equal(res.status, 200, `upgrade ${i + 1}: ${res.text}`);
      await load.progressed(`requests served after upgrade ${i + 1}`);
    }
    const report = await load.stop();
    const s = await h.status();
    console.log(`20 upgrades: ${summarize(report)}; handed over ${s.process.upgrades.handedOffConnections} idle keep-alive connections`);
    assert.equal(s.process.generation, before.process.generation + 20);
    assert.equal(s.process.upgrades.ok, 20);
    // The listening socket is the same one throughout (invariant 1).
    assert.deepEqual(s.listeners.map((l) => l.socket), before.listeners.map((l) => l.socket));
    assert.equal(report.newConnection.failed + report.newConnection.refused, 0, summarize(report));
    assert.equal(report.keepAlive.failed + report.keepAlive.refused, 0, summarize(report));
    assert.equal(report.longLived.failed + report.longLived.refused, 0, summarize(report));
    // Idle keep-alive connections moved to the new generation (the raw HTTP path's idle state, or
    // node:http's parser state for connections it took over), rather than being closed.
    assert.ok(s.process.upgrades.handedOffConnections > 0, 'no idle keep-alive connection was handed over');
    // Long-lived connections move to each new generation: none is closed by an upgrade.
    assert.equal(report.longLived.closedByServer, 0, summarize(report));
  });

  it('long-lived connections move to the new generation: they keep echoing, and the old worker exits long before the drain timeout', async () => {
    const { h, ports } = await suite.start({ workers: 1, args: ['--upgrade-drain', '30s'] });
    const load = new MixedLoad({ httpPort: ports.http, tcpPort: ports.tcp, longLived: 0, pingMs: 5 });
    const oldWorker = (await h.status()).process.workers[0].pid;
    let upgraded = false;
    let pingsAfterUpgrade = 0;
    const ending = load.longLived(() => upgraded && pingsAfterUpgrade >= 40, () => upgraded && pingsAfterUpgrade++);
    await waitFor('the long-lived connection to be open', () => load.report.longLived.opened === 1);
    const res = await h.upgrade();
    assert.equal(res.status, 200, res.text);
    upgraded = true;
    // Nothing is left on the old worker once the connection moved: it exits well within the 30 s drain.
    await waitFor('the old worker to exit after its connection moved', async () => !(await h.status()).process.workers.some((w) => w.pid === oldWorker), { timeoutMs: 10_000 });
    assert.equal(await ending, 'ended', 'the connection kept echoing after the upgrade (on the new generation), then ended normally');
    const report = await load.stop();
    console.log(`move: ${pingsAfterUpgrade} pings answered after the upgrade; ${summarize(report)}`);
    assert.equal(report.longLived.failed + report.longLived.refused, 0, summarize(report));
  });
});
