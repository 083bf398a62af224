// The `upstream_tls:` section (service or cluster): valid sections normalised (defaults, cluster
// inheritance, identity by digest), every bad input refused with file:line:col, the key path, the
// file and the reason (unreadable CA, not a certificate, key not matching, wrong passphrase, half
// a client certificate, contradictions), and generated option combinations that never crash the
// parser: each gives a valid config or a list of located problems.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../src/config/errors.js';
import { parseConfig } from '../src/config/load.js';
import { changedFields } from '../src/config/service-identity.js';
import { configProblems } from './helpers/config-problems.js';
import { hasOpenssl, opensslDate, TestCa, type Issued } from './helpers/tls-certs.js';

const FILE = 'conf.yaml';
const skip = hasOpenssl() ? false : 'the openssl CLI is not installed';

let ca: TestCa;
let client: Issued;
let other: Issued;
let encrypted: string;
let passFile: string;
let wrongPassFile: string;

before(() => {
  if (skip) return;
  ca = new TestCa();
  client = ca.issue('client.test');
  other = ca.issue('other.test');
  encrypted = ca.encryptKey(client.key, 'sesame');
  passFile = ca.file('pass.txt', 'sesame\n');
  wrongPassFile = ca.file('wrong.txt', 'open sesame\n');
});
after(() => ca?.close());

const service = (upstream: string, mode = 'http', extra = ''): string => `services:\n  web:\n    mode: ${mode}\n    listen: 127.0.0.1:7443\n    endpoints: [127.0.0.1:9001]\n${extra}    upstream_tls: ${upstream}\n`;

function rejectsWith(text: string, path: string, pattern: RegExp): void {
  const list = configProblems(text, FILE);
  assert.equal(list.length, 1, list.join('\n'));
  assert.match(list[0], new RegExp(`^${FILE}:\\d+:\\d+: ${path.replace(/[.[\]]/g, '\\$&')}: `), list[0]);
  assert.match(list[0], pattern);
}

describe('upstream_tls: valid sections', { skip }, () => {
  it('defaults: the system bundle, no server_name, TLS 1.2, http/1.1 in http mode, nothing in tcp mode', () => {
    const tls = parseConfig(service('{}'), FILE).config.services.get('web')!.clusters.get('default')!.upstreamTls!;
    assert.equal(tls.caFile, null);
    assert.equal(tls.caPem, null);
    assert.equal(tls.serverName, null);
    assert.equal(tls.client, null);
    assert.equal(tls.insecureSkipVerify, false);
    assert.equal(tls.minVersion, 'TLSv1.2');
    assert.deepEqual(tls.alpn, ['http/1.1']);
    assert.deepEqual(parseConfig(service('{}', 'tcp'), FILE).config.services.get('web')!.clusters.get('default')!.upstreamTls!.alpn, []);
    assert.equal(parseConfig(service('{}').replace(/ {4}upstream_tls.*\n/, ''), FILE).config.services.get('web')!.clusters.get('default')!.upstreamTls, null);
  });

  it('CA file, server_name (lower case), client certificate with an encrypted key and its passphrase file', () => {
    const tls = parseConfig(service(`{ ca_file: "${ca.caCert}", server_name: API.Test., cert: "${client.cert}", key: "${encrypted}", passphrase_file: "${passFile}" }`), FILE).config.services.get('web')!.clusters.get('default')!.upstreamTls!;
    assert.match(tls.caPem!, /^-----BEGIN CERTIFICATE-----/);
    assert.equal(tls.serverName, 'api.test');
    assert.equal(tls.client!.names[0], 'client.test');
    assert.match(tls.client!.keyPem, /^-----BEGIN PRIVATE KEY-----/, 'decrypted once, by the parser');
  });

  it('clusters inherit the service section unless they have their own', () => {
    const text = `services:\n  web:\n    mode: http\n    listen: 127.0.0.1:7443\n    upstream_tls: { ca_file: "${ca.caCert}" }\n    clusters:\n      a: { endpoints: [127.0.0.1:9001] }\n      b: { endpoints: [127.0.0.1:9002], upstream_tls: { insecure_skip_verify: true } }\n    routes: [{ cluster: a }]\n`;
    const clusters = parseConfig(text, FILE).config.services.get('web')!.clusters;
    assert.equal(clusters.get('a')!.upstreamTls!.caFile, ca.caCert);
    assert.equal(clusters.get('b')!.upstreamTls!.insecureSkipVerify, true);
  });

  it('the identity: a changed client certificate file is a changed service (field clusters); the same files are not', () => {
    const live = ca.file('live.pem', readFileSync(client.cert, 'utf8'));
    const liveKey = ca.file('live.key', readFileSync(client.key, 'utf8'));
    const text = service(`{ cert: "${live}", key: "${liveKey}" }`);
    const a = parseConfig(text, FILE).config.services.get('web')!;
    assert.deepEqual(changedFields(a, parseConfig(text, FILE).config.services.get('web')!), []);
    ca.file('live.pem', readFileSync(other.cert, 'utf8'));
    ca.file('live.key', readFileSync(other.key, 'utf8'));
    assert.deepEqual(changedFields(a, parseConfig(text, FILE).config.services.get('web')!), ['clusters']);
  });
});

describe('upstream_tls: every bad input refused with the file and the reason', { skip }, () => {
  it('an unreadable CA file, a file that holds no certificate, a key given as CA', () => {
    rejectsWith(service(`{ ca_file: /nonexistent/ca.pem }`), 'services.web.upstream_tls.ca_file', /cannot read \/nonexistent\/ca\.pem: no such file/);
    rejectsWith(service(`{ ca_file: "${ca.file('junk.pem', 'hello\n')}" }`), 'services.web.upstream_tls.ca_file', /no PEM certificate in .*junk\.pem/);
    rejectsWith(service(`{ ca_file: "${client.key}" }`), 'services.web.upstream_tls.ca_file', /holds a private key/);
  });

  it('a key that does not match the certificate, a wrong passphrase, a missing one', () => {
    rejectsWith(service(`{ cert: "${client.cert}", key: "${other.key}" }`), 'services.web.upstream_tls.key', /does not match the certificate/);
    rejectsWith(service(`{ cert: "${client.cert}", key: "${encrypted}", passphrase_file: "${wrongPassFile}" }`), 'services.web.upstream_tls.passphrase_file', /wrong passphrase for the key .*enc\d+\.key/);
    rejectsWith(service(`{ cert: "${client.cert}", key: "${encrypted}" }`), 'services.web.upstream_tls.key', /is encrypted: give its passphrase/);
  });

  it('an expired client certificate (no allow_expired here)', () => {
    const expired = ca.issue('old.test', { startDate: opensslDate(Date.now() - 10 * 86_400_000), endDate: opensslDate(Date.now() - 86_400_000) });
    rejectsWith(service(`{ cert: "${expired.cert}", key: "${expired.key}" }`), 'services.web.upstream_tls.cert', /expired on .*renew it \(endpoints that verify client certificates refuse it\)$/);
  });

  it('half a client certificate, a passphrase without a key, contradictions, ALPN http mode cannot speak, unknown keys', () => {
    rejectsWith(service(`{ cert: "${client.cert}" }`), 'services.web.upstream_tls.cert', /needs both cert .* key is missing/);
    rejectsWith(service(`{ passphrase_file: "${passFile}" }`), 'services.web.upstream_tls.passphrase_file', /belongs to a client key/);
    rejectsWith(service(`{ insecure_skip_verify: true, ca_file: "${ca.caCert}" }`), 'services.web.upstream_tls.ca_file', /no effect with insecure_skip_verify/);
    rejectsWith(service(`{ alpn: [h2] }`), 'services.web.upstream_tls.alpn[0]', /http mode talks HTTP\/1\.1/);
    rejectsWith(service(`{ ca: x }`), 'services.web.upstream_tls.ca', /unknown key "ca"; allowed here: ca_file, server_name/);
    rejectsWith(service(`{ ciphers: NOT-A-CIPHER }`), 'services.web.upstream_tls.ciphers', /OpenSSL accepts none of the ciphers/);
  });

  it('the HAProxy data plane: an IP endpoint verified by name needs server_name (HAProxy checks no IP SAN)', () => {
    rejectsWith(`dataplane: { driver: haproxy }\n${service(`{ ca_file: "${ca.caCert}" }`)}`, 'services.web.upstream_tls', /cannot verify endpoint 127\.0\.0\.1:9001 by its IP address .* set server_name/);
    assert.ok(parseConfig(`dataplane: { driver: haproxy }\n${service(`{ ca_file: "${ca.caCert}", server_name: api.test }`)}`, FILE));
    assert.ok(parseConfig(`dataplane: { driver: haproxy }\n${service('{ insecure_skip_verify: true }')}`, FILE));
  });
});

/** A small deterministic PRNG (mulberry32): the same cases every run, and a failing seed can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('upstream_tls: generated option combinations', { skip }, () => {
  it('never crash the parser: a valid config with upstream TLS, or located problems under upstream_tls', () => {
    const random = prng(17);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
    const files = () => [ca.caCert, client.cert, client.key, encrypted, passFile, other.key, '/nonexistent/x.pem', ca.dir, ''];
    const options: Record<string, () => unknown> = {
      ca_file: () => pick(files()),
      server_name: () => pick(['api.test', 'API.TEST.', '127.0.0.1', '::1', '[::1]', 'bad name', '', '*.x.test', 'a'.repeat(70)]),
      cert: () => pick(files()),
      key: () => pick(files()),
      passphrase: () => pick(['sesame', 'wrong', '']),
      passphrase_file: () => pick(files()),
      insecure_skip_verify: () => pick([true, false, 'yes', 1]),
      min_version: () => pick(['TLSv1.2', 'TLSv1.3', 'TLSv1', 'SSLv3']),
      ciphers: () => pick(['ECDHE-ECDSA-AES128-GCM-SHA256', 'TLS_AES_128_GCM_SHA256', 'NOPE', '']),
      alpn: () => pick([['http/1.1'], ['h2'], [], ['http/1.1', 'http/1.1'], 'http/1.1']),
      bogus: () => 1,
    };
    let valid = 0;
    let invalid = 0;
    for (let i = 0; i < 150; i++) {
      const section: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(options)) if (random() < (key === 'bogus' ? 0.05 : 0.3)) section[key] = value();
      const mode = pick(['http', 'tcp']);
      const text = service(JSON.stringify(section), mode);
      try {
        const tls = parseConfig(text, FILE).config.services.get('web')!.clusters.get('default')!.upstreamTls;
        assert.ok(tls && tls.digest.length === 64, `case ${i}: a valid config has upstream TLS: ${text}`);
        if (tls.client) assert.ok(section.cert !== undefined && section.key !== undefined);
        valid++;
      } catch (err) {
        assert.ok(err instanceof ConfigError, `case ${i} threw ${String(err)} for ${text}`);
        assert.ok(err.problems.length > 0);
        for (const line of err.message.split('\n')) assert.match(line, /^conf\.yaml:\d+:\d+: services\.web\.upstream_tls(\.|\[|: )/, `case ${i}: ${line}`);
        invalid++;
      }
    }
    assert.ok(valid > 5 && invalid > 5, `both outcomes generated (valid ${valid}, invalid ${invalid})`);
  });
});
