// Supervisor upgrade under load: the supervisor re-execs itself from the code on disk, the new
// one inherits every listening socket as a file descriptor and starts its own workers; the old
// one hands the admin API over, drains its workers and exits. No connection is refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { alive } from './helpers/process-harness.js';
import { MixedLoad, summarize } from './helpers/process-load.js';
import { mixedProcessSuite } from './helpers/process-backends.js';
import { waitFor } from './helpers/wait.js';

describe('process model: supervisor upgrade', () => {
  const suite = mixedProcessSuite();

  it('replaces the supervisor under mixed load: 0 refused connections, 0 failed requests', async () => {
    const { h, ports } = await suite.start({ workers: 2, args: ['--upgrade-drain', '2s'] });
    const before = await h.status();
    const oldSupervisor = before.process.supervisorPid;
    const load = new MixedLoad({ httpPort: ports.http, tcpPort: ports.tcp, longLived: 4 });
    await load.progressed('requests before the supervisor upgrade');
    const res = await h.upgrade('?supervisor=1');
    assert.equal(res.status, 200, res.text);
    const newSupervisor = res.json<{ supervisorPid: number }>().supervisorPid;
    assert.notEqual(newSupervisor, oldSupervisor);
    const after = await waitFor('the new supervisor to answer the admin API', async () => {
      const s = await h!.status();
      return s.process.supervisorPid === newSupervisor ? s : undefined;
    }, { timeoutMs: 20_000 });
    await waitFor('the old supervisor to drain its workers and exit', () => !alive(oldSupervisor), { timeoutMs: 20_000 });
    // The new supervisor serves on, and can itself upgrade its workers.
    const code = await h.upgrade();
    assert.equal(code.status, 200, code.text);
    await load.progressed('requests served by the new generation');
    const report = await load.stop();
    const final = await h.status();
    console.log(`supervisor upgrade ${oldSupervisor} → ${newSupervisor} (generation ${before.process.generation} → ${after.process.generation}): ${summarize(report)}`);
    assert.deepEqual(final.listeners.map((l) => l.socket), before.listeners.map((l) => l.socket), 'the same listening sockets, inherited');
    assert.ok(after.process.generation > before.process.generation, 'generation numbers continue');
    assert.ok(report.newConnection.ok >= 10 && report.keepAlive.ok >= 10, 'the load ran through both generations');
    assert.equal(report.newConnection.refused + report.keepAlive.refused + report.longLived.refused, 0, summarize(report));
    assert.equal(report.newConnection.failed + report.keepAlive.failed + report.longLived.failed, 0, summarize(report));
  });
});
