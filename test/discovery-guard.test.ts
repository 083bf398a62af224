// The relative guard on discovered sets (max_drop_percent, drop_hold) and the discovery log and
// status hygiene, over a real `hitless run` and a real file source:
//  - entries that turn malformed one at a time shrink the service only down to the guard (half of
//    the reference set by default); status shows the set held, against what, and why;
//  - a clean drop beyond the guard is held for drop_hold, then applied;
//  - "discovery source healthy" is logged once per recovery, not on every later update, and
//    lastError is null while the source is healthy (the recovered error is under recoveredFrom).
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HitlessProcess } from './helpers/hitless-process.js';
import { listenPort } from './helpers/listen-port.js';
import { waitFor } from './helpers/wait.js';

interface Held {
  endpoints: number;
  reference: number | null;
  reason: string;
  since: string;
  until: string | null;
}
interface Source {
  service: string;
  state: string;
  lastError: string | null;
  recoveredFrom: { error: string; since: string; until: string } | null;
  endpoints: number | null;
  held: Held | null;
}
interface Status {
  services: Array<{ name: string; endpoints: Array<{ address: string; weight: number }> }>;
  discovery: Source[];
}

const ENDPOINTS = [1, 2, 3, 4, 5].map((i) => ({ host: '127.0.0.1', port: 24_900 + i }));
const address = (e: { host: string; port: number }) => `${e.host}:${e.port}`;

describe('discovery: the relative guard and the source log', () => {
  let hitless: HitlessProcess;
  let file = '';
  const status = async () => hitless.status() as unknown as Promise<Status>;
  const source = async () => (await status()).discovery.find((d) => d.service === 'web')!;
  const serving = async () => (await status()).services.find((s) => s.name === 'web')!.endpoints.map((e) => e.address).sort();
  /** Writes the list (by rename, as a config manager would); `bad` entries get a port that is not one. */
  const write = (entries: ReadonlyArray<{ host: string; port: number; weight?: number }>, bad: ReadonlySet<number> = new Set()) => {
    const list = entries.map((e, i) => (bad.has(i) ? { host: e.host, port: 'garbage' } : e));
    writeFileSync(`${file}.tmp`, JSON.stringify(list));
    renameSync(`${file}.tmp`, file);
  };
  const logged = (msg: string) => hitless.logs().split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length;

  before(async () => {
    const port = await listenPort();
    hitless = await HitlessProcess.start({
      workers: 1,
      config: (admin) => {
        file = join(admin.slice('unix:'.length, admin.lastIndexOf('/')), 'web.json');
        write(ENDPOINTS);
        return [
          `admin: { listen: "${admin}" }`,
          'discovery_defaults: { coalesce: 10ms }',
          'services:',
          `  web: { mode: tcp, listen: "127.0.0.1:${port}", discovery: { file: { path: "${file}" }, drop_hold: 1s } }`,
          '',
        ].join('\n');
      },
    });
    await waitFor('the five endpoints in effect', async () => (await source()).endpoints === 5);
  });

  after(async () => {
    await hitless?.kill();
  });

  it('entries turning malformed one at a time shrink the service only down to the guard, visibly', async () => {
    const bad = new Set<number>();
    // 5 → 4 → 3: each within 50 % of the reference (5), applied; the source is degraded (malformed entries).
    for (const expected of [4, 3]) {
      bad.add(bad.size);
      write(ENDPOINTS, bad);
      const s = await waitFor(`${expected} endpoints in effect`, async () => {
        const d = await source();
        return d.endpoints === expected && d;
      });
      assert.equal(s.state, 'degraded');
      assert.match(s.lastError ?? '', /malformed entries ignored/);
      assert.equal(s.held, null);
    }
    // 2, 1, 0 valid left: each would drop more than half of the reference set; the 3 stay.
    for (const reported of [2, 1, 0]) {
      bad.add(bad.size);
      write(ENDPOINTS, bad);
      const s = await waitFor(`the set of ${reported} held`, async () => {
        const d = await source();
        return d.held?.endpoints === reported && d;
      });
      assert.equal(s.endpoints, 3, 'the set in effect is not shrunk further');
      assert.equal(s.state, 'degraded');
      assert.equal(s.held!.reference, 5);
      assert.equal(s.held!.until, null, 'a drop with malformed entries is held until they are fixed');
      assert.match(s.held!.reason, reported === 0 ? /fewer than min_endpoints 1/ : /more than max_drop_percent 50%.*malformed/);
      assert.equal(s.lastError, s.held!.reason, 'lastError says why');
      assert.deepEqual(await serving(), ENDPOINTS.slice(2).map(address).sort(), 'the data plane serves the held 3');
      const metrics = (await hitless.request('GET', '/metrics')).text;
      assert.match(metrics, new RegExp(`hitless_discovery_held_endpoints\\{service="web",source="[^"]+"\\} ${reported}\\n`), 'the hold is a metric too');
    }
    write(ENDPOINTS);
    const fixed = await waitFor('all five back, healthy', async () => {
      const d = await source();
      return d.endpoints === 5 && d.state === 'healthy' && d;
    });
    assert.equal(fixed.held, null);
    assert.doesNotMatch((await hitless.request('GET', '/metrics')).text, /hitless_discovery_held_endpoints\{/, 'no hold, no held gauge');
    assert.equal(fixed.lastError, null, 'no error while healthy');
    assert.match(fixed.recoveredFrom?.error ?? '', /min_endpoints/, 'the recovered error, with when it ended');
  });

  it('logs "discovery source healthy" once per recovery, not on every later update', async () => {
    const recoveries = logged('discovery source healthy');
    assert.ok(recoveries >= 1, 'the recovery above was logged');
    for (const weight of [2, 3, 4]) {
      write(ENDPOINTS.map((e, i) => (i === 0 ? { ...e, weight } : e)));
      await waitFor(`weight ${weight} applied`, async () => {
        const web = (await status()).services.find((x) => x.name === 'web')!;
        return web.endpoints.find((e) => e.address === address(ENDPOINTS[0]))?.weight === weight;
      });
    }
    const s = await source();
    assert.equal(s.state, 'healthy');
    assert.equal(s.lastError, null);
    assert.equal(logged('discovery source healthy'), recoveries, 'healthy updates log nothing');
  });

  it('holds a clean drop beyond the guard for drop_hold, then applies it', async () => {
    write(ENDPOINTS.slice(0, 2));
    const held = await waitFor('the drop to 2 held', async () => {
      const d = await source();
      return d.held?.endpoints === 2 && d;
    });
    assert.equal(held.endpoints, 5);
    assert.match(held.held!.reason, /3 fewer than the reference set of 5: more than max_drop_percent 50%/);
    assert.ok(held.held!.until !== null && Date.parse(held.held!.until) - Date.parse(held.held!.since) === 1000, 'applied after drop_hold if unchanged');
    const applied = await waitFor('the drop applied after drop_hold', async () => {
      const d = await source();
      return d.endpoints === 2 && d;
    }, { timeoutMs: 10_000 });
    assert.equal(applied.held, null);
    assert.equal(applied.state, 'healthy');
    const two = ENDPOINTS.slice(0, 2).map(address).sort().join(' ');
    await waitFor('the data plane to serve the 2', async () => (await serving()).join(' ') === two);
    assert.equal(logged('discovery: a smaller set stayed unchanged for drop_hold; applying it'), 1);
  });
});
