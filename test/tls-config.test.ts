// The `tls:` section of a service: valid sections normalised (names from the certificate, the
// default, ALPN by mode), and every bad input refused with file:line:col, the key path, the file
// and the reason: unreadable file, not a certificate, key mismatch, wrong/missing passphrase,
// chain in the wrong order, expired and not-yet-valid certificates, uncovered names, HAProxy.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { diffConfigs } from '../src/control/plan.js';
import { Controller } from '../src/control/controller.js';
import { withTlsIdentity } from '../src/control/tls-identity.js';
import type { Driver } from '../src/dataplane/driver.js';
import { silentLogger } from '../src/observability/log.js';
import { hasOpenssl, opensslDate, TestCa, type Issued } from './helpers/tls-certs.js';
import { configProblems } from './helpers/config-problems.js';

const FILE = 'conf.yaml';
const skip = hasOpenssl() ? false : 'the openssl CLI is not installed';

let ca: TestCa;
let ecA: Issued;
let rsaWild: Issued;
let chained: Issued;

before(() => {
  if (skip) return;
  ca = new TestCa();
  ecA = ca.issue('a.test', { names: ['a.test', 'www.a.test'] });
  rsaWild = ca.issue('*.b.test', { key: 'rsa' });
  chained = ca.issue('c.test', { viaIntermediate: true });
});
after(() => ca?.close());

const tlsService = (tls: string, mode = 'http'): string => `services:\n  web:\n    mode: ${mode}\n    listen: 127.0.0.1:7443\n    endpoints: [127.0.0.1:9001]\n    tls:\n${tls}`;
const cert = (c: Issued, extra = ''): string => `        - { cert: "${c.cert}", key: "${c.key}"${extra} }\n`;

const problems = (text: string): string[] => configProblems(text, FILE);

/** The single problem of `text`, checked against `pattern` and located at `path`. */
function rejectsWith(text: string, path: string, pattern: RegExp): void {
  const list = problems(text);
  assert.equal(list.length, 1, list.join('\n'));
  assert.match(list[0], new RegExp(`^${FILE}:\\d+:\\d+: ${path.replace(/[.[\]]/g, '\\$&')}: `), list[0]);
  assert.match(list[0], pattern);
}

describe('tls: valid sections', { skip }, () => {
  it('takes names from the certificate (SAN DNS names and CN), serves the first by default, offers http/1.1 in http mode', () => {
    const { config } = parseConfig(tlsService(`      certificates:\n${cert(ecA)}${cert(rsaWild)}`), FILE);
    const tls = config.services.get('web')!.tls!;
    assert.deepEqual(tls.certificates.map((c) => c.names), [['a.test', 'www.a.test'], ['*.b.test']]);
    assert.deepEqual(tls.certificates.map((c) => c.keyType), ['ec', 'rsa']);
    assert.equal(tls.defaultIndex, 0);
    assert.equal(tls.minVersion, 'TLSv1.2');
    assert.deepEqual(tls.alpn, ['http/1.1']);
    assert.equal(config.services.get('web')!.timeouts.handshake, 10_000);
    assert.match(tls.certificates[0].keyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.ok(tls.certificates[0].notAfter > Date.now());
  });

  it('a tcp service offers no ALPN unless told; default: and names: choose and restrict', () => {
    const text = tlsService(`      certificates:\n${cert(ecA, ', names: [www.a.test]')}${cert(rsaWild)}      default: "*.b.test"\n      alpn: [imap]\n      min_version: TLSv1.3\n`, 'tcp');
    const tls = parseConfig(text, FILE).config.services.get('web')!.tls!;
    assert.deepEqual(tls.certificates[0].names, ['www.a.test']);
    assert.equal(tls.certificates[0].namesFrom, 'config');
    assert.equal(tls.defaultIndex, 1);
    assert.deepEqual(tls.alpn, ['imap']);
    assert.equal(tls.minVersion, 'TLSv1.3');
    const plain = parseConfig(tlsService(`      certificates:\n${cert(ecA)}`, 'tcp'), FILE);
    assert.deepEqual(plain.config.services.get('web')!.tls!.alpn, []);
  });

  it('keeps a chain (leaf, then intermediate) and decrypts an encrypted key with its passphrase or passphrase file', () => {
    const encrypted = ca.encryptKey(chained.key, 's3cret');
    const passFile = ca.file('pass.txt', 's3cret\n');
    const a = parseConfig(tlsService(`      certificates:\n${cert({ cert: chained.cert, key: encrypted }, ', passphrase: s3cret')}`), FILE);
    const b = parseConfig(tlsService(`      certificates:\n${cert({ cert: chained.cert, key: encrypted }, `, passphrase_file: "${passFile}"`)}`), FILE);
    for (const s of [a, b]) {
      const c = s.config.services.get('web')!.tls!.certificates[0];
      assert.equal(c.chainPem.match(/BEGIN CERTIFICATE/g)!.length, 2);
      assert.doesNotMatch(c.keyPem, /ENCRYPTED/);
    }
  });

  it('a changed certificate file makes another service for the plan, with the same text', () => {
    const renewed = ca.issue('a.test', { names: ['a.test'] });
    const live = ca.file('live.pem', readFileSync(ecA.cert, 'utf8'));
    const liveKey = ca.file('live.key', readFileSync(ecA.key, 'utf8'));
    const text = tlsService(`      certificates:\n${cert({ cert: live, key: liveKey })}`);
    const first = parseConfig(text, FILE);
    const same = parseConfig(text, FILE);
    assert.equal(diffConfigs(first.config, same.config).empty, true, 'same files: no change');
    writeFileSync(live, readFileSync(renewed.cert));
    writeFileSync(liveKey, readFileSync(renewed.key));
    const next = parseConfig(text, FILE);
    assert.equal(next.hash, first.hash, 'the text hash stays the text hash');
    const plan = diffConfigs(first.config, next.config);
    assert.deepEqual(plan.services.changed.map((c) => [c.name, c.fields]), [['web', ['tls']]]);
    assert.deepEqual(plan.listeners.add, []);
  });
});

describe('tls: every bad input is refused with the file and the reason', { skip }, () => {
  it('an unreadable or missing file', () => {
    rejectsWith(tlsService(`      certificates:\n${cert({ cert: '/nonexistent/x.pem', key: ecA.key })}`), 'services.web.tls.certificates[0].cert', /cannot read \/nonexistent\/x\.pem: no such file/);
  });

  it('a key file given as cert, and a certificate given as key', () => {
    rejectsWith(tlsService(`      certificates:\n${cert({ cert: ecA.key, key: ecA.key })}`), 'services.web.tls.certificates[0].cert', /no PEM certificate in .*it holds a private key/);
    rejectsWith(tlsService(`      certificates:\n${cert({ cert: ecA.cert, key: ecA.cert })}`), 'services.web.tls.certificates[0].key', /no PEM private key in .*it holds a certificate/);
  });

  it('a key that does not match the certificate', () => {
    const other = ca.issue('a.test');
    rejectsWith(tlsService(`      certificates:\n${cert({ cert: ecA.cert, key: other.key })}`), 'services.web.tls.certificates[0].key', /does not match the certificate .*another key pair/);
  });

  it('a chain in the wrong order (intermediate first), and a key of the intermediate', () => {
    const [leaf, intermediate] = readFileSync(chained.cert, 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/);
    const swapped = ca.file('swapped.pem', intermediate + leaf);
    rejectsWith(tlsService(`      certificates:\n${cert({ cert: swapped, key: chained.key })}`), 'services.web.tls.certificates[0].cert', /wrong order: .*reverse order; put the leaf first/);
    const unrelated = ca.file('unrelated.pem', leaf + readFileSync(ecA.cert, 'utf8'));
    rejectsWith(tlsService(`      certificates:\n${cert({ cert: unrelated, key: chained.key })}`), 'services.web.tls.certificates[0].cert', /certificate 2 \(CN=a\.test\) did not issue certificate 1 \(CN=c\.test\)/);
  });

  it('an encrypted key without a passphrase, or with the wrong one (never shown)', () => {
    const encrypted = ca.encryptKey(ecA.key, 'right-one');
    rejectsWith(tlsService(`      certificates:\n${cert({ cert: ecA.cert, key: encrypted })}`), 'services.web.tls.certificates[0].key', /is encrypted: give its passphrase/);
    const text = tlsService(`      certificates:\n${cert({ cert: ecA.cert, key: encrypted }, ', passphrase: wrong-one')}`);
    rejectsWith(text, 'services.web.tls.certificates[0].passphrase', /wrong passphrase for the key .*: it does not decrypt it/);
    assert.doesNotMatch(problems(text)[0], /wrong-one/);
    const passFile = ca.file('wrong.txt', 'nope\n');
    rejectsWith(tlsService(`      certificates:\n${cert({ cert: ecA.cert, key: encrypted }, `, passphrase_file: "${passFile}"`)}`), 'services.web.tls.certificates[0].passphrase_file', /wrong passphrase/);
  });

  it('any wrong passphrase is called a wrong passphrase: 600 generated ones (about 1 in 256 decrypts to junk instead of failing the padding check)', () => {
    const encrypted = ca.encryptKey(ecA.key, 'right-one');
    for (let i = 0; i < 600; i++) {
      const wrong = `w${i.toString(36)}-${(i * 2654435761 >>> 0).toString(16)}`;
      const found = problems(tlsService(`      certificates:\n${cert({ cert: ecA.cert, key: encrypted }, `, passphrase: ${wrong}`)}`));
      assert.equal(found.length, 1, `passphrase ${wrong}: ${found.join('; ')}`);
      assert.match(found[0], /services\.web\.tls\.certificates\[0\]\.passphrase: wrong passphrase for the key /, `passphrase ${wrong}`);
      assert.ok(!found[0].includes(wrong), 'the passphrase is never shown');
    }
  });

  it('an expired and a not-yet-valid certificate, unless allow_expired: true', () => {
    const expired = ca.issue('old.test', { startDate: '20200101000000Z', endDate: '20200201000000Z' });
    const future = ca.issue('new.test', { startDate: opensslDate(Date.now() + 10 * 86_400_000), endDate: opensslDate(Date.now() + 20 * 86_400_000) });
    rejectsWith(tlsService(`      certificates:\n${cert(expired)}`), 'services.web.tls.certificates[0].cert', /expired on 2020-02-01T00:00:00\.000Z, \d+ days ago; renew it, or set tls\.allow_expired: true/);
    rejectsWith(tlsService(`      certificates:\n${cert(future)}`), 'services.web.tls.certificates[0].cert', /is not valid yet: valid from .* in (9|10) days/);
    const allowed = parseConfig(tlsService(`      certificates:\n${cert(expired)}${cert(future)}      allow_expired: true\n`), FILE);
    assert.equal(allowed.config.services.get('web')!.tls!.allowExpired, true);
  });

  it('names the certificate does not cover, a default no certificate has, ALPN http mode cannot serve, ciphers OpenSSL does not know', () => {
    rejectsWith(tlsService(`      certificates:\n${cert(ecA, ', names: [a.test, evil.test]')}`), 'services.web.tls.certificates[0].names[1]', /does not cover "evil\.test" \(it names a\.test, www\.a\.test\)/);
    rejectsWith(tlsService(`      certificates:\n${cert(ecA)}      default: c.test\n`), 'services.web.tls.default', /no certificate has the name "c\.test" \(their names: a\.test, www\.a\.test\)/);
    rejectsWith(tlsService(`      certificates:\n${cert(ecA)}      alpn: [h2]\n`), 'services.web.tls.alpn[0]', /"h2" cannot be served: http mode speaks HTTP\/1\.1/);
    rejectsWith(tlsService(`      certificates:\n${cert(ecA)}      ciphers: NOT-A-CIPHER\n`), 'services.web.tls.ciphers', /OpenSSL accepts none of the ciphers "NOT-A-CIPHER"/);
  });

  it('unknown keys and both passphrase forms', () => {
    rejectsWith(tlsService(`      certificates:\n${cert(ecA, ', pass: x')}`), 'services.web.tls.certificates[0].pass', /unknown key "pass"; allowed here: cert, key, passphrase, passphrase_file, names, ocsp, ocsp_file/);
    rejectsWith(tlsService(`      certificates:\n${cert(ecA)}      minimum: TLSv1.2\n`), 'services.web.tls.minimum', /unknown key "minimum"; allowed here: certificates, default, min_version/);
    const passFile = ca.file('p.txt', 'x\n');
    rejectsWith(tlsService(`      certificates:\n${cert(ecA, `, passphrase: x, passphrase_file: "${passFile}"`)}`), 'services.web.tls.certificates[0].passphrase_file', /either passphrase or passphrase_file, not both/);
  });

  it('OCSP: off is taken (the default); fetch is refused (not available yet); an ocsp_file that is no response, or without the issuer to check it, is refused', () => {
    parseConfig(tlsService(`      certificates:\n${cert(ecA, ', ocsp: off')}`), FILE);
    rejectsWith(tlsService(`      certificates:\n${cert(ecA, ', ocsp: fetch')}`), 'services.web.tls.certificates[0].ocsp', /fetching OCSP responses from the responder is not available yet; staple a response file with ocsp_file:/);
    rejectsWith(tlsService(`      certificates:\n${cert(ecA, `, ocsp_file: "${ca.file('r.der', 'x')}"`)}`), 'services.web.tls.certificates[0].ocsp_file', /holds no issuer after the leaf; append the issuing \(intermediate\) certificate/);
    const chained = ca.issue('chained.test', { viaIntermediate: true });
    rejectsWith(tlsService(`      certificates:\n${cert(chained, `, ocsp_file: "${ca.file('r2.der', 'not der')}"`)}`), 'services.web.tls.certificates[0].ocsp_file', /r2\.der cannot be stapled: it is not a DER-encoded OCSP response/);
    rejectsWith(tlsService(`      certificates:\n${cert(chained, `, ocsp_file: "${ca.dir}/missing.der"`)}`), 'services.web.tls.certificates[0].ocsp_file', /missing\.der/);
  });

  it('the HAProxy data plane takes tls: too (test/haproxy-tls.test.ts runs it)', () => {
    const { config } = parseConfig(`dataplane: { driver: haproxy }\n${tlsService(`      certificates:\n${cert(ecA)}`)}`, FILE);
    assert.equal(config.services.get('web')!.tls!.certificates.length, 1);
  });
});

describe('tls: the running hash names the certificates (SIGHUP or PUT of the same text after a renewal)', { skip }, () => {
  it('a parse of the same text with renewed files is applied (fields tls), not taken for the running config; with the same files it is a no-op', async () => {
    const applied: string[][] = [];
    const driver: Driver = {
      name: 'builtin',
      async prepare(_desired, plan) {
        return {
          plan,
          prepared: { bound: [], commit: 'record' },
          commit: async () => {
            applied.push(plan.services.changed.flatMap((c) => c.fields));
            return { bound: [], released: [] };
          },
          abort: async () => {},
        };
      },
      status: () => ({ driver: 'builtin', services: [], listeners: [] }),
      close: async () => {},
    };
    const controller = new Controller(driver, silentLogger());
    controller.setAssembler({ assemble: (base) => ({ snapshot: withTlsIdentity(base, base) }), committed: () => {}, status: () => ({}) });
    const live = ca.file('hash-live.pem', readFileSync(ecA.cert, 'utf8'));
    const liveKey = ca.file('hash-live.key', readFileSync(ecA.key, 'utf8'));
    const text = tlsService(`      certificates:\n${cert({ cert: live, key: liveKey })}`);
    await controller.apply(parseConfig(text, FILE), { origin: 'startup' });
    assert.equal((await controller.apply(parseConfig(text, FILE), { origin: 'sighup' })).result, 'noop');
    const renewed = ca.issue('a.test');
    writeFileSync(liveKey, readFileSync(renewed.key));
    writeFileSync(live, readFileSync(renewed.cert));
    const record = await controller.apply(parseConfig(text, FILE), { origin: 'sighup' });
    assert.equal(record.result, 'applied');
    assert.deepEqual(applied.at(-1), ['tls']);
    assert.equal(controller.base!.hash, parseConfig(text, FILE).hash, 'the base hash (ETag, file comparison) stays the text hash');
    assert.notEqual(controller.current!.hash, controller.base!.hash, 'the running hash names the certificates');
  });
});
