// Endpoint overrides on the HAProxy data plane (Debian's real HAProxy, hitless in process): drain,
// maint and weight become HAProxy's own server states and weights (`show stat` says DRAIN, MAINT,
// the weight), with the same effect as on the builtin plane: no new connection to a drained
// server while an established one continues, no health check of a server in maintenance, the
// distribution following the weight. A reload (structural change), the endpoint leaving and
// coming back, and a restart of hitless (the state file) keep them; clear restores the config's.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config/load.js';
import type { HaproxyDriver } from '../src/dataplane/haproxy/haproxy-driver.js';
import { serverName } from '../src/dataplane/haproxy/render-config.js';
import type { Hitless } from '../src/hitless.js';
import { adminRequest, type AdminReply } from './helpers/admin.js';
import { HaproxyUnderTest, haproxyMissing } from './helpers/haproxy-in-process.js';
import { portInRange } from './helpers/port-range.js';
import { countTags, EchoClient, startTaggedEchoes, tagsOf, type TaggedEchoSet } from './helpers/tagged-echo.js';
import { waitFor } from './helpers/wait.js';

const skip = haproxyMissing;
const BACKEND = 'echo:default';

describe('endpoint overrides on the HAProxy data plane', { skip }, () => {
  let echoes: TaggedEchoSet;
  let h: Hitless | undefined;
  let haproxy: HaproxyUnderTest | undefined;
  let dir = '';
  let port = 0;
  let extraPort = 0;
  const held: EchoClient[] = [];
  const addr = (i: number) => echoes.backends[i].address;
  const socket = () => join(dir, 'admin.sock');
  const stateFile = () => join(dir, 'overrides.json');

  const configText = (endpoints: readonly string[], extra = false) =>
    stringify(
      {
        admin: { listen: `unix:${socket()}` },
        dataplane: haproxy!.dataplane,
        services: {
          echo: {
            mode: 'tcp',
            listen: `127.0.0.1:${port}`,
            endpoints,
            timeouts: { drain: '2s' },
            health: { active: { type: 'http', path: '/healthz', interval: '200ms', rise: 1, fall: 2 } },
          },
          ...(extra ? { extra: { mode: 'tcp', listen: `127.0.0.1:${extraPort}`, endpoints: [endpoints[0]] } } : {}),
        },
      },
      { lineWidth: 0 },
    );
  const start = async () => {
    h = await haproxy!.start(configText([addr(0), addr(1), addr(2)]), { file: join(dir, 'hitless.yaml'), stateFile: stateFile() });
  };
  const driver = () => h!.controller.driver as HaproxyDriver;
  const apply = (text: string) => h!.controller.apply(parseConfig(text, 'test.yaml'), { origin: 'admin' });
  const set = (i: number, body: unknown): Promise<AdminReply> => adminRequest(socket(), 'POST', `/overrides/echo/${addr(i)}`, JSON.stringify(body));
  const ok = async (reply: Promise<AdminReply>) => {
    const r = await reply;
    assert.equal(r.status, 200, r.text);
    return r;
  };
  /** `show stat` status and weight of backend i's server. */
  const row = async (i: number) => {
    const rows = await driver().process.worker.showStat(`${BACKEND} 4 -1`);
    const r = rows.find((x) => x.svname === serverName(addr(i)));
    return { status: r?.status ?? 'absent', weight: r?.weight ?? 'absent' };
  };
  const noNewConnectionsTo = async (i: number) => {
    const before = echoes.backends[i].connections;
    const tags = await tagsOf(port, 12);
    assert.ok(!tags.includes(`b${i}`) && tags.every((t) => /^b\d$/.test(t)), `new connections went to ${JSON.stringify(countTags(tags))}`);
    assert.equal(echoes.backends[i].connections, before);
  };

  before(async () => {
    echoes = await startTaggedEchoes(3);
    haproxy = await HaproxyUnderTest.create('hitless-haproxy-overrides-');
    dir = haproxy.dir;
    port = await portInRange(['127.0.0.1']);
    extraPort = await portInRange(['127.0.0.1']);
    await start();
    await waitFor('every server UP', async () => (await Promise.all([0, 1, 2].map(row))).every((r) => r.status.startsWith('UP')));
  });

  after(async () => {
    for (const c of held) c.close();
    try {
      await haproxy?.close();
    } finally {
      await echoes?.stop();
    }
  });

  it('drain: DRAIN in HAProxy, no new connection, the established one continues', async () => {
    let on0: EchoClient | null = null;
    for (let i = 0; i < 20 && !on0; i++) {
      const { client, tag } = await EchoClient.open(port);
      held.push(client);
      if (tag === 'b0') on0 = client;
    }
    assert.ok(on0, 'a connection reached b0');
    await ok(set(0, { state: 'drain' }));
    assert.match((await row(0)).status, /^DRAIN/);
    await noNewConnectionsTo(0);
    assert.equal(await on0.ask('ping'), 'b0 ping');
  });

  it('maint: MAINT in HAProxy and its health checks stop', async () => {
    await ok(set(2, { state: 'maint' }));
    assert.match((await row(2)).status, /^MAINT/);
    const checks = echoes.backends[2].healthChecks;
    await echoes.backends[1].moreHealthChecks(6);
    assert.ok(echoes.backends[2].healthChecks - checks <= 1, `b2 received ${echoes.backends[2].healthChecks - checks} health checks in maintenance`);
    await noNewConnectionsTo(2);
  });

  it('weight: HAProxy weighs the server as the override says', async () => {
    await ok(set(2, { state: 'ready' }));
    await ok(set(0, { state: 'ready' }));
    await ok(set(1, { weight: 8 }));
    assert.equal((await row(1)).weight, '8');
    await waitFor('b2 UP again', async () => (await row(2)).status.startsWith('UP'));
    const counts = countTags(await tagsOf(port, 60));
    const [b0, b1, b2] = [counts.b0 ?? 0, counts.b1 ?? 0, counts.b2 ?? 0];
    assert.ok(b1 >= 36 && b1 > 2 * (b0 + b2), `60 connections went ${JSON.stringify(counts)}`);
  });

  it('a reload, the endpoint leaving and coming back, and a restart keep them', async () => {
    await ok(set(0, { state: 'drain' }));
    const reloads = driver().status().haproxy.reloads;
    await apply(configText([addr(0), addr(1), addr(2)], true));
    assert.equal(driver().status().haproxy.reloads, reloads + 1, 'a structural change reloaded HAProxy');
    assert.match((await row(0)).status, /^DRAIN/);
    assert.equal((await row(1)).weight, '8');
    await apply(configText([addr(1), addr(2)], true));
    await apply(configText([addr(0), addr(1), addr(2)], true));
    await waitFor('b0 back, drained', async () => /^DRAIN/.test((await row(0)).status));
    await noNewConnectionsTo(0);
    await haproxy!.stop();
    h = undefined;
    await start();
    await waitFor('b0 drained after the restart', async () => /^DRAIN/.test((await row(0)).status));
    assert.equal((await row(1)).weight, '8');
    await noNewConnectionsTo(0);
  });

  it('clear gives the config\'s state and weight back', async () => {
    await ok(adminRequest(socket(), 'DELETE', `/overrides/echo/${addr(0)}`));
    await ok(adminRequest(socket(), 'DELETE', `/overrides/echo/${addr(1)}`));
    await waitFor('b0 UP', async () => (await row(0)).status.startsWith('UP'));
    assert.equal((await row(1)).weight, '1');
    const counts = countTags(await tagsOf(port, 12));
    assert.ok(['b0', 'b1', 'b2'].every((t) => (counts[t] ?? 0) >= 2), `12 connections went ${JSON.stringify(counts)}`);
  });
});
