// The raw HTTP/1.1 client path (raw-client.ts + request-head.ts) on real sockets against a real
// hitless process, byte for byte: pipelined requests (bodies with Content-Length included) are
// answered in order; a connection switches to node:http mid-way (chunked upload, split head,
// HTTP/1.0) and keeps working; request smuggling shapes and garbage get 400 and a closed
// connection without reaching the endpoint; Connection: close closes; an 8 MiB upload arrives
// byte-exact; an endpoint's early answer leaves the client connection usable; HEAD/204/304 carry
// no body bytes; chunked and close-delimited responses are re-chunked correctly; the access log
// records a raw-path request. Responses are parsed here from the bytes on the wire, strictly: a
// stray byte between two responses fails the parse of the next one.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HitlessProcess } from './helpers/hitless-process.js';
import { bulkChunk, bulkSha256, CHUNK, rawServer, startHttpBackend, type HttpBackend } from './helpers/http-backends.js';
import { httpConfig, request, type HttpService } from './helpers/http-client.js';
import { reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';

// ---- a response parser for the bytes on the wire ----

interface WireResponse {
  readonly status: number;
  readonly statusLine: string;
  /** [name, value] as sent. */
  readonly headers: Array<[string, string]>;
  /** The decoded body. */
  readonly body: Buffer;
  readonly framing: 'none' | 'length' | 'chunked' | 'close';
  /** The whole response exactly as it came (latin1). */
  readonly raw: string;
}

/** Values of a header, by case-insensitive name. */
function headerValues(r: WireResponse, name: string): string[] {
  return r.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

/**
 * Which parser answered. node:http writes `Connection: keep-alive` (or `Connection: close`) on
 * every HTTP/1.1 response; the raw path sends no Connection header on a keep-alive response and a
 * lower-case `connection: close` otherwise, and the endpoints here send none (hop-by-hop anyway).
 */
function servedBy(r: WireResponse): 'raw' | 'node' {
  const connection = r.headers.filter(([n]) => n.toLowerCase() === 'connection').map(([n]) => n);
  if (connection.length === 0 || (connection.length === 1 && connection[0] === 'connection' && header(r, 'connection') === 'close')) return 'raw';
  return 'node';
}

function header(r: WireResponse, name: string): string | undefined {
  const values = headerValues(r, name);
  assert.ok(values.length <= 1, `one ${name} header at most: ${r.raw}`);
  return values[0];
}

/**
 * One response from the start of `buf`, or null when more bytes are needed. `bodiless`: it
 * answers a HEAD. Throws on anything that is not a well-formed response (no trailers accepted:
 * hitless drops them). `ended`: the peer closed, so a close-delimited body is complete.
 */
function parseResponse(buf: Buffer, bodiless: boolean, ended: boolean): { response: WireResponse; used: number } | null {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const lines = buf.toString('latin1', 0, headEnd).split('\r\n');
  const statusLine = lines[0];
  const m = /^HTTP\/1\.[01] (\d{3}) [^\r\n]*$/.exec(statusLine);
  if (m === null) throw new Error(`not a status line at the start of the next response: ${JSON.stringify(buf.toString('latin1', 0, 200))}`);
  const headers = lines.slice(1).map((line): [string, string] => {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed response header line ${JSON.stringify(line)}`);
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  const status = Number(m[1]);
  const partial: Omit<WireResponse, 'body' | 'framing' | 'raw'> = { status, statusLine, headers };
  const te = headers.filter(([n]) => n.toLowerCase() === 'transfer-encoding').map(([, v]) => v);
  const cl = headers.filter(([n]) => n.toLowerCase() === 'content-length').map(([, v]) => v);
  const done = (body: Buffer, framing: WireResponse['framing'], used: number) => ({ response: { ...partial, body, framing, raw: buf.toString('latin1', 0, used) }, used });
  let pos = headEnd + 4;
  if (bodiless || status < 200 || status === 204 || status === 304) return done(Buffer.alloc(0), 'none', pos);
  if (te.length > 0) {
    assert.deepEqual(te, ['chunked'], 'transfer-encoding');
    assert.deepEqual(cl, [], 'no content-length with transfer-encoding');
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos);
      if (lineEnd < 0) return null;
      const sizeText = buf.toString('latin1', pos, lineEnd);
      if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw new Error(`bad chunk size line ${JSON.stringify(buf.toString('latin1', pos, pos + 40))}`);
      const size = parseInt(sizeText, 16);
      const dataEnd = lineEnd + 2 + size;
      if (buf.length < dataEnd + 2) return null;
      if (buf.toString('latin1', dataEnd, dataEnd + 2) !== '\r\n') throw new Error(`chunk of ${size} not followed by CRLF: ${JSON.stringify(buf.toString('latin1', lineEnd, dataEnd + 10))}`);
      pos = dataEnd + 2;
      if (size === 0) return done(Buffer.concat(parts), 'chunked', pos);
      parts.push(buf.subarray(lineEnd + 2, dataEnd));
    }
  }
  if (cl.length > 0) {
    assert.equal(cl.length, 1, 'one content-length');
    const length = Number(cl[0]);
    if (buf.length < pos + length) return null;
    return done(Buffer.from(buf.subarray(pos, pos + length)), 'length', pos + length);
  }
  if (!ended) return null;
  return done(Buffer.from(buf.subarray(pos)), 'close', buf.length);
}

// ---- a client connection that writes exact bytes and reads responses one by one ----

const clients = new Set<WireClient>();

class WireClient {
  private buf: Buffer = Buffer.alloc(0);
  /** hitless ended or closed the connection (this side never ends it before destroy()). */
  ended = false;
  private wake: (() => void) | null = null;

  private constructor(readonly socket: Socket) {
    clients.add(this);
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    const onEnd = (): void => {
      this.ended = true;
      this.wake?.();
    };
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.on('error', () => {});
  }

  static open(port: number): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => reject(new Error(`connect to ${port} timed out`)), 5_000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        resolve(new WireClient(socket));
      });
    });
  }

  /** One write (strings as latin1, byte for byte); waits for 'drain' when the socket is full. */
  async send(data: string | Buffer): Promise<void> {
    if (this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data)) return;
    await this.until('the socket to drain', () => this.socket.writableLength === 0 || this.socket.destroyed, 10_000, 'drain');
    assert.ok(!this.socket.destroyed, 'the connection was closed while the client was writing');
  }

  /** The next whole response; `head`: it answers a HEAD request. */
  async response(what: string, options: { head?: boolean; timeoutMs?: number } = {}): Promise<WireResponse> {
    let parsed: { response: WireResponse; used: number } | null = null;
    await this.until(what, () => {
      parsed = parseResponse(this.buf, options.head ?? false, this.ended);
      if (parsed === null && this.ended) throw new Error(`${what}: the connection closed before a whole response; got ${JSON.stringify(this.pending())}`);
      return parsed !== null;
    }, options.timeoutMs ?? 5_000);
    const { response, used } = parsed!;
    this.buf = this.buf.subarray(used);
    return response;
  }

  /** Resolves once hitless has ended (FIN) or closed the connection. */
  async closedByPeer(what: string, timeoutMs = 3_000): Promise<void> {
    await this.until(what, () => this.ended, timeoutMs);
  }

  /** Bytes received and not taken by response() yet. */
  pending(): string {
    return this.buf.toString('latin1');
  }

  destroy(): void {
    this.socket.destroy();
    clients.delete(this);
  }

  /** Re-checks `ready` on each data/end (or 'drain') event, for at most `timeoutMs`. */
  private async until(what: string, ready: () => boolean, timeoutMs: number, event?: 'drain'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received so far: ${JSON.stringify(this.pending().slice(0, 500))}`);
      let timer: NodeJS.Timeout | undefined;
      let onEvent: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, left);
        this.wake = resolve;
        if (event) this.socket.once(event, (onEvent = resolve));
      });
      clearTimeout(timer);
      this.wake = null;
      if (onEvent) this.socket.off('drain', onEvent);
    }
  }
}

// ---- endpoints ----

/** What the echo path of startHttpBackend answers. */
interface Echo {
  readonly method: string;
  readonly url: string;
  readonly body: string;
  readonly rawHeaders: string[];
}

function echoOf(r: WireResponse): Echo {
  assert.equal(r.status, 200, r.raw);
  return JSON.parse(r.body.toString('latin1')) as Echo;
}

interface ScriptedEndpoint {
  readonly address: string;
  /** "METHOD /path" of every request head seen, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

/**
 * A raw endpoint for what node:http will not do on demand. It answers every request as soon as
 * its head arrives, before reading any body, then reads and drops the body (Content-Length) like
 * a correct keep-alive server: /early answers 413 with a length (keep-alive), /close-delimited
 * answers with no length and closes, a HEAD gets the head of a chunked response, anything else
 * 200 "ok".
 */
async function scriptedEndpoint(): Promise<ScriptedEndpoint> {
  const requests: string[] = [];
  const server = await rawServer((socket) => {
    let buf: Buffer = Buffer.alloc(0);
    let drop = 0;
    socket.on('data', (data: Buffer) => {
      buf = Buffer.concat([buf, data]);
      for (;;) {
        const n = Math.min(drop, buf.length);
        drop -= n;
        buf = buf.subarray(n);
        const end = buf.indexOf('\r\n\r\n');
        if (drop > 0 || end < 0) return;
        const head = buf.toString('latin1', 0, end);
        buf = buf.subarray(end + 4);
        const [method, path] = head.split(' ');
        requests.push(`${method} ${path}`);
        drop = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? '0');
        if (method === 'HEAD') {
          socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
        } else if (path === '/early') {
          socket.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nnope');
        } else if (path === '/close-delimited') {
          socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ');
          setTimeout(() => socket.end('the end'), 10);
          return;
        } else {
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        }
      }
    });
  });
  return { address: server.address, requests, close: () => server.close() };
}

// ---- setup ----

let hitless: HitlessProcess;
let A: HttpBackend;
let S: ScriptedEndpoint;
let logDir = '';
const port = { main: 0, scripted: 0 };

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;
const post = (path: string, body: string): string => `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
const BAD_REQUEST = 'HITLESS_ERR_BAD_REQUEST';

before(async () => {
  A = await startHttpBackend('A');
  S = await scriptedEndpoint();
  port.main = await reservePort();
  port.scripted = await reservePort();
  logDir = mkdtempSync(join(tmpdir(), 'hitless-raw-path-'));
  const main: HttpService & { access_log: { path: string; format: 'json' } } = {
    listen: `127.0.0.1:${port.main}`,
    endpoints: [A.address],
    access_log: { path: join(logDir, 'access.log'), format: 'json' },
  };
  hitless = await HitlessProcess.start({
    logLevel: 'warn',
    workers: 1,
    config: (admin) => httpConfig(admin, { main, scripted: { listen: `127.0.0.1:${port.scripted}`, endpoints: [S.address] } }),
  });
});

after(async () => {
  for (const c of clients) c.destroy();
  await hitless?.kill();
  await A?.close();
  await S?.close();
  if (logDir) rmSync(logDir, { recursive: true, force: true });
});

describe('raw HTTP/1.1 client path', () => {
  it('pipelined requests in one write (with Content-Length bodies, one split before the next head) are answered in order', async () => {
    const c = await WireClient.open(port.main);
    const seen = A.log.length;
    // POST 2's body looks like the end of a head and a request: only its length delimits it.
    const body2 = 'two\r\n\r\nGET /not-a-request HTTP/1.1\r\n\r\n';
    const body4 = 'first half|second half';
    await c.send(`${get('/echo?n=1')}${post('/echo?n=2', body2)}${get('/echo?n=3')}${post('/echo?n=4', body4).slice(0, -12)}`);
    const responses: WireResponse[] = [];
    for (const n of [1, 2, 3]) responses.push(await c.response(`response ${n}`));
    // The rest of POST 4's body and the next request's head in one write.
    await c.send(`${body4.slice(-12)}${get('/echo?n=5')}`);
    for (const n of [4, 5]) responses.push(await c.response(`response ${n}`));
    assert.deepEqual(responses.map(servedBy), ['raw', 'raw', 'raw', 'raw', 'raw']);
    assert.deepEqual(
      responses.map(echoOf).map((e) => [e.method, e.url, e.body]),
      [
        ['GET', '/echo?n=1', ''],
        ['POST', '/echo?n=2', body2],
        ['GET', '/echo?n=3', ''],
        ['POST', '/echo?n=4', body4],
        ['GET', '/echo?n=5', ''],
      ],
    );
    assert.deepEqual(A.log.slice(seen).map((l) => l.url), ['/echo?n=1', '/echo?n=2', '/echo?n=3', '/echo?n=4', '/echo?n=5']);
    assert.equal(c.pending(), '', 'no bytes after the fifth response');
    assert.equal(c.ended, false, 'the connection stays open');
    c.destroy();
  });

  it('one keep-alive connection switches to node:http for a chunked upload and keeps serving', async () => {
    // The chunk data itself contains what looks like a last chunk.
    const chunkedUpload = 'POST /echo?n=2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\n0\r\n\r\n\r\n6\r\n world\r\n0\r\n\r\n';
    const expected = [
      ['GET', '/echo?n=1', ''],
      ['POST', '/echo?n=2', 'hello0\r\n\r\n world'],
      ['GET', '/echo?n=3', ''],
    ];
    // One request at a time...
    const c = await WireClient.open(port.main);
    const responses: WireResponse[] = [];
    for (const [i, req] of [get('/echo?n=1'), chunkedUpload, get('/echo?n=3')].entries()) {
      await c.send(req);
      responses.push(await c.response(`response ${i + 1}`));
    }
    // node:http keeps the connection once it has it.
    assert.deepEqual(responses.map(servedBy), ['raw', 'node', 'node']);
    assert.deepEqual(responses.map(echoOf).map((e) => [e.method, e.url, e.body]), expected);
    assert.equal(c.ended, false);
    c.destroy();
    // ...and the same three pipelined in one write: the hand-over happens with bytes read ahead.
    const p = await WireClient.open(port.main);
    await p.send(get('/echo?n=1') + chunkedUpload + get('/echo?n=3'));
    const pipelined: WireResponse[] = [];
    for (const n of [1, 2, 3]) pipelined.push(await p.response(`pipelined response ${n}`));
    assert.deepEqual(pipelined.map(servedBy), ['raw', 'node', 'node']);
    assert.deepEqual(pipelined.map(echoOf).map((e) => [e.method, e.url, e.body]), expected);
    assert.equal(p.pending(), '');
    p.destroy();
  });

  it('a client that half-closes after its requests gets every answer, on either parser, then hitless closes', async () => {
    const cases: Array<[string, string, Array<'raw' | 'node'>]> = [
      ['a plain GET (raw path)', get('/echo?hc=1'), ['raw']],
      ['HTTP/1.0 (node:http)', 'GET /echo?hc=1 HTTP/1.0\r\nHost: t\r\n\r\n', ['node']],
      // The FIN arrives while the GET is in flight: the hand-over to node:http happens after it.
      ['a GET, then a chunked upload handed to node:http', get('/echo?hc=1') + 'POST /echo?hc=2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', ['raw', 'node']],
    ];
    for (const [what, bytes, parsers] of cases) {
      const c = await WireClient.open(port.main);
      await c.send(bytes);
      c.socket.end();
      const responses: WireResponse[] = [];
      for (const n of parsers.keys()) responses.push(await c.response(`${what}: response ${n + 1}`));
      assert.deepEqual(responses.map((r) => r.status), parsers.map(() => 200), what);
      assert.deepEqual(responses.map(servedBy), parsers, what);
      assert.deepEqual(responses.map((r) => echoOf(r).url), parsers.map((_, i) => `/echo?hc=${i + 1}`), what);
      if (parsers.length === 2) assert.equal(echoOf(responses[1]).body, 'abc');
      await c.closedByPeer(`${what}: hitless closes after the last answer`);
      c.destroy();
    }
  });

  it('a head split across writes is answered 200, and the connection serves the next request', async () => {
    const c = await WireClient.open(port.main);
    await c.send('GET /echo?split HTTP/1.1\r\nHo');
    await sleep(50); // two separate reads on hitless's side
    assert.equal(c.pending(), '', 'nothing is answered before the head is complete');
    await c.send('st: x\r\n\r\n');
    const r = await c.response('the split request');
    // The raw path waits for the rest of a head (big heads arrive in several segments).
    assert.equal(servedBy(r), 'raw');
    const echo = echoOf(r);
    assert.equal(echo.url, '/echo?split');
    assert.deepEqual(echo.rawHeaders.slice(0, 2), ['Host', 'x']);
    await c.send(get('/echo?after-split'));
    const after = await c.response('the request after');
    assert.equal(servedBy(after), 'raw');
    assert.equal(echoOf(after).url, '/echo?after-split');
    c.destroy();
  });

  it('HTTP/1.0 is answered (node:http), and the connection closes after it unless keep-alive was asked', async () => {
    const c = await WireClient.open(port.main);
    await c.send('GET /echo?v=1.0 HTTP/1.0\r\nHost: t\r\n\r\n');
    const r = await c.response('the HTTP/1.0 answer');
    assert.equal(echoOf(r).url, '/echo?v=1.0');
    assert.equal(servedBy(r), 'node');
    assert.equal(r.framing, 'length', 'an HTTP/1.0 client never gets chunked framing');
    await c.closedByPeer('hitless to close the HTTP/1.0 connection');
    assert.equal(c.pending(), '');
    // The contrast: with Connection: keep-alive, the same connection carries a second request.
    const k = await WireClient.open(port.main);
    const ka = 'Connection: keep-alive\r\n';
    await k.send(get('/echo?ka=1', ka).replace('HTTP/1.1', 'HTTP/1.0'));
    const first = await k.response('the first keep-alive HTTP/1.0 answer');
    assert.equal(echoOf(first).url, '/echo?ka=1');
    assert.match(header(first, 'connection') ?? '', /^keep-alive$/i);
    await k.send(get('/echo?ka=2', ka).replace('HTTP/1.1', 'HTTP/1.0'));
    assert.equal(echoOf(await k.response('the second keep-alive HTTP/1.0 answer')).url, '/echo?ka=2');
    k.destroy();
  });

  const SMUGGLING: Record<string, string> = {
    'Content-Length with Transfer-Encoding': 'POST /echo?smuggle=cl-te HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'Transfer-Encoding with Content-Length': 'POST /echo?smuggle=te-cl HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n',
    'two different Content-Lengths': 'POST /echo?smuggle=cl-cl HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde',
    'Content-Length: 1x': 'POST /echo?smuggle=1x HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\na',
    'obs-fold (a header line starting with a space)': 'GET /echo?smuggle=fold HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n',
  };
  for (const [shape, text] of Object.entries(SMUGGLING)) {
    it(`smuggling shape refused with 400 and a closed connection: ${shape}`, async () => {
      const c = await WireClient.open(port.main);
      const seen = A.log.length;
      // A smuggled request follows, in the same write.
      await c.send(`${text}${get('/echo?smuggled')}`);
      const r = await c.response('the 400');
      assert.equal(r.statusLine, 'HTTP/1.1 400 Bad Request');
      assert.equal(header(r, 'x-hitless-error'), BAD_REQUEST);
      assert.equal(r.body.toString(), '400 Bad Request\n');
      await c.closedByPeer('hitless to close the connection after the 400');
      assert.equal(c.pending(), '', 'one answer only: the smuggled request is never answered');
      assert.deepEqual(A.log.slice(seen), [], 'the endpoint saw no request');
    });
  }

  it('Connection: close is answered with connection: close, then hitless closes; a request pipelined after it is not served', async () => {
    const c = await WireClient.open(port.main);
    const seen = A.log.length;
    await c.send(get('/echo?close', 'Connection: close\r\n') + get('/echo?after-close'));
    const r = await c.response('the answer to Connection: close');
    assert.equal(echoOf(r).url, '/echo?close');
    assert.equal(header(r, 'connection'), 'close');
    assert.match(r.raw, /\r\nconnection: close\r\n\r\n/, 'the raw path answered');
    await c.closedByPeer('hitless to close the connection after the response');
    assert.equal(c.pending(), '');
    assert.deepEqual(A.log.slice(seen).map((l) => l.url), ['/echo?close']);
  });

  it('an 8 MiB upload with Content-Length, in many writes, reaches the endpoint byte-exact; the connection serves the next request', async () => {
    const chunks = 128; // 128 x 64 KiB
    const c = await WireClient.open(port.main);
    await c.send(`POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: ${chunks * CHUNK}\r\n\r\n`);
    for (let i = 0; i < chunks; i++) await c.send(bulkChunk(i));
    const r = await c.response('the upload answer', { timeoutMs: 15_000 });
    assert.equal(r.status, 200, r.raw);
    assert.equal(servedBy(r), 'raw');
    assert.deepEqual(JSON.parse(r.body.toString()), { name: 'A', bytes: chunks * CHUNK, sha256: bulkSha256(chunks) });
    await c.send(get('/echo?after-upload'));
    const next = await c.response('the request after the upload');
    assert.equal(servedBy(next), 'raw');
    assert.equal(echoOf(next).url, '/echo?after-upload');
    c.destroy();
  });

  it("an endpoint's early 413 (before it reads the 1 MiB body): the client sends the body, then a GET on the same connection, and both are answered", async () => {
    const MiB = 1024 * 1024;
    const body = Buffer.alloc(MiB, 'b');
    const head = `POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: ${MiB}\r\n\r\n`;
    const check413 = (r: WireResponse): void => {
      assert.equal(r.statusLine, 'HTTP/1.1 413 Payload Too Large');
      assert.equal(r.body.toString(), 'nope');
      assert.equal(header(r, 'connection'), undefined, 'keep-alive, on the raw path: no Connection header');
    };
    for (const waitForAnswer of [true, false]) {
      const seen = S.requests.length;
      const c = await WireClient.open(port.scripted);
      await c.send(head);
      // Either the client sees the 413 before it sends any body byte, or it just keeps writing.
      if (waitForAnswer) check413(await c.response('the early 413 (no body byte sent yet)'));
      for (let i = 0; i < MiB; i += CHUNK) await c.send(body.subarray(i, i + CHUNK));
      await c.send(get('/ok'));
      if (!waitForAnswer) check413(await c.response('the early 413'));
      const ok = await c.response('the GET after the upload');
      assert.equal(ok.statusLine, 'HTTP/1.1 200 OK');
      assert.equal(ok.body.toString(), 'ok');
      assert.equal(servedBy(ok), 'raw');
      assert.equal(c.ended, false, 'the client connection stays open');
      assert.equal(c.pending(), '');
      assert.deepEqual(S.requests.slice(seen), ['POST /early', 'GET /ok'], `waitForAnswer=${waitForAnswer}: the endpoint saw the two requests and nothing else`);
      c.destroy();
    }
  });

  it('HEAD, 204 and 304 put no body bytes on the wire; the next response starts right after', async () => {
    const c = await WireClient.open(port.main);
    await c.send('HEAD / HTTP/1.1\r\nHost: t\r\n\r\n' + get('/204') + get('/304', 'If-None-Match: "v1"\r\n') + get('/'));
    const headR = await c.response('the HEAD answer', { head: true });
    const noContent = await c.response('the 204');
    const notModified = await c.response('the 304');
    const last = await c.response('the GET after them');
    assert.equal(headR.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(header(headR, 'content-length'), '1', 'the length the endpoint declared for GET');
    assert.equal(header(headR, 'transfer-encoding'), undefined);
    assert.equal(noContent.statusLine, 'HTTP/1.1 204 No Content');
    assert.equal(header(noContent, 'transfer-encoding'), undefined);
    assert.equal(header(noContent, 'content-length'), undefined);
    assert.equal(notModified.statusLine, 'HTTP/1.1 304 Not Modified');
    assert.equal(header(notModified, 'etag'), '"v1"');
    assert.equal(header(notModified, 'transfer-encoding'), undefined);
    for (const r of [headR, noContent, notModified]) assert.ok(r.raw.endsWith('\r\n\r\n'), `${r.statusLine}: ends with its head`);
    assert.equal(last.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(last.body.toString(), 'A');
    assert.deepEqual([headR, noContent, notModified, last].map(servedBy), ['raw', 'raw', 'raw', 'raw']);
    assert.equal(c.pending(), '', 'exactly four responses, back to back');
    c.destroy();
    // A HEAD whose GET would be chunked: still no body, not even a last chunk.
    const k = await WireClient.open(port.scripted);
    await k.send(`HEAD /head-chunked HTTP/1.1\r\nHost: t\r\n\r\n${get('/ok')}`);
    const chunkedHead = await k.response('the HEAD answer', { head: true });
    assert.equal(chunkedHead.statusLine, 'HTTP/1.1 200 OK');
    const ok = await k.response('the GET after the HEAD');
    assert.equal(ok.body.toString(), 'ok');
    assert.deepEqual([chunkedHead, ok].map(servedBy), ['raw', 'raw']);
    assert.equal(k.pending(), '');
    k.destroy();
  });

  it("an endpoint's chunked response and a close-delimited one reach a raw client correctly chunked", async () => {
    const cases = [
      { port: port.main, path: '/chunked', body: 'alpha-omega', next: '/', nextBody: 'A' },
      { port: port.scripted, path: '/close-delimited', body: 'until the end', next: '/ok', nextBody: 'ok' },
    ];
    for (const k of cases) {
      const c = await WireClient.open(k.port);
      await c.send(get(k.path));
      const r = await c.response(k.path);
      assert.equal(r.statusLine, 'HTTP/1.1 200 OK', r.raw);
      assert.equal(r.framing, 'chunked', `${k.path}: ${r.raw}`);
      assert.match(r.raw, /\r\ntransfer-encoding: chunked\r\n\r\n/, 're-chunked by the raw path');
      assert.equal(servedBy(r), 'raw');
      assert.equal(r.body.toString(), k.body);
      assert.ok(r.raw.endsWith('\r\n0\r\n\r\n'), `${k.path} ends with the last chunk: ${JSON.stringify(r.raw)}`);
      await c.send(get(k.next));
      assert.equal((await c.response(`${k.next} after ${k.path}`)).body.toString(), k.nextBody);
      assert.equal(c.ended, false);
      c.destroy();
    }
  });

  it('garbage on the wire gets a 400 and a closed connection; the process keeps serving', async () => {
    const garbage = [
      Buffer.concat([Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 0xff, 0xfe]), randomBytes(512), Buffer.from('\r\n\r\n')]),
      Buffer.concat([Buffer.from([0, 1, 2, 3]), randomBytes(64)]), // no end of head at all
    ];
    for (const bytes of garbage) {
      const seen = A.log.length;
      const c = await WireClient.open(port.main);
      await c.send(bytes);
      const r = await c.response('the 400');
      assert.equal(r.statusLine, 'HTTP/1.1 400 Bad Request');
      assert.equal(header(r, 'x-hitless-error'), BAD_REQUEST);
      await c.closedByPeer('hitless to close the connection after the 400');
      assert.deepEqual(A.log.slice(seen), []);
      const fresh = await request(port.main, '/');
      assert.equal(fresh.status, 200);
      assert.equal(fresh.body, 'A');
    }
    assert.equal(hitless.exit, null, 'hitless is running');
  });

  it('the access log records method, path, status, user_agent and referer of a raw-path request', async () => {
    const c = await WireClient.open(port.main);
    await c.send(get('/logged?x=1', 'User-Agent: raw-path-test/1.0\r\nReferer: http://ref.test/page?a=b\r\n'));
    const r = await c.response('the logged request');
    assert.equal(r.body.toString(), 'A');
    assert.equal(servedBy(r), 'raw');
    c.destroy();
    const file = join(logDir, 'access.log');
    const record = await waitFor(
      'the access log line of /logged?x=1',
      () => {
        if (!existsSync(file)) return undefined;
        const records = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
        return records.find((x) => x.path === '/logged?x=1');
      },
      { timeoutMs: 5_000 },
    );
    assert.equal(record.service, 'main');
    assert.equal(record.method, 'GET');
    assert.equal(record.path, '/logged?x=1');
    assert.equal(record.status, 200);
    assert.equal(record.user_agent, 'raw-path-test/1.0');
    assert.equal(record.referer, 'http://ref.test/page?a=b');
    assert.equal(record.endpoint, A.address);
    assert.equal(record.bytes_out, 1);
    assert.equal(record.error, null);
  });
});
