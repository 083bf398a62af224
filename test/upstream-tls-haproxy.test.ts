// upstream_tls on the HAProxy data plane, with the real HAProxy: the server lines carry `ssl
// verify required ca-file … sni … verifyhost …` (or `verify none`), `crt` names the client
// certificate and key written as one PEM file, mode 0600, in hitless's private state dir; the
// wrong CA is refused by HAProxy; mTLS reaches an endpoint that requires a client certificate;
// health checks speak TLS; an endpoint added at runtime gets the same TLS keywords.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { HitlessProcess } from './helpers/hitless-process.js';
import { haproxyMissing } from './helpers/paths.js';
import { reservePort } from './helpers/ports.js';
import { hasOpenssl, TestCa, type Issued } from './helpers/tls-certs.js';
import { waitFor } from './helpers/wait.js';

const skip = haproxyMissing || (hasOpenssl() ? false : 'the openssl CLI is not installed');

function httpsEndpoint(cert: Issued, clientCa?: string): Promise<{ server: HttpsServer; address: string }> {
  const server = createHttpsServer(
    { cert: readFileSync(cert.cert), key: readFileSync(cert.key), ...(clientCa ? { requestCert: true, rejectUnauthorized: true, ca: readFileSync(clientCa) } : {}) },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      res.end(JSON.stringify({ sni: socket.servername || null, client: peer && peer.subject ? peer.subject.CN : null }));
    },
  );
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  return once(server, 'listening').then(() => ({ server, address: `127.0.0.1:${(server.address() as { port: number }).port}` }));
}

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { host: 'svc.test' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS to endpoints (upstream_tls), HAProxy data plane', { skip }, () => {
  let ca: TestCa, otherCa: TestCa;
  let api: { server: HttpsServer; address: string };
  let api2: { server: HttpsServer; address: string };
  let mtls: { server: HttpsServer; address: string };
  let client: Issued;
  let dir: string;
  let stateDir: string;
  let hitless: HitlessProcess;
  const ports: Record<string, number> = {};

  function config(admin: string, verifiedEndpoints: string[]): string {
    const http = (name: string, endpoints: string[], upstream_tls: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ mode: 'http', listen: `127.0.0.1:${ports[name]}`, endpoints, upstream_tls, ...extra });
    return stringify({
      admin: { listen: admin },
      dataplane: { driver: 'haproxy', haproxy: { state_dir: stateDir } },
      services: {
        verified: http('verified', verifiedEndpoints, { ca_file: ca.caCert, server_name: 'api.test' }, { health: { active: { type: 'http', path: '/', interval: '300ms', rise: 1, fall: 1 } } }),
        wrongca: http('wrongca', [api.address], { ca_file: otherCa.caCert, server_name: 'api.test' }, { retries: 0 }),
        mtls: http('mtls', [mtls.address], { ca_file: ca.caCert, server_name: 'mtls.test', cert: client.cert, key: client.key }),
        insecure: http('insecure', [api.address], { insecure_skip_verify: true }),
      },
    });
  }

  before(async () => {
    ca = new TestCa();
    otherCa = new TestCa();
    api = await httpsEndpoint(ca.issue('api.test'));
    api2 = await httpsEndpoint(ca.issue('api.test'));
    mtls = await httpsEndpoint(ca.issue('mtls.test'), ca.caCert);
    client = ca.issue('client.test');
    dir = mkdtempSync(join(tmpdir(), 'hitless-upstls-haproxy-'));
    stateDir = join(dir, 'haproxy');
    for (const name of ['verified', 'wrongca', 'mtls', 'insecure']) ports[name] = await reservePort();
    hitless = await HitlessProcess.start({ config: (admin) => config(admin, [api.address]), workers: 0, logLevel: 'warn' });
  });

  after(async () => {
    await hitless?.kill();
    for (const e of [api, api2, mtls]) e?.server.close();
    ca?.close();
    otherCa?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('renders ssl, verification, SNI and the client certificate on the server lines; the PEM is 0600 in the state dir', () => {
    const text = readFileSync(join(stateDir, 'haproxy.cfg'), 'utf8');
    const server = (backend: string) => text.split(`\nbackend ${backend}:default\n`)[1].split('\n').find((l) => l.startsWith('  server '))!;
    assert.match(server('verified'), / ssl verify required ca-file \S+upstream-tls-\w+\.ca\.pem .*sni str\(api\.test\) check-sni api\.test verifyhost api\.test/);
    assert.match(server('insecure'), / ssl verify none/);
    const crt = / crt (\S+)/.exec(server('mtls'))![1];
    assert.ok(crt.startsWith(stateDir), crt);
    assert.equal(statSync(crt).mode & 0o777, 0o600);
    const pem = readFileSync(crt, 'utf8');
    assert.match(pem, /-----BEGIN CERTIFICATE-----[\s\S]*-----BEGIN PRIVATE KEY-----/);
  });

  it('verified against the CA with server_name as SNI; the wrong CA is refused; mTLS presents the client certificate; insecure_skip_verify passes', async () => {
    const ok = await get(ports.verified);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(JSON.parse(ok.body).sni, 'api.test');
    const refused = await get(ports.wrongca);
    assert.equal(refused.status, 502, refused.body);
    const m = await get(ports.mtls);
    assert.equal(m.status, 200, m.body);
    assert.equal(JSON.parse(m.body).client, 'client.test');
    assert.equal((await get(ports.insecure)).status, 200);
    type Status = { services: Array<{ name: string; upstreamTls?: { insecureSkipVerify: string[] } }> };
    const services = ((await hitless.status()) as unknown as Status).services;
    assert.deepEqual(services.find((x) => x.name === 'insecure')!.upstreamTls, { insecureSkipVerify: ['default'] });
    assert.deepEqual(services.find((x) => x.name === 'verified')!.upstreamTls, { insecureSkipVerify: [] });
    assert.match(hitless.logs(), /ENDPOINT CERTIFICATES ARE NOT VERIFIED/);
    const metrics = await hitless.request('GET', '/metrics');
    assert.match(metrics.text, /hitless_tls_upstream_insecure_skip_verify\{service="insecure",cluster="default"\} 1/);
  });

  it('health checks over TLS mark the endpoint up; an endpoint added at runtime gets the same TLS keywords and serves', async () => {
    type Status = { services: Array<{ name: string; endpoints: Array<{ address: string; health: string }> }> };
    const endpoints = async () => ((await hitless.status()) as unknown as Status).services.find((s) => s.name === 'verified')!.endpoints;
    await waitFor('checked up over TLS', async () => (await endpoints()).every((e) => e.health === 'up'));
    const reply = await hitless.put(config(hitless.admin, [api.address, api2.address]));
    assert.equal(reply.status, 200, reply.text);
    await waitFor('both endpoints up', async () => {
      const list = await endpoints();
      return list.length === 2 && list.every((e) => e.health === 'up');
    });
    for (let i = 0; i < 4; i++) assert.equal((await get(ports.verified)).status, 200);
    // Added by the runtime API (`add server … ssl verify required … sni …`), not by a fallback reload.
    assert.doesNotMatch(hitless.logs(), /runtime change failed/);
    assert.ok(readdirSync(stateDir).filter((n) => n.startsWith('upstream-tls-')).length >= 2);
  });
});
