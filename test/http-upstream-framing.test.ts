// hitless delimits every endpoint response itself (its own upstream HTTP/1.1 client): chunked
// framing split at awkward places, close-delimited bodies, HEAD/204/304, interim 1xx answers, and
// the responses it must refuse (502) or must not reuse the connection after. A scripted raw
// endpoint writes exact bytes, in pieces, and counts its connections to prove reuse.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HitlessProcess } from './helpers/hitless-process.js';
import { reservePort } from './helpers/ports.js';
import { httpConfig, request } from './helpers/http-client.js';
import { rawServer } from './helpers/http-backends.js';

/** What the endpoint writes for a path: pieces written `gapMs` apart, then optionally a close. */
interface Script {
  readonly pieces: string[];
  readonly close?: boolean;
  /** Close the connection this long after answering (an endpoint's own keep-alive timeout). */
  readonly closeIdleAfterMs?: number;
}

const CHUNKED_SPLIT: Script = {
  // Size line, data, CRLF and the last chunk each split across writes.
  pieces: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-S: 1\r\n', '\r\n5\r', '\nhel', 'lo\r', '\n6;ext=1\r\n world\r\n0\r\n', 'X-Trailer: t\r\n', '\r\n'],
};

const SCRIPTS: Record<string, Script> = {
  '/chunked': CHUNKED_SPLIT,
  '/close-delimited': { pieces: ['HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ', 'the end'], close: true },
  '/head-length': { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'] },
  '/no-content': { pieces: ['HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n'] },
  '/not-modified': { pieces: ['HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n'] },
  '/interim': { pieces: ['HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal'] },
  '/split-head': { pieces: ['HTTP/1.1 200 O', 'K\r\nContent-Len', 'gth: 3\r\n\r', '\nabc'] },
  '/te-and-cl': { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n'] },
  '/two-lengths': { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'] },
  '/bad-status': { pieces: ['HTTP/1.1 OK\r\nContent-Length: 2\r\n\r\nok'] },
  '/bad-header-char': { pieces: ['HTTP/1.1 200 OK\r\nX-Evil: a\x01b\r\nContent-Length: 2\r\n\r\nok'] },
  '/huge-head': { pieces: [`HTTP/1.1 200 OK\r\n${'X-Pad: '.concat('p'.repeat(1000), '\r\n').repeat(70)}Content-Length: 2\r\n\r\nok`] },
  '/bad-chunk': { pieces: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n'] },
  '/extra-bytes': { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE'] },
  '/ok': { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'] },
  '/short-keepalive': { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'], closeIdleAfterMs: 60 },
  // Answers as soon as the head arrives, without reading the body.
  '/early': { pieces: ['HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope'], close: true },
};

interface ScriptedEndpoint {
  readonly address: string;
  readonly accepted: number;
  /** Paths requested, in order, on every connection. */
  readonly requests: string[];
  close(): Promise<void>;
}

async function scriptedEndpoint(): Promise<ScriptedEndpoint> {
  const requests: string[] = [];
  const server = await rawServer((socket) => {
    let buffered = '';
    let busy = false;
    const serve = async (): Promise<void> => {
      const end = buffered.indexOf('\r\n\r\n');
      if (busy || end < 0) return;
      busy = true;
      const head = buffered.slice(0, end);
      buffered = buffered.slice(end + 4);
      const path = head.split(' ')[1];
      requests.push(path);
      const script = SCRIPTS[path] ?? SCRIPTS['/ok'];
      for (const piece of script.pieces) {
        if (socket.destroyed) return;
        socket.write(piece, 'latin1');
        await sleep(15);
      }
      if (script.close) socket.end();
      if (script.closeIdleAfterMs !== undefined) setTimeout(() => socket.end(), script.closeIdleAfterMs);
      busy = false;
      void serve();
    };
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      void serve();
    });
  });
  return {
    address: server.address,
    get accepted() {
      return server.accepted;
    },
    requests,
    close: () => server.close(),
  };
}

let hitless: HitlessProcess;
let endpoint: ScriptedEndpoint;
let port = 0;

before(async () => {
  endpoint = await scriptedEndpoint();
  port = await reservePort();
  hitless = await HitlessProcess.start({
    logLevel: 'warn',
    workers: 1,
    config: (admin) => httpConfig(admin, { main: { listen: `127.0.0.1:${port}`, endpoints: [endpoint.address], retries: 2 } }),
  });
});

after(async () => {
  await hitless?.kill();
  await endpoint?.close();
});

/** Each case uses a fresh upstream connection count: how many connections did `fn` open? */
async function connectionsOpenedBy(fn: () => Promise<void>): Promise<number> {
  const before = endpoint.accepted;
  await fn();
  return endpoint.accepted - before;
}

describe('upstream response framing', () => {
  it('chunked framing split across reads: body decoded, trailers dropped, connection reused', async () => {
    const opened = await connectionsOpenedBy(async () => {
      const r = await request(port, '/chunked');
      assert.equal(r.status, 200);
      assert.equal(r.body, 'hello world');
      assert.equal(r.headers['x-s'], '1');
      assert.equal(r.headers['x-trailer'], undefined);
      const again = await request(port, '/ok');
      assert.equal(again.body, 'ok');
    });
    assert.ok(opened <= 1, `the chunked response's connection was reused (${opened} opened)`);
  });

  it('a response delimited by the endpoint closing is complete, and its connection is not reused', async () => {
    const r = await request(port, '/close-delimited');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'until the end');
    const opened = await connectionsOpenedBy(async () => assert.equal((await request(port, '/ok')).body, 'ok'));
    assert.equal(opened, 1);
  });

  it('HEAD with a Content-Length, 204 and 304 carry no body and keep the connection', async () => {
    await request(port, '/ok'); // a pooled connection to reuse
    const opened = await connectionsOpenedBy(async () => {
      const head = await request(port, '/head-length', { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], '100');
      assert.equal(head.body, '');
      const noContent = await request(port, '/no-content');
      assert.equal(noContent.status, 204);
      assert.equal(noContent.headers['x-a'], '1');
      const notModified = await request(port, '/not-modified');
      assert.equal(notModified.status, 304);
      assert.equal(notModified.headers.etag, '"x"');
      assert.equal((await request(port, '/ok')).body, 'ok');
    });
    assert.equal(opened, 0);
  });

  it('interim 1xx answers are skipped; a head split in pieces is reassembled', async () => {
    const interim = await request(port, '/interim');
    assert.equal(interim.status, 200);
    assert.equal(interim.body, 'final');
    const split = await request(port, '/split-head');
    assert.equal(split.status, 200);
    assert.equal(split.body, 'abc');
  });

  it('Transfer-Encoding with Content-Length: chunked wins, the length is not forwarded, the connection is closed after', async () => {
    const r = await request(port, '/te-and-cl');
    assert.equal(r.body, 'wxyz');
    assert.equal(r.headers['content-length'], undefined);
    const opened = await connectionsOpenedBy(async () => assert.equal((await request(port, '/ok')).body, 'ok'));
    assert.equal(opened, 1);
  });

  it('bytes after the end of a response: the connection is not reused', async () => {
    const r = await request(port, '/extra-bytes');
    assert.equal(r.body, 'ok');
    const opened = await connectionsOpenedBy(async () => assert.equal((await request(port, '/ok')).body, 'ok'));
    assert.equal(opened, 1);
  });

  for (const path of ['/two-lengths', '/bad-status', '/bad-header-char', '/huge-head']) {
    it(`${path}: refused with 502 HITLESS_ERR_UPSTREAM_BAD_RESPONSE, not retried, process serving`, async () => {
      const seen = endpoint.requests.length;
      const r = await request(port, path);
      assert.equal(r.status, 502);
      assert.equal(r.headers['x-hitless-error'], 'HITLESS_ERR_UPSTREAM_BAD_RESPONSE');
      assert.equal(endpoint.requests.slice(seen).filter((p) => p === path).length, 1, 'a response was received: never replayed');
      assert.equal((await request(port, '/ok')).body, 'ok');
    });
  }

  it('an endpoint answering before it read the whole body: the client gets the answer and its connection stays usable', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const early = await request(port, '/early', { method: 'POST', body: Buffer.alloc(32 * 1024 * 1024, 120), agent });
      assert.equal(early.status, 413);
      assert.equal(early.body, 'nope');
      const next = await request(port, '/ok', { agent });
      assert.equal(next.body, 'ok');
      assert.equal(next.localPort, early.localPort, 'same client connection');
    } finally {
      agent.destroy();
    }
  });

  it('an endpoint closing its idle keep-alive connections: every later request still succeeds, none counted as a failure', async () => {
    for (let i = 0; i < 15; i++) {
      const r = await request(port, '/short-keepalive');
      assert.equal(r.body, 'ok', `request ${i}`);
      await sleep(40 + (i % 5) * 10); // around the endpoint's 60 ms idle close
    }
  });

  it('broken chunked framing after the head went out: the client sees a cut response, not a short one', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/bad-chunk', agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.once('end', () => resolve(`complete:${body}`));
        res.once('error', () => resolve(`cut:${body}`));
        res.once('aborted', () => resolve(`cut:${body}`));
      });
      req.once('error', () => resolve('cut'));
    });
    assert.match(outcome, /^cut/);
    assert.equal((await request(port, '/ok')).body, 'ok');
    assert.equal(hitless.exit, null);
  });
});
