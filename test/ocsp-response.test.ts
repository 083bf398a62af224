// OCSP responses checked before stapling (src/config/ocsp-response.ts), made by the real
// `openssl ocsp` responder from a test CA's index: good (signed by the issuer, and by a delegated
// responder), revoked, unknown, for another certificate, signed by a key the issuer never
// delegated to, stale, without nextUpdate; and generated corruptions of a good response, each
// refused with an OcspResponseError or (when the change is outside what matters) accepted the same.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OcspResponseError, verifyOcspResponse } from '../src/config/ocsp-response.js';
import { hasOpenssl, TestCa, type Issued } from './helpers/tls-certs.js';

const skip = hasOpenssl() ? false : 'the openssl CLI is not installed';

describe('OCSP response verification', { skip }, () => {
  let ca: TestCa;
  let good: Issued, revoked: Issued;
  let issuer: X509Certificate, leaf: X509Certificate;
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: ca.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  /** A response from `openssl ocsp` for `cert`, signed by `signer` (default: the CA), from `index`. */
  const respond = (cert: Issued, options: { signer?: [string, string]; index?: string; days?: number | null; noCerts?: boolean } = {}): Buffer => {
    const n = Math.random().toString(36).slice(2);
    openssl(['ocsp', '-issuer', 'ca.crt', '-cert', cert.cert, '-no_nonce', '-reqout', `req-${n}.der`]);
    const [rsigner, rkey] = options.signer ?? ['ca.crt', 'ca.key'];
    const days = options.days === undefined ? 1 : options.days;
    openssl(['ocsp', '-index', options.index ?? 'index.txt', '-rsigner', rsigner, '-rkey', rkey, '-CA', 'ca.crt', '-reqin', `req-${n}.der`, '-respout', `resp-${n}.der`, ...(days === null ? [] : ['-ndays', String(days)]), ...(options.noCerts ? ['-resp_no_certs'] : [])]);
    return readFileSync(join(ca.dir, `resp-${n}.der`));
  };
  const refusal = (der: Buffer, at?: number): string => {
    try {
      verifyOcspResponse(der, leaf, issuer, at);
    } catch (err) {
      assert.ok(err instanceof OcspResponseError, `an OcspResponseError, not ${(err as Error).stack}`);
      return err.message;
    }
    assert.fail('the response was accepted');
  };

  before(() => {
    ca = new TestCa();
    good = ca.issue('ocsp.test');
    revoked = ca.issue('revoked.test');
    issuer = new X509Certificate(readFileSync(ca.caCert));
    leaf = new X509Certificate(readFileSync(good.cert));
    openssl(['ca', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-revoke', revoked.cert]);
    // A responder the issuer delegated to (extendedKeyUsage OCSPSigning), and the same without it.
    for (const [name, ext] of [['responder', ['-addext', 'extendedKeyUsage=OCSPSigning']], ['impostor', []]] as const) {
      openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`, ...ext]);
      openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', `${name}.csr`, '-out', `${name}.crt`, '-extensions', 'leaf', '-days', '10', '-notext']);
    }
    writeFileSync(join(ca.dir, 'empty-index.txt'), '');
  });

  after(() => ca?.close());

  it('accepts a good response signed by the issuer, with its dates', () => {
    const v = verifyOcspResponse(respond(good), leaf, issuer);
    assert.equal(v.signer, 'issuer');
    assert.ok(v.thisUpdate.getTime() <= Date.now() && v.nextUpdate.getTime() > Date.now() + 23 * 3_600_000, `${v.thisUpdate.toISOString()} .. ${v.nextUpdate.toISOString()}`);
  });

  it('accepts a response signed by a responder the issuer delegated to', () => {
    assert.equal(verifyOcspResponse(respond(good, { signer: ['responder.crt', 'responder.key'] }), leaf, issuer).signer, 'CN=responder');
  });

  it('refuses a response signed by a certificate of the same CA not delegated to answer (no OCSPSigning)', () => {
    assert.match(refusal(respond(good, { signer: ['impostor.crt', 'impostor.key'] })), /not signed by the certificate's issuer nor by a responder/);
  });

  it('refuses revoked, unknown and another certificate\'s answers', () => {
    const revokedLeaf = new X509Certificate(readFileSync(revoked.cert));
    assert.throws(() => verifyOcspResponse(respond(revoked), revokedLeaf, issuer), (e: Error) => e instanceof OcspResponseError && /REVOKED/.test(e.message));
    assert.match(refusal(respond(good, { index: 'empty-index.txt' })), /status unknown/);
    assert.match(refusal(respond(revoked)), /no answer for this certificate/);
  });

  it('refuses a stale response, and one without nextUpdate', () => {
    const der = respond(good);
    assert.match(refusal(der, Date.now() + 2 * 86_400_000), /stale/);
    assert.match(refusal(der, Date.now() - 86_400_000), /not valid yet/);
    assert.match(refusal(respond(good, { days: null })), /no nextUpdate/);
  });

  it('refuses what is not an OCSP response, and every corruption that matters (generated)', () => {
    assert.match(refusal(Buffer.from('not der at all')), /not a DER-encoded OCSP response/);
    assert.match(refusal(readFileSync(good.cert)), /not a DER-encoded OCSP response/);
    // Without the signer's certificate attached, every byte is one the verdict depends on.
    const der = respond(good, { noCerts: true });
    const original = verifyOcspResponse(der, leaf, issuer);
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    let refused = 0;
    for (let i = 0; i < 400; i++) {
      const bad = Buffer.from(der);
      const flips = 1 + Math.floor(random() * 3);
      for (let f = 0; f < flips; f++) bad[Math.floor(random() * bad.length)] ^= 1 + Math.floor(random() * 255);
      let accepted;
      try {
        accepted = verifyOcspResponse(bad, leaf, issuer);
      } catch (err) {
        assert.ok(err instanceof OcspResponseError, `corruption ${i}: ${(err as Error).stack}`);
        refused++;
        continue;
      }
      // Accepted only if what it says is what the signed original says (a change outside the signed part).
      assert.deepEqual([accepted.thisUpdate, accepted.nextUpdate, accepted.producedAt], [original.thisUpdate, original.nextUpdate, original.producedAt], `corruption ${i}`);
    }
    assert.ok(refused > 390, `${refused} of 400 corruptions refused`);
  });
});
