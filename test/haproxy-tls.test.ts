// TLS termination on the HAProxy data plane, against Debian's real HAProxy over real TLS on
// loopback (Hitless.start in process): SNI picks exact, wildcard and default certificates as the
// builtin plane does; X-Forwarded-Proto / Forwarded say https; a renewed certificate, by PUT
// /config or by files renamed into place, goes through the runtime API (set + commit ssl cert)
// with no reload while a TLS keep-alive client keeps its connection and the next handshake gets
// the new certificate; bad input and a certificate HAProxy itself refuses change nothing; a
// certificate added to the list is a seamless reload.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { HaproxyDriver } from '../src/dataplane/haproxy/haproxy-driver.js';
import type { Hitless } from '../src/hitless.js';
import { adminRequest, type ErrorDoc } from './helpers/admin.js';
import { HaproxyUnderTest, haproxyMissing } from './helpers/haproxy-in-process.js';
import { reservePort } from './helpers/ports.js';
import { hasOpenssl, TestCa, type Issued } from './helpers/tls-certs.js';
import { handshakeOutcome, TlsClient } from './helpers/tls-client.js';
import { waitFor } from './helpers/wait.js';

const skip = haproxyMissing || (hasOpenssl() ? false : 'the openssl CLI is not installed');

/** An endpoint that answers with the forwarding headers it received (Content-Length set by end()). */
async function headerEcho(): Promise<{ address: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => res.end(JSON.stringify({ proto: req.headers['x-forwarded-proto'] ?? null, forwarded: req.headers.forwarded ?? null })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

/** Replaces `target` by renaming a fresh copy of `source` over it: one atomic directory-entry swap. */
function renameInto(source: string, target: string): void {
  const tmp = `${target}.tmp-${process.pid}`;
  copyFileSync(source, tmp);
  renameSync(tmp, target);
}

describe('HAProxy data plane: TLS termination and certificate rotation', { skip }, () => {
  let ca: TestCa;
  let endpoint: Awaited<ReturnType<typeof headerEcho>>;
  let haproxy: HaproxyUnderTest | undefined;
  let dir: string;
  let admin: string;
  let webPort: number;
  let rawPort: number;
  let h: Hitless | undefined;
  let driver: HaproxyDriver;
  let wild: Issued, fallback: Issued;
  const live = { cert: '', key: '' };

  type Cert = { cert: string; key: string; passphrase_file?: string };
  const text = (web: Cert, extra: Cert[] = [], defaultName = 'd.test'): string =>
    stringify(
      {
        admin: { listen: `unix:${admin}` },
        dataplane: haproxy!.dataplane,
        services: {
          // The default (d.test) is not listed first: HAProxy serves the crt-list's first line by default.
          web: { mode: 'http', listen: `127.0.0.1:${webPort}`, endpoints: [endpoint.address], tls: { certificates: [web, wild, fallback, ...extra], default: defaultName } },
          raw: { mode: 'tcp', listen: `127.0.0.1:${rawPort}`, endpoints: [endpoint.address], tls: { certificates: [fallback], min_version: 'TLSv1.3', alpn: ['x-test'] } },
        },
      },
      { lineWidth: 0 },
    );
  const put = (body: string) => adminRequest(admin, 'PUT', '/config', body, { 'content-type': 'application/yaml' });
  const proc = () => driver.process.showProc();
  /** The certificate a new handshake for `servername` gets: CN and fingerprint. */
  const handshake = async (servername?: string): Promise<{ cn: string; print: string }> => {
    const c = await TlsClient.connect(webPort, { ...(servername ? { servername } : {}) });
    const out = { cn: c.cn, print: c.certificate.fingerprint256 };
    await c.close();
    return out;
  };
  /** What HAProxy reads on its next reload: the TLS files in its state directory. */
  const tlsFiles = (): Record<string, string> => {
    const tlsDir = join(dir, 'haproxy', 'tls');
    return Object.fromEntries(readdirSync(tlsDir).map((f) => [f, readFileSync(join(tlsDir, f), 'utf8')]));
  };

  before(async () => {
    ca = new TestCa();
    endpoint = await headerEcho();
    haproxy = await HaproxyUnderTest.create('hitless-haproxy-tls-');
    dir = haproxy.dir;
    admin = haproxy.adminSocket;
    [webPort, rawPort] = [await reservePort(), await reservePort()];
    const first = ca.issue('a.test');
    wild = ca.issue('w.test', { names: ['*.w.test'], key: 'rsa' });
    fallback = ca.issue('d.test');
    live.cert = join(ca.dir, 'live.pem');
    live.key = join(ca.dir, 'live.key');
    copyFileSync(first.cert, live.cert);
    copyFileSync(first.key, live.key);
    h = await haproxy.start(text(live));
    driver = haproxy.driver;
  });

  after(async () => {
    try {
      await haproxy?.close();
    } finally {
      await endpoint?.close();
      ca?.close();
    }
  });

  it('SNI picks the exact name, then the wildcard, then the default (also without SNI); forwarding headers say https; ALPN and min_version as configured; the files are 0600', async () => {
    assert.equal((await handshake('a.test')).cn, 'a.test');
    assert.equal((await handshake('x.w.test')).cn, 'w.test', 'the wildcard certificate');
    assert.equal((await handshake('w.test')).cn, 'w.test', 'its CN is one of its names too');
    assert.equal((await handshake('deep.x.w.test')).cn, 'd.test', '"*.w.test" covers one label: the default');
    assert.equal((await handshake('other.test')).cn, 'd.test', 'an unknown name gets the default');
    assert.equal((await handshake()).cn, 'd.test', 'no SNI gets the default');

    // OpenSSL's own client agrees (another TLS stack than Node's client).
    const sClient = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${webPort}`, '-servername', 'x.w.test', '-CAfile', ca.caCert, '-verify_return_error'], { input: '', timeout: 10_000, encoding: 'utf8' });
    assert.match(sClient.stdout, /subject=CN ?= ?w\.test/, sClient.stderr);
    assert.match(sClient.stdout, /Verify return code: 0 \(ok\)/);

    const c = await TlsClient.connect(webPort, { servername: 'a.test', ca: ca.caCert, alpn: ['h2', 'http/1.1'] });
    assert.equal(c.socket.alpnProtocol, 'http/1.1', 'ALPN: http/1.1, not h2');
    const answer = await c.request('/', 'a.test');
    const seen = JSON.parse(answer.body) as { proto: string; forwarded: string };
    assert.equal(seen.proto, 'https');
    assert.match(seen.forwarded, /^for=127\.0\.0\.1;proto=https;host="a\.test"$/);
    await c.close();

    // tcp mode: TLS is terminated and the plain bytes go on (no header is added).
    assert.notEqual(await handshakeOutcome(rawPort, { maxVersion: 'TLSv1.2' }), 'connected', 'min_version: TLSv1.3 refuses a TLS 1.2 client');
    const raw = await TlsClient.connect(rawPort, { alpn: ['x-test'] });
    assert.equal(raw.protocol, 'TLSv1.3');
    assert.equal(raw.socket.alpnProtocol, 'x-test');
    assert.deepEqual(JSON.parse((await raw.request('/', 'raw.test')).body), { proto: null, forwarded: null });
    await raw.close();

    const tlsDir = join(dir, 'haproxy', 'tls');
    assert.equal(statSync(tlsDir).mode & 0o777, 0o700);
    for (const f of readdirSync(tlsDir)) assert.equal(statSync(join(tlsDir, f)).mode & 0o777, 0o600, f);
    const list = readFileSync(join(tlsDir, 'web.crt-list'), 'utf8').trim().split('\n');
    assert.deepEqual(list.map((l) => l.split(' ').slice(1).join(' ')), ['d.test', 'a.test', '*.w.test w.test'], 'the default first, then the others with their names');

    const status = await driver.refreshStatus();
    const tls = status.services.find((s) => s.name === 'web')!.tls!;
    assert.deepEqual(tls.certificates.map((x) => [x.name, x.default]), [['a.test', false], ['w.test', false], ['d.test', true]].map(([n, d]) => [n === 'w.test' ? '*.w.test' : n, d]));
    assert.ok(tls.certificates.every((x) => x.daysLeft >= 29 && Date.parse(x.notAfter) > Date.now()));
    assert.ok(tls.handshakes >= 6, `handshakes counted from HAProxy's ssl stats: ${tls.handshakes}`);
    const metrics = (await adminRequest(admin, 'GET', '/metrics')).text;
    const notAfter = Date.parse(tls.certificates.find((x) => x.default)!.notAfter) / 1000;
    assert.ok(metrics.includes(`hitless_tls_certificate_not_after_seconds{service="web",name="d.test"} ${notAfter}`), metrics.split('\n').filter((l) => l.startsWith('hitless_tls')).join('\n'));
    assert.match(metrics, /hitless_tls_handshakes_total\{service="web",version="unknown"\} \d+/);
  });

  it('PUT /config with a renewed certificate (other files): runtime API, no reload; the TLS keep-alive client keeps its connection, the next handshake gets the new certificate', async () => {
    const keepAlive = await TlsClient.connect(webPort, { servername: 'a.test', ca: ca.caCert });
    assert.equal((await keepAlive.request('/', 'a.test')).status, 200);
    const before = { proc: await proc(), status: driver.status().haproxy, print: keepAlive.certificate.fingerprint256, config: readFileSync(driver.paths.config, 'utf8') };
    const renewed = ca.issue('a.test', { key: 'rsa' });
    const res = await put(text(renewed));
    assert.equal(res.status, 200, res.text);
    const record = h!.controller.history.at(-1)!;
    assert.equal(record.result, 'applied');
    assert.deepEqual(record.plan?.services.changed.map((c) => `${c.name} (${c.fields.join(',')})`), ['web (tls)'], 'the apply log shows the rotation as a diff');
    const now = await handshake('a.test');
    assert.notEqual(now.print, before.print);
    assert.equal((await keepAlive.request('/', 'a.test')).status, 200, 'the keep-alive client goes on, on the same TLS connection');
    assert.equal(keepAlive.socket.destroyed, false);
    const after = { proc: await proc(), status: driver.status().haproxy };
    assert.equal(after.status.reloads, before.status.reloads, 'no reload');
    assert.equal(after.proc.master.reloads, before.proc.master.reloads);
    assert.equal(after.proc.workers[0]?.pid, before.proc.workers[0]?.pid, 'the same HAProxy worker');
    assert.equal(after.status.certificateRotations, before.status.certificateRotations + 1);
    assert.equal(readFileSync(driver.paths.config, 'utf8'), before.config, 'haproxy.cfg is the same text');
    assert.ok(Object.values(tlsFiles()).some((pem) => pem.includes(readFileSync(renewed.cert, 'utf8').trim().split('\n')[1])), 'the new certificate is on disk for a later reload');
    await keepAlive.close();
  });

  it('files renamed into place: the watcher applies them (origin certificates) through the runtime API, no reload, keep-alive client kept', async () => {
    assert.equal((await put(text(live))).status, 200);
    const running = (await handshake('a.test')).print;
    const keepAlive = await TlsClient.connect(webPort, { servername: 'a.test', ca: ca.caCert });
    const before = { reloads: driver.status().haproxy.reloads, masterReloads: (await proc()).master.reloads };
    const renewed = ca.issue('a.test');
    renameInto(renewed.key, live.key);
    renameInto(renewed.cert, live.cert);
    const print = await waitFor('the renewed certificate on a new handshake', async () => {
      const p = (await handshake('a.test')).print;
      return p !== running ? p : undefined;
    });
    assert.equal(print, new X509Certificate(readFileSync(live.cert)).fingerprint256);
    // HAProxy serves the new certificate from the commit on; the apply is recorded just after.
    const record = await waitFor('the apply record of the change on disk', () => {
      const last = h!.controller.history.at(-1);
      return last?.origin === 'certificates' ? last : undefined;
    });
    assert.equal(record.result, 'applied');
    assert.deepEqual(record.plan?.services.changed.map((c) => `${c.name} (${c.fields.join(',')})`), ['web (tls)']);
    assert.equal((await keepAlive.request('/', 'a.test')).status, 200);
    assert.equal(driver.status().haproxy.reloads, before.reloads, 'no reload');
    assert.equal((await proc()).master.reloads, before.masterReloads);
    await keepAlive.close();
  });

  it('bad input is refused with the file and the reason, nothing changed: key not matching, expired, unreadable, wrong passphrase; the right passphrase works and the key is written decrypted, 0600', async () => {
    const running = (await handshake('a.test')).print;
    const files = tlsFiles();
    const reloads = driver.status().haproxy.reloads;
    const other = ca.issue('a.test');
    const expired = ca.issue('a.test', { startDate: '20200101000000Z', endDate: '20200201000000Z' });
    const encrypted = ca.encryptKey(other.key, 'right');
    const wrong = ca.file('wrong.pass', 'wrong\n');
    const right = ca.file('right.pass', 'right\n');
    const bad: Array<[string, string, RegExp]> = [
      ['key mismatch', text({ cert: other.cert, key: live.key }), /services\.web\.tls\.certificates\[0\]\.key: the key .* does not match/],
      ['expired', text(expired), /certificates\[0\]\.cert: the certificate in .* expired on 2020-02-01/],
      ['unreadable file', text({ cert: join(ca.dir, 'missing.pem'), key: other.key }), /certificates\[0\]\.cert: cannot read .*missing\.pem: no such file/],
      ['wrong passphrase', text({ cert: other.cert, key: encrypted, passphrase_file: wrong }), /certificates\[0\]\.(key|passphrase_file): .*passphrase/],
    ];
    for (const [what, body, reason] of bad) {
      const res = await put(body);
      assert.equal(res.status, 400, `${what}: ${res.text}`);
      assert.match(res.text, reason, what);
      assert.equal((await handshake('a.test')).print, running, `${what}: the running certificate still serves`);
      assert.deepEqual(tlsFiles(), files, `${what}: the files on disk are unchanged`);
    }
    assert.equal(driver.status().haproxy.reloads, reloads);

    const res = await put(text({ cert: other.cert, key: encrypted, passphrase_file: right }));
    assert.equal(res.status, 200, res.text);
    assert.equal((await handshake('a.test')).print, new X509Certificate(readFileSync(other.cert)).fingerprint256);
    const written = Object.values(tlsFiles()).find((pem) => pem.includes(readFileSync(other.cert, 'utf8').split('\n')[1]))!;
    assert.match(written, /-----BEGIN PRIVATE KEY-----/);
    assert.doesNotMatch(written, /ENCRYPTED/);
    assert.equal(driver.status().haproxy.reloads, reloads, 'a renewal with an encrypted key is a runtime update too');
  });

  it('a certificate HAProxy refuses (RSA-1024, which Node accepts): POST /config/validate and PUT answer 422 naming the file, nothing changed', async () => {
    const running = (await handshake('a.test')).print;
    const files = tlsFiles();
    const before = { reloads: driver.status().haproxy.reloads, rotations: driver.status().haproxy.certificateRotations, hash: h!.controller.current!.hash, history: h!.controller.history.length };
    const weak = ca.issue('a.test', { key: 'rsa1024' });
    for (const [method, path] of [['POST', '/config/validate'], ['PUT', '/config']] as const) {
      const res = await adminRequest(admin, method, path, text(weak), { 'content-type': 'application/yaml' });
      assert.equal(res.status, 422, `${method} ${path}: ${res.text}`);
      const { error } = res.json<ErrorDoc>();
      assert.equal(error.code, 'HITLESS_ERR_DATAPLANE_REJECTED');
      assert.match(error.message, /^config rejected by haproxy -c, nothing changed: .*unable to load SSL certificate/);
      assert.ok(error.message.includes(weak.cert), `the message names the configured file: ${error.message}`);
      assert.equal((await handshake('a.test')).print, running);
      assert.deepEqual(tlsFiles(), files);
    }
    assert.equal(h!.controller.current!.hash, before.hash);
    assert.equal(driver.status().haproxy.reloads, before.reloads);
    assert.equal(driver.status().haproxy.certificateRotations, before.rotations);
    assert.equal(existsSync(join(dir, 'haproxy', 'tls-candidate')), false, 'the checked copies (decrypted keys) are gone');
  });

  it('such a certificate renamed into place on disk is refused the same way: the running certificate keeps serving, status says why', async () => {
    assert.equal((await put(text(live))).status, 200);
    const running = (await handshake('a.test')).print;
    const files = tlsFiles();
    const reloads = driver.status().haproxy.reloads;
    const weak = ca.issue('a.test', { key: 'rsa1024' });
    renameInto(weak.key, live.key);
    renameInto(weak.cert, live.cert);
    const refused = await waitFor('the refusal of the files on disk', () => {
      const last = h!.certificates.status()?.lastChange;
      return last?.result === 'rejected' && /unable to load SSL certificate/.test(last.error ?? '') ? last : undefined;
    });
    assert.ok(refused.error!.includes(live.cert), refused.error);
    assert.equal((await handshake('a.test')).print, running);
    assert.deepEqual(tlsFiles(), files);
    assert.equal(driver.status().haproxy.reloads, reloads);
    // Good files again: applied.
    const good = ca.issue('a.test');
    renameInto(good.key, live.key);
    renameInto(good.cert, live.cert);
    await waitFor('the good files served', async () => (await handshake('a.test')).print === new X509Certificate(readFileSync(good.cert)).fingerprint256);
  });

  it('a certificate appended to the list, then removed: runtime API (new ssl cert, add/del ssl crt-list), no reload; another default: one seamless reload', async () => {
    const before = { masterReloads: (await proc()).master.reloads, status: driver.status().haproxy };
    const current = h!.controller.current!.config.services.get('web')!.tls!.certificates[0];
    const running: Cert = { cert: current.certFile, key: current.keyFile, ...(current.passphraseFile ? { passphrase_file: current.passphraseFile } : {}) };
    const listFile = join(dir, 'haproxy', 'tls', 'web.crt-list');
    const keepAlive = await TlsClient.connect(webPort, { servername: 'a.test', ca: ca.caCert });

    const added = ca.issue('b.test');
    let res = await put(text(running, [added]));
    assert.equal(res.status, 200, res.text);
    assert.equal((await handshake('b.test')).cn, 'b.test');
    assert.equal((await handshake('other.test')).cn, 'd.test', 'the default stays the default');
    assert.match(readFileSync(listFile, 'utf8'), /web\.b\.test\.pem b\.test\n$/, 'the crt-list on disk ends with the appended line, as HAProxy holds it');
    assert.ok(existsSync(join(dir, 'haproxy', 'tls', 'web.b.test.pem')));

    res = await put(text(running));
    assert.equal(res.status, 200, res.text);
    assert.equal((await handshake('b.test')).cn, 'd.test', 'a removed name gets the default');
    assert.equal(existsSync(join(dir, 'haproxy', 'tls', 'web.b.test.pem')), false, 'the removed key is not left on disk');
    assert.equal((await keepAlive.request('/', 'a.test')).status, 200);
    assert.equal((await proc()).master.reloads, before.masterReloads, 'no reload for either');
    assert.equal(driver.status().haproxy.reloads, before.status.reloads);
    assert.equal(driver.status().haproxy.certificateRotations, before.status.certificateRotations + 2);

    res = await put(text(running, [], 'a.test'));
    assert.equal(res.status, 200, res.text);
    assert.equal((await handshake('other.test')).cn, 'a.test', 'the new default');
    assert.equal((await proc()).master.reloads, before.masterReloads + 1, 'another default is one reload');
    await keepAlive.close();
  });
});
