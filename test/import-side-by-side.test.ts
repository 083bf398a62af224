// hitless beside SmartStack on one registry (issue 19). Every entry synapse would use, hitless
// uses: synapse needs only a `host` and a `port` key and passes the rest through or ignores it, so
// hitless takes ports written as text, weights of any kind (used when whole, capped at 1000, else
// ignored), names of any kind, labels that are not an object, extra keys, and nerve's path-encoded
// child names (also with no data). An entry hitless cannot connect to is named, with its reason,
// in status and in the log. And the other way: what `hitless register` writes is what nerve writes,
// read back the way synapse reads it (see also import-serve.test.ts for the imported nerve configs).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import zookeeper from 'node-zookeeper-client';
import { stringify } from 'yaml';
import type { DiscoveryStatus } from '../src/discovery/source-tracker.js';
import { parseChild, parseEndpointValue } from '../src/discovery/parse-endpoint.js';
import { closeClient } from '../src/discovery/zookeeper-session.js';
import type { StatusDoc } from './helpers/admin.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import { reservePort } from './helpers/ports.js';
import { pathEncodedName, readLikeSynapse, registerLikeNerve, RegisterProcess, tcpAsk, tcpBackend, zkClient, type Backend, type NerveEntry } from './helpers/smartstack.js';
import { waitFor } from './helpers/wait.js';
import { ZookeeperServer, zookeeperMissing } from './helpers/zookeeper.js';

// A small deterministic generator (xorshift): the same cases every run, many shapes.
let seed = 0x2545f491;
const rand = (n: number) => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
};
const anyJson = (depth = 0): unknown => {
  const pick = rand(depth > 1 ? 8 : 10);
  if (pick === 8) return [anyJson(depth + 1)];
  if (pick === 9) return { k: anyJson(depth + 1) };
  return [null, true, false, rand(2_000_000) - 1_000_000, rand(10_000) / 7, '', 'x'.repeat(1 + rand(12)), String(rand(5000))][pick];
};
const HOSTS = () => [`10.${rand(256)}.${rand(256)}.${rand(256)}`, `fd00::${rand(65536).toString(16)}`, `app-${rand(99)}.prod.internal`, `Web_${rand(9)}.Corp.Internal.`, `host${rand(50)}`][rand(5)];

describe('registry entries: what synapse would use, hitless uses', () => {
  it('over generated entries: any optional field, a port as number or text, extra keys', () => {
    for (let i = 0; i < 3_000; i++) {
      const port = 1 + rand(65535);
      const entry: Record<string, unknown> = { host: HOSTS(), port: rand(3) === 0 ? String(port) : port };
      if (rand(2)) entry.weight = rand(3) === 0 ? rand(3000) : anyJson();
      if (rand(2)) entry.name = anyJson();
      if (rand(2)) entry.labels = rand(2) ? Object.fromEntries(Array.from({ length: rand(4) }, (_, j) => [`l${j}`, anyJson()])) : anyJson();
      if (rand(2)) entry.haproxy_server_options = anyJson();
      if (rand(2)) entry[`extra${rand(3)}`] = anyJson();
      const parsed = parseEndpointValue(entry);
      assert.ok(parsed.ok, `synapse would use ${JSON.stringify(entry)}; hitless refused it: ${parsed.ok ? '' : parsed.reason}`);
      const e = parsed.endpoint;
      assert.equal(e.port, port);
      // weight: whole numbers (or digits) are used, capped at 1000; anything else is left to the default.
      const w = entry.weight;
      const whole = typeof w === 'number' ? Number.isInteger(w) && w >= 0 : typeof w === 'string' && /^\d+$/.test(w);
      assert.equal(e.weight, whole ? Math.min(Number(w), 1000) : undefined, JSON.stringify(entry));
      const l = entry.labels;
      if (l !== null && typeof l === 'object' && !Array.isArray(l)) for (const v of Object.values(e.labels!)) assert.equal(typeof v, 'string');
      else assert.equal(e.labels, undefined);
      const n = entry.name;
      assert.equal(e.name, (typeof n === 'string' && n !== '') ? n : typeof n === 'number' ? String(n) : undefined);
    }
  });

  it('entries without what a connection needs are refused with a reason (synapse skips those without host or port too)', () => {
    for (const entry of [{ port: 80 }, { host: '10.0.0.1' }, { host: '', port: 80 }, { host: '10.0.0.1', port: 0 }, { host: '10.0.0.1', port: '80a' }, { host: '10.0.0.1', port: 70000 }, { host: 'a b', port: 80 }]) {
      const parsed = parseEndpointValue(entry);
      assert.equal(parsed.ok, false, JSON.stringify(entry));
      assert.ok(!parsed.ok && parsed.reason.length > 0);
    }
  });

  it("nerve's path-encoded child names: the data first, the name when the data is unusable", () => {
    const entry = { host: '10.1.2.3', port: '3000', name: 'i-1', labels: { az: 'us-east-1a' } };
    const name = `${pathEncodedName(entry)}0000000007`;
    const fromName = parseChild(name, Buffer.alloc(0));
    assert.ok(fromName.ok);
    assert.deepEqual({ ...fromName.endpoint }, { host: '10.1.2.3', port: 3000, name: 'i-1', labels: { az: 'us-east-1a' } });
    const fromData = parseChild(name, JSON.stringify({ ...entry, host: '10.9.9.9' }));
    assert.ok(fromData.ok && fromData.endpoint.host === '10.9.9.9', 'the data wins when it is usable');
    const broken = parseChild('base64_8_bm90LWpzb24=_0000000001', Buffer.alloc(0));
    assert.equal(broken.ok, false);
  });
});

describe('side by side on a real ZooKeeper', { skip: zookeeperMissing() ?? false }, () => {
  let zk: ZookeeperServer;
  let client: zookeeper.Client;
  const backends: Backend[] = [];
  let hitless: HitlessProcess | undefined;
  let register: RegisterProcess | undefined;

  before(async () => {
    zk = await ZookeeperServer.launch();
    client = await zkClient(zk.hosts);
  });

  after(async () => {
    await register?.stop();
    await hitless?.kill();
    if (client) await closeClient(client);
    await Promise.all(backends.map((b) => b.close()));
    await zk?.destroy();
  });

  it('hitless serves every entry nerve (and synapse-compatible registrars) wrote, and names the one it cannot use', async () => {
    const path = '/smartstack/web/instances';
    const b = await Promise.all(Array.from({ length: 7 }, (_, i) => tcpBackend(`web-${i}`)));
    backends.push(...b);
    const entries: Array<[NerveEntry, string?, string?]> = [
      // [entry, child name (default NAME_), data (default the entry's JSON)]
      [{ host: '127.0.0.1', port: b[0].port, name: 'i-0' }],
      [{ host: '127.0.0.1', port: b[1].port, name: 'i-1', weight: 3, labels: { az: 'us-east-1a', canary: true, shard: 2, owner: { team: 'web' } }, haproxy_server_options: 'backup' }],
      [{ host: '127.0.0.1', port: b[2].port, name: 'i-2', weight: null }, 'PATH_ENCODED'],
      [{ host: '127.0.0.1', port: String(b[3].port), name: 'i-3', weight: '2' }, 'PATH_ENCODED', ''],
      [{ host: '127.0.0.1', port: String(b[4].port), name: 'i-4', weight: 2.5, labels: ['not', 'an', 'object'] }],
      [{ host: '127.0.0.1', port: b[5].port, name: 'i-5', weight: 5000 }],
      [{ host: '127.0.0.1', port: b[6].port, name: 12345 as unknown as string, labels: 'text' }, 'i-6_'],
    ];
    for (const [entry, child, data] of entries) {
      if (data === undefined) await registerLikeNerve(client, path, entry, child === 'PATH_ENCODED' ? pathEncodedName(entry) : child);
      else await registerRaw(client, path, pathEncodedName(entry), data);
    }
    const broken = await registerLikeNerve(client, path, { host: '127.0.0.1', name: 'i-broken' } as unknown as NerveEntry);
    const port = await reservePort();
    hitless = await HitlessProcess.start({
      workers: 1,
      logLevel: 'info',
      config: (admin) =>
        stringify({
          admin: { listen: admin },
          discovery_defaults: { coalesce: '20ms', initial_wait: '2s' },
          services: { web: { listen: `127.0.0.1:${port}`, retries: 0, discovery: { zookeeper: { hosts: zk.hosts, path }, max_drop_percent: 100 } } },
        }),
    });
    type Status = StatusDoc & { discovery: DiscoveryStatus[] };
    const brokenId = broken.split('/').pop()!;
    const status = await waitFor('the seven entries in effect, the broken one named', async () => {
      const s = (await hitless!.status()) as Status;
      const web = s.services.find((x) => x.name === 'web');
      return web?.endpoints.length === 7 && (s.discovery[0]?.lastError ?? '').includes(brokenId) ? s : false;
    }, { timeoutMs: 20_000 });
    const weights = Object.fromEntries(status.services[0].endpoints.map((e) => [e.address, e.weight]));
    assert.deepEqual(weights, {
      [b[0].address]: 1,
      [b[1].address]: 3,
      [b[2].address]: 1,
      [b[3].address]: 2,
      [b[4].address]: 1,
      [b[5].address]: 1000,
      [b[6].address]: 1,
    });
    assert.equal(status.discovery[0].state, 'degraded', 'an unusable entry is shown');
    assert.match(status.discovery[0].lastError!, new RegExp(`${brokenId}: port`));
    assert.match(hitless.logs(), new RegExp(`${brokenId}: port`), 'and logged');
    // Traffic reaches the announced backends (the heavy one most of the time, by its weight).
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add(await tcpAsk(port));
    assert.ok([...seen].every((name) => /^web-\d$/.test(name)), [...seen].join(', '));
    assert.ok(seen.has('web-5'));
  });

  it('hitless register writes what nerve writes, where nerve writes it, and synapse reads it', async () => {
    const path = '/smartstack/api/instances';
    const app = await tcpBackend('api');
    backends.push(app);
    const labels = { az: 'us-east-1b', canary: false, shard: 4, note: null };
    register = RegisterProcess.start(
      stringify({
        register: [{ service: 'api', zookeeper: { hosts: zk.hosts, path }, host: '127.0.0.1', port: app.port, name: 'app-3.prod.internal', weight: 7, labels, check: { type: 'tcp', interval: '200ms', rise: 1 } }],
      }),
    );
    const [entry] = await waitFor('the entry, read as synapse reads', async () => {
      const read = await readLikeSynapse(client, path);
      return read.length === 1 ? read : false;
    }, { timeoutMs: 20_000 });
    // What nerve's zookeeper reporter writes for instance_id app-3.prod.internal, weight 7, these labels.
    assert.deepEqual(entry.value, { host: '127.0.0.1', port: app.port, name: 'app-3.prod.internal', weight: 7, labels });
    assert.deepEqual(Object.keys(entry.value), ['host', 'port', 'name', 'weight', 'labels'], "nerve's key order");
    assert.match(entry.child, /^app-3\.prod\.internal_\d{10}$/, 'an ephemeral sequential child named INSTANCE_ID_');
    assert.ok(entry.ephemeral);
    // And hitless's own reader takes it, of course.
    const parsed = parseChild(entry.child, JSON.stringify(entry.value));
    assert.ok(parsed.ok && parsed.endpoint.port === app.port && parsed.endpoint.weight === 7);
  });
});

function registerRaw(client: zookeeper.Client, path: string, child: string, data: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.mkdirp(path, (err) => {
      if (err) return reject(err);
      client.create(`${path}/${child}`, Buffer.from(data), zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, (e, p) => (e ? reject(e) : resolve(p)));
    }),
  );
}
