// A moved tunnel sleeps (tunnel.ts): the new worker builds its two sockets only when a peer sends
// something or the tunnel is ended from outside. Whatever comes first after the move, through a
// real `hitless run --workers 2` (dist/) and three code upgrades during which every connection is
// silent (so each is moved asleep, twice, from a worker where it never woke):
// - the endpoint's bytes reach the client, and the client's the endpoint;
// - the endpoint's FIN reaches the client, which can still send (half-close);
// - the endpoint's reset reaches the client as a reset;
// - the client's bytes reach the endpoint, and the answer comes back;
// - the client's FIN reaches the endpoint, which can still send;
// - the client's reset reaches the endpoint as a reset;
// - nothing at all: the idle timeout ends both connections;
// - its service is removed: its drain timeout closes both connections;
// - hitless stops (SIGTERM): at --drain the client gets a FIN, never a reset.
// Each ends counted: the service's active connections are back to 0 once its tunnels have ended.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fdLaneSupport } from '../src/util/fd-lane.js';
import { SupervisedHitless } from './helpers/process-harness.js';
import { reservePort } from './helpers/ports.js';
import { waitFor, within } from './helpers/wait.js';

type Act = 'data' | 'fin' | 'reset' | 'client-first' | 'client-fin' | 'client-reset' | 'idle' | 'removed' | 'stop';
const ACTS: readonly Act[] = ['data', 'fin', 'reset', 'client-first', 'client-fin', 'client-reset', 'idle', 'removed', 'stop'];
/** The service each act's connections go through. */
const serviceOf = (act: Act): 'sleepy' | 'idle' | 'gone' => (act === 'idle' ? 'idle' : act === 'removed' ? 'gone' : 'sleepy');
/** The removed service's drain timeout: its connections are closed this long after the apply. */
const GONE_DRAIN_MS = 1_000;
const UPGRADES = 3;
/** The idle service's timeout: long enough for three upgrades, short for the test. */
const IDLE_MS = 6_000;

interface Peer {
  /** The endpoint's side of the connection. */
  server: Socket;
  /** What the endpoint read after the first line. */
  read: string;
  ended: boolean;
  error: string | null;
  closed: boolean;
}

/** The endpoint: answers each connection's first line ("<act> <n>\n") with "ok\n", then does only what the test says. */
async function endpoint(): Promise<{ server: Server; port: number; peers: Map<string, Peer> }> {
  const peers = new Map<string, Peer>();
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    let head = '';
    let peer: Peer | null = null;
    s.on('error', (err: NodeJS.ErrnoException) => peer && (peer.error = err.code ?? err.message));
    s.on('data', (d: Buffer) => {
      if (peer !== null) {
        peer.read += d.toString();
        return;
      }
      head += d.toString();
      const nl = head.indexOf('\n');
      if (nl === -1) return;
      peer = { server: s, read: head.slice(nl + 1), ended: false, error: null, closed: false };
      peers.set(head.slice(0, nl), peer);
      s.write('ok\n');
    });
    s.once('end', () => peer && (peer.ended = true));
    s.once('close', () => peer && (peer.closed = true));
  });
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, peers };
}

interface Client {
  readonly name: string;
  readonly socket: Socket;
  got: string;
  ended: boolean;
  error: string | null;
  closed: boolean;
}

function client(port: number, name: string): Client {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const c: Client = { name, socket, got: '', ended: false, error: null, closed: false };
  socket.on('data', (d: Buffer) => (c.got += d.toString()));
  socket.once('end', () => (c.ended = true));
  socket.on('error', (err: NodeJS.ErrnoException) => (c.error = err.code ?? err.message));
  socket.once('close', () => (c.closed = true));
  return c;
}

describe('a moved tunnel that sleeps: whatever comes first after the move', () => {
  let ep: Awaited<ReturnType<typeof endpoint>>;
  let h: SupervisedHitless;
  const ports = { sleepy: 0, idle: 0, gone: 0 };
  const clients = new Map<string, Client>();

  const config = (admin: string, withGone: boolean): string => `admin: { listen: "${admin}" }
services:
  sleepy:
    mode: tcp
    listen: 127.0.0.1:${ports.sleepy}
    endpoints: [127.0.0.1:${ep.port}]
    timeouts: { idle: 10m }
  idle:
    mode: tcp
    listen: 127.0.0.1:${ports.idle}
    endpoints: [127.0.0.1:${ep.port}]
    timeouts: { idle: ${IDLE_MS}ms }
${withGone ? `  gone:
    mode: tcp
    listen: 127.0.0.1:${ports.gone}
    endpoints: [127.0.0.1:${ep.port}]
    timeouts: { idle: 10m, drain: ${GONE_DRAIN_MS}ms }
` : ''}`;

  /** The active connections GET /status counts for `service` (summed over the workers). */
  const active = async (service: string): Promise<number | undefined> =>
    (await h.request('GET', '/status')).json<{ services: Array<{ name: string; active: number }> }>().services.find((s) => s.name === service)?.active;

  before(async () => {
    ep = await endpoint();
    ports.sleepy = await reservePort();
    ports.idle = await reservePort();
    ports.gone = await reservePort();
    h = await SupervisedHitless.start({ workers: 2, config: (admin) => config(admin, true) });
    // Four connections per act, each answered once before the upgrades, then silent through them.
    for (const act of ACTS) {
      for (let n = 0; n < 4; n++) {
        const c = client(ports[serviceOf(act)], `${act} ${n}`);
        clients.set(c.name, c);
        c.socket.write(`${c.name}\n`);
      }
    }
    await waitFor('every connection answered', () => [...clients.values()].every((c) => c.got === 'ok\n'), { timeoutMs: 10_000, intervalMs: 10 });
    for (let u = 1; u <= UPGRADES; u++) {
      const res = await h.upgrade();
      assert.equal(res.status, 200, res.text);
      await waitFor(`the old generation gone after upgrade ${u}`, async () => (await h.request('GET', '/status')).json<{ process: { processes: number } }>().process.processes === 3, { timeoutMs: 15_000, intervalMs: 20 });
    }
    const moved = (await h.request('GET', '/status')).json<{ process: { upgrades: { movedConnections: number } } }>().process.upgrades.movedConnections;
    assert.equal(moved, clients.size * UPGRADES, `every silent connection moved at every upgrade: ${JSON.stringify((await h.request('GET', '/status')).json<{ process: { upgrades: unknown } }>().process.upgrades)}`);
    for (const c of clients.values()) assert.equal(c.closed, false, `${c.name} closed during the upgrades`);
    assert.equal(await active('gone'), 4, 'the moved tunnels are counted active where they sleep');
    // Status says whether the descriptors moved in batches, as this process (same Node, same node_modules) can.
    const lane = fdLaneSupport();
    const said = (await h.request('GET', '/status')).json<{ process: { upgrades: { moveLane: unknown } } }>().process.upgrades.moveLane;
    assert.deepEqual(said, lane.ok ? { available: true } : { available: false, why: lane.why });
  });

  after(async () => {
    for (const c of clients.values()) c.socket.destroy();
    await h?.kill();
    ep?.server.close();
  });

  const of = (act: Act): Array<{ c: Client; peer: Peer }> =>
    [0, 1, 2, 3].map((n) => {
      const name = `${act} ${n}`;
      return { c: clients.get(name)!, peer: ep.peers.get(name)! };
    });

  it("the endpoint's bytes reach the client, then the client's reach the endpoint", async () => {
    for (const { peer } of of('data')) peer.server.write('hello\n');
    await waitFor('the bytes at every client', () => of('data').every(({ c }) => c.got === 'ok\nhello\n'), { timeoutMs: 10_000, intervalMs: 10 });
    for (const { c } of of('data')) c.socket.write('ping\n');
    await waitFor('the answers at the endpoint', () => of('data').every(({ peer }) => peer.read === 'ping\n'), { timeoutMs: 10_000, intervalMs: 10 });
  });

  it("the endpoint's FIN reaches the client, which can still send; its FIN then reaches the endpoint", async () => {
    for (const { peer } of of('fin')) peer.server.end('last\n');
    await waitFor('the FIN at every client', () => of('fin').every(({ c }) => c.ended), { timeoutMs: 10_000, intervalMs: 10 });
    for (const { c } of of('fin')) {
      assert.equal(c.got, 'ok\nlast\n', c.name);
      assert.equal(c.closed, false, `${c.name} closed: the client's side is still open`);
      c.socket.end('after the FIN\n');
    }
    await waitFor('the bytes and FIN at the endpoint', () => of('fin').every(({ peer }) => peer.ended && peer.read === 'after the FIN\n'), { timeoutMs: 10_000, intervalMs: 10 });
  });

  it("the endpoint's reset reaches the client as a reset", async () => {
    for (const { peer } of of('reset')) peer.server.resetAndDestroy();
    await waitFor('every client reset', () => of('reset').every(({ c }) => c.closed), { timeoutMs: 10_000, intervalMs: 10 });
    for (const { c } of of('reset')) assert.equal(c.error, 'ECONNRESET', `${c.name}: ${c.error ?? 'closed without a reset'}`);
  });

  it("the client's bytes reach the endpoint first, and the answer comes back", async () => {
    for (const { c } of of('client-first')) c.socket.write('first\n');
    await waitFor('the bytes at the endpoint', () => of('client-first').every(({ peer }) => peer.read === 'first\n'), { timeoutMs: 10_000, intervalMs: 10 });
    for (const { peer } of of('client-first')) peer.server.write('answer\n');
    await waitFor('the answers at the clients', () => of('client-first').every(({ c }) => c.got === 'ok\nanswer\n'), { timeoutMs: 10_000, intervalMs: 10 });
  });

  it("the client's FIN reaches the endpoint, which can still send; its FIN then reaches the client", async () => {
    for (const { c } of of('client-fin')) c.socket.end();
    await waitFor('the FIN at the endpoint', () => of('client-fin').every(({ peer }) => peer.ended), { timeoutMs: 10_000, intervalMs: 10 });
    for (const { c, peer } of of('client-fin')) {
      assert.equal(peer.closed, false, `${c.name}: the endpoint's side is still open`);
      peer.server.end('after your FIN\n');
    }
    await waitFor('the bytes and FIN at every client', () => of('client-fin').every(({ c }) => c.ended && c.got === 'ok\nafter your FIN\n'), { timeoutMs: 10_000, intervalMs: 10 });
  });

  it("the client's reset reaches the endpoint as a reset", async () => {
    for (const { c } of of('client-reset')) c.socket.resetAndDestroy();
    await waitFor('every endpoint connection closed', () => of('client-reset').every(({ peer }) => peer.closed), { timeoutMs: 10_000, intervalMs: 10 });
    for (const { c, peer } of of('client-reset')) assert.equal(peer.error, 'ECONNRESET', `${c.name}: ${peer.error ?? 'closed without a reset'}`);
  });

  it('its service is removed: both connections are closed at its drain timeout, not before', async () => {
    const applied = Date.now();
    const res = await h.request('PUT', '/config', config(`unix:${h.socketPath}`, false));
    assert.equal(res.status, 200, res.text);
    // (Both peers keep their own side open after hitless's FIN: allowHalfOpen, so "ended".)
    await waitFor("the removed service's connections closed", () => of('removed').every(({ c, peer }) => (c.ended || c.closed) && (peer.ended || peer.closed)), { timeoutMs: GONE_DRAIN_MS + 10_000, intervalMs: 20 });
    assert.ok(Date.now() - applied >= GONE_DRAIN_MS, 'not before the drain timeout');
  });

  it('silent on both sides: the idle timeout ends the client and the endpoint connection', async () => {
    // (Each keeps its own side open after the FIN: allowHalfOpen, so "ended", not "closed".)
    await within(IDLE_MS * 3, 'the idle connections to end', waitFor('both sides ended', () => of('idle').every(({ c, peer }) => c.ended && peer.ended), { timeoutMs: IDLE_MS * 3, intervalMs: 20 }));
    for (const { c } of of('idle')) assert.equal(c.got, 'ok\n', c.name);
  });

  it('every tunnel that ended is no longer counted active', async () => {
    // Still open: those whose client has not closed ('data', 'client-first', 'stop').
    const open = ACTS.filter((a) => serviceOf(a) === 'sleepy').flatMap((a) => of(a)).filter(({ c }) => !c.closed).length;
    await waitFor(`the sleepy service to count ${open} active`, async () => (await active('sleepy')) === open, { timeoutMs: 10_000, intervalMs: 50 });
    await waitFor('the idle service to count 0 active', async () => (await active('idle')) === 0, { timeoutMs: 10_000, intervalMs: 50 });
  });

  it('hitless stops (SIGTERM): at --drain the clients of sleeping tunnels get a FIN, never a reset', async () => {
    h.child.kill('SIGTERM');
    await within(20_000, 'hitless to stop', once(h.child, 'exit'));
    for (const { c, peer } of of('stop')) {
      assert.equal(c.ended, true, `${c.name} got a FIN`);
      assert.equal(c.error, null, `${c.name}: no reset`);
      assert.equal(peer.error, null, `${c.name}: the endpoint connection was not reset`);
    }
  });
});
