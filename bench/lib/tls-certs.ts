// Throw-away certificates for the TLS benches, made with the openssl CLI into a temp dir at bench
// time (never committed): one ECDSA P-256 and one RSA-2048 self-signed leaf for "localhost".
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type KeyType = 'ecdsa' | 'rsa';

export interface BenchCert {
  readonly type: KeyType;
  readonly cert: string;
  readonly key: string;
  /** cert + key in one file, as HAProxy's `crt` wants it. */
  readonly combined: string;
}

const KEY_ARGS: Record<KeyType, string[]> = {
  ecdsa: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  rsa: ['-newkey', 'rsa:2048'],
};

/** A self-signed certificate for localhost, valid from now for two days; `tag` keeps file names apart. */
export function makeCert(dir: string, type: KeyType, tag = ''): BenchCert {
  const base = join(dir, `${type}${tag}`);
  const cert = `${base}.crt`;
  const key = `${base}.key`;
  execFileSync('openssl', ['req', '-x509', ...KEY_ARGS[type], '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=localhost`, '-addext', 'subjectAltName=DNS:localhost'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const combined = `${base}.pem`;
  writeFileSync(combined, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'), { mode: 0o600 });
  return { type, cert, key, combined };
}

