// `upstream_tls:` → UpstreamTlsConfig: the CA file read and parsed, the client certificate read
// and checked by the same code as the termination certificates (tls-certificate.ts: key matches,
// passphrase, chain order, validity), protocol settings checked against OpenSSL. Problems are
// reported at their key path, so load.ts locates them in the config text like any other.
import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { TlsCertificateConfig, UpstreamTlsConfig } from './tls-model.js';
import { loadCertificate } from './tls-certificate.js';
import { absolutePath, certificateBlocks, holdsPrivateKey, readTlsFile } from './tls-files.js';
import { TLS_DEFAULTS } from './tls-schema.js';
import type { RawUpstreamTls } from './upstream-tls-schema.js';
import type { ServiceConfig } from './model.js';
import { DEFAULTS } from './schema.js';

type Problem = (path: PropertyKey[], message: string) => void;

const HTTP_ALPN = new Set(['http/1.1', 'http/1.0']);

export function normaliseUpstreamTls(raw: RawUpstreamTls, at: PropertyKey[], mode: 'tcp' | 'http', problem: Problem, now = Date.now()): UpstreamTlsConfig | undefined {
  let valid = true;
  const report: Problem = (path, message) => {
    valid = false;
    problem(path, message);
  };
  const insecure = raw.insecure_skip_verify ?? false;
  if (insecure && raw.ca_file !== undefined) {
    report([...at, 'ca_file'], 'ca_file has no effect with insecure_skip_verify: true (nothing is verified); remove one of them');
  }
  const ca = raw.ca_file === undefined || insecure ? null : readCa(absolutePath(raw.ca_file), [...at, 'ca_file'], report, now);
  const client = readClient(raw, at, report, now);
  const alpn = checkAlpn(raw.alpn, mode, at, report);
  const minVersion = raw.min_version ?? TLS_DEFAULTS.minVersion;
  const ciphers = raw.ciphers ?? null;
  if (ciphers !== null) {
    try {
      createSecureContext({ ciphers, minVersion });
    } catch (err) {
      report([...at, 'ciphers'], `OpenSSL accepts none of the ciphers ${JSON.stringify(ciphers)} (${(err as Error).message}); see \`openssl ciphers -v 'LIST'\``);
    }
  }
  if (!valid || ca === undefined || client === undefined) return undefined;
  const serverName = raw.server_name === undefined ? null : raw.server_name.toLowerCase().replace(/\.$/, '').replace(/^\[(.*)\]$/, '$1');
  const digest = createHash('sha256')
    .update(JSON.stringify([ca?.file ?? null, ca?.digest ?? null, serverName, client?.certFile ?? null, client?.keyFile ?? null, client?.sourceDigest ?? null, insecure, minVersion, ciphers, alpn]))
    .digest('hex');
  return Object.freeze({
    caFile: ca?.file ?? null,
    caPem: ca?.pem ?? null,
    caDigest: ca?.digest ?? null,
    serverName,
    client,
    insecureSkipVerify: insecure,
    minVersion,
    ciphers,
    alpn: Object.freeze(alpn),
    digest,
  });
}

/** The name an endpoint's certificate is verified against: server_name, else the endpoint's host. */
export function verifiedName(tls: UpstreamTlsConfig, host: string): string {
  return tls.serverName ?? host;
}

/** SNI is a host name only (RFC 6066 §3): an IP address is verified but not sent. */
export function sniOf(name: string): string | undefined {
  return isIP(name) === 0 ? name : undefined;
}

interface Ca {
  readonly file: string;
  readonly pem: string;
  readonly digest: string;
}

/** The CA file's certificates, each parsed and within its validity period; undefined after a problem. */
function readCa(file: string, path: PropertyKey[], problem: Problem, now: number): Ca | null | undefined {
  const read = readTlsFile(file);
  if (!read.ok) return void problem(path, read.reason);
  const text = read.bytes.toString('latin1');
  const blocks = certificateBlocks(text);
  if (blocks.length === 0) {
    const hint = holdsPrivateKey(text) ? ': it holds a private key; ca_file names the CA certificates that issued the endpoints\' certificates' : ' (expected -----BEGIN CERTIFICATE----- blocks)';
    return void problem(path, `no PEM certificate in ${file}${hint}`);
  }
  for (let i = 0; i < blocks.length; i++) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(blocks[i]);
    } catch (err) {
      return void problem(path, `certificate ${i + 1} of ${file} is not a valid X.509 certificate: ${(err as Error).message}`);
    }
    const to = Date.parse(cert.validTo);
    if (now > to) return void problem(path, `CA certificate ${i + 1} of ${file} (${cert.subject.replace(/\n/g, ', ')}) expired on ${new Date(to).toISOString()}: no endpoint certificate could be verified against it; use the CA's current certificate`);
  }
  const pem = blocks.join('\n') + '\n';
  try {
    createSecureContext({ ca: pem });
  } catch (err) {
    return void problem(path, `OpenSSL refuses the CA certificates in ${file}: ${(err as Error).message}`);
  }
  return { file, pem, digest: createHash('sha256').update(read.bytes).digest('hex') };
}

/** The client certificate (null: none configured); undefined after a problem. */
function readClient(raw: RawUpstreamTls, at: PropertyKey[], problem: Problem, now: number): TlsCertificateConfig | null | undefined {
  if (raw.cert === undefined && raw.key === undefined) {
    if (raw.passphrase !== undefined || raw.passphrase_file !== undefined) {
      return void problem([...at, raw.passphrase_file !== undefined ? 'passphrase_file' : 'passphrase'], 'a passphrase belongs to a client key: give cert and key too, or remove it');
    }
    return null;
  }
  if (raw.cert === undefined || raw.key === undefined) {
    return void problem([...at, raw.cert === undefined ? 'key' : 'cert'], `a client certificate needs both cert (the certificate, leaf first) and key (its private key); ${raw.cert === undefined ? 'cert' : 'key'} is missing`);
  }
  let ok = true;
  const cert = loadCertificate({ cert: raw.cert, key: raw.key, passphrase: raw.passphrase, passphrase_file: raw.passphrase_file }, at, (path, message) => {
    ok = false;
    // The termination checks suggest tls.allow_expired, which upstream_tls does not have.
    problem(path, message.replace(/; wait, check the clock, or set tls\.allow_expired: true to serve it anyway$/, '; wait, or check the clock').replace(/; renew it, or set tls\.allow_expired: true.*$/, '; renew it (endpoints that verify client certificates refuse it)'));
  }, { now, allowExpired: false });
  return ok ? (cert ?? undefined) : undefined;
}

function checkAlpn(raw: readonly string[] | undefined, mode: 'tcp' | 'http', at: PropertyKey[], problem: Problem): string[] {
  if (raw === undefined) return mode === 'http' ? ['http/1.1'] : [];
  const seen = new Set<string>();
  raw.forEach((name, i) => {
    if (seen.has(name)) problem([...at, 'alpn', i], `"${name}" is listed twice`);
    seen.add(name);
    if (mode === 'http' && !HTTP_ALPN.has(name)) {
      problem([...at, 'alpn', i], `"${name}" cannot be spoken: http mode talks HTTP/1.1 to endpoints (alpn: [http/1.1]); use mode: tcp to pass another protocol through`);
    }
  });
  return [...raw];
}

/**
 * HAProxy checks a server's name against DNS names and the CN only, never an IP SAN: a cluster
 * verified by name must say which name for its IP endpoints, or HAProxy would refuse every one.
 */
export function checkHaproxyUpstreamTls(service: ServiceConfig, problem: Problem): void {
  for (const [name, cluster] of service.clusters) {
    const tls = cluster.upstreamTls;
    if (!tls || tls.insecureSkipVerify || tls.serverName !== null) continue;
    const ip = cluster.endpoints.find((e) => isIP(e.host) !== 0);
    if (!ip) continue;
    const at = name === DEFAULTS.defaultCluster && service.clusters.size === 1 ? ['services', service.name, 'upstream_tls'] : ['services', service.name, 'clusters', name, 'upstream_tls'];
    problem(at, `the HAProxy data plane cannot verify endpoint ${ip.key} by its IP address (HAProxy checks DNS names and the CN, not IP SANs): set server_name to a name its certificate carries`);
  }
}
