// One endpoint changed in a large discovered service travels to the workers as that change, over
// real processes (`hitless run --workers 2`, a file source): each worker's last commit carries
// the endpoint delta and no service whole; both workers compute the supervisor's config digest;
// each of them, alone, routes to the new endpoint and never to the removed one; the endpoints
// that stayed keep their counters (invariant 4). 300 endpoints: 3 real tagged backends, the rest
// drained (weight 0), so traffic reaches only the backends.
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listenPort } from './helpers/listen-port.js';
import { tagVia, taggedBackends } from './helpers/tag-backends.js';
import { SupervisedHitless, alive } from './helpers/process-harness.js';
import { waitFor } from './helpers/wait.js';

const FILLERS = 297;

interface Worker {
  pid: number;
  state: string;
  configHash: string | null;
  inSync: boolean;
  committed: { patch: number; whole: number };
  lastCommit: { how: string; services: number; removed: number; endpointChanges: number } | null;
}
interface Status {
  services: Array<{ name: string; endpoints: Array<{ address: string; weight: number; total: number }> }>;
  process: { configHash: string; workers: Worker[] };
}

describe('process model: an endpoint change in a large service travels as that change', () => {
  let tagged: Awaited<ReturnType<typeof taggedBackends>> | undefined;
  const backends: string[] = [];
  let h: SupervisedHitless | undefined;
  const paused = new Set<number>();

  before(async () => {
    tagged = await taggedBackends(3);
    backends.push(...tagged.ports.map((p) => `127.0.0.1:${p}`));
  });

  after(async () => {
    for (const pid of paused) if (alive(pid)) process.kill(pid, 'SIGCONT');
    await h?.kill();
    await tagged?.stop();
  });

  it('sends the delta, keeps the workers in sync and the kept endpoints\' counters', async () => {
    const port = await listenPort();
    let file = '';
    const fillers = Array.from({ length: FILLERS }, (_, i) => ({ host: `127.9.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 9, weight: 0 }));
    /** The discovered list: the backends named by index (weight 1, or as given), then the drained fillers. */
    const write = (live: ReadonlyArray<[number, number?]>) => {
      const list = [...live.map(([b, weight]) => ({ host: '127.0.0.1', port: Number(backends[b].split(':')[1]), weight: weight ?? 1 })), ...fillers];
      writeFileSync(`${file}.tmp`, JSON.stringify(list));
      renameSync(`${file}.tmp`, file);
    };
    const sh = await SupervisedHitless.start({
      workers: 2,
      config: (admin) => {
        file = join(admin.slice('unix:'.length, admin.lastIndexOf('/')), 'web.json');
        write([[0], [1]]);
        return `admin: { listen: "${admin}" }\ndiscovery_defaults: { coalesce: 10ms }\nservices:\n  web: { mode: tcp, listen: "127.0.0.1:${port}", discovery: { file: { path: "${file}" } } }\n`;
      },
    });
    h = sh;
    const status = async () => (await sh.request('GET', '/status')).json<Status>();
    const web = (s: Status) => s.services.find((x) => x.name === 'web')!;
    const settled = (what: string, check: (s: Status) => boolean) =>
      waitFor(what, async () => {
        const s = await status();
        const ready = s.process.workers.filter((w) => w.state === 'ready');
        return ready.length === 2 && ready.every((w) => w.inSync && w.configHash === s.process.configHash) && check(s) ? s : undefined;
      }, { timeoutMs: 15_000 });
    const tags = async (n = 6) => [...new Set(await Promise.all(Array.from({ length: n }, () => tagVia(port))))].sort();
    /** `check` passes with each ready worker serving alone (the other paused). */
    const eachWorkerServes = async (check: () => Promise<void>) => {
      const ready = (await status()).process.workers.filter((w) => w.state === 'ready');
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

    let s = await settled('300 endpoints in effect', (x) => web(x).endpoints.length === FILLERS + 2);
    assert.deepEqual(await tags(), ['b0', 'b1']);
    const b0Before = (await status()).services.find((x) => x.name === 'web')!.endpoints.find((e) => e.address === backends[0])!.total;
    assert.ok(b0Before > 0, 'b0 served');

    // b1 leaves, b2 arrives: one endpoint removed and one added, of 300.
    write([[0], [2]]);
    s = await settled('b2 in place of b1', (x) => web(x).endpoints.some((e) => e.address === backends[2]) && !web(x).endpoints.some((e) => e.address === backends[1]));
    for (const w of s.process.workers) {
      assert.deepEqual(w.lastCommit, { how: 'patch', services: 0, removed: 0, endpointChanges: 2 }, `worker ${w.pid} received the two endpoint changes, no service whole`);
    }
    await eachWorkerServes(async () => assert.deepEqual(await tags(), ['b0', 'b2']));
    const b0 = web(await status()).endpoints.find((e) => e.address === backends[0])!;
    assert.ok(b0.total >= b0Before, `b0 kept its counters (${b0Before} before, ${b0.total} now)`);
    assert.equal(web(s).endpoints.length, FILLERS + 2);

    // A weight change is one reweighted endpoint.
    write([[0, 3], [2]]);
    s = await settled('b0 at weight 3', (x) => web(x).endpoints.find((e) => e.address === backends[0])?.weight === 3);
    for (const w of s.process.workers) assert.deepEqual(w.lastCommit, { how: 'patch', services: 0, removed: 0, endpointChanges: 1 });
    await eachWorkerServes(async () => assert.deepEqual(await tags(), ['b0', 'b2']));
  });
});
