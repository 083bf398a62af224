// Issue 3's promise in http mode: applies never cost a keep-alive client a request, a WebSocket
// stays open, big transfers finish, and endpoints removed by an apply finish what they started.
// Everything runs through the real `hitless run` process and its admin API. (A slow in-flight
// response through a removed endpoint is proved on all three data planes by
// driver-conformance.test.ts.)
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { servingProcesses } from './helpers/admin.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import { reservePort } from './helpers/ports.js';
import { sleep, waitFor, within } from './helpers/wait.js';
import { bulkChunk, bulkSha256, CHUNK, startHttpBackend, type HttpBackend } from './helpers/http-backends.js';
import { httpConfig, request, type HttpService } from './helpers/http-client.js';

const APPLIES = 100;
const APPLY_INTERVAL_MS = 100; // 10 applies per second

let hitless: HitlessProcess;
let port: number;
const b: Record<string, HttpBackend> = {};
const cleanup: Array<() => Promise<unknown> | unknown> = [];

/** Config number `i`: routes, endpoints, weights and health settings all change with `i`. */
function web(i: number, extra: { bulk?: string[] } = {}): HttpService {
  const A = b.A.address, B = b.B.address, C = b.C.address, D = b.D.address;
  const mainSets = [[A, B], [B, C], [C, A], [A, B, C]];
  const health = {
    active: { type: 'http' as const, path: '/health', interval: `${100 + (i % 3) * 50}ms`, timeout: '500ms', rise: 1 + (i % 2), fall: 2 + (i % 2) },
    passive: { consecutive_failures: 3 + (i % 3), ejection: '2s' },
  };
  return {
    listen: `127.0.0.1:${port}`,
    clusters: {
      main: { balance: i % 4 === 3 ? 'least-conn' : 'round-robin', endpoints: mainSets[i % 4].map((address, k) => ({ address, weight: 1 + ((i + k) % 3) })), health },
      alt: { endpoints: i % 2 === 0 ? [D] : [D, A], health: i % 5 === 0 ? undefined : health },
      p0: { endpoints: [b.P0.address] },
      p1: { endpoints: [b.P1.address] },
      bulk: { endpoints: extra.bulk ?? [b.U.address] },
      slow: { endpoints: [b.S.address] },
    },
    routes: [
      { path: '/probe', cluster: i % 2 === 0 ? 'p0' : 'p1' },
      i % 2 === 0 ? { path: '/alt', cluster: 'alt' } : { host: 'alt.test', cluster: 'alt' },
      { path: '/upload', cluster: 'bulk' },
      { path: '/download', cluster: 'bulk' },
      { path: '/hold', cluster: 'slow' },
      { cluster: 'main' },
    ],
    timeouts: { connect: `${1 + (Math.floor(i / 2) % 2)}s` }, // changes between two applies that route /probe to P0
    retries: 2,
  };
}

async function apply(i: number, extra?: Parameters<typeof web>[1]): Promise<void> {
  const res = await hitless.put(httpConfig(hitless.admin, { web: web(i, extra) }));
  assert.equal(res.status, 200, `apply ${i}: HTTP ${res.status} ${res.text}`);
  assert.equal(res.json<{ result: string }>().result, 'applied', `apply ${i}: ${res.text}`);
}

/** `count` applies, at most one per APPLY_INTERVAL_MS, calling `each` after every one. */
async function applyStorm(count: number, each: (i: number) => Promise<void>): Promise<void> {
  for (let i = 1; i <= count; i++) {
    const started = Date.now();
    await apply(i);
    await each(i);
    const rest = APPLY_INTERVAL_MS - (Date.now() - started);
    if (rest > 0) await sleep(rest);
  }
}

before(async () => {
  for (const name of ['A', 'B', 'C', 'D', 'P0', 'P1', 'U', 'V', 'S']) b[name] = await startHttpBackend(name);
  for (const backend of Object.values(b)) cleanup.push(() => backend.close());
  port = await reservePort();
  hitless = await HitlessProcess.start({ config: (admin) => httpConfig(admin, { web: web(0) }), logLevel: 'warn' });
  cleanup.unshift(() => hitless.kill());
});

after(async () => {
  for (const c of cleanup) await c();
});

describe('http applies', () => {
  it('a keep-alive client sees 0 failed requests across 100 applies, keeps its sockets, and follows the new routes', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    cleanup.push(() => agent.destroy());
    // Every connection the client opens passes here: a count of them is the proof of reuse.
    let opened = 0;
    let closedSockets = 0;
    const create = agent.createConnection.bind(agent) as (...args: unknown[]) => import('node:net').Socket;
    (agent as unknown as { createConnection: (...args: unknown[]) => unknown }).createConnection = (...args: unknown[]) => {
      opened++;
      const socket = create(...args);
      socket.once('close', () => closedSockets++);
      return socket;
    };
    const failures: string[] = [];
    const ports = new Set<number>();
    let sent = 0;
    let stop = false;
    const paths = ['/', '/alt/x', '/some/path', '/'];
    const loop = async (k: number): Promise<void> => {
      for (let n = 0; !stop && n < 100_000; n++) {
        const path = paths[(k + n) % paths.length];
        sent++;
        try {
          const r = await request(port, path, { agent, headers: n % 3 === 0 ? { host: 'alt.test' } : {} });
          ports.add(r.localPort);
          if (r.status !== 200) failures.push(`${path}: HTTP ${r.status} ${r.headers['x-hitless-error'] ?? ''} ${r.body.slice(0, 80)}`);
        } catch (err) {
          failures.push(`${path}: ${(err as Error).message}`);
        }
      }
    };
    const loops = [0, 1, 2, 3].map(loop);
    await waitFor('some traffic before the first apply', () => sent > 50);
    const portsBefore = new Set(ports);

    const misrouted: string[] = [];
    let probesOnReusedSockets = 0;
    let applied = 0;
    await applyStorm(APPLIES, async (i) => {
      applied++;
      // The next request after the apply follows the new routes, on a connection opened before it.
      const r = await request(port, '/probe', { agent });
      if (r.body !== `P${i % 2}`) misrouted.push(`apply ${i}: /probe answered by ${r.body}, expected P${i % 2}`);
      if (portsBefore.has(r.localPort)) probesOnReusedSockets++;
    });
    stop = true;
    await Promise.all(loops);
    const sentDuring = sent;

    const status = await hitless.status();
    console.log(
      `keep-alive: ${sentDuring} requests, ${failures.length} failed, ${opened} client connections opened (${ports.size} local ports), ${closedSockets} closed, ` +
        `${applied} applies (hitless counted ${status.services[0].total} requests), ${probesOnReusedSockets}/${APPLIES} route probes on pre-apply connections`,
    );
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${sentDuring} requests failed`);
    assert.deepEqual(misrouted.slice(0, 10), [], `${misrouted.length} requests did not follow the new routes`);
    assert.equal(applied, APPLIES);
    assert.ok(sentDuring > APPLIES * 5, `only ${sentDuring} requests were sent`);
    // The client opened at most maxSockets connections and none of them was closed by hitless.
    assert.ok(opened <= 4 && ports.size === opened, `client opened ${opened} connections on ${ports.size} ports (max 4 expected)`);
    assert.equal(closedSockets, 0, 'a keep-alive client connection was closed during the applies');
    assert.equal(probesOnReusedSockets, APPLIES, 'every post-apply probe went over a connection opened before the applies');
    // hitless's side too: P0 and P1 stay in their clusters through every apply (only the routes
    // to them and the connect timeout change), so each serving process kept its one pooled
    // upstream connection (workers pool separately; which ones got probes is the kernel's choice).
    const processes = servingProcesses(status);
    for (const name of ['P0', 'P1']) {
      const peers = b[name].peers.size;
      assert.ok(peers >= 1 && peers <= processes, `hitless opened ${peers} connections to ${name} (${processes} serving processes, one pool each)`);
    }
    // Every request was counted out again: no in-flight count leaks across applies.
    agent.destroy();
    await waitFor('the service to have no request in flight', async () => (await hitless.status()).services[0].active === 0);
  });

  it('a WebSocket stays open and echoes across 100 applies', async () => {
    await apply(0);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    cleanup.push(() => ws.terminate());
    const closed: string[] = [];
    ws.on('close', (code) => closed.push(`closed with ${code}`));
    ws.on('error', (err) => closed.push(`error ${err.message}`));
    await within(5_000, 'WebSocket open', new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }));
    const replies: string[] = [];
    let waiter: (() => void) | null = null;
    ws.on('message', (data) => {
      replies.push(String(data));
      waiter?.();
    });
    const echo = async (text: string): Promise<string> => {
      const n = replies.length;
      ws.send(text);
      await within(5_000, `echo of ${text}`, new Promise<void>((resolve) => {
        waiter = () => replies.length > n && resolve();
      }));
      return replies[n];
    };
    const first = await echo('hello');
    const backend = first.split(':')[0];
    assert.match(first, /^[ABC]:hello$/);
    await applyStorm(APPLIES, async (i) => {
      const reply = await echo(`message ${i}`);
      assert.equal(reply, `${backend}:message ${i}`);
    });
    assert.deepEqual(closed, []);
    assert.equal(ws.readyState, WebSocket.OPEN);
    console.log(`websocket: ${replies.length} echoes from ${backend} across ${APPLIES} applies, still open`);
    ws.close();
  });

  it('a large streamed upload and download finish across applies that remove their endpoint', async () => {
    await apply(0);
    const CHUNKS = 1280; // 80 MiB each way
    // Upload: send half, apply away the endpoint (U → V), send the rest; U must receive it all.
    const upload = http.request({ host: '127.0.0.1', port, path: '/upload', method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream' } });
    const uploadReply = new Promise<{ status: number; body: string }>((resolve, reject) => {
      upload.once('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      upload.once('error', reject);
    });
    const write = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        if (!upload.write(bulkChunk(i))) await new Promise((r) => upload.once('drain', r));
      }
    };
    // Download: read half, apply, read the rest; the client checks the bytes.
    const hash = createHash('sha256');
    let received = 0;
    let halfway!: () => void;
    const reachedHalf = new Promise<void>((r) => (halfway = r));
    let resumeDownload = (): void => {};
    const download = new Promise<{ status: number; sha256: string; backend: string }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/download?chunks=${CHUNKS}`, agent: false }, (res) => {
        res.on('data', (c: Buffer) => {
          hash.update(c);
          received += c.length;
          if (received >= (CHUNKS / 2) * CHUNK && !res.isPaused() && received - c.length < (CHUNKS / 2) * CHUNK) {
            res.pause();
            halfway();
          }
        });
        res.once('end', () => resolve({ status: res.statusCode ?? 0, sha256: hash.digest('hex'), backend: String(res.headers['x-backend']) }));
        res.once('error', reject);
        resumeDownload = () => res.resume();
      });
      req.once('error', reject);
    });
    await write(0, CHUNKS / 2);
    await within(20_000, 'download half way', reachedHalf);
    await waitFor('the upload to reach U', () => b.U.connections() > 0);

    const uBefore = b.U.requests;
    for (let i = 1; i <= 5; i++) await apply(i, { bulk: [b.V.address] });
    const status = await hitless.status();
    const listed = status.services[0].endpoints.map((e) => e.address);
    assert.ok(!listed.includes(b.U.address), 'U is no longer in the running config');
    // New requests go to V now, while U finishes the two transfers.
    const probe = await request(port, '/download?chunks=1');
    assert.equal(probe.headers['x-backend'], 'V');

    await write(CHUNKS / 2, CHUNKS);
    upload.end();
    resumeDownload();
    const [up, down] = await within(60_000, 'upload and download to finish', Promise.all([uploadReply, download]));
    assert.equal(up.status, 200);
    const result = JSON.parse(up.body) as { name: string; bytes: number; sha256: string };
    const expected = bulkSha256(CHUNKS);
    assert.equal(result.name, 'U', 'the upload stayed on the endpoint it started on');
    assert.equal(result.bytes, CHUNKS * CHUNK);
    assert.equal(result.sha256, expected, 'U received the upload intact');
    assert.equal(down.status, 200);
    assert.equal(down.backend, 'U');
    assert.equal(received, CHUNKS * CHUNK);
    assert.equal(down.sha256, expected, 'the client received the download intact');
    assert.equal(b.U.requests, uBefore, 'U got no new request after it was removed');
    console.log(`bulk: ${(CHUNKS * CHUNK) / 2 ** 20} MiB up and down through 5 applies that removed their endpoint, checksums match`);
    // Removed endpoint: its pooled connections close once idle.
    await waitFor('the removed endpoint’s pooled connections to close', () => b.U.connections() === 0, { timeoutMs: 15_000 });
  });
});
