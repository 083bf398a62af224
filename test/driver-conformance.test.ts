// Driver conformance (issue 16 item 3): one table of apply cases, each run against the three data
// planes over real sockets, through their public surface only (PUT /config, GET /status, GET
// /config, the config file + SIGHUP), so the suite holds whatever the Driver interface becomes:
//   builtin     `hitless run --workers 0`: one process, the builtin data plane;
//   supervisor  `hitless run --workers 2`: a supervisor owning the sockets, two workers;
//   haproxy     `hitless run` with dataplane.driver: haproxy, driving Debian's /usr/sbin/haproxy.
// The same case function runs on each plane. Where a plane legitimately does something else, the
// case asserts what it does and a comment names why; nothing is skipped without a reason string.
// Listening-socket identity is read from the kernel (/proc/net/tcp), the one witness all three
// share, and from GET /status listeners[].socket where the plane reports it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { stringify } from 'yaml';
import type { AdminReply, ApplyRecordDoc, ErrorDoc, StatusDoc } from './helpers/admin.js';
import { startEchoServers, type EchoServer } from './helpers/echo-server.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import { startHttpBackend, type HttpBackend } from './helpers/http-backends.js';
import { request, type Reply } from './helpers/http-client.js';
import { portInRange } from './helpers/port-range.js';
import { listenInAnotherProcess, probeConnect } from './helpers/ports.js';
import { listeningInode } from './helpers/proc-net-tcp.js';
import { LongLivedClient, echoOnce } from './helpers/tcp-client.js';
import { waitFor, within } from './helpers/wait.js';

const HAPROXY = '/usr/sbin/haproxy';
const haproxyMissing = existsSync(HAPROXY) ? false : `${HAPROXY} not found: install Debian's haproxy package (.ci/run does) to run the HAProxy plane of the conformance table`;

/** This file's listen ports: a range of their own, apart from the other test files' ranges. */
const freePort = (): Promise<number> => portInRange(['127.0.0.1'], 28_000, 28_999);
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const loopback = (port: number): string => `127.0.0.1:${port}`;

type PlaneName = 'builtin' | 'supervisor' | 'haproxy';

interface PlaneSpec {
  readonly name: PlaneName;
  readonly title: string;
  readonly workers: number;
  readonly skip: string | false;
  /** The `dataplane:` section, given the instance's private temp dir. */
  readonly dataplane?: (dir: string) => Record<string, unknown>;
}

const PLANES: readonly PlaneSpec[] = [
  { name: 'builtin', title: 'builtin data plane, one process (hitless run --workers 0)', workers: 0, skip: false },
  { name: 'supervisor', title: 'supervisor + 2 workers (hitless run --workers 2)', workers: 2, skip: false },
  {
    name: 'haproxy',
    title: 'HAProxy data plane (dataplane.driver: haproxy)',
    // The HAProxy driver runs in one process: --workers 0 says so (an explicit --workers N is refused).
    workers: 0,
    skip: haproxyMissing,
    dataplane: (dir) => ({ driver: 'haproxy', haproxy: { state_dir: join(dir, 'haproxy') } }),
  },
];

type Service = Record<string, unknown>;
type Services = Record<string, Service>;
type EndpointList = ReadonlyArray<string | { address: string; weight?: number }>;

const tcp = (port: number, endpoints: EndpointList, extra: Service = {}): Service => ({ mode: 'tcp', listen: loopback(port), endpoints, ...extra });
const web = (port: number, extra: Service): Service => ({ mode: 'http', listen: loopback(port), ...extra });

/** GET /status as read here: the common document plus each plane's own section. */
interface PlaneStatus extends StatusDoc {
  readonly haproxy?: {
    reloads: number;
    draining: number;
    master: { pid: number; reloads: number } | null;
    worker: { pid: number } | null;
    oldWorkers: Array<{ pid: number }>;
  };
  readonly process?: StatusDoc['process'] & { workers: Array<{ pid: number; state: string; committed: { patch: number; whole: number } }> };
}

/** One running instance of a plane, driven through its admin API, config file and signals. */
class Plane {
  h: HitlessProcess | undefined;
  /** Every process this instance's hitless started (workers, HAProxy master and workers), for cleanup. */
  private readonly children = new Set<number>();

  constructor(readonly spec: PlaneSpec) {}

  get name(): PlaneName {
    return this.spec.name;
  }

  private get proc(): HitlessProcess {
    assert.ok(this.h, `${this.name}: not started`);
    return this.h;
  }

  async start(services: Services): Promise<void> {
    this.h = await HitlessProcess.start({ workers: this.spec.workers, logLevel: 'warn', drain: '500ms', config: (admin) => this.textFor(admin, services) });
    await this.status();
  }

  private textFor(admin: string, services: Services): string {
    const dataplane = this.spec.dataplane?.(dirname(admin.slice('unix:'.length)));
    return stringify({ admin: { listen: admin }, ...(dataplane ? { dataplane } : {}), services }, { lineWidth: 0 });
  }

  /** The config file text for `services` on this plane. */
  text(services: Services): string {
    return this.textFor(this.proc.admin, services);
  }

  put(text: string): Promise<AdminReply> {
    return this.proc.put(text);
  }

  /** PUT /config that must apply; returns the record and the text. */
  async apply(services: Services): Promise<{ record: ApplyRecordDoc; text: string }> {
    const text = this.text(services);
    const res = await this.put(text);
    assert.equal(res.status, 200, `${this.name}: PUT /config: HTTP ${res.status} ${res.text}`);
    const record = res.json<ApplyRecordDoc>();
    assert.equal(record.result, 'applied', `${this.name}: ${res.text}`);
    return { record, text };
  }

  /**
   * A case's starting point: its config applied, and nothing left over from the case before
   * (no draining listener, no old HAProxy worker, no endpoint removal in progress), so what the
   * case compares is its own doing.
   */
  async settleOn(services: Services): Promise<string> {
    const { text } = await this.apply(services);
    await waitFor(`${this.name}: the previous case's listeners and processes to be gone`, async () => {
      const s = await this.status();
      const drained = s.listeners.every((l) => l.state === 'active');
      const haproxy = !s.haproxy || (s.haproxy.oldWorkers.length === 0 && s.haproxy.draining === 0);
      return drained && haproxy;
    }, { timeoutMs: 20_000, intervalMs: 50 });
    return text;
  }

  async status(): Promise<PlaneStatus> {
    const s = (await this.proc.status()) as PlaneStatus;
    for (const w of s.process?.workers ?? []) this.children.add(w.pid);
    if (s.haproxy) for (const p of [s.haproxy.master, s.haproxy.worker, ...s.haproxy.oldWorkers]) if (p) this.children.add(p.pid);
    return s;
  }

  /** Applies the file's new content through SIGHUP; resolves once it runs. */
  async reload(services: Services): Promise<string> {
    const text = this.text(services);
    this.proc.writeConfig(text);
    this.proc.signal('SIGHUP');
    await waitFor(`${this.name}: the SIGHUP apply`, async () => (await this.status()).config?.hash === sha256(text), { timeoutMs: 20_000 });
    return text;
  }

  /**
   * The listening socket on each port: the kernel's inode and what GET /status reports. The
   * builtin plane and the supervisor report the socket they own, which must be the kernel's;
   * HAProxy's sockets live in its own processes (passed from worker to worker on a reload), so
   * hitless reports none there and the kernel's table is the only witness.
   */
  async sockets(ports: readonly number[]): Promise<Record<number, string>> {
    const s = await this.status();
    const out: Record<number, string> = {};
    for (const port of ports) {
      const inode = listeningInode(port);
      const listener = s.listeners.find((l) => l.address === loopback(port));
      assert.ok(listener, `${this.name}: no listener ${loopback(port)} in status`);
      assert.equal(listener.socket, this.name === 'haproxy' ? null : `socket:[${inode}]`, `${this.name}: the socket status reports for ${loopback(port)}`);
      out[port] = inode;
    }
    return out;
  }

  /**
   * Everything an apply could change, without traffic counters: the running config (hash, GET
   * /config text and ETag), services and endpoints, listeners and their sockets, and the data
   * plane's processes (the supervisor's workers and what they committed; HAProxy's master,
   * worker and reload count).
   */
  async snapshot(ports: readonly number[]): Promise<unknown> {
    const s = await this.status();
    const config = await this.proc.request('GET', '/config');
    return {
      hash: s.config?.hash,
      configText: config.text,
      etag: config.headers.etag,
      services: s.services.map((v) => ({ name: v.name, listen: v.listen, endpoints: v.endpoints.map((e) => `${e.address} w${e.weight}`) })),
      listeners: s.listeners.map((l) => ({ address: l.address, state: l.state, socket: l.socket })),
      kernel: ports.map((port) => listeningInode(port)),
      workers: s.process?.workers.map((w) => ({ pid: w.pid, state: w.state, committed: w.committed })) ?? null,
      haproxy: s.haproxy ? { reloads: s.haproxy.reloads, master: s.haproxy.master?.pid, masterReloads: s.haproxy.master?.reloads, worker: s.haproxy.worker?.pid } : null,
    };
  }

  /** Drains (SIGTERM) and waits; then kills by pid whatever of this instance's tree is left. */
  async stop(): Promise<void> {
    const h = this.h;
    if (!h) return;
    if (!h.exit) {
      h.signal('SIGTERM');
      await within(15_000, `${this.name}: hitless to exit after SIGTERM`, h.exited).catch(() => undefined);
    }
    await h.kill();
    for (const pid of this.children) {
      // Only a process of this tree: a pid that exited may have been reused by then.
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmdline.includes(h.dir) || cmdline.includes('haproxy')) process.kill(pid, 'SIGKILL');
    }
  }
}

/**
 * New connections in tight loops (one connection per attempt) while applies run: every attempt
 * that is not fully served is kept with its reason. Bounded in count; stopped by the test.
 */
class ConnectLoops {
  ok = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(attempts: ReadonlyArray<() => Promise<string | null>>) {
    this.loops = attempts.map(async (attempt) => {
      for (let i = 0; this.running && i < 200_000; i++) {
        const failure = await attempt();
        if (failure === null) this.ok++;
        else this.failures.push(failure);
      }
    });
  }

  get attempts(): number {
    return this.ok + this.failures.length;
  }

  /** Waits until `n` more attempts have finished than when called. */
  async more(n: number, what: string): Promise<void> {
    const at = this.attempts;
    await waitFor(`${n} more connections ${what}`, () => this.attempts >= at + n, { timeoutMs: 20_000, intervalMs: 5 });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

async function tcpAttempt(port: number): Promise<string | null> {
  const outcome = await echoOnce(port);
  return outcome.ok ? null : `tcp :${port} ${outcome.reason}`;
}

async function httpAttempt(port: number): Promise<string | null> {
  try {
    const r = await request(port, '/', { agent: false, timeoutMs: 5_000 });
    return r.status === 200 ? null : `http :${port} HTTP ${r.status} ${r.headers['x-hitless-error'] ?? ''}`;
  } catch (err) {
    return `http :${port} ${(err as Error).message}`;
  }
}

/** Waits until a connect to `port` is refused: the listener is closed. */
async function refused(p: Plane, port: number): Promise<void> {
  // The builtin plane and the supervisor close (or stop sharing) a removed listener before the
  // apply answers. HAProxy's old worker closes its listeners when the master tells it to stop,
  // just after the new worker serves (which is when the apply answers): wait for that.
  if (p.name !== 'haproxy') assert.equal(await probeConnect(port), 'refused', `${p.name}: ${loopback(port)} still accepts after the apply`);
  else await waitFor(`${loopback(port)} to refuse connections`, async () => (await probeConnect(port)) === 'refused');
}

async function echoes(t: TestContext, n: number): Promise<EchoServer[]> {
  const servers = await startEchoServers(n);
  t.after(() => Promise.all(servers.map((s) => s.close())));
  return servers;
}

async function backends(t: TestContext, names: readonly string[]): Promise<HttpBackend[]> {
  const list = await Promise.all(names.map((n) => startHttpBackend(n)));
  t.after(() => Promise.all(list.map((b) => b.close())));
  return list;
}

async function ports(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await freePort());
  return out;
}

interface Case {
  readonly name: string;
  readonly run: (p: Plane, t: TestContext) => Promise<void>;
}

const CASES: readonly Case[] = [
  {
    name: 'a still-wanted listening socket keeps its identity across applies that add, remove and change services; new connections in a tight loop are all served',
    async run(p, t) {
      const [e0, e1] = await echoes(t, 2);
      const [h0, h1] = await backends(t, ['h0', 'h1']);
      const [keptPort, webPort, gonePort, addedPort] = await ports(4);
      const kept = tcp(keptPort, [e0.address]);
      await p.settleOn({ kept, web: web(webPort, { endpoints: [h0.address] }), gone: tcp(gonePort, [e1.address]) });
      const before = await p.sockets([keptPort, webPort]);
      const reloadsBefore = (await p.status()).haproxy?.reloads;

      const loops = new ConnectLoops([() => tcpAttempt(keptPort), () => tcpAttempt(keptPort), () => httpAttempt(webPort), () => httpAttempt(webPort)]);
      t.after(() => loops.stop());
      await loops.more(20, 'before the first apply');
      // PUT: one service removed, one added, and the http one changed in structure (a new cluster
      // and a route), while `kept` stays as it is.
      const changed = {
        kept,
        web: web(webPort, { clusters: { main: { endpoints: [h0.address] }, api: { endpoints: [h1.address] } }, routes: [{ path: '/api', cluster: 'api' }, { cluster: 'main' }] }),
        added: tcp(addedPort, [e1.address]),
      };
      await p.apply(changed);
      assert.deepEqual(await echoOnce(addedPort), { ok: true }, 'the added service serves once its apply answered');
      await refused(p, gonePort);
      await loops.more(20, 'after the first apply');
      // The file + SIGHUP: now the kept service itself changes (endpoints and connect timeout).
      await p.reload({ ...changed, kept: tcp(keptPort, [e0.address, e1.address], { timeouts: { connect: '3s' } }) });
      await loops.more(20, 'after the second apply');
      await loops.stop();

      const after = await p.sockets([keptPort, webPort]);
      const reloadsAfter = (await p.status()).haproxy?.reloads;
      t.diagnostic(`${p.name}: ${loops.ok} new connections served during 2 applies, ${loops.failures.length} not; sockets ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
      assert.deepEqual(loops.failures.slice(0, 10), [], `${loops.failures.length} of ${loops.attempts} connections failed`);
      assert.deepEqual(after, before, 'the same listening sockets, by inode');
      // HAProxy reloads for both changes (structure, not only servers) and still keeps the
      // sockets: the master passes them to the new worker (expose-fd listeners). The others
      // never start a process for an apply.
      if (p.name === 'haproxy') assert.equal(reloadsAfter, reloadsBefore! + 2, 'one seamless reload per structural apply');
      else assert.equal(reloadsAfter, undefined);
    },
  },
  {
    name: 'a rejected change changes nothing: a listen address held by another process (409 BIND_FAILED), an invalid config (400 CONFIG_INVALID)',
    async run(p, t) {
      const [e0, e1] = await echoes(t, 2);
      const [h0] = await backends(t, ['h0']);
      const [svcPort, webPort, freeNew, taken] = await ports(4);
      const base = { svc: tcp(svcPort, [e0.address]), web: web(webPort, { endpoints: [h0.address] }) };
      await p.settleOn(base);
      const foreign = await listenInAnotherProcess(taken);
      t.after(() => foreign.stop());
      const before = await p.snapshot([svcPort, webPort]);
      // Each bad config also tries to change what runs, so "nothing changed" is a real claim.
      const changed = { svc: tcp(svcPort, [e1.address]), web: web(webPort, { endpoints: [h0.address, e1.address] }) };
      const attempts = [
        {
          what: 'a listen address held by another process',
          text: p.text({ ...changed, fine: tcp(freeNew, [e1.address]), clash: tcp(taken, [e1.address]) }),
          status: 409,
          code: 'HITLESS_ERR_BIND_FAILED',
          message: new RegExp(`cannot listen on ${loopback(taken).replaceAll('.', '\\.')}`),
        },
        {
          what: 'an invalid config',
          text: p.text({ ...changed, svc: { ...changed.svc, retries: 'many' } }),
          status: 400,
          code: 'HITLESS_ERR_CONFIG_INVALID',
          message: /services\.svc\.retries: expected a number, found "many"/,
        },
      ];
      for (const a of attempts) {
        const res = await p.put(a.text);
        assert.equal(res.status, a.status, `${a.what}: ${res.text}`);
        const body = res.json<ErrorDoc>();
        assert.equal(body.error.code, a.code, `${a.what}: ${res.text}`);
        assert.match(body.error.message, a.message);
        const status = await p.status();
        assert.equal(status.lastApply?.result, 'rejected', a.what);
        assert.equal(status.lastApply?.error?.code, a.code, a.what);
        assert.deepEqual(await p.snapshot([svcPort, webPort]), before, `${a.what}: something changed`);
        // The transaction had bound the free new port before the held one failed: given back.
        assert.equal(await probeConnect(freeNew), 'refused', `${a.what}: ${loopback(freeNew)} was left bound`);
        assert.deepEqual(await echoOnce(svcPort), { ok: true }, `${a.what}: the tcp service on the old config`);
        const r = await request(webPort, '/', { agent: false });
        assert.equal(`${r.status} ${r.body}`, '200 h0', `${a.what}: the http service on the old config`);
      }
      assert.equal(e1.accepted(), 0, 'no connection reached the endpoint only the rejected configs named');
    },
  },
  {
    name: 'an endpoint name that does not resolve: HAProxy refuses the config (422 DATAPLANE_REJECTED) and nothing changes; builtin planes apply it and resolve per connection',
    async run(p, t) {
      const [e0] = await echoes(t, 1);
      const [svcPort] = await ports(1);
      await p.settleOn({ svc: tcp(svcPort, [e0.address]) });
      const before = await p.snapshot([svcPort]);
      const res = await p.put(p.text({ svc: tcp(svcPort, [e0.address, 'no-such-host.invalid:8080']) }));
      if (p.name === 'haproxy') {
        // HAProxy resolves server names when it loads a config (`haproxy -c` fails on this one):
        // the data plane refuses, with its own words, and the old config keeps serving.
        assert.equal(res.status, 422, res.text);
        const body = res.json<ErrorDoc>();
        assert.equal(body.error.code, 'HITLESS_ERR_DATAPLANE_REJECTED');
        assert.match(body.error.message, /could not resolve address 'no-such-host\.invalid'/);
        assert.deepEqual(await p.snapshot([svcPort]), before);
      } else {
        // The builtin plane connects to an endpoint by name and resolves it per connection (DNS
        // changes are not config changes): the config is valid, and a name that does not resolve
        // is a connect failure, retried on the next endpoint like a refused one.
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json<ApplyRecordDoc>().result, 'applied');
      }
      for (let i = 0; i < 4; i++) assert.deepEqual(await echoOnce(svcPort), { ok: true }, `connection ${i}`);
    },
  },
  {
    name: 'a byte-identical config is a no-op (PUT and SIGHUP): recorded as noop, no listener, worker or HAProxy process changes',
    async run(p, t) {
      const [e0] = await echoes(t, 1);
      const [h0] = await backends(t, ['h0']);
      const [svcPort, webPort] = await ports(2);
      const text = await p.settleOn({ svc: tcp(svcPort, [e0.address]), web: web(webPort, { endpoints: [h0.address] }) });
      const held = await LongLivedClient.openVerified(svcPort, `${p.name}-held`);
      t.after(() => held.destroy());
      const before = await p.snapshot([svcPort, webPort]);
      const historyBefore = (await p.status()).applies.length;

      const res = await p.put(text);
      assert.equal(res.status, 200, res.text);
      const record = res.json<ApplyRecordDoc>();
      assert.deepEqual({ result: record.result, summary: record.summary, hashBefore: record.hashBefore, hashAfter: record.hashAfter }, { result: 'noop', summary: 'identical config', hashBefore: sha256(text), hashAfter: sha256(text) });
      assert.equal(res.headers.etag, `"${sha256(text)}"`);
      // The API apply wrote the same text to the file (admin.api_apply: write-file), so a SIGHUP
      // re-reads identical bytes: a second no-op, recorded as such.
      p.h!.signal('SIGHUP');
      const status = await waitFor('the SIGHUP re-read to be recorded', async () => {
        const s = await p.status();
        return s.applies.length >= historyBefore + 2 ? s : undefined;
      });
      assert.deepEqual(status.applies.slice(-2).map((r) => `${r.origin} ${r.result}`), ['admin noop', 'sighup noop']);
      // Same listeners and sockets, the supervisor's workers committed nothing, HAProxy did not reload.
      assert.deepEqual(await p.snapshot([svcPort, webPort]), before);
      await held.roundTrip();
      await held.finish();
    },
  },
  {
    name: 'an HTTP keep-alive client survives applies: endpoint changes, structural changes, other services added and removed',
    async run(p, t) {
      const [h0, h1] = await backends(t, ['h0', 'h1']);
      const [e0] = await echoes(t, 1);
      const [webPort, otherPort] = await ports(2);
      await p.settleOn({ web: web(webPort, { endpoints: [h0.address] }) });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      t.after(() => agent.destroy());
      const get = async (path: string): Promise<Reply> => {
        const r = await request(webPort, path, { agent });
        assert.equal(r.status, 200, `${path}: ${r.status} ${r.body}`);
        return r;
      };
      const first = await get('/');
      assert.equal(first.body, 'h0');
      const sameConnection = (r: Reply, what: string): void => {
        assert.equal(r.localPort, first.localPort, `${what}: another client connection`);
        assert.equal(r.reused, true, `${what}: not on the kept connection`);
      };

      // An endpoint-only change: the next request goes to the new endpoint, on the same connection.
      await p.apply({ web: web(webPort, { endpoints: [h1.address] }) });
      const second = await get('/');
      assert.equal(second.body, 'h1');
      sameConnection(second, 'after an endpoint change');

      // A structural change (a cluster and a route) and another service added.
      const structural = { web: web(webPort, { clusters: { main: { endpoints: [h1.address] }, api: { endpoints: [h0.address] } }, routes: [{ path: '/api', cluster: 'api' }, { cluster: 'main' }] }) };
      await p.apply({ ...structural, other: tcp(otherPort, [e0.address]) });
      const third = await get('/');
      assert.equal(third.body, 'h1');
      if (p.name === 'haproxy') {
        // A structural change is a reload: the idle keep-alive connection stays with the old
        // worker, which answers its next request (on the old config) with Connection: close
        // (option idle-close-on-response, render-config.ts) and exits once its connections are
        // done. No request fails, but the connection does not outlive a reload; the client's
        // next request opens a new one, served by the new worker and its routes.
        sameConnection(third, 'the request after a reload');
        assert.equal(third.headers.connection, 'close');
        const fourth = await get('/api/x');
        assert.equal(fourth.body, 'h0', 'the new worker routes /api');
        assert.notEqual(fourth.localPort, first.localPort);
        assert.equal(fourth.reused, false);
      } else {
        // The builtin plane keeps every client connection the new config still serves; each
        // request is routed by the config running when it arrives.
        sameConnection(third, 'after a structural change');
        const fourth = await get('/api/x');
        assert.equal(fourth.body, 'h0', 'the kept connection follows the new routes');
        sameConnection(fourth, 'after a structural change');
        // The other service removed again: still the same connection.
        await p.apply(structural);
        const fifth = await get('/');
        assert.equal(fifth.body, 'h1');
        sameConnection(fifth, 'after a service was removed');
      }
    },
  },
  {
    name: "a removed endpoint's open connections are not cut: a tcp connection keeps echoing until the client closes it; an in-flight http response completes",
    async run(p, t) {
      const [e0, e1] = await echoes(t, 2);
      const [slow, next] = await backends(t, ['slow', 'next']);
      const [tcpPort, webPort] = await ports(2);
      // timeouts.drain: HAProxy bounds a removed server's connections by it (runtime-changes.ts:
      // drain, then maint + shutdown sessions); the builtin plane never cuts them. 30 s is far
      // longer than this case, so both must keep them here.
      const drain = { timeouts: { drain: '30s' } };
      await p.settleOn({ echo: tcp(tcpPort, [e0.address], drain), web: web(webPort, { endpoints: [slow.address], ...drain }) });
      const held = await LongLivedClient.openVerified(tcpPort, `${p.name}-held`);
      t.after(() => held.destroy());
      assert.equal(e0.connections.size, 1);
      const id = `${p.name}-inflight`;
      const inflight = request(webPort, `/hold/${id}`, { agent: false, timeoutMs: 20_000 });
      await within(5_000, 'the slow request to reach its endpoint', slow.held(id));

      const { record } = await p.apply({ echo: tcp(tcpPort, [e1.address], drain), web: web(webPort, { endpoints: [next.address], ...drain }) });
      assert.match(record.summary, /endpoints \+2 -2/);
      const status = await p.status();
      // By name: the builtin planes list a service that kept its name from an earlier config
      // where it was, HAProxy in the config's order.
      const endpoints = Object.fromEntries(status.services.map((s) => [s.name, s.endpoints.map((e) => e.address)]));
      assert.deepEqual(endpoints, { echo: [e1.address], web: [next.address] });
      if (p.name === 'haproxy') assert.equal(status.haproxy!.draining, 2, 'both removed servers drain (set server ... state drain) before their del server');

      // New work goes to the new endpoints ...
      assert.deepEqual(await echoOnce(tcpPort), { ok: true });
      assert.equal(e1.accepted(), 1);
      assert.equal((await request(webPort, '/', { agent: false })).body, 'next');
      // ... while the removed ones finish theirs: the held connection echoes, through a later
      // apply too (applies are serialised: one queued behind everything the first left to do).
      await held.roundTrip();
      slow.release(id);
      const reply = await inflight;
      assert.equal(`${reply.status} ${reply.body}`, `200 slow released ${id}`);
      await p.apply({ echo: tcp(tcpPort, [e1.address], { timeouts: { drain: '29s' } }), web: web(webPort, { endpoints: [next.address], ...drain }) });
      await held.roundTrip();
      assert.equal(e0.connections.size, 1, 'the connection to the removed endpoint is still open on it');
      await held.finish();
      assert.equal(held.broken, null);
      // Done with their work, the removed endpoints are let go: no pooled connection stays open
      // to them (HAProxy deletes a removed server once its last connection is gone).
      await waitFor('no connection left to the removed endpoints', () => slow.connections() === 0 && e0.connections.size === 0, { timeoutMs: 15_000 });
      if (p.name === 'haproxy') await waitFor('the removed servers to be deleted', async () => (await p.status()).haproxy!.draining === 0, { timeoutMs: 15_000 });
    },
  },
  {
    name: 'a removed listener drains: in-flight work finishes, new connects are refused from the apply on',
    async run(p, t) {
      const [e0] = await echoes(t, 1);
      const [slow] = await backends(t, ['slow']);
      const [keptPort, tcpPort, webPort] = await ports(3);
      const drain = { timeouts: { drain: '30s' } };
      const kept = tcp(keptPort, [e0.address]);
      await p.settleOn({ kept, leavingTcp: tcp(tcpPort, [e0.address], drain), leavingWeb: web(webPort, { endpoints: [slow.address], ...drain }) });
      const held = await LongLivedClient.openVerified(tcpPort, `${p.name}-leaving`);
      t.after(() => held.destroy());
      const id = `${p.name}-leaving`;
      const inflight = request(webPort, `/hold/${id}`, { agent: false, timeoutMs: 20_000 });
      await within(5_000, 'the slow request to reach its endpoint', slow.held(id));

      const { record } = await p.apply({ kept });
      assert.match(record.summary, /listeners \+0 -2/);
      await refused(p, tcpPort);
      await refused(p, webPort);
      const during = await p.status();
      if (p.name === 'haproxy') {
        // HAProxy's status lists the running config's listeners only; the removed ones live on in
        // the previous worker, which keeps their connections (soft stop) and is shown draining.
        assert.deepEqual(during.listeners.map((l) => l.address), [loopback(keptPort)]);
        assert.equal(during.haproxy!.oldWorkers.length, 1, 'the previous worker finishes the removed listeners’ connections');
      } else {
        const states = Object.fromEntries(during.listeners.map((l) => [l.address, l.state]));
        assert.deepEqual(states, { [loopback(keptPort)]: 'active', [loopback(tcpPort)]: 'draining', [loopback(webPort)]: 'draining' });
      }
      // In-flight work finishes: the held connection echoes, the slow response arrives whole.
      await held.roundTrip();
      slow.release(id);
      const reply = await inflight;
      assert.equal(`${reply.status} ${reply.body}`, `200 slow released ${id}`);
      await held.finish();
      assert.equal(held.broken, null);
      // Once their last connection is closed, the removed listeners are gone for good.
      await waitFor('the drained listeners to be released', async () => {
        const s = await p.status();
        return s.listeners.length === 1 && (s.haproxy?.oldWorkers.length ?? 0) === 0;
      }, { timeoutMs: 20_000 });
      assert.equal(await probeConnect(tcpPort), 'refused');
      assert.equal(await probeConnect(webPort), 'refused');
      assert.deepEqual(await echoOnce(keptPort), { ok: true });
    },
  },
];

for (const spec of PLANES) {
  describe(`driver conformance: ${spec.title}`, { skip: spec.skip }, () => {
    const plane = new Plane(spec);
    let placeholder: EchoServer | undefined;

    before(async () => {
      // A placeholder service: the first case replaces it.
      [placeholder] = await startEchoServers(1);
      await plane.start({ placeholder: tcp(await freePort(), [placeholder.address]) });
    });

    after(async () => {
      await plane.stop();
      await placeholder?.close();
    });

    for (const c of CASES) it(c.name, (t) => c.run(plane, t));
  });
}
