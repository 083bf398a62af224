// HAProxy ends with the hitless that started it, over real processes (`hitless run` on the HAProxy
// data plane): on SIGTERM hitless stops it before it exits; SIGKILLed, hitless runs no more code,
// and HAProxy soft-stops on its own (the parent-death signal, dataplane/haproxy/parent-death.ts):
// its listener closes at once, a connection already open keeps working until it ends, then the
// master and its worker exit. Before, a killed hitless left HAProxy serving with nobody to update
// or stop it, on ports a restarted hitless binds again.
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { startEchoServer, type EchoServer } from './helpers/echo-server.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import type { Proc } from './helpers/leftover-processes.js';
import { haproxyMissing } from './helpers/paths.js';
import { portInRange } from './helpers/port-range.js';
import { probeConnect } from './helpers/ports.js';
import { echoOnce, LongLivedClient } from './helpers/tcp-client.js';
import { waitFor } from './helpers/wait.js';

interface HaproxyPids {
  master: { pid: number };
  worker: { pid: number };
}

describe('HAProxy ends with hitless', { skip: haproxyMissing }, () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  // Every cleanup runs, even after one failed (a leftover HAProxy rejects h.kill()); the first failure is reported.
  afterEach(async () => {
    const failures: unknown[] = [];
    for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve().then(cleanup).catch((err: unknown) => failures.push(err));
    if (failures.length > 0) throw failures[0];
  });

  /** `hitless run` on the HAProxy plane with one tcp service to an echo server; serving through HAProxy. */
  async function start(): Promise<{ h: HitlessProcess; port: number; haproxy: HaproxyPids; echo: EchoServer }> {
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    const port = await portInRange();
    const h = await HitlessProcess.start({
      workers: 0,
      logLevel: 'warn',
      config: (admin) =>
        stringify({
          admin: { listen: admin },
          dataplane: { driver: 'haproxy', haproxy: { state_dir: join(dirname(admin.slice('unix:'.length)), 'haproxy') } },
          services: { echo: { mode: 'tcp', listen: `127.0.0.1:${port}`, endpoints: [echo.address] } },
        }),
    });
    cleanups.push(() => h.kill());
    const haproxy = ((await h.status()) as unknown as { haproxy: HaproxyPids }).haproxy;
    assert.deepEqual(await echoOnce(port), { ok: true }, 'served through HAProxy');
    const pids = haproxyOf(h).map((p) => p.pid).sort();
    assert.deepEqual(pids, [haproxy.master.pid, haproxy.worker.pid].sort(), 'the HAProxy processes of this hitless are its master and worker');
    return { h, port, haproxy, echo };
  }

  const haproxyOf = (h: HitlessProcess): Proc[] => h.tree().filter((p) => p.comm === 'haproxy');

  it('SIGTERM: hitless stops HAProxy before it exits, and the port is free', async () => {
    const { h, port } = await start();
    h.signal('SIGTERM');
    const exit = await h.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, h.logs());
    assert.deepEqual(haproxyOf(h), [], 'no HAProxy process is left once hitless has exited');
    assert.equal(await probeConnect(port), 'refused');
  });

  it('SIGKILL: HAProxy stops listening at once, finishes the open connection, then exits', async () => {
    const { h, port, haproxy } = await start();
    const open = await LongLivedClient.open(port, 'open before the kill');
    cleanups.push(() => open.destroy());
    await open.roundTrip();
    h.child.kill('SIGKILL');
    await h.exited;
    await waitFor('HAProxy to close its listener', async () => (await probeConnect(port)) === 'refused', { timeoutMs: 10_000 });
    assert.ok(haproxyOf(h).some((p) => p.pid === haproxy.worker.pid), 'the worker stays while a connection is open (soft stop)');
    await open.roundTrip();
    await open.finish();
    await waitFor('the HAProxy master and worker to exit', () => haproxyOf(h).length === 0, { timeoutMs: 10_000 });
  });
});
