// The HAProxy plane's TLS rendering and its runtime/reload decision, over generated certificate
// lists (pure functions, no HAProxy needed; test/haproxy-tls.test.ts drives the real one):
// whenever diffCertificates says "runtime", the runtime commands turn the running crt-list into
// exactly the next one, line for line, and renew exactly the certificates whose PEM changed; the
// default always stays the first line; file names are unique and survive a renewal; the PEM
// sent as a runtime payload has no empty line (which would end the payload early).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TlsCertificateConfig, TlsConfig } from '../src/config/tls-model.js';
import { bindTlsOptions, diffCertificates, renderTlsFiles, type ServiceTlsFiles } from '../src/dataplane/haproxy/render-tls.js';
import { setCertCommand } from '../src/dataplane/haproxy/runtime-certificates.js';

/** A small deterministic generator (mulberry32), so a failure names its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['a.test', 'b.test', '*.w.test', 'w.test', 'c.test', '*.c.test', 'd.test'];

function certificate(rnd: () => number, id: number): TlsCertificateConfig {
  const names = NAMES.filter(() => rnd() < 0.3);
  return {
    certFile: `/certs/${id}.pem`,
    keyFile: `/certs/${id}.key`,
    passphraseFile: null,
    // Blank lines inside, as a hand-made chain file may have: the payload must not carry them.
    chainPem: `-----BEGIN CERTIFICATE-----\nCERT${id}-${Math.floor(rnd() * 3)}\n-----END CERTIFICATE-----\n\n`,
    keyPem: `-----BEGIN PRIVATE KEY-----\nKEY${id}\n-----END PRIVATE KEY-----\n`,
    names,
    namesFrom: 'certificate',
    subject: `CN=${id}`,
    issuer: 'CN=ca',
    notBefore: 0,
    notAfter: 1,
    fingerprint256: `F${id}`,
    keyType: 'ec',
    sourceDigest: `${id}`,
    ocspFile: null,
    ocspResponse: null,
    ocspNextUpdate: null,
  };
}

function tls(certificates: TlsCertificateConfig[], defaultIndex: number): TlsConfig {
  return { certificates, defaultIndex, minVersion: 'TLSv1.2', ciphers: null, alpn: [], allowExpired: false, digest: '' };
}

/** A next list made from `list` by what operators do: renew, append, remove, reorder, rename, change default. */
function mutate(rnd: () => number, list: TlsCertificateConfig[], next: () => number): TlsCertificateConfig[] {
  let out = list.map((c) => (rnd() < 0.3 ? { ...c, chainPem: c.chainPem.replace(/CERT(\d+)-\d/, `CERT$1-${Math.floor(rnd() * 3)}x`) } : c));
  if (rnd() < 0.3 && out.length > 1) out.splice(Math.floor(rnd() * out.length), 1);
  if (rnd() < 0.3) out.push(certificate(rnd, next()));
  if (rnd() < 0.1 && out.length > 1) out = [...out.slice(1), out[0]];
  if (rnd() < 0.1 && out.length > 0) out[0] = { ...out[0], names: [...out[0].names, 'extra.test'] };
  return out;
}

/** What HAProxy holds after the runtime commands: the running lines, removed ones gone, added ones appended. */
function afterRuntime(running: ServiceTlsFiles, change: Exclude<ReturnType<typeof diffCertificates>, string>): string {
  const removed = new Set(change.removed.map((r) => r.path));
  const lines = [...running.lines.filter((l) => !removed.has(l.path)).map((l) => l.text), ...change.added.map((a) => a.line)];
  return lines.join('\n') + '\n';
}

describe('HAProxy TLS rendering', () => {
  it('runtime changes turn the running crt-list into the next one exactly, renew exactly the changed PEMs, and keep the default first (2000 generated lists)', () => {
    let runtime = 0;
    let reload = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const rnd = random(seed);
      let id = 0;
      const nextId = () => ++id;
      const first = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => certificate(rnd, nextId()));
      const second = mutate(rnd, first, nextId);
      if (second.length === 0) continue;
      const usable = (list: TlsCertificateConfig[]) => list.findIndex((c) => c.names.length === 0);
      const defaultOf = (list: TlsCertificateConfig[]) => Math.max(0, usable(list));
      const running = renderTlsFiles('web', tls(first, defaultOf(first)), '/state/tls');
      const wanted = renderTlsFiles('web', tls(second, rnd() < 0.1 ? Math.floor(rnd() * second.length) : defaultOf(second)), '/state/tls');
      const paths = [...wanted.certificates.keys()];
      assert.equal(new Set(paths).size, wanted.lines.length, `seed ${seed}: every certificate has its own file`);
      const change = diffCertificates(new Map([['web', running]]), new Map([['web', wanted]]));
      if (typeof change === 'string') {
        reload++;
        continue;
      }
      runtime++;
      assert.equal(afterRuntime(running, change), wanted.listText, `seed ${seed}: the runtime commands give the rendered list`);
      assert.equal(wanted.lines[0].text, running.lines[0].text, `seed ${seed}: the default line is never touched at runtime`);
      const renewed = change.updates.map((u) => u.path).sort();
      const expected = paths.filter((p) => running.certificates.has(p) && running.certificates.get(p) !== wanted.certificates.get(p)).sort();
      assert.deepEqual(renewed, expected, `seed ${seed}: renewed = the files whose PEM changed`);
      for (const a of change.added) assert.equal(a.pem, wanted.certificates.get(a.path));
    }
    console.log(`generated lists: runtime ${runtime}, reload ${reload}`);
    assert.ok(runtime > 200 && reload > 200, `both outcomes are exercised: runtime ${runtime}, reload ${reload}`);
  });

  it('a renewal keeps the file name (other files, same names); the PEM payload has no empty line before its end', () => {
    const rnd = random(7);
    const c = { ...certificate(rnd, 1), names: ['a.test'] };
    const renewed = { ...c, certFile: '/certs/archive/cert2.pem', keyFile: '/certs/archive/key2.pem', chainPem: c.chainPem.replace('CERT1', 'CERT1-renewed') };
    const [before, after] = [renderTlsFiles('web', tls([c], 0), '/s'), renderTlsFiles('web', tls([renewed], 0), '/s')];
    assert.equal(before.listText, after.listText);
    assert.deepEqual([...after.certificates.keys()], ['/s/web.a.test.pem']);
    const command = setCertCommand('/s/web.a.test.pem', after.certificates.get('/s/web.a.test.pem')!);
    const payload = command.split('\n').slice(1, -1);
    assert.ok(payload.length > 4 && payload.every((l) => l !== ''), command);
    assert.ok(command.endsWith('-----END PRIVATE KEY-----\n'), 'the caller adds the final newline that makes the empty line');
    const wild = renderTlsFiles('web', tls([{ ...c, names: ['*.w.test'] }, { ...c, names: ['*.w.test'] }, { ...c, names: [] }], 2), '/s');
    assert.deepEqual(wild.lines.map((l) => l.text), ['/s/web._none.pem', '/s/web._.w.test.pem *.w.test', '/s/web._.w.test+2.pem *.w.test']);
  });

  it('the bind options: ssl, the crt-list, min_version, Node\'s cipher list split into ciphers and ciphersuites, ALPN', () => {
    const c = { ...certificate(random(3), 1), names: ['a.test'] };
    const config = { ...tls([c], 0), minVersion: 'TLSv1.3' as const, ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256', alpn: ['http/1.1', 'http/1.0'] };
    const files = renderTlsFiles('web', config, '/s');
    assert.equal(
      bindTlsOptions(files, config),
      'ssl crt-list /s/web.crt-list ssl-min-ver TLSv1.3 ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256 ciphersuites TLS_AES_128_GCM_SHA256 alpn http/1.1,http/1.0',
    );
    assert.equal(bindTlsOptions(files, { ...config, ciphers: null, alpn: [] }), 'ssl crt-list /s/web.crt-list ssl-min-ver TLSv1.3');
    // TLS 1.3 suites only: Node has no TLS 1.2 cipher left (no TLS 1.2 handshake), so neither has HAProxy.
    assert.equal(bindTlsOptions(files, { ...config, minVersion: 'TLSv1.2', ciphers: 'TLS_AES_128_GCM_SHA256', alpn: [] }), 'ssl crt-list /s/web.crt-list ssl-min-ver TLSv1.3 ciphersuites TLS_AES_128_GCM_SHA256');
  });
});
