// Every limit and malformed-input path of http mode answers the right status and leaves the process
// serving; forwarding headers and hop-by-hop handling follow RFC 9110 / RFC 7239; HTTP/1.0, HEAD,
// 204, 304 and chunked bodies (streamed, not buffered) come through intact.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HitlessProcess } from './helpers/hitless-process.js';
import { reservePort } from './helpers/ports.js';
import { waitFor, within } from './helpers/wait.js';
import { fixedResponseServer, refusedPort, startHttpBackend, type HttpBackend, type RawServer } from './helpers/http-backends.js';
import { headerValues, httpConfig, rawExchange, request } from './helpers/http-client.js';

let hitless: HitlessProcess;
let A: HttpBackend;
let E: HttpBackend;
let hop: RawServer;
const port = { main: 0, refused: 0, down: 0, ejected: 0, hop: 0, idle: 0, noIdle: 0, capped: 0 };
const cleanup: Array<() => Promise<unknown> | unknown> = [];

const HOP_RESPONSE =
  'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Resp-Secret\r\nX-Resp-Secret: 1\r\nKeep-Alive: timeout=5, max=3\r\n' +
  'Proxy-Connection: keep-alive\r\nUpgrade: foo\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok';

before(async () => {
  A = await startHttpBackend('A');
  E = await startHttpBackend('E');
  E.failWith = 500;
  hop = await fixedResponseServer(HOP_RESPONSE);
  cleanup.push(() => A.close(), () => E.close(), () => hop.close());
  for (const k of Object.keys(port) as Array<keyof typeof port>) port[k] = await reservePort();
  const [r1, r2, r3] = [await refusedPort(), await refusedPort(), await refusedPort()];
  // One worker: health (active checks, passive ejection counts) is each worker's own view, and
  // the 503 tests count exactly how many answers it takes to change it.
  hitless = await HitlessProcess.start({
    logLevel: 'warn',
    workers: 1,
    config: (admin) =>
      httpConfig(admin, {
        main: {
          listen: `127.0.0.1:${port.main}`,
          endpoints: [A.address],
          timeouts: { header: '500ms', response: '500ms' },
          limits: { max_header_bytes: 4096, max_url_bytes: 1024 },
        },
        refused: { listen: `127.0.0.1:${port.refused}`, endpoints: [`127.0.0.1:${r1}`, `127.0.0.1:${r2}`], retries: 2 },
        down: {
          listen: `127.0.0.1:${port.down}`,
          endpoints: [`127.0.0.1:${r3}`],
          health: { active: { type: 'tcp', interval: '100ms', timeout: '200ms', fall: 1, rise: 1 } },
        },
        ejected: { listen: `127.0.0.1:${port.ejected}`, endpoints: [E.address], health: { passive: { consecutive_failures: 2, ejection: '60s' } } },
        hop: { listen: `127.0.0.1:${port.hop}`, endpoints: [hop.address] },
        idle: { listen: `127.0.0.1:${port.idle}`, endpoints: [A.address], timeouts: { idle: '1s' } },
        noIdle: { listen: `127.0.0.1:${port.noIdle}`, endpoints: [A.address], timeouts: { idle: '0s' } },
        // One worker: its share of max_connections is the whole 2.
        capped: { listen: `127.0.0.1:${port.capped}`, endpoints: [A.address], max_connections: 2 },
      }),
  });
  cleanup.unshift(() => hitless.kill());
});

after(async () => {
  for (const c of cleanup) await c();
});

/** After every failure path: hitless is alive and a plain request through it succeeds. */
async function stillServing(): Promise<void> {
  assert.equal(hitless.exit, null, 'hitless exited');
  const r = await request(port.main, '/');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'A');
}

function statusLine(text: string): string {
  return text.split('\r\n')[0];
}

describe('http limits and error answers', () => {
  it('max_connections caps client connections in http mode too: the one over it is closed at once and counted as rejected', async () => {
    const open = async (): Promise<net.Socket> => {
      const socket = net.connect({ host: '127.0.0.1', port: port.capped });
      socket.on('error', () => {});
      await once(socket, 'connect');
      return socket;
    };
    /** One keep-alive request on `socket`: its status line, or null when the connection closed first. */
    const ask = (socket: net.Socket): Promise<string | null> =>
      new Promise((resolve) => {
        let text = '';
        const onData = (c: Buffer): void => {
          text += c.toString('latin1');
          if (/\r\n\r\nA$/.test(text)) done(statusLine(text));
        };
        const done = (v: string | null): void => {
          socket.off('data', onData);
          socket.off('close', onClose);
          resolve(v);
        };
        const onClose = (): void => done(null);
        socket.on('data', onData).once('close', onClose);
        socket.write('GET / HTTP/1.1\r\nHost: capped\r\n\r\n');
      });
    const held = [await open(), await open()];
    for (const s of held) assert.equal(await within(5_000, 'a request on a held connection', ask(s)), 'HTTP/1.1 200 OK');
    const before = (await hitless.status()).services.find((s) => s.name === 'capped')!.rejected;
    const third = await open();
    assert.equal(await within(5_000, 'the connection over the cap', ask(third)), null, 'closed without an answer');
    assert.equal((await hitless.status()).services.find((s) => s.name === 'capped')!.rejected, before + 1);
    // The held ones still work; once one closes, a new connection is served.
    assert.equal(await ask(held[0]), 'HTTP/1.1 200 OK');
    held[1].destroy();
    const later: net.Socket[] = [];
    await waitFor('a new connection served once one closed', async () => (await ask(later[later.push(await open()) - 1])) === 'HTTP/1.1 200 OK', { timeoutMs: 5_000 });
    for (const s of [held[0], ...later]) s.destroy();
  });

  it('header too large → 431, then closed', async () => {
    const big = 'x'.repeat(8000);
    const { text, closed } = await rawExchange(port.main, `GET / HTTP/1.1\r\nHost: t\r\nX-Big: ${big}\r\n\r\n`);
    assert.equal(statusLine(text), 'HTTP/1.1 431 Request Header Fields Too Large');
    assert.match(text, /x-hitless-error: HITLESS_ERR_HEADERS_TOO_LARGE/i);
    assert.ok(closed);
    await stillServing();
  });

  it('URL too long → 414', async () => {
    const r = await request(port.main, `/${'u'.repeat(2000)}`);
    assert.equal(r.status, 414);
    assert.equal(r.headers['x-hitless-error'], 'HITLESS_ERR_URL_TOO_LONG');
    assert.equal(A.log.filter((l) => l.url.startsWith('/uuu')).length, 0, 'the request never reached the endpoint');
    await stillServing();
  });

  it('malformed requests → 400, then closed', async () => {
    const bad = [
      'GARBAGE\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n',
      // request smuggling shape: both framings at once
      'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: t\r\nBad Header Name: x\r\n\r\n',
    ];
    for (const request of bad) {
      const { text, closed } = await rawExchange(port.main, request);
      assert.equal(statusLine(text), 'HTTP/1.1 400 Bad Request', JSON.stringify(request));
      assert.match(text, /x-hitless-error: HITLESS_ERR_BAD_REQUEST/i);
      assert.ok(closed);
    }
    await stillServing();
  });

  it('slowloris: headers trickled slower than timeouts.header → 408, then closed', async () => {
    const pieces = ['GET / HTTP/1.1\r\nHost: t\r\n', ...Array.from({ length: 40 }, (_, i) => `X-Slow-${i}: ${i}\r\n`), '\r\n'];
    const { text, closed } = await rawExchange(port.main, pieces, { gapMs: 100, timeoutMs: 8_000 });
    assert.equal(statusLine(text), 'HTTP/1.1 408 Request Timeout');
    assert.match(text, /x-hitless-error: HITLESS_ERR_HEADER_TIMEOUT/i);
    assert.ok(closed, 'the slow connection was closed');
    await stillServing();
  });

  it('idle keep-alive: requests inside timeouts.idle share the connection, then an idle one is closed', async () => {
    const get = 'GET / HTTP/1.1\r\nHost: t\r\n\r\n';
    // Two requests 400 ms apart (inside the 1 s idle timeout), then silence.
    const { text, closed } = await rawExchange(port.idle, [get, get], { gapMs: 400, timeoutMs: 8_000 });
    assert.equal(text.split('HTTP/1.1 200 OK').length - 1, 2, text);
    assert.ok(closed, 'the idle keep-alive connection was closed by hitless');
  });

  it('timeouts.idle 0 means never: a response body paused mid-way and an idle keep-alive connection both live on', async () => {
    // The second half of the body comes 300 ms later: several 50 ms deadline sweeps pass.
    A.hooks.secondResponseChunk = new Promise((resolve) => setTimeout(resolve, 300));
    const r = await request(port.noIdle, '/stream-out');
    A.hooks.secondResponseChunk = undefined;
    assert.equal(r.body, 'first;second');
    const get = 'GET / HTTP/1.1\r\nHost: t\r\n\r\n';
    const { text, closed } = await rawExchange(port.noIdle, [get, get], { gapMs: 400, timeoutMs: 1_500 });
    assert.equal(text.split('HTTP/1.1 200 OK').length - 1, 2, text);
    assert.equal(closed, false, 'hitless closed a connection whose idle timeout is 0 (never)');
  });

  it('response timeout → 504 with x-hitless-error', async () => {
    const r = await request(port.main, '/hold/never');
    assert.equal(r.status, 504);
    assert.equal(r.headers['x-hitless-error'], 'HITLESS_ERR_UPSTREAM_TIMEOUT');
    A.release('never');
    await stillServing();
  });

  it('connect refused on every endpoint → 502', async () => {
    const r = await request(port.refused, '/');
    assert.equal(r.status, 502);
    assert.equal(r.headers['x-hitless-error'], 'HITLESS_ERR_UPSTREAM_CONNECT');
    await stillServing();
  });

  it('no healthy endpoint (active check down, or passively ejected) → 503', async () => {
    await waitFor('the down endpoint to be marked down', async () => {
      const s = await hitless.status();
      return (s.services.find((x) => x.name === 'down')!.endpoints[0] as { health?: string }).health === 'down';
    });
    const r = await request(port.down, '/');
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-hitless-error'], 'HITLESS_ERR_NO_HEALTHY_ENDPOINT');
    // E answers 500: passed through twice, then E is ejected and hitless answers 503 itself.
    for (let i = 0; i < 2; i++) {
      const five = await request(port.ejected, '/');
      assert.equal(five.status, 500);
      assert.equal(five.headers['x-hitless-error'], undefined, 'an endpoint’s own 500 is passed through');
    }
    const ejected = await request(port.ejected, '/');
    assert.equal(ejected.status, 503);
    assert.equal(ejected.headers['x-hitless-error'], 'HITLESS_ERR_NO_HEALTHY_ENDPOINT');
    await stillServing();
  });
});

describe('http forwarding and framing', () => {
  it('appends X-Forwarded-For and Forwarded, sets X-Forwarded-Proto, drops hop-by-hop request headers', async () => {
    const { text } = await rawExchange(
      port.main,
      'GET /echo HTTP/1.1\r\nHost: svc.test\r\nX-Forwarded-For: 203.0.113.7\r\nForwarded: for=203.0.113.7;proto=https\r\n' +
        'Connection: close, X-Secret\r\nX-Secret: s3cret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n',
    );
    assert.equal(statusLine(text), 'HTTP/1.1 200 OK');
    const seen = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { rawHeaders: string[] };
    const h = (name: string) => headerValues(seen.rawHeaders, name);
    assert.deepEqual(h('x-forwarded-for'), ['203.0.113.7, 127.0.0.1']);
    assert.deepEqual(h('x-forwarded-proto'), ['http']);
    assert.deepEqual(h('forwarded'), ['for=203.0.113.7;proto=https, for=127.0.0.1;proto=http;host="svc.test"']);
    assert.deepEqual(h('x-kept'), ['yes']);
    for (const gone of ['x-secret', 'keep-alive', 'te', 'upgrade', 'proxy-connection']) assert.deepEqual(h(gone), [], `${gone} must not reach the endpoint`);
    for (const c of h('connection')) assert.doesNotMatch(c, /secret/i);
  });

  it('drops hop-by-hop response headers', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const r = await request(port.hop, '/', { agent });
      assert.equal(r.status, 200);
      assert.equal(r.body, 'ok');
      assert.equal(r.headers['x-kept'], 'yes');
      for (const gone of ['x-resp-secret', 'proxy-connection', 'upgrade']) assert.equal(r.headers[gone], undefined, `${gone} must not reach the client`);
      assert.notEqual(r.headers['keep-alive'], 'timeout=5, max=3', 'the endpoint’s Keep-Alive is not relayed');
      assert.doesNotMatch(String(r.headers.connection), /secret/i);
      const again = await request(port.hop, '/', { agent });
      assert.equal(again.localPort, r.localPort, 'the client connection stays usable');
    } finally {
      agent.destroy();
    }
  });

  it('an HTTP/1.0 client gets a complete, unchunked answer', async () => {
    const { text, closed } = await rawExchange(port.main, 'GET /chunked HTTP/1.0\r\nHost: t\r\n\r\n');
    assert.match(statusLine(text), /^HTTP\/1\.[01] 200 OK$/);
    const [head, body] = [text.slice(0, text.indexOf('\r\n\r\n')), text.slice(text.indexOf('\r\n\r\n') + 4)];
    assert.doesNotMatch(head, /transfer-encoding: chunked/i);
    assert.equal(body, 'alpha-omega');
    assert.ok(closed, 'HTTP/1.0 without keep-alive: closed after the answer');
  });

  it('HEAD, 204 and 304 carry no body and keep the connection usable', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const head = await request(port.main, '/', { method: 'HEAD', agent });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], '1');
      assert.equal(head.body, '');
      const noContent = await request(port.main, '/204', { agent });
      assert.equal(noContent.status, 204);
      assert.equal(noContent.body, '');
      const notModified = await request(port.main, '/304', { agent, headers: { 'if-none-match': '"v1"' } });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.headers.etag, '"v1"');
      const after = await request(port.main, '/', { agent });
      assert.equal(after.body, 'A');
      assert.equal(new Set([head.localPort, noContent.localPort, notModified.localPort, after.localPort]).size, 1, 'one connection throughout');
    } finally {
      agent.destroy();
    }
  });

  it('streams a chunked request body (the endpoint sees the first chunk before the client sends the second)', async () => {
    let firstArrived!: () => void;
    const arrived = new Promise<void>((r) => (firstArrived = r));
    A.hooks.onFirstRequestChunk = firstArrived;
    const req = http.request({ host: '127.0.0.1', port: port.main, path: '/stream-in', method: 'POST', agent: false });
    const reply = new Promise<{ body: string; status: number }>((resolve, reject) => {
      req.once('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.once('end', () => resolve({ body, status: res.statusCode ?? 0 }));
      });
      req.once('error', reject);
    });
    req.write('part-one;');
    await within(5_000, 'the first chunk to reach the endpoint while the body is still open', arrived);
    req.end('part-two');
    const r = await reply;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'part-one;part-two');
    A.hooks.onFirstRequestChunk = undefined;
  });

  it('streams a chunked response body (the client sees the first chunk before the endpoint sends the second)', async () => {
    let clientGotFirst!: () => void;
    A.hooks.secondResponseChunk = new Promise<void>((r) => (clientGotFirst = r));
    const r = await within(
      5_000,
      'the chunked response',
      new Promise<{ body: string; te: string | undefined }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: port.main, path: '/stream-out', agent: false }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => {
              body += c;
              if (body === 'first;') clientGotFirst();
            });
            res.once('end', () => resolve({ body, te: res.headers['transfer-encoding'] }));
          })
          .once('error', reject);
      }),
    );
    assert.equal(r.body, 'first;second');
    assert.equal(r.te, 'chunked');
    A.hooks.secondResponseChunk = undefined;
    await stillServing();
  });
});
