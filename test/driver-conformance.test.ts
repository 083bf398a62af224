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
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { ApplyRecordDoc, ErrorDoc } from './helpers/admin.js';
import { ConnectLoops, httpAttempt, tcpAttempt } from './helpers/connect-loops.js';
import { PLANES, Plane, loopback, sha256, tcp, web, type PlaneStatus, type Snapshot } from './helpers/data-planes.js';
import { startEchoServers, type EchoServer } from './helpers/echo-server.js';
import { startHttpBackend, type HttpBackend } from './helpers/http-backends.js';
import { request, type Reply } from './helpers/http-client.js';
import { portInRange } from './helpers/port-range.js';
import { listenInAnotherProcess, probeConnect } from './helpers/ports.js';
import { LongLivedClient, echoOnce } from './helpers/tcp-client.js';
import { TestCa, hasOpenssl } from './helpers/tls-certs.js';
import { TlsClient } from './helpers/tls-client.js';
import { waitFor, within } from './helpers/wait.js';

/** This file's listen ports: a range of their own, apart from the other test files' ranges. */
const freePort = (): Promise<number> => portInRange(['127.0.0.1']);

/** The processes serving: the supervisor's workers, or HAProxy's master and worker and its reload count. */
function processes(s: PlaneStatus): { pid: number; workers?: number[]; master?: number; worker?: number; reloads?: number } {
  if (s.haproxy) return { pid: s.pid, master: s.haproxy.master?.pid, worker: s.haproxy.worker?.pid, reloads: s.haproxy.reloads };
  return { pid: s.pid, ...(s.process ? { workers: s.process.workers.map((w) => w.pid) } : {}) };
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
      const processesBefore = processes(await p.status());

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
      const processesAfter = processes(await p.status());
      t.diagnostic(`${p.name}: ${loops.ok} new connections served during 2 applies, ${loops.failures.length} not; sockets ${JSON.stringify(before)} -> ${JSON.stringify(after)}; processes ${JSON.stringify(processesBefore)} -> ${JSON.stringify(processesAfter)}`);
      assert.deepEqual(loops.failures.slice(0, 10), [], `${loops.failures.length} of ${loops.attempts} connections failed`);
      assert.deepEqual(after, before, 'the same listening sockets, by inode');
      if (p.name === 'haproxy') {
        // HAProxy reloads for both changes (structure, not only servers): a new worker each time,
        // the same master, and still the same sockets, handed from worker to worker.
        assert.equal(processesAfter.master, processesBefore.master);
        assert.equal(processesAfter.reloads, processesBefore.reloads! + 2, 'one seamless reload per structural apply');
        assert.notEqual(processesAfter.worker, processesBefore.worker);
      } else {
        // The builtin plane changes its state in place: the same process(es) serve before and after.
        assert.deepEqual(processesAfter, processesBefore);
      }
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
      // Round-robin over two endpoints: one of these two connections tries the name first.
      for (let i = 0; i < 2; i++) assert.deepEqual(await echoOnce(svcPort), { ok: true }, `connection ${i}`);
    },
  },
  {
    name: 'a byte-identical config is a no-op (PUT and SIGHUP), recorded as noop; so is one that differs only in a comment (an empty plan), which becomes the running text; neither prepares or changes a socket, a worker or an HAProxy process',
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
      p.signal('SIGHUP');
      const status = await waitFor('the SIGHUP re-read to be recorded', async () => {
        const s = await p.status();
        return s.applies.length >= historyBefore + 2 ? s : undefined;
      });
      assert.deepEqual(status.applies.slice(-2).map((r) => `${r.origin} ${r.result}`), ['admin noop', 'sighup noop']);
      // Same listeners and sockets, the supervisor's workers committed nothing, HAProxy did not reload.
      assert.deepEqual(await p.snapshot([svcPort, webPort]), before);
      await held.roundTrip();

      // Other bytes with the same meaning (a comment): a new config hash, but an empty plan, so
      // a no-op too: no prepare or commit reaches the data plane (no worker is asked to prepare,
      // none commits, HAProxy does not reload), while the new text is the running one.
      const commented = `${text}# the same config, other bytes\n`;
      const res2 = await p.put(commented);
      assert.equal(res2.status, 200, res2.text);
      const record2 = res2.json<ApplyRecordDoc>();
      assert.deepEqual(
        { result: record2.result, summary: record2.summary, hashBefore: record2.hashBefore, hashAfter: record2.hashAfter },
        { result: 'noop', summary: 'no changes', hashBefore: sha256(text), hashAfter: sha256(commented) },
      );
      assert.equal(res2.headers.etag, `"${sha256(commented)}"`);
      const after = await p.snapshot([svcPort, webPort]);
      assert.deepEqual({ hash: after.hash, configText: after.configText, etag: after.etag }, { hash: sha256(commented), configText: commented, etag: `"${sha256(commented)}"` });
      const apart = (x: Snapshot) => ({ ...x, hash: null, configText: null, etag: null });
      assert.deepEqual(apart(after), apart(before), 'same sockets and processes; no worker prepared or committed anything; no reload');
      if (after.workers) assert.ok(after.workers.every((w) => w.prepares !== null && w.prepares > 0), 'each worker reports its own count of prepares');
      // The file holds the commented text now (write-file): a SIGHUP re-reads identical bytes.
      p.signal('SIGHUP');
      const history = await waitFor('the second SIGHUP re-read to be recorded', async () => {
        const s = await p.status();
        return s.applies.at(-1)?.origin === 'sighup' && s.applies.at(-1)?.hashBefore === sha256(commented) ? s.applies : undefined;
      });
      assert.deepEqual(history.slice(-2).map((r) => `${r.origin} ${r.result} ${r.summary}`), ['admin noop no changes', 'sighup noop identical config']);
      assert.deepEqual(apart(await p.snapshot([svcPort, webPort])), apart(before));
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
      const sameConnection = (r: Reply, on: Reply, what: string): void => {
        assert.equal(r.localPort, on.localPort, `${what}: another client connection`);
        assert.equal(r.reused, true, `${what}: not on the kept connection`);
      };

      // An endpoint-only change: the next request goes to the new endpoint, on the same connection.
      await p.apply({ web: web(webPort, { endpoints: [h1.address] }) });
      const second = await get('/');
      assert.equal(second.body, 'h1');
      sameConnection(second, first, 'after an endpoint change');

      // A structural change (a cluster and a route) and another service added; then that service
      // removed again. After each, the client's next requests: the same connection, new routes.
      const structural = { web: web(webPort, { clusters: { main: { endpoints: [h1.address] }, api: { endpoints: [h0.address] } }, routes: [{ path: '/api', cluster: 'api' }, { cluster: 'main' }] }) };
      let connection = first;
      for (const [what, services] of [['a structural change and a service added', { ...structural, other: tcp(otherPort, [e0.address]) }], ['a service removed', structural]] as const) {
        await p.apply(services);
        const next = await get('/');
        assert.equal(next.body, 'h1');
        sameConnection(next, connection, `the first request after ${what}`);
        if (p.name === 'haproxy') {
          // A structural change is a reload: the idle keep-alive connection stays with the old
          // worker, which answers its next request (on the old config) with Connection: close
          // (option idle-close-on-response, render-config.ts) and exits once its connections are
          // done. No request fails, but the connection does not outlive a reload; the client's
          // next request opens a new one, to the new worker.
          assert.equal(next.headers.connection, 'close', `${what}: the old worker's answer`);
          const routed = await get('/api/x');
          assert.equal(routed.body, 'h0', 'the new worker routes /api');
          assert.equal(routed.reused, false, `${what}: a new connection after the old worker's Connection: close`);
          connection = routed;
        } else {
          // The builtin plane keeps every client connection the new config still serves; each
          // request is routed by the config running when it arrives.
          assert.notEqual(next.headers.connection, 'close');
          const routed = await get('/api/x');
          assert.equal(routed.body, 'h0', 'the kept connection follows the new routes');
          sameConnection(routed, connection, `the second request after ${what}`);
        }
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
      // apply that changes its service again too (applies are serialised, so that one also
      // comes after anything the first left to do).
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
    name: 'a certificate rotation (PUT /config with renewed files, then files renamed into place) keeps the listening socket and a TLS keep-alive client; the next handshake gets the new certificate; HAProxy does not reload',
    async run(p, t) {
      if (!hasOpenssl()) return t.skip('the openssl CLI is not installed');
      const ca = new TestCa();
      t.after(() => ca.close());
      const [h0] = await backends(t, ['h0']);
      const [port] = await ports(1);
      const live = { cert: join(ca.dir, 'live.pem'), key: join(ca.dir, 'live.key') };
      const first = ca.issue('r.test');
      copyFileSync(first.cert, live.cert);
      copyFileSync(first.key, live.key);
      const service = (files: { cert: string; key: string }) => ({ secure: web(port, { endpoints: [h0.address], tls: { certificates: [files] } }) });
      await p.settleOn(service(live));
      const sockets = await p.sockets([port]);
      const processesBefore = processes(await p.status());
      const fingerprint = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256;
      const handshake = async (): Promise<string> => {
        const c = await TlsClient.connect(port, { servername: 'r.test', ca: ca.caCert });
        const print = c.certificate.fingerprint256;
        await c.close();
        return print;
      };
      const keepAlive = await TlsClient.connect(port, { servername: 'r.test', ca: ca.caCert });
      t.after(() => keepAlive.close());
      assert.equal((await keepAlive.request('/', 'r.test')).body, 'h0');
      assert.equal(keepAlive.certificate.fingerprint256, fingerprint(first.cert));

      // By PUT: other files for the same name.
      const renewed = ca.issue('r.test');
      await p.apply(service(renewed));
      assert.equal(await handshake(), fingerprint(renewed.cert), `${p.name}: a new handshake after the PUT`);
      assert.equal((await keepAlive.request('/', 'r.test')).body, 'h0', `${p.name}: the TLS keep-alive client after the PUT`);

      // By the files: renamed over the running ones (back to them first).
      await p.apply(service(live));
      const again = ca.issue('r.test');
      for (const [from, to] of [[again.key, live.key], [again.cert, live.cert]]) {
        copyFileSync(from, `${to}.tmp`);
        renameSync(`${to}.tmp`, to);
      }
      await waitFor(`${p.name}: the renamed certificate on a new handshake`, async () => (await handshake()) === fingerprint(again.cert), { timeoutMs: 20_000 });
      assert.equal((await keepAlive.request('/', 'r.test')).body, 'h0', `${p.name}: the TLS keep-alive client after the rename`);
      assert.equal(keepAlive.socket.destroyed, false);

      assert.deepEqual(await p.sockets([port]), sockets, `${p.name}: the listening socket is the same`);
      // The same processes: no worker replaced, and HAProxy renewed the certificate through its
      // runtime API (set + commit ssl cert) without a reload.
      assert.deepEqual(processes(await p.status()), processesBefore, `${p.name}: the serving processes`);
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
