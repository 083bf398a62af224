// The reference-counted socket pool (src/dataplane/socket-pool/), through both of its users, over
// real sockets: the data plane's ListenerPool (servers that accept) and the supervisor's
// SupervisorSockets (bound handles that never accept). References, the warming → active →
// draining → closed lifecycle, a socket's identity kept while any reference holds it, and the
// last release closing it.
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { parseListenAddress, type HostPort } from '../src/config/address.js';
import { BindError, ListenerPool, type PooledListener } from '../src/dataplane/builtin/listener-pool.js';
import { SupervisorSockets } from '../src/process/socket-pool.js';
import { probeConnect, reservePort } from './helpers/ports.js';
import { waitFor, within } from './helpers/wait.js';

function address(port: number): HostPort {
  const parsed = parseListenAddress(`127.0.0.1:${port}`);
  assert.ok(parsed.ok);
  return parsed.value;
}

/** "socket:[inode]" of every socket this process holds a descriptor of. */
function openSockets(): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const link = readlinkSync(`/proc/self/fd/${fd}`);
      if (link.startsWith('socket:')) out.add(link);
    } catch {
      // closed between the listing and the read
    }
  }
  return out;
}

/** A client connection the pool accepted, and the server side of it. */
async function connectTo(port: number, accepted: () => Promise<Socket>): Promise<{ client: Socket; server: Socket; closed: Promise<void> }> {
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const server = await within(5_000, 'the pool to accept', accepted());
  return { client, server, closed };
}

describe('ListenerPool: the ref-counted pool around accepting servers', () => {
  const sockets: Socket[] = [];
  const waiting: Array<(s: Socket) => void> = [];
  const pool = new ListenerPool((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    // Accepted paused and half-open: read, and answer a client's FIN with ours, as the proxies do.
    socket.resume();
    socket.on('end', () => socket.end());
    waiting.shift()?.(socket);
  });
  const nextAccepted = () => new Promise<Socket>((resolve) => waiting.push(resolve));
  after(() => {
    pool.closeAll();
    for (const s of sockets) s.destroy();
  });

  it('counts references; warming → active; the identity holds while referenced; the last release closes', async () => {
    const port = await reservePort();
    const first = await pool.acquire(address(port));
    assert.equal(first.state, 'warming', 'a fresh socket warms until its apply commits');
    assert.equal(first.refs, 1);
    const identity = pool.identity(first);
    assert.match(identity ?? '', /^socket:\[\d+\]$/);
    assert.equal(await probeConnect(port), 'refused', 'a warming socket is bound, not listening: the kernel queues no connection');

    const second = await pool.acquire(address(port));
    assert.equal(second, first, 'a second acquire shares the socket, it does not bind again');
    assert.equal(first.refs, 2);
    pool.activate(first);
    assert.equal(first.state, 'active');
    assert.equal(pool.identity(first), identity, 'activate listens on the socket it bound: the same socket');

    pool.release(first, 1_000);
    assert.equal(first.refs, 1);
    assert.equal(first.state, 'active', 'one reference left: still serving');
    assert.equal(pool.identity(first), identity, 'same socket while a reference holds it');
    assert.equal(await probeConnect(port), 'connected');
    await waitFor('the probe connection to end', () => first.connections.size === 0);

    pool.release(first, 1_000);
    assert.equal(first.state, 'closed', 'no connection open: closed at once');
    assert.equal(pool.get(first.key), undefined);
    assert.equal(pool.identity(first), null);
    assert.ok(!pool.all().includes(first));
    assert.equal(await probeConnect(port), 'refused', 'the last release closes the socket');
  });

  it('a released socket with open connections drains: no new connection, the open one finishes, then closed', async () => {
    const port = await reservePort();
    const listener = await pool.acquire(address(port));
    pool.activate(listener);
    const { client, server } = await connectTo(port, nextAccepted);
    assert.equal(listener.connections.size, 1);
    assert.equal(pool.openConnections() >= 1, true);

    pool.release(listener, 60_000);
    assert.equal(listener.state, 'draining');
    assert.ok(pool.all().includes(listener), 'status still shows a draining socket');
    assert.equal(await probeConnect(port), 'refused', 'a draining socket accepts nothing new');
    assert.equal(client.destroyed, false, 'its open connection is not cut');

    server.end();
    client.end();
    await waitFor('the drained socket to close', () => listener.state === 'closed');
    assert.ok(!pool.all().includes(listener));
  });

  it('at the drain deadline the connections still open are closed', async () => {
    const port = await reservePort();
    const listener = await pool.acquire(address(port));
    pool.activate(listener);
    const { closed } = await connectTo(port, nextAccepted);
    pool.release(listener, 100);
    assert.equal(listener.state, 'draining');
    await within(5_000, 'the connection to be closed at the drain deadline', closed);
    await waitFor('the socket to be closed', () => listener.state === 'closed');
  });

  it('a bind failure keeps nothing: BindError EADDRINUSE, no entry, the holder unaffected', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    await assert.rejects(pool.acquire(address(port)), (err: unknown) => err instanceof BindError && err.errno === 'EADDRINUSE');
    assert.equal(pool.get(`127.0.0.1:${port}`), undefined);
    await new Promise<void>((resolve) => holder.close(() => resolve()));
  });

  it('closeAll stops accepting everywhere; sockets with connections drain until they end', async () => {
    const local = new ListenerPool((socket) => waiting.shift()?.(socket));
    const [idlePort, busyPort] = [await reservePort(), await reservePort()];
    const idle = await local.acquire(address(idlePort));
    const busy: PooledListener = await local.acquire(address(busyPort));
    local.activate(idle);
    local.activate(busy);
    const { client, server } = await connectTo(busyPort, nextAccepted);
    local.closeAll();
    assert.equal(idle.state, 'closed');
    assert.equal(busy.state, 'draining');
    assert.equal(local.openConnections(), 1);
    assert.equal(await probeConnect(busyPort), 'refused');
    server.destroy();
    client.destroy();
    await waitFor('the busy socket to close once its connection ended', () => busy.state === 'closed');
    assert.equal(local.all().length, 0);
  });
});

describe('SupervisorSockets: the same pool around bound, never-accepting handles', () => {
  const sockets = new SupervisorSockets();
  after(() => sockets.closeAll());

  it('references per address, warming until activated, the same socket while referenced, closed by the last release', async () => {
    const a = address(await reservePort());
    sockets.acquireAll([a]);
    const identity = sockets.identity(a.key);
    assert.match(identity ?? '', /^socket:\[\d+\]$/);
    assert.equal(sockets.state(a.key), 'warming');
    sockets.activate([a]);
    assert.equal(sockets.state(a.key), 'active');
    assert.deepEqual(sockets.descriptors().map((d) => d.key), [a.key]);

    sockets.acquireAll([a]);
    sockets.release(a.key);
    assert.equal(sockets.identity(a.key), identity, 'one reference left: the same socket');
    assert.ok(openSockets().has(identity!), 'the socket is open while referenced');
    sockets.release(a.key);
    assert.equal(sockets.identity(a.key), null);
    assert.deepEqual(sockets.keys(), []);
    assert.ok(!openSockets().has(identity!), 'the last release closes the supervisor\'s copy');
  });

  it('acquireAll is all or nothing: one address in use, the others bound in the same call are released', async () => {
    const free = address(await reservePort());
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = address((holder.address() as net.AddressInfo).port);
    const before = openSockets();
    assert.throws(() => sockets.acquireAll([free, taken]), (err: unknown) => err instanceof BindError && err.errno === 'EADDRINUSE' && err.address === taken.key);
    assert.deepEqual(sockets.keys(), []);
    assert.deepEqual(openSockets(), before, 'the socket bound before the failure was closed');
    await new Promise<void>((resolve) => holder.close(() => resolve()));
  });
});
