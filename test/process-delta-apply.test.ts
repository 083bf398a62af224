// Applies with workers travel as patches (src/process/config-patch.ts): over real processes,
// after many discovery and admin applies every worker serves the new config and computes the
// same config digest; a worker killed and restarted starts from the whole config and then takes
// patches again; a rejected apply leaves every worker on the old config. Which worker serves a
// connection is the kernel's choice, so each one is checked alone by pausing the other (SIGSTOP).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { reservePort } from './helpers/ports.js';
import { tagVia, taggedBackends } from './helpers/tag-backends.js';
import { SupervisedHitless, alive } from './helpers/process-harness.js';
import { waitFor } from './helpers/wait.js';

const STATIC = 12;

interface Worker {
  pid: number;
  slot: number;
  state: string;
  configHash: string | null;
  inSync: boolean;
  committed: { patch: number; whole: number };
}
interface Status {
  process: { configHash: string; workers: Worker[] };
}


async function tags(port: number, n = 6): Promise<string[]> {
  return [...new Set(await Promise.all(Array.from({ length: n }, () => tagVia(port))))];
}

describe('process model: applies travel as patches', () => {
  let backends: Awaited<ReturnType<typeof taggedBackends>>;
  let h: SupervisedHitless | undefined;
  const paused = new Set<number>();

  before(async () => {
    backends = await taggedBackends(4);
  });
  after(async () => {
    for (const pid of paused) if (alive(pid)) process.kill(pid, 'SIGCONT');
    await h?.kill();
    await backends.stop();
  });

  it('discovery and admin applies reach every worker as patches; a restarted worker starts whole; a rejected apply changes no worker', async () => {
    const ports = { disc: await reservePort(), added: await reservePort(), held: await reservePort(), static: [] as number[] };
    for (let i = 0; i < STATIC; i++) ports.static.push(await reservePort());
    const endpoint = (b: number) => `127.0.0.1:${backends.ports[b]}`;
    let discoveryFile = '';
    const setDiscovered = (b: number) => {
      writeFileSync(`${discoveryFile}.tmp`, `["${endpoint(b)}"]\n`);
      renameSync(`${discoveryFile}.tmp`, discoveryFile);
    };
    // The config as an admin writes it: `s0` points at backend `s0`, s-(STATIC-1) exists unless removed, `added` when asked.
    const render = (admin: string, o: { s0: number; removeLast?: boolean; added?: boolean; held?: boolean; coalesce?: string }) => {
      let text = `admin: { listen: "${admin}" }\ndiscovery_defaults: { coalesce: ${o.coalesce ?? '20ms'} }\nservices:\n`;
      text += `  disc: { mode: tcp, listen: "127.0.0.1:${ports.disc}", discovery: { file: { path: "${discoveryFile}" } } }\n`;
      for (let i = 0; i < STATIC; i++) {
        if (o.removeLast && i === STATIC - 1) continue;
        text += `  s${i}: { mode: tcp, listen: "127.0.0.1:${ports.static[i]}", endpoints: ["${endpoint(i === 0 ? o.s0 : 3)}"] }\n`;
      }
      if (o.added) text += `  added: { mode: tcp, listen: "127.0.0.1:${ports.added}", endpoints: ["${endpoint(2)}"] }\n`;
      if (o.held) text += `  held: { mode: tcp, listen: "127.0.0.1:${ports.held}", endpoints: ["${endpoint(2)}"] }\n`;
      return text;
    };
    let adminAddress = '';
    const sh = await SupervisedHitless.start({
      workers: 2,
      config: (admin) => {
        adminAddress = admin;
        discoveryFile = join(admin.slice('unix:'.length, admin.lastIndexOf('/')), 'disc.yaml');
        setDiscovered(0);
        return render(admin, { s0: 0 });
      },
    });
    h = sh;
    const status = async () => (await sh.request('GET', '/status')).json<Status>();
    /** Every ready worker runs `hash`, as it computed it; two of them. */
    const settled = (after: string | null) =>
      waitFor(`both workers to run one config other than ${after?.slice(0, 12)}`, async () => {
        const s = await status();
        const ready = s.process.workers.filter((w) => w.state === 'ready');
        const hashes = new Set(ready.map((w) => w.configHash));
        return ready.length === 2 && hashes.size === 1 && hashes.has(s.process.configHash) && s.process.configHash !== after && ready.every((w) => w.inSync) ? s : undefined;
      }, { timeoutMs: 15_000 });
    const put = (o: Parameters<typeof render>[1]) => sh.request('PUT', '/config', render(adminAddress, o));
    /** `check` passes with each ready worker serving alone (the other paused). */
    const eachWorkerServes = async (check: () => Promise<void>) => {
      const ready = (await status()).process.workers.filter((w) => w.state === 'ready');
      assert.equal(ready.length, 2);
      for (const w of ready) {
        const other = ready.find((x) => x !== w)!;
        process.kill(other.pid, 'SIGSTOP');
        paused.add(other.pid);
        try {
          await check();
        } finally {
          process.kill(other.pid, 'SIGCONT');
          paused.delete(other.pid);
        }
      }
    };

    let s = await settled(null);
    assert.deepEqual(await tags(ports.disc), ['b0']);

    // Discovery applies: the discovered set changes 12 times.
    for (let k = 1; k <= 12; k++) {
      setDiscovered(k % 4);
      s = await settled(s.process.configHash);
      assert.deepEqual(await tags(ports.disc), [`b${k % 4}`], `discovery change ${k}`);
    }
    // Admin applies: change a service, remove one, add one, change the top settings, and back.
    const admin = [{ s0: 1 }, { s0: 2, removeLast: true }, { s0: 2, removeLast: true, added: true }, { s0: 1, added: true, coalesce: '30ms' }, { s0: 0, added: true, coalesce: '30ms' }];
    for (const o of admin) {
      const res = await put(o);
      assert.equal(res.status, 200, res.text);
      s = await settled(s.process.configHash);
      assert.deepEqual(await tags(ports.static[0]), [`b${o.s0}`]);
      assert.deepEqual(await tags(ports.static[STATIC - 1]), [o.removeLast ? 'refused' : 'b3']);
      assert.deepEqual(await tags(ports.added), [o.added ? 'b2' : 'refused']);
    }
    assert.deepEqual(await tags(ports.disc), ['b0'], 'discovered endpoints survive the admin applies');
    for (const w of s.process.workers) assert.deepEqual(w.committed, { whole: 1, patch: 12 + admin.length }, `worker ${w.pid}: one whole config at start, then patches`);
    await eachWorkerServes(async () => {
      assert.deepEqual(await tags(ports.static[0]), ['b0']);
      assert.deepEqual(await tags(ports.added), ['b2']);
      assert.deepEqual(await tags(ports.disc), ['b0']);
    });

    // A rejected apply (its new address is taken) changes nothing in any worker.
    const holder = createServer();
    await new Promise<void>((r) => holder.listen({ host: '127.0.0.1', port: ports.held }, r));
    try {
      const res = await put({ s0: 3, added: true, held: true, coalesce: '30ms' });
      assert.equal(res.status, 409, res.text);
      const after = await status();
      assert.equal(after.process.configHash, s.process.configHash);
      for (const w of after.process.workers) assert.deepEqual([w.configHash, w.committed.patch], [s.process.configHash, 12 + admin.length]);
      await eachWorkerServes(async () => assert.deepEqual(await tags(ports.static[0]), ['b0'], 'the old config still serves'));
    } finally {
      await new Promise((r) => holder.close(r));
    }

    // A worker killed with SIGKILL is restarted from the whole config, then takes patches again.
    const victim = s.process.workers[0];
    process.kill(victim.pid, 'SIGKILL');
    s = await waitFor('the worker to be restarted', async () => {
      const now = await status();
      const w = now.process.workers.find((x) => x.slot === victim.slot && x.state === 'ready');
      return w && w.pid !== victim.pid && now.process.workers.filter((x) => x.state === 'ready').length === 2 ? now : undefined;
    }, { timeoutMs: 20_000 });
    const restarted = s.process.workers.find((w) => w.slot === victim.slot && w.state === 'ready')!;
    assert.deepEqual(restarted.committed, { whole: 1, patch: 0 });
    assert.equal(restarted.configHash, s.process.configHash, 'the restarted worker computes the running digest');
    setDiscovered(3);
    s = await settled(s.process.configHash);
    const again = s.process.workers.find((w) => w.pid === restarted.pid)!;
    assert.deepEqual(again.committed, { whole: 1, patch: 1 }, 'after a restart, patches again');
    await eachWorkerServes(async () => {
      assert.deepEqual(await tags(ports.disc), ['b3']);
      assert.deepEqual(await tags(ports.static[0]), ['b0']);
      assert.deepEqual(await tags(ports.added), ['b2']);
    });
    assert.ok(!sh.logs().includes('cannot apply the config patch'), 'no worker needed the whole config after its start');
  });
});
