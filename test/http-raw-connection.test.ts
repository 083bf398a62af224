// The raw HTTP/1.1 client path (src/dataplane/builtin/http/raw-client.ts) on its own, over real
// loopback sockets, with a test RawHost standing in for the proxy. It proves that:
// - parseRequestHead recognises the common head and refuses (null) everything it must leave to
//   node:http (HTTP/1.0, Transfer-Encoding, Expect, Upgrade, ambiguous lengths, odd bytes...);
// - pipelined requests are served one at a time, in order, and bodies are split exactly at
//   Content-Length even when the next request's head shares a read with the body's end;
// - whatever is not recognised goes to host.fallback at a request boundary with exactly the
//   unread bytes, after which the raw connection never reads again;
// - a body nobody reads yet pauses the socket; an early answer drops the rest of the body and
//   the next request is still found;
// - responses are framed exactly (chunked re-encoding, HEAD/204, Connection: close, sendError),
//   sendHead refuses header bytes a client must never see, and the header/idle timeouts close.
// Every assertion compares exact bytes; every wait is bounded.
import assert from 'node:assert/strict';
import net, { type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { STATUS_CODES } from 'node:http';
import { HTTP_ERRORS, rawErrorResponse, type HttpError } from '../src/dataplane/builtin/http/errors.js';
import { RawConnection, rawConnectionOf, type RawExchange, type RawHost } from '../src/dataplane/builtin/http/raw-client.js';
import { couldStartRequestHead, parseRequestHead } from '../src/dataplane/builtin/http/request-head.js';
import type { ResponseHead } from '../src/dataplane/builtin/http/response-head.js';
import type { BodySink } from '../src/dataplane/builtin/http/client-side.js';
import { sleep, waitFor } from './helpers/wait.js';

const WAIT = { timeoutMs: 2_000, intervalMs: 5 };

// ---------------------------------------------------------------------------------------------
// Helpers

interface Fallback {
  readonly socket: Socket;
  readonly unread: Buffer | null;
  /** Bytes the socket delivered after the hand-over (what node:http would have read). */
  readonly later: Buffer[];
  readonly clientEnded: boolean;
}

/** A RawHost that records what the raw path hands it; `onServe` plays the proxy. */
class TestHost implements RawHost {
  readonly served: RawExchange[] = [];
  readonly fallbacks: Fallback[] = [];
  /** Ordered log of serve / answer / fallback events, to prove sequencing. */
  readonly events: string[] = [];
  onServe: (ex: RawExchange) => void = () => {};

  constructor(
    readonly maxHeaderBytes: number,
    private readonly header: number,
    private readonly idle: number,
  ) {}

  headerTimeout(): number {
    return this.header;
  }

  idleTimeout(): number {
    return this.idle;
  }

  serve(ex: RawExchange): void {
    this.served.push(ex);
    this.events.push(`serve ${ex.method} ${ex.url}`);
    this.onServe(ex);
  }

  /** As the frontend answers: the error response, then the connection closes. */
  refuse(socket: Socket, error: HttpError): void {
    this.events.push(`refuse ${error.status}`);
    socket.end(rawErrorResponse(error.status, STATUS_CODES[error.status] ?? 'Error', error.code));
    socket.destroySoon();
  }

  fallback(socket: Socket, unread: Buffer | null, clientEnded: boolean): void {
    const record: Fallback = { socket, unread: unread === null ? null : Buffer.from(unread), later: [], clientEnded };
    socket.on('data', (chunk: Buffer) => record.later.push(chunk));
    socket.on('error', () => {});
    this.fallbacks.push(record);
    this.events.push('fallback');
  }
}

interface Harness {
  readonly port: number;
  readonly host: TestHost;
  /** One per accepted connection, in accept order. */
  readonly connections: RawConnection[];
  close(): Promise<void>;
}

async function harness(options: { maxHeaderBytes?: number; headerTimeout?: number; idleTimeout?: number } = {}): Promise<Harness> {
  const host = new TestHost(options.maxHeaderBytes ?? 16 * 1024, options.headerTimeout ?? 10_000, options.idleTimeout ?? 10_000);
  const connections: RawConnection[] = [];
  const sockets = new Set<Socket>();
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    connections.push(new RawConnection(socket, host));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    host,
    connections,
    async close() {
      for (const s of sockets) s.destroy();
      for (const f of host.fallbacks) f.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Client {
  readonly socket: Socket;
  /** Everything the server sent so far. */
  bytes(): Buffer;
  text(): string;
  /** Waits (bounded) until the server sent at least `n` bytes. */
  waitForLength(n: number): Promise<void>;
  readonly closed: Promise<number>;
  isClosed(): boolean;
}

async function connect(port: number): Promise<Client> {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  const chunks: Buffer[] = [];
  let length = 0;
  let closedFlag = false;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      closedFlag = true;
      resolve(performance.now());
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const bytes = (): Buffer => Buffer.concat(chunks);
  return {
    socket,
    bytes,
    text: () => bytes().toString('latin1'),
    waitForLength: async (n) => {
      await waitFor(`${n} response bytes (have ${length}: ${JSON.stringify(bytes().toString('latin1').slice(0, 200))})`, () => length >= n, WAIT);
    },
    closed,
    isClosed: () => closedFlag,
  };
}

/** Rejects if `promise` does not settle within `ms`. */
async function bounded<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function head(status: number, reason: string, headers: string[], framing: ResponseHead['framing'], contentLength = -1): ResponseHead {
  return { status, reason, headers, framing, contentLength, keepAlive: true, upgrade: undefined };
}

/** Answers like the proxy does for a Content-Length response: head and last bytes in one call. */
function respond(ex: RawExchange, body: string): void {
  const n = Buffer.byteLength(body);
  assert.equal(ex.sendHead(head(200, 'OK', ['content-length', String(n)], n === 0 ? 'none' : 'length', n === 0 ? -1 : n)), true);
  if (n === 0) ex.endResponse();
  else ex.sendBody(Buffer.from(body), true);
}

/** The exact bytes `respond` produces. */
function ok(body: string): string {
  return `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function get(url: string, extra = ''): string {
  return `GET ${url} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`;
}

/** A sink that records everything delivered to it. */
function recordingSink(): BodySink & { chunks: Buffer[]; ends: number; all(): Buffer } {
  const sink = {
    chunks: [] as Buffer[],
    ends: 0,
    onBody(chunk: Buffer) {
      sink.chunks.push(Buffer.from(chunk));
    },
    onBodyEnd() {
      sink.ends++;
    },
    all: () => Buffer.concat(sink.chunks),
  };
  return sink;
}

// ---------------------------------------------------------------------------------------------

describe('parseRequestHead', () => {
  const BASE = 'GET /a?b=1 HTTP/1.1\r\nHost: example\r\nX-Spaced: \t padded value \t\r\nAccept: */*';

  it('accepts a normal GET and reports method, url, trimmed raw headers, length and close', () => {
    const h = parseRequestHead(`${BASE}\r\nConnection: keep-alive, close`);
    assert.ok(h !== null);
    assert.equal(h.method, 'GET');
    assert.equal(h.url, '/a?b=1');
    assert.deepEqual(h.rawHeaders, ['Host', 'example', 'X-Spaced', 'padded value', 'Accept', '*/*', 'Connection', 'keep-alive, close']);
    assert.equal(h.contentLength, 0);
    assert.equal(h.close, true);

    const post = parseRequestHead('POST /up HTTP/1.1\r\nHost: h\r\ncontent-length:  42 ');
    assert.ok(post !== null);
    assert.equal(post.method, 'POST');
    assert.equal(post.contentLength, 42);
    assert.equal(post.close, false);
    assert.deepEqual(post.rawHeaders, ['Host', 'h', 'content-length', '42']);
  });

  // Each case is BASE (accepted above) with one change that must send the request to node:http.
  const refused: [string, string][] = [
    ['HTTP/1.0', BASE.replace('HTTP/1.1', 'HTTP/1.0')],
    ['Transfer-Encoding', `${BASE}\r\nTransfer-Encoding: chunked`],
    ['Expect: 100-continue', `${BASE}\r\nContent-Length: 3\r\nExpect: 100-continue`],
    ['Upgrade', `${BASE}\r\nConnection: Upgrade\r\nUpgrade: websocket`],
    ['two Content-Length', `${BASE}\r\nContent-Length: 1\r\nContent-Length: 1`],
    ['Content-Length: 1x', `${BASE}\r\nContent-Length: 1x`],
    ['obs-fold', `${BASE}\r\nX-Folded: one\r\n two`],
    ['space before the colon', `${BASE}\r\nX-Name : v`],
    ['control byte in a value', `${BASE}\r\nX-A: a\x01b`],
    ['byte >= 0x80 in a value', `${BASE}\r\nX-A: caf\xe9`],
    ['absolute-form target', BASE.replace('/a?b=1', 'http://x/')],
    ['asterisk target', BASE.replace('GET /a?b=1', 'OPTIONS *')],
    ['CONNECT', BASE.replace('GET /a?b=1', 'CONNECT x:443')],
    ['lower-case method', BASE.replace('GET', 'get')],
    ['two Host headers', `${BASE}\r\nHost: other`],
    ['bare LF after the request line', BASE.replace('HTTP/1.1\r\n', 'HTTP/1.1\n')],
    ['bare LF between headers', BASE.replace('example\r\n', 'example\n')],
  ];
  for (const [name, text] of refused) {
    it(`returns null for ${name}`, () => {
      assert.equal(parseRequestHead(text), null, JSON.stringify(text));
    });
  }

  it('couldStartRequestHead: true while the bytes can still become a head it takes, false at once otherwise', () => {
    for (const partial of ['', 'G', 'GE', 'PATCH', 'OPTIONS', 'GET ', 'GET /a', 'GET / HTTP/1.1\r\nHo', 'POST /x HTTP/1.1\r\nContent-Length: 3\r\n']) {
      assert.equal(couldStartRequestHead(partial), true, JSON.stringify(partial));
    }
    for (const partial of ['\x16\x03\x01', 'get', 'BREW ', 'CONNECT ', 'GETTING', 'OPTIONSX', ' GET', '\r\nGET ', 'GET / HTTP/1.1\r\nX: \x00', 'GET /\xe9']) {
      assert.equal(couldStartRequestHead(partial), false, JSON.stringify(partial));
    }
  });
});

describe('RawConnection over loopback', () => {
  it('serves pipelined requests one at a time, in order, and the responses go out in order', async () => {
    const h = await harness();
    try {
      h.host.onServe = (ex) => {
        // Answer later: the next request must not be served while this one is in flight.
        setTimeout(() => {
          respond(ex, `body of ${ex.url}`);
          h.host.events.push(`answered ${ex.url}`);
        }, 30);
      };
      const c = await connect(h.port);
      c.socket.write(get('/1') + get('/2') + get('/3'));
      const expected = ok('body of /1') + ok('body of /2') + ok('body of /3');
      await c.waitForLength(expected.length);
      assert.deepEqual(h.host.events, ['serve GET /1', 'answered /1', 'serve GET /2', 'answered /2', 'serve GET /3', 'answered /3']);
      assert.equal(c.text(), expected);
      assert.equal(h.host.fallbacks.length, 0);
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('answers every pipelined request of a client that half-closed after sending them, then closes', async () => {
    const h = await harness();
    try {
      h.host.onServe = (ex) => setTimeout(() => respond(ex, `body of ${ex.url}`), 20);
      const c = await connect(h.port);
      c.socket.end(get('/1') + get('/2') + get('/3'));
      await bounded(2_000, 'the server to close after the last answer', c.closed);
      assert.equal(c.text(), ok('body of /1') + ok('body of /2') + ok('body of /3'));
      assert.deepEqual(h.host.served.map((ex) => ex.url), ['/1', '/2', '/3']);
    } finally {
      await h.close();
    }
  });

  it('splits a body at its Content-Length across reads and starts the next request right after it', async () => {
    const h = await harness();
    try {
      const sink = recordingSink();
      h.host.onServe = (ex) => {
        if (ex.url === '/up') {
          const inner = sink.onBodyEnd;
          ex.readBody({
            onBody: (chunk) => sink.onBody(chunk),
            onBodyEnd: () => {
              inner();
              respond(ex, 'got it');
            },
          });
        } else respond(ex, `next ${ex.url}`);
      };
      const c = await connect(h.port);
      c.socket.write('POST /up HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nabc');
      await waitFor('first body piece', () => sink.all().length === 3, WAIT);
      c.socket.write('defg');
      await waitFor('second body piece', () => sink.all().length === 7, WAIT);
      c.socket.write(`hij${get('/next')}`);
      const expected = ok('got it') + ok('next /next');
      await c.waitForLength(expected.length);
      assert.deepEqual(sink.chunks.map((b) => b.toString('latin1')), ['abc', 'defg', 'hij']);
      assert.equal(sink.all().toString('latin1'), 'abcdefghij');
      assert.equal(sink.ends, 1);
      assert.deepEqual(h.host.served.map((ex) => `${ex.method} ${ex.url}`), ['POST /up', 'GET /next']);
      assert.equal(c.text(), expected);
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('falls back at the request boundary: an HTTP/1.0 request pipelined behind a served one', async () => {
    const h = await harness();
    try {
      h.host.onServe = (ex) => {
        setTimeout(() => {
          respond(ex, 'one');
          h.host.events.push(`answered ${ex.url}`);
        }, 30);
      };
      const c = await connect(h.port);
      const second = 'GET /two HTTP/1.0\r\nHost: test\r\n\r\n';
      c.socket.write(get('/one') + second);
      await waitFor('fallback', () => h.host.fallbacks.length === 1, WAIT);
      assert.deepEqual(h.host.events, ['serve GET /one', 'answered /one', 'fallback']);
      const fb = h.host.fallbacks[0];
      assert.equal(fb.socket, h.connections[0].socket);
      assert.ok(fb.unread !== null);
      assert.ok(fb.unread.equals(Buffer.from(second)), JSON.stringify(fb.unread.toString('latin1')));
      await c.waitForLength(ok('one').length);
      assert.equal(c.text(), ok('one'));
      assert.equal(rawConnectionOf(fb.socket), undefined);
      assert.equal(fb.socket.listenerCount('data'), 1, 'only the fallback reads the socket now');

      // From now on node:http (here: the fallback's listener) reads, never the raw path.
      const third = get('/three');
      c.socket.write(third);
      await waitFor('bytes after the fallback', () => Buffer.concat(fb.later).length === third.length, WAIT);
      assert.equal(Buffer.concat(fb.later).toString('latin1'), third);
      assert.equal(h.host.served.length, 1);
      assert.equal(h.host.fallbacks.length, 1);
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('falls back at the request boundary: a chunked upload arriving after a served request', async () => {
    const h = await harness();
    try {
      h.host.onServe = (ex) => respond(ex, 'first');
      const c = await connect(h.port);
      c.socket.write(get('/first'));
      await c.waitForLength(ok('first').length);
      const chunked = 'POST /c HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
      c.socket.write(chunked);
      await waitFor('fallback', () => h.host.fallbacks.length === 1, WAIT);
      const fb = h.host.fallbacks[0];
      assert.ok(fb.unread !== null && fb.unread.equals(Buffer.from(chunked)), JSON.stringify(fb.unread?.toString('latin1')));
      assert.deepEqual(h.host.events, ['serve GET /first', 'fallback']);
      c.socket.write(get('/later'));
      await waitFor('bytes after the fallback', () => Buffer.concat(fb.later).length === get('/later').length, WAIT);
      assert.equal(h.host.served.length, 1);
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('waits for a head that arrives in pieces (a big head in several segments, a slow client) and serves it', async () => {
    const h = await harness();
    try {
      h.host.onServe = (ex) => respond(ex, `got ${ex.url}`);
      const c = await connect(h.port);
      await waitFor('the connection', () => h.connections.length === 1, WAIT);
      // Split inside the request line, inside a header, and between the CR and LF of the blank line;
      // each piece is read by the server before the next is sent.
      let sent = 0;
      for (const piece of ['GET /spl', 'it HTTP/1.1\r\nHo', 'st: t\r\nX-A: 1\r\n\r', '\n']) {
        c.socket.write(piece);
        sent += piece.length;
        await waitFor(`the server to read ${sent} bytes`, () => h.connections[0].socket.bytesRead >= sent, WAIT);
      }
      await c.waitForLength(ok('got /split').length);
      assert.equal(c.text(), ok('got /split'));
      assert.equal(h.host.fallbacks.length, 0);
      assert.deepEqual(h.host.served[0].rawHeaders, ['Host', 't', 'X-A', '1']);
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('answers 408 and closes when a head is not complete within the header timeout (slowloris)', async () => {
    const h = await harness({ headerTimeout: 200, idleTimeout: 200 });
    try {
      h.host.onServe = (ex) => respond(ex, 'first');
      const c = await connect(h.port);
      c.socket.write('GET / HTTP/1.1\r\nHost');
      await c.closed;
      assert.equal(c.text(), rawErrorResponse(408, 'Request Timeout', 'HITLESS_ERR_HEADER_TIMEOUT'));
      // A later request's head gets the header timeout from its own first byte.
      const k = await connect(h.port);
      k.socket.write(get('/first'));
      await k.waitForLength(ok('first').length);
      k.socket.write('GET /second HTTP/1.1\r\n');
      await k.closed;
      assert.equal(k.text(), ok('first') + rawErrorResponse(408, 'Request Timeout', 'HITLESS_ERR_HEADER_TIMEOUT'));
      assert.equal(h.host.fallbacks.length, 0);
    } finally {
      await h.close();
    }
  });

  it('hands a partial head that cannot become one it takes to the fallback at once, with exactly the bytes read', async () => {
    const h = await harness();
    try {
      const starts = ['\x16\x03\x01\x02\x00', 'BREW /pot HTTP/1.1\r\n', 'GETX', 'GET / HTTP/1.1\r\nX-Bin: \x01'];
      for (const [i, partial] of starts.entries()) {
        const c = await connect(h.port);
        c.socket.write(Buffer.from(partial, 'latin1'));
        await waitFor(`fallback for ${JSON.stringify(partial)}`, () => h.host.fallbacks.length === i + 1, WAIT);
        assert.equal(h.host.fallbacks[i].unread?.toString('latin1'), partial);
        c.socket.destroy();
      }
      assert.equal(h.host.served.length, 0);
    } finally {
      await h.close();
    }
  });

  it('refuses a partial head cut short by the client\'s FIN with 400 itself, without a fallback', async () => {
    const h = await harness();
    try {
      const c = await connect(h.port);
      c.socket.end('GET / HTTP/1.1\r\nHost: t\r\n');
      await waitFor('refusal', () => h.host.events.includes('refuse 400'), WAIT);
      assert.equal(h.host.fallbacks.length, 0);
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('serves a head of exactly maxHeaderBytes and hands a head one byte longer to the fallback', async () => {
    const max = 1024;
    const h = await harness({ maxHeaderBytes: max });
    try {
      h.host.onServe = (ex) => respond(ex, 'fits');
      /** A GET whose head, blank line included, is `size` bytes. */
      const sized = (size: number): string => {
        const fixed = get('/size', 'X-Pad: \r\n').length;
        return get('/size', `X-Pad: ${'p'.repeat(size - fixed)}\r\n`);
      };
      assert.equal(sized(max).length, max);
      const c1 = await connect(h.port);
      c1.socket.write(sized(max));
      await c1.waitForLength(ok('fits').length);
      assert.equal(c1.text(), ok('fits'));
      assert.equal(h.host.fallbacks.length, 0);

      const tooLarge = sized(max + 1);
      const c2 = await connect(h.port);
      c2.socket.write(tooLarge);
      await waitFor('fallback', () => h.host.fallbacks.length === 1, WAIT);
      assert.ok(h.host.fallbacks[0].unread?.equals(Buffer.from(tooLarge)));
      assert.equal(h.host.served.length, 1);
      c1.socket.destroy();
      c2.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('stops reading a body nobody reads yet, and delivers all of it once readBody is called', async () => {
    const h = await harness();
    try {
      const held: { ex?: RawExchange } = {};
      h.host.onServe = (ex) => {
        held.ex = ex;
      };
      // The raw path holds up to 64 KiB before pausing; a Node socket may still complete one
      // more 64 KiB read into its readable buffer after pause(). So up to ~200 KiB can be read
      // legitimately: a 512 KiB body shows the pause well below the total.
      const total = 512 * 1024;
      const body = Buffer.alloc(total);
      for (let i = 0; i < total; i++) body[i] = i % 251;
      const reqHead = `POST /big HTTP/1.1\r\nHost: test\r\nContent-Length: ${total}\r\n\r\n`;
      const c = await connect(h.port);
      c.socket.write(reqHead);
      const ex = await waitFor('serve', () => held.ex, WAIT);
      // Write the body in pieces, without waiting for the server to read them.
      for (let off = 0; off < total; off += 16 * 1024) c.socket.write(body.subarray(off, off + 16 * 1024));
      const server = h.connections[0].socket;
      await waitFor('the server socket to pause', () => server.isPaused(), WAIT);
      // A read already under way when pause() ran may still land (on a loaded machine, one turn
      // later): let it, then the count must stay put.
      await sleep(50);
      const readAt = server.bytesRead;
      await sleep(150);
      assert.equal(server.bytesRead, readAt, 'the paused socket kept reading');
      assert.ok(readAt < total / 2, `read ${readAt} of ${reqHead.length + total} bytes while paused`);
      assert.ok(c.socket.bytesWritten > total / 2, 'the client wrote more than the server read');
      assert.equal(h.connections[0].bodyOutstanding, true);

      const sink = recordingSink();
      ex.readBody(sink);
      await waitFor('the whole body', () => sink.ends === 1, WAIT);
      assert.equal(sink.all().length, total);
      assert.ok(sink.all().equals(body), 'body bytes differ');
      assert.equal(ex.bodyComplete, true);
      respond(ex, 'stored');
      await c.waitForLength(ok('stored').length);
      assert.equal(c.text(), ok('stored'));
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('drops the rest of a body answered early (readBody never called) and serves the next request', async () => {
    const h = await harness();
    try {
      const early = `HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nnope`;
      h.host.onServe = (ex) => {
        if (ex.url === '/early') {
          assert.equal(ex.sendHead(head(413, 'Payload Too Large', ['content-length', '4'], 'length', 4)), true);
          ex.sendBody(Buffer.from('nope'), true);
        } else respond(ex, 'after');
      };
      const total = 100_000;
      const c = await connect(h.port);
      c.socket.write(`POST /early HTTP/1.1\r\nHost: test\r\nContent-Length: ${total}\r\n\r\n${'a'.repeat(1000)}`);
      await c.waitForLength(early.length);
      assert.equal(c.text(), early);
      assert.equal(h.host.served[0].bodyComplete, false);
      // The rest of the body, then a pipelined GET right behind its last byte.
      c.socket.write('b'.repeat(total - 1000 - 1));
      c.socket.write(`c${get('/after')}`);
      await c.waitForLength(early.length + ok('after').length);
      assert.equal(c.text(), early + ok('after'));
      assert.deepEqual(h.host.served.map((ex) => ex.url), ['/early', '/after']);
      assert.equal(h.host.served[0].bodyComplete, true);
      assert.equal(h.host.fallbacks.length, 0);
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('re-encodes a body as chunked: transfer-encoding header, chunk framing (empty slices skipped) and 0\\r\\n\\r\\n', async () => {
    const h = await harness();
    try {
      h.host.onServe = (ex) => {
        assert.equal(ex.sendHead(head(200, 'OK', ['content-type', 'text/plain'], 'chunked')), true);
        // An empty slice must not be framed: "0\r\n\r\n" would end the body here.
        ex.sendBody(Buffer.alloc(0), false);
        ex.sendBody(Buffer.from('hello'), false);
        ex.sendBody(Buffer.alloc(0), false);
        ex.sendBody(Buffer.from(' chunked world!'), false);
        ex.endResponse();
      };
      const c = await connect(h.port);
      c.socket.write(get('/chunked') + get('/again'));
      const one = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nf\r\n chunked world!\r\n0\r\n\r\n';
      await c.waitForLength(one.length * 2);
      assert.equal(c.text(), one + one);
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('sends no body bytes for HEAD or 204, and the next response follows intact', async () => {
    const h = await harness();
    try {
      h.host.onServe = (ex) => {
        if (ex.url === '/h') {
          assert.equal(ex.sendHead(head(200, 'OK', ['content-length', '100'], 'none')), true);
          ex.endResponse();
        } else if (ex.url === '/h-chunked') {
          // Even a head that claims a body gets no chunked framing in answer to HEAD.
          assert.equal(ex.sendHead(head(200, 'OK', ['x-up', 'chunked'], 'chunked')), true);
          ex.endResponse();
        } else if (ex.url === '/empty') {
          assert.equal(ex.sendHead(head(204, 'No Content', ['x-a', '1'], 'none')), true);
          ex.endResponse();
        } else if (ex.url === '/empty-chunked') {
          assert.equal(ex.sendHead(head(204, 'No Content', [], 'chunked')), true);
          ex.endResponse();
        } else respond(ex, 'ok');
      };
      const c = await connect(h.port);
      // The last request is a marker: a stray byte after any bodiless answer would arrive before its answer.
      c.socket.write('HEAD /h HTTP/1.1\r\nHost: test\r\n\r\n' + get('/empty') + 'HEAD /h-chunked HTTP/1.1\r\nHost: test\r\n\r\n' + get('/empty-chunked') + get('/g'));
      const expected =
        'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n' +
        'HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nx-up: chunked\r\n\r\n' +
        'HTTP/1.1 204 No Content\r\n\r\n' +
        ok('ok');
      await c.waitForLength(expected.length);
      assert.equal(c.text(), expected);
      assert.deepEqual(h.host.served.map((ex) => `${ex.method} ${ex.url}`), ['HEAD /h', 'GET /empty', 'HEAD /h-chunked', 'GET /empty-chunked', 'GET /g']);
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('answers Connection: close with connection: close, then closes (a pipelined request is not served)', async () => {
    const h = await harness();
    try {
      h.host.onServe = (ex) => respond(ex, 'bye');
      const c = await connect(h.port);
      c.socket.write(get('/c', 'Connection: close\r\n') + get('/after'));
      await bounded(2_000, 'the server to close the connection', c.closed);
      assert.equal(c.text(), 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nbye');
      assert.deepEqual(h.host.served.map((ex) => ex.url), ['/c']);
      assert.equal(h.host.fallbacks.length, 0);
    } finally {
      await h.close();
    }
  });

  it('closes the connection after sendError(error, true)', async () => {
    const h = await harness();
    try {
      h.host.onServe = (ex) => ex.sendError(HTTP_ERRORS.NO_ENDPOINT, true);
      const c = await connect(h.port);
      c.socket.write(get('/e'));
      await bounded(2_000, 'the server to close the connection', c.closed);
      const body = '503 no healthy endpoint\n';
      assert.equal(
        c.text(),
        `HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nx-hitless-error: HITLESS_ERR_NO_HEALTHY_ENDPOINT\r\nConnection: close\r\n\r\n${body}`,
      );
      assert.equal(h.host.served[0].status, 503);
    } finally {
      await h.close();
    }
  });

  it('closes a connection idle after an exchange once idleTimeout passes', async () => {
    const h = await harness({ headerTimeout: 10_000, idleTimeout: 200 });
    try {
      h.host.onServe = (ex) => respond(ex, 'x');
      const c = await connect(h.port);
      c.socket.write(get('/x'));
      await c.waitForLength(ok('x').length);
      const answered = performance.now();
      const closedAt = await bounded(2_000, 'the idle timeout to close the connection', c.closed);
      const elapsed = closedAt - answered;
      assert.ok(elapsed >= 150, `closed after ${elapsed.toFixed(0)} ms, before the 200 ms idle timeout`);
      assert.ok(elapsed <= 200 + 100 + 200, `closed after ${elapsed.toFixed(0)} ms (200 ms idle timeout + sweep)`);
      assert.equal(c.text(), ok('x'));
    } finally {
      await h.close();
    }
  });

  it('closes a connection that sends nothing once headerTimeout passes', async () => {
    const h = await harness({ headerTimeout: 200, idleTimeout: 10_000 });
    try {
      const c = await connect(h.port);
      const opened = performance.now();
      const closedAt = await bounded(2_000, 'the header timeout to close the connection', c.closed);
      const elapsed = closedAt - opened;
      assert.ok(elapsed >= 150, `closed after ${elapsed.toFixed(0)} ms, before the 200 ms header timeout`);
      assert.ok(elapsed <= 200 + 100 + 200, `closed after ${elapsed.toFixed(0)} ms (200 ms header timeout + sweep)`);
      assert.equal(c.bytes().length, 0);
      assert.equal(h.host.served.length, 0);
    } finally {
      await h.close();
    }
  });

  it('reports idle between requests, busy during an exchange, and stops reading after release()', async () => {
    const h = await harness();
    try {
      const seen: { ex?: RawExchange; idleInServe?: boolean } = {};
      h.host.onServe = (ex) => {
        seen.idleInServe = h.connections[0].idle;
        seen.ex = ex;
      };
      const c = await connect(h.port);
      await waitFor('the connection', () => h.connections.length === 1, WAIT);
      const conn = h.connections[0];
      assert.equal(conn.idle, true);
      assert.equal(rawConnectionOf(conn.socket), conn);

      c.socket.write(get('/busy'));
      const pending = await waitFor('serve', () => seen.ex, WAIT);
      assert.equal(seen.idleInServe, false);
      await new Promise<void>((resolve) => setImmediate(resolve)); // a full turn: nothing may mark it idle meanwhile
      assert.equal(conn.idle, false, 'an exchange is in flight');
      respond(pending, 'done');
      await c.waitForLength(ok('done').length);
      await waitFor('idle after the response', () => conn.idle, WAIT);

      conn.release();
      assert.equal(rawConnectionOf(conn.socket), undefined);
      assert.equal(conn.socket.listenerCount('data'), 0, 'release() leaves no reader on the socket');
      c.socket.write(get('/ignored'));
      // A second client's request, served, is the marker: the released connection's request was
      // sent before it and had as long to be (wrongly) read.
      const marker = await connect(h.port);
      marker.socket.write(get('/marker'));
      await waitFor('the marker request served', () => h.host.served.length >= 2, WAIT);
      marker.socket.destroy();
      assert.deepEqual(h.host.served.map((ex) => ex.url), ['/busy', '/marker']);
      assert.equal(h.host.fallbacks.length, 0);
      assert.equal(c.text(), ok('done'));
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('holds a whole small response for the end of the loop turn, and writes it first when the connection is let go', async () => {
    const h = await harness();
    try {
      const seen: Array<{ written: number; idle: boolean; afterRelease?: number }> = [];
      h.host.onServe = (ex) => {
        const conn = h.connections[0];
        respond(ex, ex.url === '/held' ? 'held' : 'handed');
        // Still this turn: nothing on the wire yet, and the connection is not idle (it holds bytes).
        const state: { written: number; idle: boolean; afterRelease?: number } = { written: conn.socket.bytesWritten, idle: conn.idle };
        if (ex.url === '/release') {
          conn.release(); // a worker drain handing the connection over, in the same turn
          state.afterRelease = conn.socket.bytesWritten;
        }
        seen.push(state);
      };
      const c = await connect(h.port);
      c.socket.write(get('/held'));
      await c.waitForLength(ok('held').length);
      assert.equal(c.text(), ok('held'));
      assert.deepEqual(seen[0], { written: 0, idle: false });
      await waitFor('idle once written', () => h.connections[0].idle, WAIT);

      c.socket.write(get('/release'));
      await c.waitForLength(ok('held').length + ok('handed').length);
      assert.equal(c.text(), ok('held') + ok('handed'));
      assert.equal(seen[1].written, ok('held').length, 'the second response is held too');
      assert.equal(seen[1].afterRelease, ok('held').length + ok('handed').length, 'release() wrote the held response before letting go');
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('sendHead refuses header names and values a client must never see, and writes nothing', async () => {
    const h = await harness();
    const bad: string[][] = [
      ['x-bad', 'a\x01b'],
      ['bad name', 'v'],
      ['x-ok', 'fine', 'x-inject', 'a\r\nx-evil: 1'],
      ['x-del', 'a\x7fb'],
      ['x:colon', 'v'],
      ['', 'v'],
    ];
    try {
      const results: boolean[] = [];
      h.host.onServe = (ex) => {
        if (ex.url === '/marker') return respond(ex, 'marker');
        for (const headers of bad) results.push(ex.sendHead(head(200, 'OK', headers, 'length', 2)));
        assert.equal(ex.headSent, false);
        ex.sendError(HTTP_ERRORS.BAD_RESPONSE, false);
      };
      const c = await connect(h.port);
      // The marker's answer comes after anything a refused head might have leaked.
      c.socket.write(get('/refused') + get('/marker'));
      const body = '502 the endpoint sent a malformed response\n';
      const expected = `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nx-hitless-error: HITLESS_ERR_UPSTREAM_BAD_RESPONSE\r\n\r\n${body}`;
      await c.waitForLength(expected.length + ok('marker').length);
      assert.deepEqual(results, bad.map(() => false));
      assert.equal(c.text(), expected + ok('marker'));
      assert.equal(c.isClosed(), false, 'sendError(error, false) keeps the connection');
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });

  // node:http's writeHead throws "Invalid character in statusMessage" for these (the node path
  // answers 502); without the check the raw path wrote `HTTP/1.1 200 OK\nX-Injected: 1\r\n...`
  // and a lenient client saw an injected header.
  it('sendHead refuses a reason phrase with a bare LF, CR or control byte, like node:http', async () => {
    const h = await harness();
    try {
      const results: boolean[] = [];
      const reasons = ['OK\nX-Injected: 1', 'OK\rX', 'O\x00K'];
      h.host.onServe = (ex) => {
        if (ex.url === '/marker') return respond(ex, 'marker');
        for (const reason of reasons) results.push(ex.sendHead(head(200, reason, ['content-length', '2'], 'length', 2)));
        if (ex.headSent) ex.sendBody(Buffer.from('ok'), true);
        else ex.sendError(HTTP_ERRORS.BAD_RESPONSE, false);
      };
      const c = await connect(h.port);
      c.socket.write(get('/reason') + get('/marker'));
      await waitFor('the marker answered', () => c.text().endsWith(ok('marker')), WAIT);
      assert.deepEqual(results, reasons.map(() => false));
      // Exactly one 502, then the marker: no injected header, no stray bytes.
      assert.match(c.text(), /^HTTP\/1\.1 502 Bad Gateway\r\n[^]*\r\n\r\n502 [^\r]*\nHTTP\/1\.1 200 OK\r\n/);
      assert.doesNotMatch(c.text(), /X-Injected/i);
      assert.equal(c.text().match(/HTTP\/1\.1 /g)?.length, 2);
      c.socket.destroy();
    } finally {
      await h.close();
    }
  });
});
