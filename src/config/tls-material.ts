// A service's `tls:` section → TlsConfig: every certificate read and checked (tls-certificate.ts),
// the default chosen, the protocol settings checked against OpenSSL. Problems are reported at
// their key path, so load.ts locates them in the config text like any other.
import { createHash } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { TlsCertificateConfig, TlsConfig } from './tls-model.js';
import { loadCertificate, normaliseName } from './tls-certificate.js';
import { TLS_DEFAULTS, type RawTls } from './tls-schema.js';

type Problem = (path: PropertyKey[], message: string) => void;

/** What an http service can speak once TLS is off: HTTP/1.x only (h2 is not served yet). */
const HTTP_ALPN = new Set(['http/1.1', 'http/1.0']);

export function normaliseTls(service: string, raw: RawTls, mode: 'tcp' | 'http', problem: Problem, now = Date.now()): TlsConfig | undefined {
  const at: PropertyKey[] = ['services', service, 'tls'];
  const allowExpired = raw.allow_expired ?? false;
  let valid = true;
  const report: Problem = (path, message) => {
    valid = false;
    problem(path, message);
  };
  const certificates: TlsCertificateConfig[] = [];
  raw.certificates.forEach((c, i) => {
    const cert = loadCertificate(c, [...at, 'certificates', i], report, { now, allowExpired });
    if (cert) certificates.push(cert);
  });
  const alpn = checkAlpn(raw.alpn, mode, at, report);
  const ciphers = raw.ciphers ?? null;
  const minVersion = raw.min_version ?? TLS_DEFAULTS.minVersion;
  if (ciphers !== null) {
    try {
      createSecureContext({ ciphers, minVersion });
    } catch (err) {
      report([...at, 'ciphers'], `OpenSSL accepts none of the ciphers ${JSON.stringify(ciphers)} (${(err as Error).message}); see \`openssl ciphers -v 'LIST'\``);
    }
  }
  if (!valid) return undefined;
  const defaultIndex = raw.default === undefined ? 0 : certificates.findIndex((c) => c.names.includes(normaliseName(raw.default!)));
  if (defaultIndex < 0) {
    const known = certificates.flatMap((c) => c.names);
    problem([...at, 'default'], `no certificate has the name "${raw.default}" (their names: ${known.length > 0 ? known.join(', ') : 'none'}); name one of them, or leave default out to serve the first`);
    return undefined;
  }
  // A certificate without names can only be reached as the default.
  for (let i = 0; i < certificates.length; i++) {
    if (certificates[i].names.length > 0 || i === defaultIndex) continue;
    problem([...at, 'certificates', i], `the certificate ${certificates[i].certFile} names no DNS name and is not the default, so no client could get it; give it names:, or make it the default`);
    return undefined;
  }
  const digest = tlsDigest(certificates, defaultIndex, minVersion, ciphers, alpn, allowExpired);
  return Object.freeze({ certificates: Object.freeze(certificates), defaultIndex, minVersion, ciphers, alpn: Object.freeze(alpn), allowExpired, digest });
}

function checkAlpn(raw: readonly string[] | undefined, mode: 'tcp' | 'http', at: PropertyKey[], problem: Problem): string[] {
  if (raw === undefined) return mode === 'http' ? [...TLS_DEFAULTS.httpAlpn] : [];
  const seen = new Set<string>();
  raw.forEach((name, i) => {
    if (seen.has(name)) problem([...at, 'alpn', i], `"${name}" is listed twice`);
    seen.add(name);
    if (mode === 'http' && !HTTP_ALPN.has(name)) {
      problem([...at, 'alpn', i], `"${name}" cannot be served: http mode speaks HTTP/1.1 to clients (alpn: [http/1.1]); use mode: tcp to pass another protocol through to the endpoints`);
    }
  });
  return [...raw];
}

function tlsDigest(certificates: readonly TlsCertificateConfig[], defaultIndex: number, minVersion: string, ciphers: string | null, alpn: readonly string[], allowExpired: boolean): string {
  const hash = createHash('sha256');
  for (const c of certificates) hash.update(`${c.certFile}\0${c.keyFile}\0${c.sourceDigest}\0${c.names.join(',')}\n`);
  hash.update(JSON.stringify([defaultIndex, minVersion, ciphers, alpn, allowExpired]));
  return hash.digest('hex');
}
