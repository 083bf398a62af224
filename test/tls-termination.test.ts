// TLS termination over real TLS on loopback, through `hitless run` (one process and two workers):
// the certificate chosen by SNI (exact, wildcard, default, no SNI; ECDSA and RSA side by side),
// checked by a client that verifies chain and name; http behind TLS (X-Forwarded-Proto https,
// keep-alive, ALPN); tcp mode proxied in plain text; failed handshakes counted by reason; curl
// and openssl s_client when installed; status and metrics.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { HitlessProcess } from './helpers/hitless-process.js';
import { startHttpBackend, type HttpBackend } from './helpers/http-backends.js';
import { reservePort } from './helpers/ports.js';
import { handshakeOutcome, TlsClient } from './helpers/tls-client.js';
import { hasOpenssl, TestCa, type Issued } from './helpers/tls-certs.js';
import { waitFor } from './helpers/wait.js';

const run = promisify(execFile);
const skip = hasOpenssl() ? false : 'the openssl CLI is not installed';

interface TlsStatus {
  handshakes: number;
  resumed: number;
  versions: Record<string, number>;
  failures: Record<string, number>;
  sni: Record<string, number>;
  certificates: Array<{ name: string; names: string[]; subject: string; notAfter: string; daysLeft: number; default: boolean; keyType: string }>;
}
type Status = { services: Array<{ name: string; total: number; tls?: TlsStatus }> };

let ca: TestCa;
let def: Issued, ecA: Issued, rsaWild: Issued;
let backend: HttpBackend;
/** A tcp endpoint that answers each chunk with "got:<chunk>", so the client sees what arrived in plain text. */
let plain: Server;
let plainPort: number;

function config(admin: string, webPort: number, rawPort: number, handshake = '10s'): string {
  const cert = (c: Issued) => ({ cert: c.cert, key: c.key });
  return stringify({
    admin: { listen: admin },
    services: {
      web: { mode: 'http', listen: `127.0.0.1:${webPort}`, endpoints: [backend.address], timeouts: { handshake }, tls: { certificates: [cert(def), cert(ecA), cert(rsaWild)] } },
      raw: { mode: 'tcp', listen: `127.0.0.1:${rawPort}`, endpoints: [`127.0.0.1:${plainPort}`], tls: { certificates: [cert(ecA)], alpn: ['imap'] } },
    },
  });
}

before(async () => {
  if (skip) return;
  ca = new TestCa();
  def = ca.issue('default.test');
  ecA = ca.issue('a.test', { names: ['a.test', 'www.a.test'] });
  rsaWild = ca.issue('*.b.test', { key: 'rsa' });
  backend = await startHttpBackend('H');
  plain = createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d: Buffer) => s.write(`got:${d.toString('latin1')}`));
  });
  plain.listen(0, '127.0.0.1');
  await once(plain, 'listening');
  plainPort = (plain.address() as { port: number }).port;
});

after(async () => {
  await backend?.close();
  plain?.close();
  ca?.close();
});

for (const workers of [0, 2]) {
  describe(`TLS termination (--workers ${workers})`, { skip }, () => {
    let hitless: HitlessProcess;
    let webPort: number, rawPort: number;
    const status = async () => (await hitless.status()) as unknown as Status;
    const tlsOf = async (name: string) => (await status()).services.find((s) => s.name === name)!.tls!;

    before(async () => {
      webPort = await reservePort();
      rawPort = await reservePort();
      hitless = await HitlessProcess.start({ config: (admin) => config(admin, webPort, rawPort, '500ms'), workers, logLevel: 'warn' });
    });
    after(() => hitless?.kill());

    it('serves the certificate SNI names: exact, wildcard (RSA beside ECDSA), default for an unknown name and without SNI', async () => {
      const cases: Array<[string | undefined, string, string]> = [
        ['a.test', 'a.test', 'exact'],
        ['www.a.test', 'a.test', 'exact'],
        ['x.b.test', '*.b.test', 'wildcard'],
        ['unknown.test', 'default.test', 'default'],
        [undefined, 'default.test', 'none'],
      ];
      for (const [servername, cn] of cases) {
        // Verified against the CA: the chain and the name must hold, not only the CN.
        const client = await TlsClient.connect(webPort, { servername, ca: servername === 'unknown.test' || !servername ? undefined : ca.caCert });
        assert.equal(client.cn, cn, `SNI ${servername ?? '(none)'}`);
        if (servername === 'x.b.test') assert.equal(client.certificate.pubkey?.length, 294, 'the RSA-2048 certificate');
        await client.close();
      }
      // Workers report every few seconds: wait for the counts, bounded.
      let seen: TlsStatus | undefined;
      const tls = await waitFor('every handshake counted', async () => {
        seen = await tlsOf('web');
        return seen.handshakes >= 5 ? seen : undefined;
      }).catch((err: Error) => assert.fail(`${err.message}: ${JSON.stringify(seen)}`));
      assert.deepEqual(tls.sni, { exact: 2, wildcard: 1, default: 1, none: 1 });
      assert.deepEqual(tls.certificates.map((c) => [c.name, c.default, c.keyType]), [['default.test', true, 'ec'], ['a.test', false, 'ec'], ['*.b.test', false, 'rsa']]);
      assert.ok(tls.certificates.every((c) => c.daysLeft >= 29 && c.daysLeft <= 30), JSON.stringify(tls.certificates.map((c) => c.daysLeft)));
    });

    it('http behind TLS: ALPN http/1.1, X-Forwarded-Proto and Forwarded say https, keep-alive on the same TLS connection', async () => {
      const client = await TlsClient.connect(webPort, { servername: 'a.test', ca: ca.caCert, alpn: ['h2', 'http/1.1'] });
      assert.equal(client.socket.alpnProtocol, 'http/1.1');
      const first = await client.request('/echo', 'a.test');
      assert.equal(first.status, 200);
      const headers = JSON.parse(first.body) as { rawHeaders: string[] };
      const value = (name: string) => headers.rawHeaders.find((_, i, all) => i % 2 === 1 && all[i - 1].toLowerCase() === name);
      assert.equal(value('x-forwarded-proto'), 'https');
      assert.match(value('forwarded') ?? '', /proto=https/);
      const second = await client.request('/echo', 'a.test');
      assert.equal(second.status, 200, 'a second request on the same TLS connection');
      await client.close();
    });

    it('tcp mode: the decrypted bytes reach the endpoint in plain text, its answer goes back encrypted', async () => {
      const client = await TlsClient.connect(rawPort, { servername: 'a.test', ca: ca.caCert, alpn: ['imap'] });
      assert.equal(client.socket.alpnProtocol, 'imap');
      client.socket.write('hello');
      const [answer] = (await once(client.socket, 'data')) as [Buffer];
      assert.equal(answer.toString(), 'got:hello');
      await client.close();
    });

    it('a handshake that fails is counted by reason, and the connection closed: plain text, TLS 1.1, no shared ALPN, silence past timeouts.handshake', async () => {
      const before = (await tlsOf('web')).failures;
      await new Promise<void>((resolve) => {
        const s = connect(webPort, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
        s.on('error', () => {});
        s.resume();
        s.once('close', () => resolve());
      });
      assert.equal(await handshakeOutcome(webPort, { servername: 'a.test', minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }), 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
      assert.equal(await handshakeOutcome(webPort, { servername: 'a.test', alpn: ['h2'] }), 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
      // Says nothing: hitless closes it once timeouts.handshake (500ms here) has passed.
      await new Promise<void>((resolve) => {
        const s = connect(webPort, '127.0.0.1');
        s.on('error', () => {});
        s.once('close', () => resolve());
      });
      const expected = { not_tls: 1, protocol_version: 1, no_application_protocol: 1, timeout: 1 };
      const failures = await waitFor('the failures counted', async () => {
        const now = (await tlsOf('web')).failures;
        const grown = Object.entries(expected).every(([k, n]) => (now[k] ?? 0) - (before[k] ?? 0) >= n);
        return grown ? now : undefined;
      });
      for (const [k, n] of Object.entries(expected)) assert.equal((failures[k] ?? 0) - (before[k] ?? 0), n, `${k}: ${JSON.stringify(failures)}`);
    });

    it('metrics: handshakes by version, failures by reason, each certificate\'s not-after', async () => {
      const res = await hitless.request('GET', '/metrics');
      assert.equal(res.status, 200);
      const notAfter = new Date((await tlsOf('web')).certificates[1].notAfter).getTime() / 1000;
      assert.match(res.text, new RegExp(`hitless_tls_certificate_not_after_seconds\\{service="web",name="a\\.test"\\} ${notAfter}`));
      assert.match(res.text, /hitless_tls_handshakes_total\{service="web",version="TLSv1\.3"\} [1-9]/);
      assert.match(res.text, /hitless_tls_handshake_failures_total\{service="web",reason="timeout"\} 1/);
      assert.match(res.text, /hitless_tls_sni_total\{service="web",match="wildcard"\} 1/);
    });
  });
}

describe('TLS termination with the usual tools', { skip }, () => {
  let hitless: HitlessProcess;
  let webPort: number;
  before(async () => {
    webPort = await reservePort();
    const rawPort = await reservePort();
    hitless = await HitlessProcess.start({ config: (admin) => config(admin, webPort, rawPort), workers: 0, logLevel: 'warn' });
  });
  after(() => hitless?.kill());

  it('curl --resolve … --cacert verifies the certificate and gets the answer', { skip: !hasTool('curl') && 'curl is not installed' }, async () => {
    const { stdout } = await run('curl', ['-sS', '--fail', '--resolve', `www.a.test:${webPort}:127.0.0.1`, '--cacert', ca.caCert, `https://www.a.test:${webPort}/`]);
    assert.equal(stdout, 'H');
    const wild = await run('curl', ['-sS', '--fail', '-o', '/dev/null', '-w', '%{http_code} %{ssl_verify_result}', '--resolve', `deep.b.test:${webPort}:127.0.0.1`, '--cacert', ca.caCert, `https://deep.b.test:${webPort}/`]);
    assert.equal(wild.stdout, '200 0');
  });

  it('openssl s_client -servername sees the chosen certificate and verifies it', () => {
    const out = execFileSync('openssl', ['s_client', '-connect', `127.0.0.1:${webPort}`, '-servername', 'x.b.test', '-CAfile', ca.caCert, '-verify_return_error', '-verify_hostname', 'x.b.test'], { input: '', timeout: 10_000, stdio: ['pipe', 'pipe', 'ignore'] }).toString();
    assert.match(out, /subject=CN ?= ?\*\.b\.test/);
    assert.match(out, /Verify return code: 0 \(ok\)/);
  });
});

function hasTool(name: string): boolean {
  try {
    execFileSync('which', [name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
