// The demo's TLS certificate: self-signed for localhost and 127.0.0.1, made at first run and kept
// in the temp directory (a private key shipped in a package would be everyone's key). A renewal
// replaces both files by rename, as cert-manager and certbot do, so the running demo rotates it.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import selfsigned from 'selfsigned';

export const DEMO_TLS_DIR = join(tmpdir(), 'hitless-demo');
export const DEMO_CERT = join(DEMO_TLS_DIR, 'demo.pem');
export const DEMO_KEY = join(DEMO_TLS_DIR, 'demo.key');

const DAY_MS = 86_400_000;

/** The certificate's SHA-256 fingerprint (what `openssl x509 -fingerprint -sha256` prints). */
export function demoFingerprint(): string {
  return new X509Certificate(readFileSync(DEMO_CERT)).fingerprint256;
}

/** Makes the certificate if it is missing or ends within a day; returns its fingerprint. */
export async function ensureDemoCertificate(): Promise<string> {
  if (existsSync(DEMO_CERT) && existsSync(DEMO_KEY)) {
    const cert = new X509Certificate(readFileSync(DEMO_CERT));
    if (Date.parse(cert.validTo) - Date.now() > DAY_MS) return cert.fingerprint256;
  }
  return renewDemoCertificate();
}

/** A new key and certificate (30 days, EC P-256) over the old files, key first; returns the fingerprint. */
export async function renewDemoCertificate(): Promise<string> {
  mkdirSync(DEMO_TLS_DIR, { recursive: true, mode: 0o700 });
  chmodSync(DEMO_TLS_DIR, 0o700);
  const now = new Date();
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 30 * DAY_MS),
    extensions: [
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
      { name: 'extKeyUsage', serverAuth: true },
    ],
  });
  replace(DEMO_KEY, pems.private, 0o600);
  replace(DEMO_CERT, pems.cert, 0o644);
  return demoFingerprint();
}

function replace(path: string, text: string, mode: number): void {
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temp, text, { mode });
  renameSync(temp, path);
}
