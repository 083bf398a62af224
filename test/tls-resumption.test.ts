// TLS session resumption that survives workers, rotations and upgrades. In one process: a ticket
// still resumes after one rotation of the ticket keys (the previous key decrypts), not after the
// key that made it is gone; two processes given the same keys resume each other's tickets. With
// `hitless run --workers 2`: a ticket one worker issued resumes on the other (each tried alone,
// the other stopped with SIGSTOP), on many connections, and on the next generation after a code
// upgrade (SIGUSR2).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config/load.js';
import { diffConfigs } from '../src/control/plan.js';
import { BuiltinDriver } from '../src/dataplane/builtin/builtin-driver.js';
import { freshTicketKeys } from '../src/dataplane/builtin/tls/ticket-keys.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import { startHttpBackend, type HttpBackend } from './helpers/http-backends.js';
import { reservePort } from './helpers/ports.js';
import { TlsClient } from './helpers/tls-client.js';
import { hasOpenssl, TestCa, type Issued } from './helpers/tls-certs.js';
import { waitFor } from './helpers/wait.js';

const skip = hasOpenssl() ? false : 'the openssl CLI is not installed';

let ca: TestCa;
let cert: Issued;
let backend: HttpBackend;

before(async () => {
  if (skip) return;
  ca = new TestCa();
  cert = ca.issue('s.test');
  backend = await startHttpBackend('S');
});
after(async () => {
  await backend?.close();
  ca?.close();
});

const configText = (admin: string, port: number): string =>
  stringify({ admin: { listen: admin }, services: { web: { mode: 'http', listen: `127.0.0.1:${port}`, endpoints: [backend.address], tls: { certificates: [{ cert: cert.cert, key: cert.key }] } } } });

/** A full handshake, a request, and the ticket it left; then the connection closes. */
async function ticketFrom(port: number, maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3'): Promise<Buffer> {
  const c = await TlsClient.connect(port, { servername: 's.test', ca: ca.caCert, maxVersion });
  assert.equal(c.reused, false);
  assert.equal((await c.request('/', 's.test')).body, 'S');
  const ticket = await c.ticket();
  await c.close();
  return ticket;
}

/** Whether a new connection with `ticket` resumed; it must serve a request either way. */
async function resumes(port: number, ticket: Buffer, maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3'): Promise<boolean> {
  const c = await TlsClient.connect(port, { servername: 's.test', ca: ca.caCert, session: ticket, maxVersion });
  const reused = c.reused;
  assert.equal((await c.request('/', 's.test')).body, 'S');
  await c.close();
  return reused;
}

describe('ticket keys in one process (the builtin data plane)', { skip }, () => {
  const drivers: BuiltinDriver[] = [];
  after(() => Promise.all(drivers.map((d) => d.close(0))));

  async function serve(): Promise<{ driver: BuiltinDriver; port: number }> {
    const port = await reservePort();
    const driver = new BuiltinDriver();
    drivers.push(driver);
    const { config } = parseConfig(configText('unix:/tmp/unused-admin.sock', port), 'inline');
    await (await driver.prepare(config, diffConfigs(null, config))).commit();
    return { driver, port };
  }

  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`${version}: a ticket resumes after one rotation (previous key), not after the key that made it is gone`, async () => {
      const { driver, port } = await serve();
      const ticket = await ticketFrom(port, version);
      assert.equal(await resumes(port, ticket, version), true, 'same keys');
      driver.rotateTicketKeys();
      assert.equal(await resumes(port, ticket, version), true, 'after one rotation: the previous key still decrypts');
      driver.rotateTicketKeys();
      assert.equal(await resumes(port, ticket, version), false, 'after two rotations: a full handshake (not a failure)');
      const status = driver.status().services[0].tls!;
      assert.equal(status.failures.closed ?? 0, 0, JSON.stringify(status.failures));
      assert.ok(status.resumed >= 2);
    });
  }

  it('two processes given the same keys resume each other\'s tickets; with their own keys they do not', async () => {
    const a = await serve();
    const b = await serve();
    const keys = freshTicketKeys();
    const ticket = await ticketFrom(a.port);
    // Different keys (each driver's own): b cannot decrypt a's ticket.
    assert.equal(await resumes(b.port, ticket), false);
    a.driver.setTicketKeys(keys);
    b.driver.setTicketKeys(keys);
    const shared = await ticketFrom(a.port);
    assert.equal(await resumes(b.port, shared), true);
  });
});

describe('ticket keys across workers and upgrades (hitless run --workers 2)', { skip }, () => {
  let hitless: HitlessProcess;
  let port: number;
  const stopped = new Set<number>();
  type Workers = Array<{ pid: number; generation: number; state: string }>;
  const workers = async (): Promise<{ generation: number; workers: Workers }> => (await hitless.status()).process as unknown as { generation: number; workers: Workers };
  const ready = (generation: number) =>
    waitFor(`two ready workers of generation ${generation}`, async () => {
      const p = await workers();
      const list = p.workers.filter((w) => w.generation === generation && w.state === 'ready');
      return p.generation === generation && list.length === 2 ? list : undefined;
    }, { timeoutMs: 20_000 });
  /** Runs `fn` with only `pid` accepting: every other worker is stopped (SIGSTOP) meanwhile. */
  const alone = async <T>(pid: number, all: Workers, fn: () => Promise<T>): Promise<T> => {
    const others = all.filter((w) => w.pid !== pid);
    for (const w of others) {
      process.kill(w.pid, 'SIGSTOP');
      stopped.add(w.pid);
    }
    try {
      return await fn();
    } finally {
      for (const w of others) {
        process.kill(w.pid, 'SIGCONT');
        stopped.delete(w.pid);
      }
    }
  };

  before(async () => {
    port = await reservePort();
    hitless = await HitlessProcess.start({ config: (admin) => configText(admin, port), workers: 2, logLevel: 'warn' });
  });
  after(async () => {
    for (const pid of stopped) process.kill(pid, 'SIGCONT');
    await hitless?.kill();
  });

  it('a ticket from worker A resumes on worker B, and on many connections', async () => {
    const [a, b] = await ready(1);
    const list = [a, b];
    const ticket = await alone(a.pid, list, () => ticketFrom(port));
    assert.equal(await alone(b.pid, list, () => resumes(port, ticket)), true, 'worker B resumes the session worker A made');
    const ticketB = await alone(b.pid, list, () => ticketFrom(port, 'TLSv1.2'));
    assert.equal(await alone(a.pid, list, () => resumes(port, ticketB, 'TLSv1.2')), true, 'and the other way round, TLS 1.2');
    for (let i = 0; i < 20; i++) assert.equal(await resumes(port, ticket), true, `connection ${i + 1}`);
  });

  it('a ticket from before a code upgrade (SIGUSR2) resumes on the new generation; a TLS keep-alive connection of the old one gets its answer, then Connection: close', async () => {
    await ready(1);
    const ticket = await ticketFrom(port);
    const keepAlive = await TlsClient.connect(port, { servername: 's.test', ca: ca.caCert });
    assert.equal((await keepAlive.request('/', 's.test')).body, 'S');
    hitless.signal('SIGUSR2');
    const fresh = await ready(2);
    // Its TLS session cannot move to another process: it stays on the draining worker, whose
    // next answer closes it in order (never a reset, never a lost request).
    const last = await keepAlive.request('/', 's.test');
    assert.equal(last.body, 'S');
    assert.equal(last.headers.connection, 'close');
    await keepAlive.closed;
    // Only the new generation accepts now; stop one of its workers to be sure which one serves.
    assert.equal(await alone(fresh[0].pid, fresh, () => resumes(port, ticket)), true, 'the new generation has the same keys');
    assert.equal(await alone(fresh[1].pid, fresh, () => resumes(port, ticket)), true);
  });
});
