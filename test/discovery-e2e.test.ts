// The SmartStack loop end to end, with real processes and real registries on loopback: backends
// are registered by `hitless register` (health-checked), `hitless run` discovers them through
// ZooKeeper and etcd, and clients send echo requests through it the whole time. Backends fail
// and recover, ZooKeeper is killed and restarted, sessions expire, etcd goes away for a while,
// a malformed node appears — and no client request fails.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import zookeeper from 'node-zookeeper-client';
import { stringify } from 'yaml';
import type { DiscoveryStatus } from '../src/discovery/source-tracker.js';
import { closeClient } from '../src/discovery/zookeeper-session.js';
import type { StatusDoc } from './helpers/admin.js';
import { EtcdServer, etcdMissing } from './helpers/etcd.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import { CLI, ROOT, assertBuilt } from './helpers/paths.js';
import { reservePort } from './helpers/ports.js';
import { echoOnce } from './helpers/tcp-client.js';
import { sleep, waitFor } from './helpers/wait.js';
import { ZookeeperServer, zookeeperMissing } from './helpers/zookeeper.js';

type Status = StatusDoc & { discovery: DiscoveryStatus[] };

/** An echo backend on a fixed port with a separate HTTP health port whose answer the test sets. */
class Backend {
  healthy = true;
  accepted = 0;
  private readonly sockets = new Set<Socket>();
  private readonly echo: Server;
  private readonly health: HttpServer;

  constructor(
    readonly port: number,
    readonly healthPort: number,
  ) {
    this.echo = createServer((socket) => {
      this.accepted++;
      this.sockets.add(socket);
      socket.on('error', () => {});
      socket.once('close', () => this.sockets.delete(socket));
      socket.pipe(socket);
    });
    this.health = createHttpServer((_req, res) => {
      res.writeHead(this.healthy ? 200 : 503).end();
    });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.echo.listen({ host: '127.0.0.1', port: this.port }, r));
    await new Promise<void>((r) => this.health.listen({ host: '127.0.0.1', port: this.healthPort }, r));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.health.closeAllConnections();
    await Promise.all([new Promise((r) => this.echo.close(r)), new Promise((r) => this.health.close(r))]);
  }
}

/** `hitless register --config FILE` as a child process; only it is ever signalled, by pid. */
class RegisterProcess {
  output = '';
  private readonly exited: Promise<void>;

  constructor(readonly child: ChildProcess) {
    const keep = (c: Buffer) => (this.output = (this.output + c.toString()).slice(-50_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((r) => child.once('exit', () => r()));
  }

  static start(configPath: string): RegisterProcess {
    assertBuilt();
    return new RegisterProcess(spawn(process.execPath, [CLI, 'register', '--config', configPath, '--log-level', 'info'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  async stop(): Promise<void> {
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Clients sending echo requests through hitless without pause, counting every failure. */
class Traffic {
  ok = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];

  constructor(ports: readonly number[], perPort: number) {
    for (const port of ports) for (let i = 0; i < perPort; i++) this.loops.push(this.loop(port));
  }

  private async loop(port: number): Promise<void> {
    while (this.running) {
      // Generous timeout: the session-expiry step freezes hitless itself for a few seconds.
      const outcome = await echoOnce(port, 64, 20_000);
      if (outcome.ok) this.ok++;
      else this.failures.push(`port ${port}: ${outcome.reason}`);
      await sleep(5);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

const missing = zookeeperMissing() ?? etcdMissing();
if (missing) console.log(`# skipping the discovery end-to-end tests: ${missing}`);

describe('discovery end to end: register → registry → hitless → traffic', { skip: missing ?? false }, () => {
  let zk: ZookeeperServer;
  let etcd: EtcdServer;
  let backends: Backend[];
  let register: RegisterProcess | null = null;
  let hitless: HitlessProcess | null = null;
  let traffic: Traffic | null = null;
  let zkPort: number;
  let etcdPort: number;
  let dir: string;

  const status = async () => (await hitless!.status()) as Status;
  const endpointsOf = (s: Status, service: string) => (s.services.find((x) => x.name === service)?.endpoints ?? []).map((e) => e.address).sort();
  const discoveryOf = (s: Status, service: string) => s.discovery.find((d) => d.service === service)!;
  const both = (b: Backend[]) => b.map((x) => x.address).sort();

  /** Waits until both services route to exactly `expected`, and their sources are healthy. */
  /** Proves the watches work `when`: b2 fails its check, leaves both services, and comes back. */
  async function b2LeavesAndReturns(when: string): Promise<void> {
    backends[1].healthy = false;
    await converged(`b2 removal seen ${when}`, [backends[0]]);
    backends[1].healthy = true;
    await converged(`b2 back ${when}`, backends.slice(0, 2));
  }

  async function converged(what: string, expected: Backend[], timeoutMs = 20_000): Promise<void> {
    await waitFor(
      what,
      async () => {
        const s = await status();
        return ['web-zk', 'web-etcd'].every(
          (svc) => JSON.stringify(endpointsOf(s, svc)) === JSON.stringify(both(expected)) && discoveryOf(s, svc)?.state === 'healthy',
        );
      },
      { timeoutMs, intervalMs: 50 },
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\nstatus.discovery: ${JSON.stringify((await status()).discovery, null, 1)}\nregister: ${register?.output.slice(-3000)}\nhitless: ${hitless?.logs().slice(-3000)}`);
    });
  }

  before(async () => {
    [zk, etcd] = await Promise.all([ZookeeperServer.launch(), EtcdServer.launch()]);
    dir = mkdtempSync(join(tmpdir(), 'hitless-discovery-e2e-'));
    backends = [];
    for (let i = 0; i < 3; i++) backends.push(new Backend(await reservePort(), await reservePort()));
    await Promise.all(backends.map((b) => b.start()));
    const check = { type: 'http', path: '/health', interval: '100ms', timeout: '200ms', rise: 1, fall: 2 };
    const registrations = backends.slice(0, 2).flatMap((b) => [
      { service: 'web', zookeeper: { hosts: zk.hosts, path: '/services/web', session_timeout: '1s' }, host: '127.0.0.1', port: b.port, check: { ...check, port: b.healthPort } },
      { service: 'web', etcd: { endpoints: [etcd.url], prefix: '/services/web', ttl: '3s' }, host: '127.0.0.1', port: b.port, check: { ...check, port: b.healthPort } },
    ]);
    const registerConfig = join(dir, 'register.yaml');
    writeFileSync(registerConfig, stringify({ register: registrations }));
    register = RegisterProcess.start(registerConfig);
    zkPort = await reservePort();
    etcdPort = await reservePort();
    hitless = await HitlessProcess.start({
      logLevel: 'warn',
      config: (admin) =>
        stringify({
          admin: { listen: admin },
          discovery_defaults: { coalesce: '20ms', initial_wait: '2s' },
          services: {
            'web-zk': {
              listen: `127.0.0.1:${zkPort}`,
              retries: 2,
              discovery: { zookeeper: { hosts: zk.hosts, path: '/services/web', session_timeout: '1s' }, min_endpoints: 1 },
            },
            'web-etcd': { listen: `127.0.0.1:${etcdPort}`, retries: 2, discovery: { etcd: { endpoints: [etcd.url], prefix: '/services/web' } } },
          },
        }),
    });
  });

  after(async () => {
    await traffic?.stop();
    hitless?.signal('SIGCONT');
    await hitless?.kill();
    await register?.stop();
    await Promise.all((backends ?? []).map((b) => b.close()));
    await Promise.all([zk?.destroy(), etcd?.destroy()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('discovers the registered backends, and traffic reaches them', async () => {
    await converged('both registered backends discovered', backends.slice(0, 2));
    traffic = new Traffic([zkPort, etcdPort], 2);
    const before = backends.map((b) => b.accepted);
    await waitFor('traffic to reach both backends', () => backends.slice(0, 2).every((b, i) => b.accepted > before[i] + 10));
    assert.equal(backends[2].accepted, 0, 'the unregistered backend gets nothing');
  });

  it('deregisters a backend that fails its health check; hitless stops sending it traffic', async () => {
    const [b1, b2] = backends;
    b2.healthy = false;
    await converged('b2 gone after failing its check', [b1]);
    const b2Count = b2.accepted;
    const b1Count = b1.accepted;
    await waitFor('traffic to continue on b1', () => b1.accepted > b1Count + 50);
    assert.equal(b2.accepted, b2Count, 'no new connection reaches the deregistered backend');
    b2.healthy = true;
    await converged('b2 back after passing its check', [b1, b2]);
  });

  it('keeps serving the last known good set while ZooKeeper is down, and converges after its restart', async () => {
    await zk.kill();
    await waitFor('web-zk degraded', async () => discoveryOf(await status(), 'web-zk').state === 'degraded');
    const s = await status();
    assert.deepEqual(endpointsOf(s, 'web-zk'), both(backends.slice(0, 2)), 'the last known good set stays');
    const ok = traffic!.ok;
    await waitFor('traffic to flow while ZooKeeper is down', () => traffic!.ok > ok + 50);
    await zk.start();
    await converged('after the ZooKeeper restart', backends.slice(0, 2));
    // Watches work again: a change after the restart is seen.
    await b2LeavesAndReturns('after the ZooKeeper restart');
  });

  it('survives the expiry of hitless\'s ZooKeeper session (frozen longer than the session timeout)', async () => {
    hitless!.signal('SIGSTOP');
    await sleep(3_000);
    hitless!.signal('SIGCONT');
    await waitFor('a new ZooKeeper session', async () => (await status()).discovery.length > 0);
    // The old session's watches died with it: a change now proves the new session watches.
    await b2LeavesAndReturns('on the new ZooKeeper session');
  });

  it('re-registers after the registrar\'s own session expired; the set below min_endpoints was held meanwhile', async () => {
    register!.signal('SIGSTOP');
    // Its ephemeral nodes vanish when the session expires: web-zk would have 0 < min_endpoints.
    await waitFor('web-zk to hold its set (degraded)', async () => /min_endpoints/.test(discoveryOf(await status(), 'web-zk').lastError ?? ''), { timeoutMs: 15_000 });
    assert.deepEqual(endpointsOf(await status(), 'web-zk'), both(backends.slice(0, 2)), 'held, not emptied');
    register!.signal('SIGCONT');
    await converged('re-registered after the expiry', backends.slice(0, 2));
  });

  it('keeps serving while etcd is down for a while, and converges when it is back', async () => {
    await etcd.kill();
    await waitFor('web-etcd degraded', async () => discoveryOf(await status(), 'web-etcd').state === 'degraded');
    const ok = traffic!.ok;
    await waitFor('traffic flowing while etcd is down', () => traffic!.ok > ok + 50, { timeoutMs: 20_000 });
    assert.equal(discoveryOf(await status(), 'web-etcd').state, 'degraded', 'and etcd was still down meanwhile');
    assert.deepEqual(endpointsOf(await status(), 'web-etcd'), both(backends.slice(0, 2)));
    await etcd.start();
    await converged('after etcd is back', backends.slice(0, 2));
    await b2LeavesAndReturns('after etcd is back');
  });

  it('reports malformed node data and ignores it', async () => {
    const client = zookeeper.createClient(zk.hosts, { sessionTimeout: 10_000 });
    client.connect();
    const call = (run: (cb: (err: unknown) => void) => void) => new Promise<void>((resolve, reject) => run((err) => (err ? reject(err) : resolve())));
    try {
      await call((cb) => client.create('/services/web/garbage', Buffer.from('{"host": 42}'), cb));
      await waitFor('the malformed node reported', async () => /garbage/.test(discoveryOf(await status(), 'web-zk').lastError ?? ''));
      const s = await status();
      assert.equal(discoveryOf(s, 'web-zk').state, 'degraded');
      assert.deepEqual(endpointsOf(s, 'web-zk'), both(backends.slice(0, 2)), 'the valid nodes are still used');
      await call((cb) => client.remove('/services/web/garbage', cb));
      await converged('healthy again once the node is gone', backends.slice(0, 2));
    } finally {
      await closeClient(client);
    }
  });

  it('lost no client request through all of it', async () => {
    await traffic!.stop();
    const { ok, failures } = traffic!;
    traffic = null;
    assert.ok(ok > 500, `enough traffic was sent (${ok})`);
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${ok + failures.length} requests failed`);
  });
});
