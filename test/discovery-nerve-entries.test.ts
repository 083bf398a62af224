// What nerve writes, hitless uses (issue 15, finding 9): nerve and synapse accept `weight: null`,
// labels of any JSON type and extra keys; hitless once dropped such entries silently, and when that
// left fewer than min_endpoints the status said only "reports 0 endpoint(s)". Here entries are
// written into a real ZooKeeper the way nerve writes them (ephemeral sequential children holding
// nerve's JSON), `hitless run` discovers them and echoes traffic through them; an entry hitless
// cannot use is named, with its reason, in status and in the log, also when it leads to a hold.
// The parser's invariant is also checked over generated entries: an entry with a valid host and
// port is always used, whatever its optional fields hold; anything else is named, never thrown.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import zookeeper from 'node-zookeeper-client';
import { stringify } from 'yaml';
import type { DiscoveryStatus } from '../src/discovery/source-tracker.js';
import { parseEndpointValue } from '../src/discovery/parse-endpoint.js';
import { closeClient } from '../src/discovery/zookeeper-session.js';
import type { StatusDoc } from './helpers/admin.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import { reservePort } from './helpers/ports.js';
import { echoOnce } from './helpers/tcp-client.js';
import { waitFor } from './helpers/wait.js';
import { ZookeeperServer, zookeeperMissing } from './helpers/zookeeper.js';

type Status = StatusDoc & { discovery: DiscoveryStatus[] };

const PATH = '/nerve/services/web/services';

/** nerve's entry for one instance, with the optional fields as nerve's users have them. */
const nerveEntry = (port: number, i: number) => ({
  host: '127.0.0.1',
  port,
  name: `i-0000${i}`,
  weight: null,
  labels: { az: 'us-east-1a', canary: i === 0, shard: i, owner: { team: 'web' }, retired: null },
  haproxy_server_options: 'check inter 2s', // an extra key synapse reads and hitless ignores
});

describe('nerve entries: what nerve writes is used, what is left out is named', { skip: zookeeperMissing() ?? false }, () => {
  let zk: ZookeeperServer;
  let client: zookeeper.Client;
  let hitless: HitlessProcess;
  let listenPort: number;
  const backends: Server[] = [];
  const ports: number[] = [];
  const nodes: string[] = [];

  const call = <T>(run: (cb: (err: unknown, value?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value as T))));
  const status = async () => (await hitless.status()) as Status;
  const web = (s: Status) => s.discovery.find((d) => d.service === 'web')!;
  const endpoints = (s: Status) => (s.services.find((x) => x.name === 'web')?.endpoints ?? []).map((e) => e.address).sort();
  const register = async (value: unknown) =>
    nodes.push(await call<string>((cb) => client.create(`${PATH}/web_`, Buffer.from(JSON.stringify(value)), zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, cb)));

  before(async () => {
    zk = await ZookeeperServer.launch();
    client = zookeeper.createClient(zk.hosts, { sessionTimeout: 10_000 });
    client.connect();
    await call((cb) => client.mkdirp(PATH, cb));
    for (let i = 0; i < 3; i++) {
      const server = createServer((s) => s.on('error', () => {}).pipe(s));
      await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
      backends.push(server);
      ports.push((server.address() as { port: number }).port);
    }
    for (const [i, port] of ports.entries()) await register(nerveEntry(port, i));
    await register({ host: '127.0.0.1', name: 'i-broken', weight: null }); // no port: unusable
    listenPort = await reservePort();
    hitless = await HitlessProcess.start({
      logLevel: 'info',
      config: (admin) =>
        stringify({
          admin: { listen: admin },
          discovery_defaults: { coalesce: '20ms', initial_wait: '2s' },
          services: { web: { listen: `127.0.0.1:${listenPort}`, discovery: { zookeeper: { hosts: zk.hosts, path: PATH }, min_endpoints: 3, max_drop_percent: 100 } } },
        }),
    });
  });

  after(async () => {
    await hitless?.kill();
    if (client) await closeClient(client);
    await Promise.all(backends.map((b) => new Promise((r) => b.close(r))));
    await zk?.destroy();
  });

  it('uses entries with weight null, labels of any JSON type and extra keys, and names the unusable one', async () => {
    const want = ports.map((p) => `127.0.0.1:${p}`).sort();
    const s = await waitFor('the three nerve entries in effect', async () => {
      const now = await status();
      return JSON.stringify(endpoints(now)) === JSON.stringify(want) && /port/.test(web(now).lastError ?? '') ? now : false;
    });
    const source = web(s);
    assert.equal(source.state, 'degraded', 'a malformed entry is a degradation, shown');
    assert.match(source.lastError!, new RegExp(`${nodes[3].split('/').pop()}: port`), 'the entry is named by its node, with the reason');
    assert.match(hitless.logs(), new RegExp(`${nodes[3].split('/').pop()}: port`), 'and the log names it too');
    for (let i = 0; i < 6; i++) assert.deepEqual(await echoOnce(listenPort), { ok: true }, 'traffic reaches the nerve-registered backends');
  });

  it('a hold below min_endpoints says which entries were left out, not only how many remain', async () => {
    await call((cb) => client.remove(nodes[0], cb));
    const s = await waitFor('the hold', async () => {
      const now = await status();
      return /fewer than min_endpoints 3/.test(web(now).lastError ?? '') ? now : false;
    });
    assert.match(web(s).lastError!, new RegExp(`malformed entries ignored: .*${nodes[3].split('/').pop()}: port`));
    assert.equal(endpoints(s).length, 3, 'the last known good set stays in effect');
  });
});

describe('nerve entries: generated optional fields never cost a usable entry', () => {
  // A small deterministic generator (xorshift): the same cases every run, many shapes.
  let seed = 0x9e3779b9;
  const rand = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const anyJson = (depth = 0): unknown => {
    const pick = rand(depth > 1 ? 6 : 8);
    if (pick === 6) return [anyJson(depth + 1)];
    if (pick === 7) return { k: anyJson(depth + 1) };
    return [null, true, rand(1e6) - 5e5, rand(1000) / 7, 'x'.repeat(rand(20)), ''][pick];
  };

  it('every entry with a valid host and port is used; its labels come out as text', () => {
    for (let i = 0; i < 2_000; i++) {
      const entry: Record<string, unknown> = { host: `10.0.${rand(256)}.${rand(256)}`, port: 1 + rand(65535) };
      if (rand(2)) entry.weight = [null, undefined, rand(1001)][rand(3)];
      if (rand(2)) entry.name = [null, `n${i}`][rand(2)];
      if (rand(2)) entry.labels = rand(5) === 0 ? null : Object.fromEntries(Array.from({ length: rand(4) }, (_, j) => [`l${j}`, anyJson()]));
      if (rand(2)) entry[`extra${rand(3)}`] = anyJson();
      const parsed = parseEndpointValue(entry);
      assert.ok(parsed.ok, `entry ${JSON.stringify(entry)} was refused: ${parsed.ok ? '' : parsed.reason}`);
      assert.equal(parsed.endpoint.port, entry.port);
      for (const v of Object.values(parsed.endpoint.labels ?? {})) assert.equal(typeof v, 'string');
    }
  });

  it('an entry is refused exactly when its host or port is unusable, with a reason, never thrown', () => {
    // The generator's strings: a dotted quad within 10.0.0.0/24, runs of "x" (hostnames), or "".
    // A weight of any kind never refuses an entry (issue 19: synapse uses it whatever its weight).
    const hostOk = (h: unknown) => typeof h === 'string' && /^(10\.0\.0\.\d+|x+)$/.test(h);
    const portOk = (p: unknown) => typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;
    let refused = 0;
    for (let i = 0; i < 2_000; i++) {
      const entry = { host: rand(3) === 0 ? `10.0.0.${rand(256)}` : anyJson(), port: rand(3) === 0 ? 1 + rand(65535) : anyJson(), weight: rand(2) ? anyJson() : rand(1001) };
      const parsed = parseEndpointValue(entry);
      assert.equal(parsed.ok, hostOk(entry.host) && portOk(entry.port), JSON.stringify(entry));
      if (!parsed.ok) {
        refused++;
        assert.ok(parsed.reason.length > 0);
      }
    }
    for (const notAnObject of [null, 42, 'text', [1, 2], true]) assert.equal(parseEndpointValue(notAnObject).ok, false);
    // Not an IP address, and not a hostname either (a hostname's last label is never all digits).
    for (const host of ['10.0.0.256', '1.2.3', '999.1.1.1', '-a', 'a..b', 'a b', 'a/b']) assert.equal(parseEndpointValue({ host, port: 80 }).ok, false, host);
    assert.ok(refused > 500 && refused < 2_000, `both outcomes generated (${refused} refused)`);
  });
});
