// max_connections on a TLS service is enforced at accept, before any handshake work: a connection
// counts toward it from accept (its handshake included) until it closes, so handshakes that never
// finish cannot push a service past its cap, and a connection over the cap gets no byte of TLS —
// only a FIN. Real sockets against `hitless run --workers 1` (its share is the whole cap), a real
// ClientHello captured from node:tls, and a generated sequence of opens and closes checked
// against the rule at every step.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { HitlessProcess } from './helpers/hitless-process.js';
import { startHttpBackend, type HttpBackend } from './helpers/http-backends.js';
import { reservePort } from './helpers/ports.js';
import { TlsClient } from './helpers/tls-client.js';
import { hasOpenssl, TestCa } from './helpers/tls-certs.js';
import { waitFor, within } from './helpers/wait.js';

const skip = hasOpenssl() ? false : 'the openssl CLI is not installed';
const CAP = 3;

type Status = {
  services: Array<{ name: string; rejected: number; tls?: { handshaking: number; handshakes: number; failures: Record<string, number> } }>;
  listeners: Array<{ address: string; connections: number }>;
};

/** The first flight a node:tls client sends (a real ClientHello), captured by a throwaway local server. */
async function captureClientHello(): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const got = once(server, 'connection').then(async (args) => {
    const s = args[0] as Socket;
    const [chunk] = (await once(s, 'data')) as [Buffer];
    s.destroy();
    return chunk;
  });
  const client = tlsConnect({ host: '127.0.0.1', port, servername: 'limit.test', rejectUnauthorized: false });
  client.on('error', () => {});
  const hello = await within(5_000, 'a ClientHello', got);
  client.destroy();
  server.close();
  assert.equal(hello[0], 0x16, 'a TLS handshake record');
  return hello;
}

/** A raw connection that sends a ClientHello and never answers the server's flight. */
class StalledHandshake {
  bytes = 0;
  readonly closed: Promise<void>;
  private readonly first: Promise<'answered' | 'closed'>;
  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    this.first = new Promise((resolve) => {
      socket.on('data', (d: Buffer) => {
        this.bytes += d.length;
        resolve('answered');
      });
      socket.once('close', () => resolve('closed'));
    });
  }

  static async open(port: number, hello: Buffer): Promise<StalledHandshake> {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(hello);
    return new StalledHandshake(socket);
  }

  /** 'answered': the server sent its handshake flight; 'closed': it closed without a byte. */
  outcome(): Promise<'answered' | 'closed'> {
    return within(10_000, 'the server to answer or close', this.first);
  }
}

describe('TLS max_connections at accept', { skip }, () => {
  let ca: TestCa;
  let backend: HttpBackend;
  let echo: Server;
  let hitless: HitlessProcess;
  let hello: Buffer;
  const port = { web: 0, raw: 0 };
  const status = async () => (await hitless.status()) as unknown as Status;
  const service = async (name: string) => (await status()).services.find((s) => s.name === name)!;
  const held = async (p: number) => (await status()).listeners.find((l) => l.address === `127.0.0.1:${p}`)!.connections;

  before(async () => {
    ca = new TestCa();
    const cert = ca.issue('limit.test');
    backend = await startHttpBackend('L');
    echo = createServer((s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    port.web = await reservePort();
    port.raw = await reservePort();
    hello = await captureClientHello();
    const tls = { certificates: [{ cert: cert.cert, key: cert.key }] };
    hitless = await HitlessProcess.start({
      logLevel: 'warn',
      workers: 1,
      config: (admin) =>
        stringify({
          admin: { listen: admin },
          services: {
            web: { mode: 'http', listen: `127.0.0.1:${port.web}`, endpoints: [backend.address], max_connections: CAP, timeouts: { handshake: '30s' }, tls },
            raw: { mode: 'tcp', listen: `127.0.0.1:${port.raw}`, endpoints: [`127.0.0.1:${(echo.address() as { port: number }).port}`], max_connections: CAP, timeouts: { handshake: '30s' }, tls },
          },
        }),
    });
  });

  after(async () => {
    await hitless?.kill();
    await backend?.close();
    echo?.close();
    ca?.close();
  });

  for (const name of ['web', 'raw'] as const) {
    it(`${name}: handshakes that never finish fill the cap; more connections get a FIN and no TLS byte`, async () => {
      const p = port[name];
      const before = await service(name);
      const stalled: StalledHandshake[] = [];
      for (let i = 0; i < CAP; i++) {
        const s = await StalledHandshake.open(p, hello);
        assert.equal(await s.outcome(), 'answered', `connection ${i + 1} of ${CAP} gets the server's handshake flight`);
        stalled.push(s);
      }
      await waitFor(`${CAP} handshakes in progress`, async () => ((await service(name)).tls!.handshaking === CAP ? true : undefined));
      // A flood over the cap: each is closed without a byte and without a handshake begun.
      const flood = await Promise.all(Array.from({ length: 20 }, () => StalledHandshake.open(p, hello)));
      for (const f of flood) {
        assert.equal(await f.outcome(), 'closed');
        assert.equal(f.bytes, 0, 'no TLS byte for a connection over the cap');
      }
      // A real client over the cap fails its handshake too.
      await assert.rejects(TlsClient.connect(p, { timeoutMs: 5_000 }));
      const during = await service(name);
      assert.equal(during.rejected - before.rejected, 21, 'every connection over the cap counted as rejected');
      assert.equal(during.tls!.handshaking, CAP, 'no handshake started for them');
      assert.deepEqual(during.tls!.failures, before.tls!.failures, 'no handshake failed: none was begun');

      // One stalled handshake leaves: a real client gets its place and is served.
      stalled.shift()!.socket.destroy();
      await waitFor('the freed place', async () => ((await service(name)).tls!.handshaking === CAP - 1 ? true : undefined));
      const client = await TlsClient.connect(p, { timeoutMs: 10_000 });
      if (name === 'web') assert.equal((await client.request('/')).status, 200);
      else {
        client.socket.write('ping');
        const [echoed] = (await once(client.socket, 'data')) as [Buffer];
        assert.equal(echoed.toString(), 'ping');
      }
      // Open (handshake done) and stalled together make the cap: the next one is refused.
      const over = await StalledHandshake.open(p, hello);
      assert.equal(await over.outcome(), 'closed');
      await client.close();
      for (const s of stalled) s.socket.destroy();
      await waitFor('every connection gone', async () => ((await held(p)) === 0 ? true : undefined));
    });
  }

  it('generated opens and closes: a connection is admitted exactly when fewer than the cap are held', async () => {
    for (const seed of [1, 7, 42]) {
      const random = mulberry32(seed);
      const p = port.web;
      const open: Array<{ close(): void }> = [];
      for (let step = 0; step < 30; step++) {
        const where = `seed ${seed} step ${step} (${open.length} held)`;
        const r = random();
        if (r < 0.3 && open.length > 0) {
          open.splice(Math.floor(random() * open.length), 1)[0].close();
        } else if (r < 0.65) {
          const s = await StalledHandshake.open(p, hello);
          const expected = open.length < CAP ? 'answered' : 'closed';
          assert.equal(await s.outcome(), expected, `${where}: a stalled handshake`);
          if (expected === 'answered') open.push({ close: () => s.socket.destroy() });
        } else {
          const admitted = open.length < CAP;
          const client = await TlsClient.connect(p, { timeoutMs: 10_000 }).catch(() => null);
          assert.equal(client !== null, admitted, `${where}: a full handshake`);
          if (client) {
            assert.equal((await client.request('/')).status, 200, where);
            open.push({ close: () => client.socket.destroy() });
          }
        }
        // Every close and refusal seen by the server before the next step: the rule is about what it holds.
        await waitFor(`${where}: the server to hold ${open.length}`, async () => ((await held(p)) === open.length ? true : undefined));
      }
      for (const c of open.splice(0)) c.close();
      await waitFor('every connection gone', async () => ((await held(p)) === 0 ? true : undefined));
    }
  });
});

/** A small seeded PRNG, so a failing sequence can be replayed from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
