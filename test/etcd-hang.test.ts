// A hung etcd member, as fleets meet it: a real 3-member cluster on loopback, one member frozen
// (SIGSTOP: its sockets stay open, the kernel still accepts connections and acknowledges bytes,
// nothing answers). `hitless run` is given every member, as a user configures it; which member it
// uses is read from the kernel's socket table, and that one is frozen while the others keep
// quorum. What must hold:
// - discovery: the silent watch is noticed (status degraded), and a change written through the
//   others reaches hitless while the member is still frozen; status is healthy again after;
// - registration: the lease keepalive moves to another member before the lease can expire, so
//   the key never disappears; and when a lease did expire (the only member given is frozen),
//   status never says registered while the key is absent;
// - leader loss: the member left alone (quorum lost) is reported degraded, and updates resume
//   once quorum is back;
// - connections: once hitless has given a member up, it holds no connection to it (of any TCP
//   state: a graceful close never completes with a hung peer), including one it dialled while
//   the member hung (grpc-js never times out an HTTP/2 handshake; src/discovery/etcd-sockets.ts).
// Timing is printed (t.diagnostic), never asserted: the bounds are documented in
// src/discovery/etcd-watch.ts and src/register/etcd-lease-keeper.ts. The exception is how long a
// connection to a hung member lives, unbounded without etcd-sockets.ts: asserted with a loaded
// machine's slack over its documented bound.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { stringify } from 'yaml';
import type { DiscoveryStatus } from '../src/discovery/source-tracker.js';
import { ETCD_CALL_TIMEOUT, etcdOptions } from '../src/discovery/etcd-client.js';
import type { RegistrationStatus } from '../src/register/registrar.js';
import type { StatusDoc } from './helpers/admin.js';
import type { EtcdServer } from './helpers/etcd.js';
import { EtcdCluster, etcdMissing, reserveClusterPort } from './helpers/etcd-cluster.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import { sleep, waitFor } from './helpers/wait.js';

type Status = StatusDoc & { discovery: DiscoveryStatus[]; registrations: RegistrationStatus[] };

const missing = etcdMissing();
if (missing) console.log(`# skipping the hung etcd member tests: ${missing}`);

const TTL_SECONDS = 3;
const endpoint = (port: number) => JSON.stringify({ host: '127.0.0.1', port });

describe('a hung etcd member in a 3-member cluster', { skip: missing ?? false }, () => {
  let cluster: EtcdCluster;
  const clients: Etcd3[] = [];
  const processes: HitlessProcess[] = [];
  let backend: Server;
  let backendPort: number;

  /** A client that talks to `member` only: "written through another member" means exactly that. */
  function via(member: EtcdServer): Etcd3 {
    const client = new Etcd3(etcdOptions([member.url]));
    clients.push(client);
    return client;
  }

  async function startHitless(config: Record<string, unknown>): Promise<HitlessProcess> {
    const hitless = await HitlessProcess.start({ workers: 1, config: (admin) => stringify({ admin: { listen: admin }, ...config }) });
    processes.push(hitless);
    return hitless;
  }

  /**
   * The member `hitless` is connected to, once that is exactly one (the client pins one member;
   * a connection to a member it just left can take a moment to close), and not `left`.
   */
  function memberOf(hitless: HitlessProcess, left?: EtcdServer): Promise<EtcdServer> {
    const what = `hitless connected to exactly one etcd member${left ? ` other than ${left.name}` : ''}`;
    return waitFor(what, () => {
      const member = cluster.connectedMember(hitless.pid);
      return member !== null && member !== left && member;
    }, { timeoutMs: 15_000, intervalMs: 100 }).catch((err: Error) => {
      throw new Error(`${err.message}; hitless's sockets to the members: ${cluster.describeSockets(hitless.pid)}`);
    });
  }

  /**
   * Waits until hitless holds no socket to `member` (any TCP state). The bound: a connection
   * open when hitless gave the member up is reset then; one dialled later lasts until the call on
   * it fails (ETCD_CALL_TIMEOUT) or grpc-js sweeps its unused subchannel (10 s).
   */
  async function leftAlone(hitless: HitlessProcess, member: EtcdServer): Promise<void> {
    await waitFor(`hitless to hold no connection to ${member.name}`, () => cluster.socketsTo(hitless.pid, member).length === 0, {
      timeoutMs: 12_000,
      intervalMs: 100,
    }).catch((err: Error) => {
      throw new Error(`${err.message}; hitless's sockets to the members: ${cluster.describeSockets(hitless.pid)}\nhitless logged:\n${hitless.logs().slice(-3_000)}`);
    });
  }

  before(async () => {
    cluster = await EtcdCluster.launch();
    backend = createServer((s) => s.destroy());
    await new Promise<void>((r) => backend.listen({ host: '127.0.0.1', port: 0 }, r));
    backendPort = (backend.address() as { port: number }).port;
  });

  after(async () => {
    for (const m of cluster?.members ?? []) m.thaw();
    await Promise.all(processes.map((p) => p.kill()));
    for (const c of clients) c.close();
    await new Promise((r) => backend?.close(r));
    await cluster?.destroy();
  });

  describe('discovery', () => {
    const prefix = '/hang/web/';
    let hitless: HitlessProcess;
    const status = async () => (await hitless.status()) as Status;
    const source = async () => (await status()).discovery[0];
    const endpoints = async () => ((await status()).services.find((s) => s.name === 'web')?.endpoints ?? []).map((e) => e.address).sort();
    const expect = (...ports: number[]) => ports.map((p) => `127.0.0.1:${p}`).sort();

    /** Waits until hitless routes to exactly `ports` and its source says healthy. */
    async function converged(what: string, ports: number[], timeoutMs = 15_000): Promise<void> {
      await waitFor(what, async () => JSON.stringify(await endpoints()) === JSON.stringify(expect(...ports)) && (await source()).state === 'healthy', {
        timeoutMs,
        intervalMs: 50,
      }).catch(async (err: Error) => {
        throw new Error(`${err.message}\nstatus.discovery: ${JSON.stringify((await status()).discovery)}\nhitless: ${hitless.logs().slice(-3_000)}`);
      });
    }

    before(async () => {
      await put(via(cluster.members[0]), `${prefix}a`, endpoint(1001));
      hitless = await startHitless({
        discovery_defaults: { coalesce: '20ms', initial_wait: '3s' },
        services: { web: { listen: `127.0.0.1:${await reserveClusterPort()}`, discovery: { etcd: { endpoints: cluster.urls, prefix } } } },
      });
      await converged('the first endpoint discovered', [1001]);
    });

    it('notices the member carrying its watch is frozen, and a change written through the others arrives while it still is', async (t) => {
      const frozen = await memberOf(hitless);
      const writer = via(cluster.others(frozen)[0]);
      const frozenAt = Date.now();
      frozen.freeze();
      try {
        await put(writer, `${prefix}b`, endpoint(1002));
        await converged('the change written through a healthy member (the watch member still frozen)', [1001, 1002]);
        const arrivedAt = Date.now();
        const s = await source();
        assert.ok(Date.parse(s.since) > frozenAt, `the source left "healthy" during the freeze and came back (healthy since ${s.since})`);
        const degraded = logLines(hitless, 'discovery source degraded').find((l) => l.time > frozenAt);
        assert.ok(degraded, `the stall was logged as a degradation; hitless logged:\n${hitless.logs().slice(-3_000)}`);
        // Whichever noticed first, the progress check ("silent") or the gRPC keepalive ping
        // ("Connection dropped"), the message names the frozen member.
        assert.ok(degraded.error.includes(frozen.url), `the degradation names the frozen member: ${degraded.error}`);
        const now = await memberOf(hitless, frozen);
        t.diagnostic(`member frozen: ${frozen.name}; degraded after ${degraded.time - frozenAt} ms (${degraded.error}); change applied after ${arrivedAt - frozenAt} ms, via ${now.name}`);
      } finally {
        frozen.thaw();
      }
      await cluster.serving();
    });

    it('reports the member it uses degraded when that member loses its leader, and resumes once quorum is back', async (t) => {
      const alone = await memberOf(hitless);
      const others = cluster.others(alone);
      const frozenAt = Date.now();
      for (const m of others) m.freeze();
      try {
        await waitFor('the source degraded', async () => (await source()).state === 'degraded', { timeoutMs: 15_000, intervalMs: 50 });
        const detectedAt = Date.now();
        const s = await source();
        assert.match(s.lastError ?? '', /no leader/, 'etcd ended the require-leader watch');
        assert.deepEqual(await endpoints(), expect(1001, 1002), 'the last known good set stays');
        t.diagnostic(`others of ${alone.name} frozen; degraded after ${detectedAt - frozenAt} ms: ${s.lastError}`);
      } finally {
        for (const m of others) m.thaw();
      }
      await cluster.serving();
      const resumedAt = Date.now();
      await put(via(others[0]), `${prefix}c`, endpoint(1003));
      await converged('a change after quorum is back', [1001, 1002, 1003], 20_000);
      t.diagnostic(`quorum back; a new change applied ${Date.now() - resumedAt} ms later`);
    });
  });

  describe('registration', () => {
    /** The registration's key, as `hitless run` names it (host:port under the prefix). */
    const keyOf = (prefix: string) => `${prefix}127.0.0.1:${backendPort}`;

    function registering(prefix: string, endpoints: string[]): Promise<HitlessProcess> {
      // A lenient check: a busy test machine must not make the service fail it (not under test here).
      const check = { type: 'tcp', interval: '200ms', timeout: '1s', rise: 1, fall: 3 };
      return startHitless({ register: [{ service: 'web', etcd: { endpoints, prefix, ttl: `${TTL_SECONDS}s` }, host: '127.0.0.1', port: backendPort, check }] });
    }

    const registered = async (hitless: HitlessProcess) => ((await hitless.status()) as Status).registrations[0]?.registered === true;

    /** Whether the key exists, read through `reader` (linearizable); null when the read failed. */
    async function present(reader: Etcd3, key: string): Promise<boolean | null> {
      return reader.get(key).options({ deadline: Date.now() + 1_000 }).exists().catch(() => null);
    }

    it('moves the keepalive off a frozen member before the lease expires: the key never disappears', async (t) => {
      const prefix = '/hang/reg-a/';
      const hitless = await registering(prefix, cluster.urls);
      await waitFor('registered', () => registered(hitless), { timeoutMs: 15_000 });
      const frozen = await memberOf(hitless);
      const reader = via(cluster.others(frozen)[0]);
      assert.equal(await present(reader, keyOf(prefix)), true, 'the key is there before the freeze');
      // Every deletion of the key, as a healthy member's watch reports it: a gap of any length.
      const deletions: number[] = [];
      const watcher = await reader.watch().key(keyOf(prefix)).create();
      watcher.on('delete', () => deletions.push(Date.now()));
      watcher.on('error', () => {}); // a cancelled watch only weakens this witness; the reads below remain
      const samples = { present: 0, absent: 0, unknown: 0, unregisteredWhilePresent: 0 };
      const frozenAt = Date.now();
      frozen.freeze();
      try {
        // The wait is the thing tested: frozen for 1.5 TTL, past the moment the lease would have
        // expired had its keepalive stayed on the frozen member; the key read through a healthy one.
        while (Date.now() - frozenAt < 1.5 * TTL_SECONDS * 1_000) {
          const says = await registered(hitless);
          const seen = await present(reader, keyOf(prefix));
          samples[seen === null ? 'unknown' : seen ? 'present' : 'absent']++;
          // Allowed (status claims no more than it knows, e.g. while an election delays renewals),
          // and printed: how often status was more cautious than needed.
          if (seen && !says) samples.unregisteredWhilePresent++;
          await sleep(100);
        }
        assert.deepEqual(deletions, [], `the key was never deleted; hitless logged:\n${hitless.logs().slice(-3_000)}`);
        assert.equal(samples.absent, 0, `the key was never absent (${JSON.stringify(samples)})`);
        assert.ok(samples.present >= 10, `the key was read often enough (${JSON.stringify(samples)})`);
        await waitFor('status to say registered', () => registered(hitless), { timeoutMs: 10_000 }).catch((err: Error) => {
          throw new Error(`${err.message}; hitless logged:\n${hitless.logs().slice(-3_000)}`);
        });
        const now = await memberOf(hitless, frozen).catch((err: Error) => {
          throw new Error(`${err.message}; hitless logged:\n${hitless.logs().slice(-3_000)}`);
        });
        // The connection it left is gone, not half-closed and waiting on the frozen member; nor
        // is there one dialled to it since (CI at bc5787e failed above, connected to the frozen
        // member 15 s on; reproduced under load: every member failed in turn during the election,
        // hitless dialled the frozen one again, and that connection, its HTTP/2 handshake never
        // answered, stayed ESTABLISHED for the whole freeze).
        await leftAlone(hitless, frozen);
        const moved = logLines(hitless, 'registration problem; retrying').find((l) => l.time > frozenAt);
        t.diagnostic(
          `member frozen: ${frozen.name}; keepalive moved after ${moved ? moved.time - frozenAt : '?'} ms to ${now.name}; ` +
            `samples during ${1.5 * TTL_SECONDS} s: ${JSON.stringify(samples)}; deletions: ${deletions.length} (registration gap: none)`,
        );
      } finally {
        frozen.thaw();
        await watcher.cancel().catch(() => {});
      }
      await cluster.serving();
    });

    it('resets each connection it dials to a member that already hangs, once the call on it fails', async (t) => {
      // The member is frozen before hitless starts and is the only one given: every connection
      // hitless opens to it gets no answer, not even the HTTP/2 handshake (grpc-js waits for it
      // without a deadline). Each one must end: none may outlive the call that dialled it by more
      // than a loaded machine's slack. Bounded: watched for WATCH_MS, each connection by its inode.
      const WATCH_MS = 14_000;
      const BOUND_MS = ETCD_CALL_TIMEOUT + 5_000;
      const prefix = '/hang/reg-dial/';
      const hung = cluster.members[1];
      hung.freeze();
      const lives = new Map<string, { from: number; to: number }>();
      let hitless: HitlessProcess;
      try {
        hitless = await registering(prefix, [hung.url]);
        const startedAt = Date.now();
        while (Date.now() - startedAt < WATCH_MS) {
          const now = Date.now();
          for (const s of cluster.socketsTo(hitless.pid, hung)) {
            const life = lives.get(s.inode);
            if (life) life.to = now;
            else lives.set(s.inode, { from: now, to: now });
          }
          await sleep(100);
        }
      } finally {
        hung.thaw();
      }
      const longest = Math.max(0, ...[...lives.values()].map((l) => l.to - l.from));
      t.diagnostic(`connections dialled to the frozen ${hung.name} in ${WATCH_MS} ms: ${lives.size}; the longest-lived: ${longest} ms`);
      assert.ok(lives.size > 0, 'hitless dialled the frozen member (else this test proves nothing)');
      assert.ok(
        longest <= BOUND_MS,
        `a connection to the frozen member lived ${longest} ms (bound ${BOUND_MS} ms): ${cluster.describeSockets(hitless.pid)}\nhitless logged:\n${hitless.logs().slice(-3_000)}`,
      );
      await cluster.serving();
      await waitFor('registered once the member answers again', () => registered(hitless), { timeoutMs: 20_000 });
    });

    it('never says registered while the key is absent, when the lease did expire (the only member given was frozen)', async (t) => {
      const prefix = '/hang/reg-b/';
      const only = cluster.members[0];
      const hitless = await registering(prefix, [only.url]);
      await waitFor('registered', () => registered(hitless), { timeoutMs: 15_000 });
      const reader = via(cluster.others(only)[0]);
      const key = keyOf(prefix);
      const violations: string[] = [];
      /** One check of the claim: the key absent before and after a status that says registered is a lie. */
      const sample = async (): Promise<{ absent: boolean; registered: boolean }> => {
        const before = await present(reader, key);
        const says = await registered(hitless);
        const after = await present(reader, key);
        if (before === false && after === false && says) violations.push(`registered: true while the key was absent (${new Date().toISOString()})`);
        return { absent: before === false && after === false, registered: says };
      };
      const frozenAt = Date.now();
      only.freeze();
      let goneAt = 0;
      try {
        await waitFor('the key to expire with its lease', async () => (await sample()).absent, { timeoutMs: 20_000, intervalMs: 50 });
        goneAt = Date.now();
        assert.equal((await sample()).registered, false, 'status says registered: false once the key is gone');
      } finally {
        only.thaw();
      }
      await waitFor('registered again', async () => {
        const s = await sample();
        return !s.absent && s.registered;
      }, { timeoutMs: 20_000, intervalMs: 50 });
      assert.equal(await present(reader, key), true, 'the key is back');
      assert.deepEqual(violations, [], 'status never claimed a registration that etcd did not hold');
      t.diagnostic(`only member ${only.name} frozen; key gone after ${goneAt - frozenAt} ms (TTL ${TTL_SECONDS} s); registered again ${Date.now() - goneAt} ms after that`);
      await cluster.serving();
    });
  });
});

/** A put that waits out an election (the frozen member may have been the leader): bounded retries. */
async function put(client: Etcd3, key: string, value: string): Promise<void> {
  await waitFor(`put ${key}`, () => client.put(key).value(value).exec().then(() => true), { timeoutMs: 15_000, intervalMs: 200 });
}

/** hitless's JSON log lines with message `msg`, their time as epoch ms. */
function logLines(hitless: HitlessProcess, msg: string): Array<{ time: number; error: string; err: string }> {
  return hitless
    .logs()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; time: string; error?: string; err?: string })
    .filter((l) => l.msg === msg)
    .map((l) => ({ time: Date.parse(l.time), error: l.error ?? '', err: l.err ?? '' }));
}

