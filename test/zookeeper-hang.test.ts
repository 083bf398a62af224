// A ZooKeeper member that hangs rather than dies (issue 14, items 1 and 2), against a real
// 3-server ensemble on loopback and a real `hitless run` that discovers one service and registers
// another through it (both on one session, so one connection, to one member).
//
// The member hitless is connected to (read from the kernel's socket table) is frozen with SIGSTOP
// while the other two keep quorum. The bound: hitless gives the member up once it has heard
// nothing from it for the read timeout, 2/3 of the 6 s session timeout (4 s, what the Java client
// does), and reconnects to another member within the same session; the session then cannot have
// expired (the ensemble expires it a whole session timeout after the last packet the member saw),
// so the registration's ephemeral node is never lost. A change written meanwhile arrives after
// the read timeout + one reconnect + one apply. Timing is not asserted (machines are noisy): the
// tests assert what the bound implies — the change arrives and the node is back while the member
// is still frozen, and the session was never lost — and print the figures.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import zookeeper from 'node-zookeeper-client';
import { stringify } from 'yaml';
import type { DiscoveryStatus } from '../src/discovery/source-tracker.js';
import type { RegistrationStatus } from '../src/register/registrar.js';
import { ZookeeperSession } from '../src/discovery/zookeeper-session.js';
import type { StatusDoc } from './helpers/admin.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import { sleep, waitFor, within } from './helpers/wait.js';
import { ZookeeperEnsemble, reserveEnsemblePort, zookeeperMissing, type ZookeeperMember } from './helpers/zookeeper-ensemble.js';

type Status = StatusDoc & { discovery: DiscoveryStatus[]; registrations: RegistrationStatus[] };

const SESSION_MS = 6_000;
const READ_TIMEOUT_MS = (SESSION_MS * 2) / 3;
const WEB = '/hang/web';
const API = '/hang/api';
/** How long a scenario may take at most before the test fails: generous, the figures are printed. */
const SCENARIO_MS = 3 * SESSION_MS;

const endpoint = (port: number) => ({ host: '127.0.0.1', port, name: `e${port}` });

const missing = zookeeperMissing();
if (missing) console.log(`# skipping the hung ZooKeeper member tests: ${missing}`);

describe('a hung ZooKeeper member (3-server ensemble): failover within the session', { skip: missing ?? false }, () => {
  let ensemble: ZookeeperEnsemble;
  let hitless: HitlessProcess;
  let backend: Server;
  let webPort: number;
  const webEndpoints: number[] = [];

  const status = async () => (await hitless.status()) as Status;
  const webSource = (s: Status) => s.discovery.find((d) => d.service === 'web')!;
  const webSet = (s: Status) => (s.services.find((x) => x.name === 'web')?.endpoints ?? []).map((e) => Number(e.address.split(':')[1])).sort();
  const registration = (s: Status) => s.registrations.find((r) => r.service === 'api')!;
  const connected = () => waitFor('hitless to be connected to a member', () => ensemble.connectedMember(hitless.pid) ?? undefined, { timeoutMs: SCENARIO_MS });
  const sessionExpiries = () => (hitless.logs().match(/zookeeper session expired/g) ?? []).length;

  /** Connected to a member other than `gone` (read first), and status says registered (read then). */
  async function registeredOnAnotherMember(gone: ZookeeperMember): Promise<boolean> {
    const member = ensemble.connectedMember(hitless.pid);
    return member !== null && member !== gone && registration(await status()).registered;
  }

  /** A session of the test's own, through `member` only: writes and reads that avoid the frozen one. */
  const through = (member: ZookeeperMember) => ZookeeperSession.acquire([member.host], 30_000);

  async function addWebEndpoint(session: ZookeeperSession): Promise<number> {
    const port = await reserveEnsemblePort();
    webEndpoints.push(port);
    const data = Buffer.from(JSON.stringify(endpoint(port)));
    // A create whose reply was lost may have been applied: NODE_EXISTS is success on a retry.
    await retrying(`create ${WEB}/e${port}`, () =>
      session.call<string>((c, cb) => c.create(`${WEB}/e${port}`, data, cb)).catch((err: zookeeper.Exception) => {
        if (err.getCode?.() !== zookeeper.Exception.NODE_EXISTS) throw err;
        return '';
      }),
    );
    return port;
  }

  before(async () => {
    ensemble = await ZookeeperEnsemble.launch(3);
    const setup = through(ensemble.members[0]);
    try {
      await setup.call<string>((c, cb) => c.mkdirp(WEB, cb));
      for (let i = 0; i < 2; i++) await addWebEndpoint(setup);
    } finally {
      await setup.release();
    }
    // The registered service: its check is a TCP connect to this listener.
    backend = createServer((s) => s.destroy());
    await new Promise<void>((r) => backend.listen({ host: '127.0.0.1', port: 0 }, r));
    const apiPort = (backend.address() as { port: number }).port;
    webPort = await reserveEnsemblePort();
    const zk = { hosts: ensemble.hosts, session_timeout: `${SESSION_MS}ms` };
    hitless = await HitlessProcess.start({
      workers: 1,
      readyTimeoutMs: 30_000,
      config: (admin) =>
        stringify({
          admin: { listen: admin },
          discovery_defaults: { coalesce: '20ms', initial_wait: '5s' },
          services: { web: { listen: `127.0.0.1:${webPort}`, discovery: { zookeeper: { ...zk, path: WEB } } } },
          register: [{ service: 'api', name: 'api-1', zookeeper: { ...zk, path: API }, host: '127.0.0.1', port: apiPort, check: { type: 'tcp', interval: '100ms', timeout: '500ms', rise: 1, fall: 3 } }],
        }),
    });
    await waitFor('web discovered and api registered', async () => {
      const s = await status();
      return sameSet(webSet(s), webEndpoints) && webSource(s)?.state === 'healthy' && registration(s)?.registered;
    }, { timeoutMs: SCENARIO_MS });
  });

  after(async () => {
    await hitless?.kill();
    await new Promise((r) => (backend ? backend.close(r) : r(null)));
    await ensemble?.destroy();
  });

  it('discovery: the frozen member is given up, and a change written through another member arrives while it is still frozen', async (t) => {
    const frozen = await connected();
    const role = await frozen.mode();
    const writer = through(ensemble.others(frozen)[0]);
    const expiries = sessionExpiries();
    const samples = new StatusSampler(status);
    const frozenAt = Date.now();
    frozen.freeze();
    try {
      const added = await addWebEndpoint(writer);
      const writtenAt = Date.now();
      await waitFor('the change to reach hitless', async () => webSet(await status()).includes(added), { timeoutMs: SCENARIO_MS });
      const arrivedAt = Date.now();
      const final = await waitFor('the source healthy again', async () => {
        const s = webSource(await status());
        return s.state === 'healthy' && s;
      }, { timeoutMs: SCENARIO_MS });
      await samples.stop();
      const now = ensemble.connectedMember(hitless.pid);
      assert.ok(now && now !== frozen, `hitless moved to another member (now ${now?.name ?? 'none'}, frozen ${frozen.name})`);
      // The log is the record of every state change that status shows: degraded when the member
      // was given up (naming it), healthy only after the re-read through the new member.
      const changes = sourceStateChanges(hitless.logs(), 'web', frozenAt);
      const [first, last] = [changes[0], changes.at(-1)];
      assert.ok(first?.state === 'degraded' && last?.state === 'healthy', `degraded, then healthy again, in the log: ${JSON.stringify(changes)}`);
      assert.match(first.error ?? '', new RegExp(`member 127\\.0\\.0\\.1:${frozen.clientPort} sent nothing .*read timeout`), 'the degradation names the silent member');
      // The state's time is read just before its log line is written (source-tracker.ts setState):
      // a millisecond may pass between them, so `since` lies after the degradation and no later
      // than the healthy line (">= the healthy line" failed once, in CI at b9800e9).
      const since = Date.parse(final.since);
      assert.ok(since >= first.at && since <= last.at, `status: healthy since the re-read after the failover (since ${final.since}, log ${JSON.stringify(changes)})`);
      assert.equal(sessionExpiries(), expiries, 'the session survived the failover');
      // Status is also sampled: the degraded window lasts one reconnect and re-read (often a few ms), so it may fall between samples.
      const degraded = samples.first((s) => webSource(s).state === 'degraded');
      t.diagnostic(
        `frozen ${role} member ${frozen.clientPort}; read timeout ${READ_TIMEOUT_MS} ms of a ${SESSION_MS} ms session; ` +
          `degraded after ${first.at - frozenAt} ms, healthy after ${last.at - frozenAt} ms (degraded for ${last.at - first.at} ms; ` +
          `${degraded ? `seen in status after ${degraded.at - frozenAt} ms` : 'not caught by the status samples'}); ` +
          `change written after ${writtenAt - frozenAt} ms, applied after ${arrivedAt - frozenAt} ms; now on member ${now.clientPort}`,
      );
    } finally {
      frozen.thaw();
      await samples.stop();
      await writer.release();
    }
    await ensemble.serving();
  });

  it('registration: never reported registered while its node is absent; the node outlives the hang', async (t) => {
    const frozen = await connected();
    const role = await frozen.mode();
    const reader = through(ensemble.others(frozen)[0]);
    const expiries = sessionExpiries();
    const trace = new RegistrationTrace(async () => registration(await status()).registered, () => nodeCount(reader));
    const frozenAt = Date.now();
    frozen.freeze();
    try {
      await trace.until(() => registeredOnAnotherMember(frozen), SCENARIO_MS);
      const back = Date.now();
      assert.deepEqual(trace.violations(), [], 'status never said registered while the node was absent');
      assert.equal(trace.absent(), 0, 'the node was never absent (the session survived)');
      assert.equal(sessionExpiries(), expiries, 'the session survived the failover');
      assert.match(registration(await status()).lastError ?? '', /sent nothing .*read timeout/, 'lastError says why registered went false');
      t.diagnostic(
        `frozen ${role} member ${frozen.clientPort}; ${trace.samples.length} samples: registered=false for ${trace.unregisteredMs()} ms ` +
          `(${trace.count((s) => !s.registered)} samples), node absent in ${trace.absent()} samples; registered on another member ${back - frozenAt} ms after the freeze`,
      );
    } finally {
      frozen.thaw();
      await reader.release();
    }
    await ensemble.serving();
  });

  it('registration: after hitless itself was frozen past the session timeout, status says unregistered until the node is created again', async (t) => {
    const reader = through(ensemble.members[0]);
    const expiries = sessionExpiries();
    hitless.signal('SIGSTOP');
    try {
      await waitFor('the ensemble to expire the frozen session (its node gone)', async () => (await nodeCount(reader)) === 0, { timeoutMs: SCENARIO_MS });
    } finally {
      hitless.signal('SIGCONT');
    }
    const resumedAt = Date.now();
    const trace = new RegistrationTrace(async () => registration(await status()).registered, () => nodeCount(reader));
    try {
      await trace.until(async () => registration(await status()).registered, SCENARIO_MS);
      const back = Date.now();
      assert.deepEqual(trace.violations(), [], 'status never said registered while the node was absent');
      const nodes = await waitFor('a listing through a member', async () => (await nodeCount(reader)) ?? undefined);
      assert.equal(nodes, 1, 'the node was created again, once');
      await waitFor('the expiry in the log', () => sessionExpiries() > expiries);
      t.diagnostic(`resumed: ${trace.count((s) => !s.registered)} samples unregistered, node absent in ${trace.absent()}; registered again ${back - resumedAt} ms after the resume`);
    } finally {
      await reader.release();
    }
  });

  it('kill -9 of the connected member: the session moves at once, a change arrives, the registration stays', async (t) => {
    const killed = await connected();
    const writer = through(ensemble.others(killed)[0]);
    const expiries = sessionExpiries();
    const trace = new RegistrationTrace(async () => registration(await status()).registered, () => nodeCount(writer));
    const killedAt = Date.now();
    try {
      await killed.kill();
      const tracing = trace.until(() => registeredOnAnotherMember(killed), SCENARIO_MS);
      tracing.catch(() => {}); // awaited below; a failure meanwhile must not go unhandled
      const added = await addWebEndpoint(writer);
      await waitFor('the change to reach hitless', async () => webSet(await status()).includes(added), { timeoutMs: SCENARIO_MS });
      const arrivedAt = Date.now();
      await tracing;
      assert.notEqual(ensemble.connectedMember(hitless.pid), killed);
      assert.deepEqual(trace.violations(), [], 'status never said registered while the node was absent');
      assert.equal(trace.absent(), 0, 'the node was never absent');
      assert.equal(sessionExpiries(), expiries, 'the session survived');
      t.diagnostic(`killed member ${killed.clientPort}: change applied ${arrivedAt - killedAt} ms after the kill`);
    } finally {
      await writer.release();
    }
  });
});

/**
 * How many nodes the registration holds under API (through a healthy member), or null when it
 * cannot tell within 250 ms (the member is electing a new leader after the frozen one led), so
 * that sampling goes on meanwhile.
 */
async function nodeCount(session: ZookeeperSession): Promise<number | null> {
  try {
    const listing = session.call<string[]>((c, cb) => c.getChildren(API, cb));
    listing.catch(() => {});
    const children = await within(250, 'a listing', listing);
    return children.filter((c) => c.startsWith('api-1_')).length;
  } catch (err) {
    if ((err as zookeeper.Exception).getCode?.() === zookeeper.Exception.NO_NODE) return 0;
    return null;
  }
}

interface RegistrationSample {
  readonly at: number;
  readonly registered: boolean;
  /** Nodes seen right after `registered` was read; null: the member could not answer. */
  readonly nodes: number | null;
}

/**
 * Samples, in a tight loop, what status says and then what the ensemble holds. Status is read
 * first: a node absent just after status said "registered" is a claim hitless could not back
 * (a session cannot expire within the few ms between the two reads after a member answered).
 */
class RegistrationTrace {
  readonly samples: RegistrationSample[] = [];

  constructor(
    private readonly registered: () => Promise<boolean>,
    private readonly nodes: () => Promise<number | null>,
  ) {}

  /** Samples until `done()` holds (asked after each sample); throws after `timeoutMs`. */
  async until(done: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 10_000; i++) {
      const at = Date.now();
      const registered = await this.registered();
      const nodes = await this.nodes();
      this.samples.push({ at, registered, nodes });
      if (await done()) return;
      if (Date.now() > deadline) break;
      await sleep(20);
    }
    throw new Error(`the registration did not come back within ${timeoutMs} ms; last samples ${JSON.stringify(this.samples.slice(-5))}`);
  }

  violations(): RegistrationSample[] {
    return this.samples.filter((s) => s.registered && s.nodes === 0);
  }

  absent(): number {
    return this.count((s) => s.nodes === 0);
  }

  count(match: (s: RegistrationSample) => boolean): number {
    return this.samples.filter(match).length;
  }

  /** From the first sample that said unregistered to the next that said registered. */
  unregisteredMs(): number {
    const from = this.samples.findIndex((s) => !s.registered);
    if (from < 0) return 0;
    const to = this.samples.findIndex((s, i) => i > from && s.registered);
    return (to < 0 ? Date.now() : this.samples[to].at) - this.samples[from].at;
  }
}

/** GET /status every 10 ms in the background, kept with the time it was asked. */
class StatusSampler {
  private readonly samples: Array<{ at: number; status: Status }> = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(read: () => Promise<Status>) {
    this.loop = (async () => {
      const deadline = Date.now() + 60_000;
      while (this.running && Date.now() < deadline) {
        const at = Date.now();
        const status = await read().catch(() => null);
        if (status) this.samples.push({ at, status });
        await sleep(10);
      }
    })();
  }

  stop(): Promise<void> {
    this.running = false;
    return this.loop;
  }

  first(match: (s: Status) => boolean) {
    return this.samples.find((s) => match(s.status)) ?? null;
  }
}

interface StateChange {
  readonly at: number;
  readonly state: string;
  readonly error?: string;
}

/** The discovery source's state changes for `service` that hitless logged at or after `since`. */
function sourceStateChanges(logs: string, service: string, since: number): StateChange[] {
  const changes: StateChange[] = [];
  for (const line of logs.split('\n')) {
    if (!line.startsWith('{') || !line.includes('discovery source')) continue;
    const entry = JSON.parse(line) as { time: string | number; service?: string; state?: string; error?: string };
    const at = typeof entry.time === 'number' ? entry.time : Date.parse(entry.time);
    if (entry.service === service && entry.state && at >= since) changes.push({ at, state: entry.state, error: entry.error });
  }
  return changes;
}

/** A write through a member that may be electing a new leader (the frozen one led): retried. */
async function retrying<T>(what: string, op: () => Promise<T>): Promise<T> {
  let lastError: unknown;
  for (let i = 0; i < 100; i++) {
    try {
      return await op();
    } catch (err) {
      lastError = err;
      await sleep(100);
    }
  }
  throw new Error(`${what}: ${String(lastError)}`);
}

function sameSet(a: readonly number[], b: readonly number[]): boolean {
  return JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
}
