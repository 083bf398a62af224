// TLS from the builtin data plane to endpoints (`upstream_tls:`): one client secure context per
// TLS config (built once, shared by the pools, the tcp proxy and the health checks), the options
// of each connection (SNI, the name verified), and what a failed handshake means.
//
// Verification is OpenSSL's chain check against the CA file (or the system bundle) plus Node's
// checkServerIdentity against server_name or the endpoint's host: for a host name its DNS SANs,
// for an IP address its IP SANs. A connection made with one config's context never serves
// another config (upstream-pool.ts keys pools by the digest), so a rotated client certificate
// reaches new connections only, while pooled ones finish.
import { existsSync, readFileSync } from 'node:fs';
import { checkServerIdentity, createSecureContext, type ConnectionOptions, type PeerCertificate, type SecureContext } from 'node:tls';
import type { UpstreamTlsConfig } from '../../../config/tls-model.js';
import { sniOf, verifiedName } from '../../../config/upstream-tls.js';
import { failureReason } from './tls-stats.js';
import type { UpstreamTlsStatus } from '../../tls-status.js';

/** Where distributions keep the system CA bundle (Debian/Ubuntu/Alpine, RHEL/Fedora, SUSE, BSD/macOS). */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/ssl/cert.pem'];

let systemCa: string | null | undefined;

/** The system CA bundle, read once per process; null: none found (Node's own Mozilla roots are used). */
export function systemCaBundle(): string | null {
  if (systemCa !== undefined) return systemCa;
  systemCa = null;
  for (const path of SYSTEM_BUNDLES) {
    try {
      if (existsSync(path)) return (systemCa = readFileSync(path, 'latin1'));
    } catch {
      // unreadable: try the next one
    }
  }
  return systemCa;
}

/** Contexts by config digest: configs of consecutive applies (and workers' copies) share one. */
const contexts = new Map<string, SecureContext>();
/** Digests kept; older ones are rebuilt if ever needed again. */
const MAX_CONTEXTS = 256;

export function upstreamContext(tls: UpstreamTlsConfig): SecureContext {
  let context = contexts.get(tls.digest);
  if (context) return context;
  const ca = tls.insecureSkipVerify ? undefined : (tls.caPem ?? systemCaBundle() ?? undefined);
  context = createSecureContext({
    ...(ca !== undefined ? { ca } : {}),
    ...(tls.client ? { cert: tls.client.chainPem, key: tls.client.keyPem } : {}),
    minVersion: tls.minVersion,
    ...(tls.ciphers !== null ? { ciphers: tls.ciphers } : {}),
  });
  if (contexts.size >= MAX_CONTEXTS) contexts.delete(contexts.keys().next().value!);
  contexts.set(tls.digest, context);
  return context;
}

/** tls.connect options for an endpoint at host:port (the caller adds its own socket options). */
export function upstreamConnectOptions(tls: UpstreamTlsConfig, host: string, port: number): ConnectionOptions {
  const name = verifiedName(tls, host);
  const servername = sniOf(name);
  return {
    host,
    port,
    secureContext: upstreamContext(tls),
    ...(servername !== undefined ? { servername } : {}),
    rejectUnauthorized: !tls.insecureSkipVerify,
    // Verified against the configured name, not the address connected to.
    checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(name, cert),
    ...(tls.alpn.length > 0 ? { ALPNProtocols: [...tls.alpn] } : {}),
  };
}

/** The X.509 verification results OpenSSL reports (err.code), as a reason label. */
const VERIFY_REASONS: Readonly<Record<string, string>> = {
  UNABLE_TO_GET_ISSUER_CERT: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'untrusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'untrusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'untrusted',
  CERT_UNTRUSTED: 'untrusted',
  CERT_REJECTED: 'untrusted',
  CERT_SIGNATURE_FAILURE: 'untrusted',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'name_mismatch',
  HOSTNAME_MISMATCH: 'name_mismatch',
  IP_ADDRESS_MISMATCH: 'name_mismatch',
};

export interface UpstreamTlsFailure {
  /** verify: the endpoint's certificate was refused; handshake: the TLS handshake itself failed. */
  readonly kind: 'verify' | 'handshake';
  /** Metric label: untrusted, expired, name_mismatch, verify (verify); certificate_required, protocol_version, not_tls, closed, ... (handshake). */
  readonly reason: string;
}

/** Why a TLS connection to an endpoint failed before it was secure. */
export function upstreamTlsFailure(err: NodeJS.ErrnoException | null): UpstreamTlsFailure {
  const code = err?.code ?? '';
  const verify = VERIFY_REASONS[code];
  if (verify !== undefined) return { kind: 'verify', reason: verify };
  // Other X.509 verification results (upper case, without Node's E/ERR_ prefixes).
  if (!code.startsWith('E') && /^[A-Z][A-Z0-9_]+$/.test(code)) return { kind: 'verify', reason: 'verify' };
  if (/CERTIFICATE_REQUIRED|ALERT_HANDSHAKE_FAILURE|ALERT_BAD_CERTIFICATE|ALERT_UNKNOWN_CA/.test(code)) return { kind: 'handshake', reason: 'client_certificate_refused' };
  return { kind: 'handshake', reason: failureReason(err) };
}

/** A service's TLS handshakes to its endpoints, kept by service name across applies (ServiceState). */
export class UpstreamTlsCounters {
  handshakes = 0;
  readonly failures: Record<string, number> = {};

  failed(reason: string): void {
    this.failures[reason] = (this.failures[reason] ?? 0) + 1;
  }
}

/** A service's upstream TLS for status; undefined when no cluster has upstream_tls and nothing was counted. */
export function upstreamTlsStatus(runtime: { readonly config: { readonly clusters: ReadonlyMap<string, { readonly upstreamTls: UpstreamTlsConfig | null }> }; readonly state: { readonly upstreamTls: UpstreamTlsCounters } }): UpstreamTlsStatus | undefined {
  const counters = runtime.state.upstreamTls;
  let any = counters.handshakes > 0;
  const insecure: string[] = [];
  for (const [name, cluster] of runtime.config.clusters) {
    if (!cluster.upstreamTls) continue;
    any = true;
    if (cluster.upstreamTls.insecureSkipVerify) insecure.push(name);
  }
  if (!any) return undefined;
  return { handshakes: counters.handshakes, failures: { ...counters.failures }, insecureSkipVerify: insecure };
}
