// A pooled endpoint connection that received something while idle (a second or late response, stray
// bytes, its end) is never written on: what is waiting is looked for just before the request head
// goes out (upstream-connection.ts writeHeld, idle-socket-probe.ts), so bytes that
// arrived after the loop's last poll cannot pass for the next request's answer (invariant 8).
//
// The window is made exact here, in one process over real loopback sockets: the endpoint's bytes
// are written (libuv writes at once when nothing is queued, and loopback delivers them in that
// call) in the same synchronous block that takes the pooled connection and starts the request, so
// no poll reads them before the head's write at the end of the turn. Before the probe, every one
// of these cases gave the request the waiting bytes as its answer, or the endpoint's end as a reset
// after the request had gone out.
import assert from 'node:assert/strict';
import { stat } from 'node:fs';
import net, { type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EndpointPool } from '../src/dataplane/builtin/http/upstream-pool.js';
import type { ExchangeHandler, UpstreamError, UpstreamConnection } from '../src/dataplane/builtin/http/upstream-connection.js';
import type { ResponseHead } from '../src/dataplane/builtin/http/response-head.js';
import { idleProbeMechanism, probeByRead, probeIdleSocket } from '../src/util/idle-socket-probe.js';
import { socketFd } from '../src/util/node-internals.js';
import { within } from './helpers/wait.js';

/** An endpoint that answers each request with 200 naming the request's path, and keeps each connection. */
class Endpoint {
  readonly sockets: Socket[] = [];
  /** Every request line it read, with the connection's index. */
  readonly requests: Array<{ conn: number; line: string }> = [];
  private readonly server = net.createServer((s) => this.accept(s));
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const conn = this.sockets.push(socket) - 1;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    let buf = '';
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end !== -1; end = buf.indexOf('\r\n\r\n')) {
        const line = buf.slice(0, buf.indexOf('\r\n'));
        buf = buf.slice(end + 4);
        this.requests.push({ conn, line });
        const path = line.split(' ')[1];
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${path.length}\r\nx-path: ${path}\r\n\r\n${path}`);
      }
    });
  }
}

/** One exchange's outcome, as the connection reported it to its handler. */
function exchange(conn: UpstreamConnection, path: string): Promise<{ head: ResponseHead | null; body: string; error: UpstreamError | null }> {
  return new Promise((resolve) => {
    let head: ResponseHead | null = null;
    let body = '';
    const handler: ExchangeHandler = {
      onReady: () => conn.endRequest(),
      onHead: (h) => {
        head = h;
        return true;
      },
      onData: (chunk) => {
        body += chunk.toString('latin1');
        return true;
      },
      onEnd: () => resolve({ head, body, error: null }),
      onError: (error) => resolve({ head, body, error }),
      onDrain: () => {},
    };
    conn.start(handler, 'GET', `GET ${path} HTTP/1.1\r\nhost: e\r\n\r\n`, 2_000, 2_000);
  });
}

/** A few loop turns: the released connection settles (it is not reused in the turn it went idle). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** xorshift32: the generated cases are the same in every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/** What an endpoint may leave on an idle connection: a whole response, part of one, or any bytes. */
function strayBytes(random: () => number, n: number): string {
  const kind = Math.floor(random() * 4);
  if (kind === 0) return `HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-path: stray${n}\r\n\r\nstray`;
  if (kind === 1) return 'HTTP/1.1 200 OK\r\ncontent-len'.slice(0, 1 + Math.floor(random() * 28));
  if (kind === 2) return `HTTP/1.1 204 No Content\r\nx-path: stray${n}\r\n\r\n`;
  let s = '';
  for (let i = 1 + Math.floor(random() * 300); i > 0; i--) s += String.fromCharCode(Math.floor(random() * 256));
  return s;
}

describe('idle-socket-probe: what waits unread on a socket', () => {
  /** A connected pair; the client side reads nothing until a poll (libuv), which these checks never let run. */
  async function pair(): Promise<{ client: Socket; peer: Socket; done: () => void }> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const client = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const peer = await accepted;
    client.on('error', () => {});
    return { client, peer, done: () => (client.destroy(), peer.destroy(), server.close()) };
  }

  it('recv(MSG_PEEK | MSG_DONTWAIT) through koffi is what runs here (the fallback is dearer)', () => {
    assert.deepEqual(idleProbeMechanism(), { kind: 'recv' });
  });

  it('tells quiet, bytes and the end apart, and consumes nothing', async () => {
    const { client, peer, done } = await pair();
    const read: Buffer[] = [];
    client.on('data', (d: Buffer) => read.push(d));
    assert.equal(probeIdleSocket(client), 'quiet');
    peer.write('ab'); // written at once (nothing queued), delivered by loopback in that call
    assert.equal(probeIdleSocket(client), 'bytes');
    assert.equal(probeIdleSocket(client), 'bytes', 'a peek leaves the bytes where they were');
    assert.deepEqual(read, [], 'libuv read nothing meanwhile');
    await new Promise((resolve) => client.once('data', resolve));
    assert.equal(Buffer.concat(read).toString(), 'ab', 'libuv still reads every byte afterwards');
    assert.equal(probeIdleSocket(client), 'quiet');
    peer.destroy(); // close(2) now: the FIN goes at once (end() waits for a later tick)
    assert.equal(probeIdleSocket(client), 'ended');
    assert.equal(probeIdleSocket(new net.Socket()), 'unknown', 'a socket without a descriptor');
    done();
  });

  it('the fs.readSync fallback tells the same apart (consuming the byte it finds)', async () => {
    const { client, peer, done } = await pair();
    const fd = socketFd(client)!;
    assert.equal(probeByRead(fd), 'quiet');
    peer.write('ab');
    assert.equal(probeByRead(fd), 'bytes');
    assert.equal(probeByRead(fd), 'bytes');
    assert.equal(probeByRead(fd), 'quiet');
    peer.destroy();
    assert.equal(probeByRead(fd), 'ended');
    done();
  });
});

describe('a pooled endpoint connection with something waiting on it is not written on', () => {
  const endpoint = new Endpoint();
  let pool: EndpointPool;

  before(async () => {
    await endpoint.start();
    pool = new EndpointPool('127.0.0.1', endpoint.port, 2_000);
  });

  after(async () => {
    pool.close();
    await endpoint.stop();
  });

  /** A connection that carried one exchange and sits idle, ready, in the pool; and the endpoint's side of it. */
  async function idleConnection(tag: string): Promise<{ conn: UpstreamConnection; peer: Socket }> {
    const conn = pool.acquire(true);
    const first = await within(5_000, 'the first exchange', exchange(conn, `/first-${tag}`));
    assert.equal(first.error, null);
    assert.equal(first.body, `/first-${tag}`);
    await turns(3);
    assert.equal(pool.acquire(), conn, 'the idle connection is the one the pool gives');
    // acquire() took it out of the pool: put it back as the proxy would after an exchange.
    pool.release(conn);
    await turns(3);
    return { conn, peer: endpoint.sockets[endpoint.requests.at(-1)!.conn] };
  }

  /**
   * Writes `stray` (or the end) from the endpoint and starts the next request, in one synchronous
   * block run from the loop's poll phase, as a proxied request starts (from a client's read): the
   * held head is then written at this turn's end, before the next poll.
   */
  async function strayThenRequest(peer: Socket, stray: string | 'end', path: string): ReturnType<typeof exchange> {
    await new Promise((resolve) => stat('/', resolve)); // resumes in the poll phase (an fs callback)
    if (stray === 'end') peer.destroy(); // close(2) now: the FIN goes at once (end() waits a tick)
    else peer.write(stray, 'latin1');
    assert.equal(peer.writableLength, 0, 'the stray bytes left the endpoint at once');
    const conn = pool.acquire();
    return exchange(conn, path);
  }

  it("a whole response waiting on it is not taken as the next request's answer; the request is not written there", async () => {
    const { conn, peer } = await idleConnection('whole');
    const seen = endpoint.requests.length;
    const result = await within(5_000, 'the second exchange', strayThenRequest(peer, 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-path: stray\r\n\r\nstray', '/second'));
    assert.notEqual(result.body, 'stray', 'the stray response was given to the request');
    assert.ok(result.error !== null, 'the exchange failed (the proxy then retries it elsewhere)');
    assert.equal(result.error.kind, 'RESET');
    assert.equal(result.error.sent, false, 'no byte of the request went out');
    assert.equal(result.error.beforeResponse, true);
    assert.match(result.error.message, /sent bytes on the idle connection before the request was written/);
    assert.equal(conn.open, false, 'the connection is closed');
    await turns(3);
    assert.equal(endpoint.requests.length, seen, 'the endpoint never received the request');
  });

  it('an endpoint that closed the idle connection: found before the write, and the request was not sent', async () => {
    const { peer } = await idleConnection('end');
    const seen = endpoint.requests.length;
    const result = await within(5_000, 'the second exchange', strayThenRequest(peer, 'end', '/after-end'));
    assert.ok(result.error !== null);
    assert.equal(result.error.kind, 'RESET');
    assert.equal(result.error.sent, false);
    assert.match(result.error.message, /closed the idle connection before the request was written/);
    await turns(3);
    assert.equal(endpoint.requests.length, seen);
  });

  it('for generated stray bytes (whole responses, partial heads, random bytes), no request takes them as its answer', async () => {
    const random = rng(0x9e3779b9);
    for (let n = 0; n < 40; n++) {
      const { peer } = await idleConnection(`gen${n}`);
      const stray = strayBytes(random, n);
      const result = await within(5_000, `generated case ${n}`, strayThenRequest(peer, stray, `/gen-${n}`));
      const what = `case ${n}, stray ${JSON.stringify(stray.slice(0, 60))}`;
      assert.ok(result.error !== null, `${what}: answered ${result.head?.status} ${JSON.stringify(result.body)}`);
      assert.equal(result.error.sent, false, `${what}: ${result.error.message}`);
      assert.equal(result.head, null, what);
    }
  });

  it('a quiet idle connection carries the next request as before', async () => {
    const { conn } = await idleConnection('quiet');
    const result = await within(5_000, 'the second exchange', exchange(pool.acquire(), '/quiet'));
    assert.equal(result.error, null);
    assert.equal(result.body, '/quiet');
    assert.equal(conn.open, true, 'still open, back in the pool');
  });
});
