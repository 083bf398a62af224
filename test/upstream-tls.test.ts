// TLS to endpoints (upstream_tls) on the builtin data plane, over real TLS on loopback, through
// `hitless run`: endpoints are node:https / node:tls servers that count their handshakes and say
// which SNI and which client certificate they saw. Verified against a given CA (and refused with
// the wrong one, with its own error code), server_name as SNI and the name verified, an IP
// endpoint verified against its IP SAN, mTLS (and its refusal without a client certificate),
// insecure_skip_verify (warned, shown in status), pooled reuse (one handshake for many keep-alive
// requests), tcp mode, health checks over TLS, rotation of the client certificate by file rename,
// and a bad file refused by PUT with nothing changed.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { request, Agent } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { lookup } from 'node:dns/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { runCli } from './helpers/cli.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import { reservePort } from './helpers/ports.js';
import { hasOpenssl, TestCa, type Issued } from './helpers/tls-certs.js';
import { waitFor } from './helpers/wait.js';

const skip = hasOpenssl() ? false : 'the openssl CLI is not installed';
/** The by-name case connects to "localhost"; its endpoint listens on 127.0.0.1 only. */
const localhostIsLoopbackV4 = (await lookup('localhost')).address === '127.0.0.1';

/** An HTTPS endpoint that counts its handshakes and answers with the SNI and the client certificate it saw. */
class TlsEndpoint {
  handshakes = 0;
  readonly held: Array<() => void> = [];
  readonly server: HttpsServer;
  port = 0;

  constructor(cert: Issued, options: { requireClientCa?: string } = {}) {
    this.server = createHttpsServer(
      {
        cert: readFileSync(cert.cert),
        key: readFileSync(cert.key),
        ...(options.requireClientCa ? { requestCert: true, rejectUnauthorized: true, ca: readFileSync(options.requireClientCa) } : {}),
      },
      (req, res) => {
        const socket = req.socket as TLSSocket;
        const peer = socket.getPeerCertificate();
        const answer = () => res.end(JSON.stringify({ sni: socket.servername || null, client: peer && peer.subject ? peer.subject.CN : null, clientFingerprint: peer?.fingerprint256 ?? null }));
        // /slow answers when the test says so: a request in flight across a rotation.
        if (req.url === '/slow') this.held.push(answer);
        else answer();
      },
    );
    this.server.on('secureConnection', () => this.handshakes++);
    // An upgrade (WebSocket-like) becomes an echo tunnel over the endpoint's TLS connection.
    this.server.on('upgrade', (req, socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${String(req.headers.upgrade)}\r\n\r\n`);
      socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString('latin1')}`));
    });
    this.server.on('tlsClientError', () => {});
  }

  async listen(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  close(): void {
    this.server.closeAllConnections();
    this.server.close();
  }
}

interface Answer {
  status: number;
  error: string | undefined;
  body: string;
}

function get(port: number, path = '/', agent?: Agent, host = 'svc.test'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: agent ?? false, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, error: res.headers['x-hitless-error'] as string | undefined, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

type UpstreamStatus = { handshakes: number; failures: Record<string, number>; insecureSkipVerify: string[] };
type Status = { services: Array<{ name: string; upstreamTls?: UpstreamStatus; endpoints: Array<{ address: string; health: string; checkError?: string | null }> }> };

describe('TLS to endpoints (upstream_tls), builtin data plane', { skip }, () => {
  let ca: TestCa, otherCa: TestCa;
  let api: TlsEndpoint, checkedApi: TlsEndpoint, ipOnly: TlsEndpoint, mtls: TlsEndpoint, named: TlsEndpoint, impostor: TlsEndpoint;
  let raw: TlsServer;
  let rawPort = 0;
  let clientA: Issued, clientB: Issued;
  let liveDir: string;
  let hitless: HitlessProcess;
  const ports: Record<string, number> = {};
  const services = ['failover', 'byname', 'verified', 'wrongca', 'ipsan', 'namemismatch', 'mtls', 'mtlsnone', 'insecure', 'tcptls', 'checked', 'checkedbad'];

  function config(admin: string, caFile?: string): string {
    const u = (extra: Record<string, unknown>) => ({ ca_file: caFile ?? ca.caCert, ...extra });
    const http = (name: string, endpoint: string, upstream_tls: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ mode: 'http', listen: `127.0.0.1:${ports[name]}`, endpoints: [endpoint], upstream_tls, ...extra });
    const active = { health: { active: { type: 'http', path: '/health', interval: '200ms', timeout: '1s', rise: 1, fall: 1 } } };
    return stringify({
      admin: { listen: admin },
      services: {
        verified: http('verified', api.address, u({ server_name: 'api.test' })),
        // The impostor's certificate comes from another CA: refused, and the request goes on to api.
        failover: http('failover', impostor.address, u({ server_name: 'api.test' }), { endpoints: [impostor.address, api.address], balance: 'round-robin', retries: 1 }),
        byname: http('byname', `localhost:${named.port}`, u({})),
        wrongca: http('wrongca', api.address, { ca_file: otherCa.caCert, server_name: 'api.test' }),
        ipsan: http('ipsan', ipOnly.address, u({})),
        namemismatch: http('namemismatch', api.address, u({})),
        mtls: http('mtls', mtls.address, u({ server_name: 'mtls.test', cert: join(liveDir, 'client.pem'), key: join(liveDir, 'client.key') })),
        mtlsnone: http('mtlsnone', mtls.address, u({ server_name: 'mtls.test' })),
        insecure: http('insecure', api.address, { insecure_skip_verify: true }),
        tcptls: { mode: 'tcp', listen: `127.0.0.1:${ports.tcptls}`, endpoints: [`127.0.0.1:${rawPort}`], upstream_tls: u({ server_name: 'raw.test' }) },
        checked: http('checked', checkedApi.address, u({ server_name: 'api.test' }), active),
        checkedbad: http('checkedbad', checkedApi.address, { ca_file: otherCa.caCert, server_name: 'api.test' }, active),
      },
    });
  }

  const status = async () => (await hitless.status()) as unknown as Status;
  const upstreamOf = async (name: string) => (await status()).services.find((s) => s.name === name)!.upstreamTls!;

  before(async () => {
    ca = new TestCa();
    otherCa = new TestCa();
    api = await new TlsEndpoint(ca.issue('api.test')).listen();
    checkedApi = await new TlsEndpoint(ca.issue('api.test')).listen();
    impostor = await new TlsEndpoint(otherCa.issue('api.test')).listen();
    named = await new TlsEndpoint(ca.issue('localhost')).listen();
    ipOnly = await new TlsEndpoint(ca.issue('ip endpoint', { ips: ['127.0.0.1'] })).listen();
    mtls = await new TlsEndpoint(ca.issue('mtls.test'), { requireClientCa: ca.caCert }).listen();
    const rawCert = ca.issue('raw.test');
    raw = createTlsServer({ cert: readFileSync(rawCert.cert), key: readFileSync(rawCert.key) }, (s) => {
      s.on('error', () => {});
      s.on('data', (d: Buffer) => s.write(`got:${d.toString('latin1')}`));
    });
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    rawPort = (raw.address() as { port: number }).port;
    clientA = ca.issue('client-a.test');
    clientB = ca.issue('client-b.test');
    liveDir = mkdtempSync(join(tmpdir(), 'hitless-upstls-'));
    copyFileSync(clientA.cert, join(liveDir, 'client.pem'));
    copyFileSync(clientA.key, join(liveDir, 'client.key'));
    for (const name of services) ports[name] = await reservePort();
    hitless = await HitlessProcess.start({ config: (admin) => config(admin), workers: 0, logLevel: 'warn' });
  });

  after(async () => {
    await hitless?.kill();
    for (const e of [api, checkedApi, ipOnly, mtls, named, impostor]) e?.close();
    raw?.close();
    ca?.close();
    otherCa?.close();
    if (liveDir) rmSync(liveDir, { recursive: true, force: true });
  });

  it('verifies against the given CA and sends server_name as SNI; many keep-alive requests share one handshake', async () => {
    const before = api.handshakes;
    for (let i = 0; i < 20; i++) {
      const answer = await get(ports.verified);
      assert.equal(answer.status, 200, answer.body);
      assert.deepEqual(JSON.parse(answer.body), { sni: 'api.test', client: null, clientFingerprint: null });
    }
    assert.equal(api.handshakes - before, 1, 'one pooled TLS connection carried the 20 requests');
    assert.equal((await upstreamOf('verified')).handshakes, 1);
  });

  it('a refused endpoint is a connect failure: the request is tried on the next endpoint and succeeds', async () => {
    for (let i = 0; i < 4; i++) {
      const answer = await get(ports.failover);
      assert.equal(answer.status, 200, answer.body);
    }
    assert.ok((await upstreamOf('failover')).failures.untrusted >= 1);
    assert.equal(impostor.handshakes, 0, 'no handshake with the impostor completed');
  });

  it('an endpoint given by name: the name is the SNI and the name verified (no server_name)', { skip: localhostIsLoopbackV4 ? false : 'localhost does not resolve to 127.0.0.1 first here' }, async () => {
    const answer = await get(ports.byname);
    assert.equal(answer.status, 200, answer.body);
    assert.equal(JSON.parse(answer.body).sni, 'localhost');
  });

  it('the wrong CA: 502 with HITLESS_ERR_UPSTREAM_TLS_VERIFY, counted as untrusted', async () => {
    const answer = await get(ports.wrongca);
    assert.equal(answer.status, 502);
    assert.equal(answer.error, 'HITLESS_ERR_UPSTREAM_TLS_VERIFY');
    const failures = (await upstreamOf('wrongca')).failures;
    assert.equal(failures.untrusted, 1, JSON.stringify(failures));
  });

  it('an IP endpoint without server_name is verified against its IP SAN (and sent no SNI); a name-only certificate is refused for it', async () => {
    const ok = await get(ports.ipsan);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(JSON.parse(ok.body).sni, null);
    const refused = await get(ports.namemismatch);
    assert.equal(refused.status, 502);
    assert.equal(refused.error, 'HITLESS_ERR_UPSTREAM_TLS_VERIFY');
    assert.equal((await upstreamOf('namemismatch')).failures.name_mismatch, 1);
  });

  it('mTLS: the client certificate reaches an endpoint that requires one; without it the handshake fails with its own code', async () => {
    const ok = await get(ports.mtls);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(JSON.parse(ok.body).client, 'client-a.test');
    const refused = await get(ports.mtlsnone);
    assert.equal(refused.status, 502, refused.body);
    assert.equal(refused.error, 'HITLESS_ERR_UPSTREAM_TLS_HANDSHAKE');
    assert.ok((await upstreamOf('mtlsnone')).failures.client_certificate_refused >= 1);
  });

  it('insecure_skip_verify: no CA needed, warned in the log, shown in status and metrics', async () => {
    const answer = await get(ports.insecure);
    assert.equal(answer.status, 200, answer.body);
    assert.match(hitless.logs(), /ENDPOINT CERTIFICATES ARE NOT VERIFIED/);
    assert.deepEqual((await upstreamOf('insecure')).insecureSkipVerify, ['default']);
    assert.deepEqual((await upstreamOf('verified')).insecureSkipVerify, []);
    const metrics = await hitless.request('GET', '/metrics');
    assert.match(metrics.text, /hitless_tls_upstream_insecure_skip_verify\{service="insecure",cluster="default"\} 1/);
    assert.match(metrics.text, /hitless_tls_upstream_handshake_failures_total\{service="wrongca",reason="untrusted"\} [1-9]/);
    const cli = await runCli(['status', '--admin', hitless.admin]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /TLS TO ENDPOINTS[\s\S]*insecure +\d+ +\S+ +INSECURE: default/);
  });

  it('an upgrade (WebSocket) goes to the endpoint over TLS and becomes a tunnel', async () => {
    const socket = connect(ports.verified, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /ws HTTP/1.1\r\nHost: svc.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    let seen = '';
    socket.on('data', (d: Buffer) => {
      seen += d.toString('latin1');
      if (seen.endsWith('\r\n\r\n')) socket.write('ping');
    });
    await waitFor('the 101 and the echo through the tunnel', () => /^HTTP\/1\.1 101 [\s\S]*\r\n\r\necho:ping$/.test(seen));
    socket.destroy();
  });

  it('tcp mode: the endpoint side is wrapped in TLS', async () => {
    const socket = connect(ports.tcptls, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('hello');
    const [data] = (await once(socket, 'data')) as [Buffer];
    assert.equal(data.toString(), 'got:hello');
    socket.destroy();
    assert.ok((await upstreamOf('tcptls')).handshakes >= 1);
  });

  it('active health checks use the same TLS settings: up with the right CA, down (TLS) with the wrong one', async () => {
    const endpoint = async (name: string) => (await status()).services.find((s) => s.name === name)!.endpoints[0];
    await waitFor('checked up, checkedbad down', async () => (await endpoint('checked')).health === 'up' && (await endpoint('checkedbad')).health === 'down');
    assert.equal((await endpoint('checkedbad')).checkError, 'TLS handshake failed or certificate refused');
  });

  it('rotation by file rename: new connections present the new client certificate; a request in flight on an old connection finishes', async () => {
    const first = await get(ports.mtls);
    assert.equal(JSON.parse(first.body).client, 'client-a.test');
    const inFlight = get(ports.mtls, '/slow');
    await waitFor('the slow request at the endpoint', () => mtls.held.length === 1);
    const stage = (from: string, to: string) => {
      copyFileSync(from, `${to}.tmp`);
      renameSync(`${to}.tmp`, to);
    };
    stage(clientB.key, join(liveDir, 'client.key'));
    stage(clientB.cert, join(liveDir, 'client.pem'));
    await waitFor('the new client certificate used', async () => JSON.parse((await get(ports.mtls)).body).client === 'client-b.test', { timeoutMs: 15_000 });
    mtls.held.shift()!();
    const finished = await inFlight;
    assert.equal(finished.status, 200);
    assert.equal(JSON.parse(finished.body).client, 'client-a.test', 'the old connection, made with the old certificate, finished its request');
  });

  it('a bad CA file in a PUT is refused with the file and the reason; nothing changes', async () => {
    const missing = join(liveDir, 'no-such-ca.pem');
    const reply = await hitless.put(config(hitless.admin, missing));
    assert.equal(reply.status, 400);
    assert.match(reply.text, /upstream_tls\.ca_file: cannot read .*no-such-ca\.pem: no such file/);
    const answer = await get(ports.verified);
    assert.equal(answer.status, 200);
  });
});

describe('TLS to endpoints with workers (hitless run --workers 2)', { skip }, () => {
  let ca: TestCa;
  let api: TlsEndpoint, mtls: TlsEndpoint;
  let clientA: Issued, clientB: Issued;
  let liveDir: string;
  let hitless: HitlessProcess;
  let port = 0;
  let mtlsPort = 0;

  before(async () => {
    ca = new TestCa();
    api = await new TlsEndpoint(ca.issue('api.test')).listen();
    mtls = await new TlsEndpoint(ca.issue('mtls.test'), { requireClientCa: ca.caCert }).listen();
    clientA = ca.issue('client-a.test');
    clientB = ca.issue('client-b.test');
    liveDir = mkdtempSync(join(tmpdir(), 'hitless-upstls-workers-'));
    copyFileSync(clientA.cert, join(liveDir, 'client.pem'));
    copyFileSync(clientA.key, join(liveDir, 'client.key'));
    port = await reservePort();
    mtlsPort = await reservePort();
    const text = (admin: string) =>
      stringify({
        admin: { listen: admin },
        services: {
          web: { mode: 'http', listen: `127.0.0.1:${port}`, endpoints: [api.address], upstream_tls: { ca_file: ca.caCert, server_name: 'api.test' } },
          mtls: { mode: 'http', listen: `127.0.0.1:${mtlsPort}`, endpoints: [mtls.address], upstream_tls: { ca_file: ca.caCert, server_name: 'mtls.test', cert: join(liveDir, 'client.pem'), key: join(liveDir, 'client.key') } },
        },
      });
    hitless = await HitlessProcess.start({ config: text, workers: 2, logLevel: 'warn' });
  });

  after(async () => {
    await hitless?.kill();
    api?.close();
    mtls?.close();
    ca?.close();
    if (liveDir) rmSync(liveDir, { recursive: true, force: true });
  });

  it('every worker gets the TLS material over IPC: verified requests, at most one handshake per worker, counted in the supervisor\'s status', async () => {
    for (let i = 0; i < 20; i++) {
      const answer = await get(port);
      assert.equal(answer.status, 200, answer.body);
      assert.equal(JSON.parse(answer.body).sni, 'api.test');
    }
    assert.ok(api.handshakes >= 1 && api.handshakes <= 2, `one pooled connection per worker: ${api.handshakes} handshakes`);
    const counted = await waitFor('the handshakes in status', async () => {
      const s = ((await hitless.status()) as unknown as Status).services.find((x) => x.name === 'web')!.upstreamTls;
      return s && s.handshakes === api.handshakes ? s : undefined;
    });
    assert.deepEqual(counted.failures, {});
  });

  it('a client certificate renamed into place reaches every worker', async () => {
    for (let i = 0; i < 6; i++) assert.equal(JSON.parse((await get(mtlsPort)).body).client, 'client-a.test');
    for (const [from, to] of [[clientB.key, 'client.key'], [clientB.cert, 'client.pem']] as const) {
      copyFileSync(from, join(liveDir, `${to}.tmp`));
      renameSync(join(liveDir, `${to}.tmp`), join(liveDir, to));
    }
    // Ten answers in a row with the new certificate: new connections of both workers use it.
    await waitFor(
      'ten answers in a row with client-b',
      async () => {
        for (let i = 0; i < 10; i++) if (JSON.parse((await get(mtlsPort)).body).client !== 'client-b.test') return false;
        return true;
      },
      { timeoutMs: 15_000 },
    );
  });
});
