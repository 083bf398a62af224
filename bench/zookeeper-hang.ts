// node --import tsx bench/zookeeper-hang.ts — how fast a hung ZooKeeper member is given up.
//  A real 3-server ensemble on loopback (ports 22000-22999) and the ZooKeeper discovery source in
//  this process, on a session of BENCH_ZK_SESSION_MS (6000). Each round freezes (SIGSTOP) the
//  member the session is connected to while the other two keep quorum, writes a new endpoint
//  through another member, and measures: how long the member had been silent when it was given
//  up (the read timeout is 2/3 of the session timeout), the reconnect to another member, whether
//  the session survived, and when the change reached the source (from the freeze). Then it thaws
//  the member and waits for the ensemble to serve again. Rounds: BENCH_ZK_ROUNDS (10); whether the
//  frozen member led or followed is whatever the client picked, and is printed.
//  Only the ensemble's own processes are signalled, by pid; all are stopped at the end.
import { createSource } from '../src/discovery/create-source.js';
import type { DiscoveredEndpoint } from '../src/discovery/source.js';
import { ZookeeperSession } from '../src/discovery/zookeeper-session.js';
import { within } from '../test/helpers/wait.js';
import { ZookeeperEnsemble, zookeeperMissing, type ZookeeperMember } from '../test/helpers/zookeeper-ensemble.js';

const SESSION_MS = Number(process.env.BENCH_ZK_SESSION_MS ?? 6_000);
const ROUNDS = Number(process.env.BENCH_ZK_ROUNDS ?? 10);
const PATH = '/bench/hang';
const ROUND_LIMIT_MS = 4 * SESSION_MS;

interface Round {
  readonly role: string;
  /** Silence of the member when it was given up (what the session measured). */
  readonly silentMs: number;
  /** Freeze → given up. */
  readonly detectMs: number;
  /** Given up → connected to another member. */
  readonly reconnectMs: number;
  readonly sessionKept: boolean;
  /** Freeze → the change written through another member seen by the source. */
  readonly changeMs: number;
}

/** The session's next loss of its connection, and why. */
function nextLoss(session: ZookeeperSession): Promise<{ at: number; reason: string }> {
  return new Promise((resolve) => session.once('disconnected', (reason) => resolve({ at: Date.now(), reason })));
}

/** The session's next connection, and whether it is a new session (the old one was lost). */
function nextConnection(session: ZookeeperSession): Promise<{ at: number; fresh: boolean }> {
  return new Promise((resolve) => session.once('connected', (fresh) => resolve({ at: Date.now(), fresh })));
}

function connectedTo(session: ZookeeperSession, ensemble: ZookeeperEnsemble): ZookeeperMember {
  const socket = (session.client as unknown as { connectionManager: { socket?: { remotePort?: number } } }).connectionManager.socket;
  const member = ensemble.members.find((m) => m.clientPort === socket?.remotePort);
  if (!member) throw new Error('the session is not connected to a member');
  return member;
}

async function retry<T>(op: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await op();
    } catch (err) {
      if (i >= 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function round(ensemble: ZookeeperEnsemble, session: ZookeeperSession, sets: { latest: string[]; changed: () => Promise<void> }, i: number): Promise<Round> {
  const frozen = connectedTo(session, ensemble);
  const role = (await frozen.mode()) ?? 'unknown';
  const writer = ZookeeperSession.acquire([ensemble.others(frozen)[0].host], 30_000);
  const lost = nextLoss(session);
  const back = nextConnection(session);
  const name = `r${i}`;
  const frozenAt = Date.now();
  frozen.freeze();
  try {
    const data = Buffer.from(JSON.stringify({ host: '127.0.0.1', port: 22_000 + i, name }));
    await retry(() => writer.call<string>((c, cb) => c.create(`${PATH}/${name}`, data, cb)));
    const seen = (async () => {
      for (let n = 0; n < 1_000 && !sets.latest.includes(name); n++) await sets.changed();
      return Date.now();
    })();
    const [gone, connected, seenAt] = await within(ROUND_LIMIT_MS, `round ${i}`, Promise.all([lost, back, seen]));
    const silentMs = Number(/sent nothing for (\d+) ms/.exec(gone.reason)?.[1] ?? NaN);
    return { role, silentMs, detectMs: gone.at - frozenAt, reconnectMs: connected.at - gone.at, sessionKept: !connected.fresh, changeMs: seenAt - frozenAt };
  } finally {
    frozen.thaw();
    await writer.release();
    await ensemble.serving();
  }
}

async function main(): Promise<void> {
  const missing = zookeeperMissing();
  if (missing) {
    console.log(`skipped: ${missing}`);
    return;
  }
  const ensemble = await ZookeeperEnsemble.launch(3);
  const setup = ZookeeperSession.acquire(ensemble.hosts, 30_000);
  await setup.call<string>((c, cb) => c.mkdirp(PATH, cb));
  await setup.release();
  // The source's session (shared per hosts and timeout), to watch its connection.
  const session = ZookeeperSession.acquire(ensemble.hosts, SESSION_MS);
  let wake: () => void = () => {};
  const sets = { latest: [] as string[], changed: () => new Promise<void>((r) => (wake = r)) };
  const source = createSource({ kind: 'zookeeper', hosts: ensemble.hosts, path: PATH, sessionTimeout: SESSION_MS });
  await source.start({
    onEndpoints: (endpoints: readonly DiscoveredEndpoint[]) => {
      sets.latest = endpoints.map((e) => e.name ?? '');
      wake();
    },
    onError: () => {},
  });
  const rounds: Round[] = [];
  try {
    await within(ROUND_LIMIT_MS, 'the first connection', new Promise<void>((r) => (session.connected ? r() : session.once('connected', () => r()))));
    for (let i = 0; i < ROUNDS; i++) {
      const r = await round(ensemble, session, sets, i);
      rounds.push(r);
      console.log(
        `round ${String(i + 1).padStart(2)}: frozen ${r.role.padEnd(8)} silent ${r.silentMs} ms when given up (${r.detectMs} ms after the freeze), ` +
          `reconnected in ${r.reconnectMs} ms, session ${r.sessionKept ? 'kept' : 'LOST'}, change seen ${r.changeMs} ms after the freeze`,
      );
    }
  } finally {
    await source.stop();
    await session.release();
    await ensemble.destroy();
  }
  summary(rounds);
}

function summary(rounds: Round[]): void {
  const stat = (pick: (r: Round) => number) => {
    const v = rounds.map(pick).sort((a, b) => a - b);
    return `p50 ${v[Math.floor((v.length - 1) / 2)]} ms, max ${v.at(-1)} ms`;
  };
  const readTimeout = Math.floor((SESSION_MS * 2) / 3);
  console.log(`\nsession ${SESSION_MS} ms, read timeout ${readTimeout} ms (2/3), ${rounds.length} rounds (${rounds.filter((r) => r.role === 'leader').length} with the leader frozen)`);
  console.log(`silence when given up:     ${stat((r) => r.silentMs)} (bound: the read timeout, ${readTimeout} ms)`);
  console.log(`reconnect to another member: ${stat((r) => r.reconnectMs)}`);
  console.log(`change seen after freeze:  ${stat((r) => r.changeMs)} (bound: read timeout + reconnect + one re-read, under the ${SESSION_MS} ms session timeout)`);
  console.log(`sessions kept: ${rounds.filter((r) => r.sessionKept).length} of ${rounds.length}`);
}

await main();
process.exit(0);
