// Crash safety and failed upgrades: a worker killed with SIGKILL is restarted while the
// supervisor's socket keeps queueing connections (none refused); a broken new version (the
// documented test-only fault hook) leaves the old generation serving and says why.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive } from './helpers/process-harness.js';
import { MixedLoad, summarize } from './helpers/process-load.js';
import { mixedProcessSuite } from './helpers/process-backends.js';
import { waitFor } from './helpers/wait.js';

describe('process model: crashes and broken upgrades', () => {
  const suite = mixedProcessSuite();

  it('kill -9 of a worker under load: 0 refused connections, and it is restarted', async () => {
    // One worker: while it is dead, nobody accepts, so only the supervisor's socket stands between the clients and a refusal.
    const { h, ports } = await suite.start({ workers: 1 });
    const load = new MixedLoad({ httpPort: ports.http, tcpPort: ports.tcp, longLived: 2 });
    await load.progressed('requests before the first crash');
    for (let round = 1; round <= 3; round++) {
      const victim = (await h.status()).process.workers[0].pid;
      process.kill(victim, 'SIGKILL');
      const restarted = await waitFor('a new worker to be ready', async () => {
        const w = (await h.status()).process.workers[0];
        return w.pid !== victim && w.state === 'ready' ? w.pid : undefined;
      }, { timeoutMs: 20_000 });
      assert.ok(!alive(victim) && alive(restarted));
      await load.progressed(`requests served by the worker restarted in round ${round}`);
    }
    const report = await load.stop();
    const s = await h.status();
    console.log(`kill -9 x3: ${summarize(report)}; restarts ${s.process.restarts}, crash loops ${JSON.stringify(s.process.crashLoops)}`);
    assert.equal(report.newConnection.refused + report.keepAlive.refused + report.longLived.refused, 0, summarize(report));
    assert.equal(s.process.restarts, 3);
    // Three crashes in a minute is a crash loop: reported, not hidden.
    assert.equal(s.process.crashLoops.length, 1);
    assert.ok(h.logs().includes('worker crash loop'), 'the crash loop is logged');
  });

  it('a broken new version (crashes at startup, or never ready) leaves the old generation serving and says why', async () => {
    const faultDir = mkdtempSync(join(tmpdir(), 'hitless-fault-'));
    const faultFile = join(faultDir, 'fault');
    const { h: h2, ports } = await suite.start({
      workers: 2,
      // Long enough for a loaded machine to start a healthy worker; the hang case waits it out once.
      args: ['--ready-timeout', '6s'],
      // The test-only hook (src/process/README.md): workers read this file when they start.
      env: { HITLESS_TEST_WORKER_FAULT_FILE: faultFile },
    });
    const before = await h2.status();
    const load = new MixedLoad({ httpPort: ports.http, tcpPort: ports.tcp, longLived: 2 });
    for (const fault of ['crash', 'hang']) {
      writeFileSync(faultFile, fault);
      const res = await h2.upgrade();
      assert.equal(res.status, 500, res.text);
      const body = res.json<{ error: { code: string; message: string } }>();
      assert.equal(body.error.code, 'HITLESS_ERR_UPGRADE_FAILED');
      assert.match(body.error.message, fault === 'crash' ? /exited(: | \()code 70/ : /did not report ready/);
      const s = await h2.status();
      assert.equal(s.process.generation, before.process.generation, 'the old generation still serves');
      assert.deepEqual(s.process.workers.filter((w) => w.state === 'ready').map((w) => w.pid).sort(), before.process.workers.map((w) => w.pid).sort());
      assert.equal(s.process.upgrades.last?.ok, false);
      console.log(`broken upgrade (${fault}): ${body.error.message}`);
    }
    rmSync(faultDir, { recursive: true, force: true });
    const fixed = await h2.upgrade();
    assert.equal(fixed.status, 200, fixed.text);
    const report = await load.stop();
    console.log(`during the failed upgrades: ${summarize(report)}`);
    assert.equal(report.newConnection.failed + report.newConnection.refused + report.keepAlive.failed + report.keepAlive.refused, 0, summarize(report));
    assert.ok(h2.logs().includes('upgrade failed; the running generation keeps serving'), 'the failure is logged');
  });
});
