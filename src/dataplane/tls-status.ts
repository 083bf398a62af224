// What status says about a service's TLS termination (ServiceStatus.tls): handshakes and how they
// went, and the certificates served with their expiry. Counters from several workers are summed
// here (process/status-aggregate.ts), like the other service counters.
import type { TlsConfig } from '../config/tls-model.js';

export interface TlsCertificateStatus {
  /** The first name it serves (or its subject when it names none): the metric label. */
  readonly name: string;
  readonly names: readonly string[];
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** Whole days until notAfter; negative once expired (allow_expired). */
  readonly daysLeft: number;
  /** Served when SNI matches no name, or is absent. */
  readonly default: boolean;
  readonly keyType: string;
  readonly file: string;
  readonly fingerprint256: string;
  /** OCSP stapling (ocsp_file): the response's nextUpdate, and whether it is stapled now (current); null: none configured. */
  readonly ocsp: { readonly file: string; readonly nextUpdate: string | null; readonly stapling: boolean } | null;
}

export interface TlsServiceStatus {
  /** Handshakes completed. */
  readonly handshakes: number;
  /** Of those, sessions resumed (ticket), not full handshakes. */
  readonly resumed: number;
  /** Completed handshakes by protocol version ("TLSv1.3"). */
  readonly versions: Readonly<Record<string, number>>;
  /** Handshakes that failed, by reason (no_shared_cipher, protocol_version, not_tls, timeout, ...). */
  readonly failures: Readonly<Record<string, number>>;
  /** How the certificate was chosen: exact, wildcard, default (a name no certificate has), none (no SNI). */
  readonly sni: Readonly<Record<string, number>>;
  /** Handshakes in progress now. */
  readonly handshaking: number;
  /** Handshakes that got a stapled OCSP response. Absent: not counted (the HAProxy data plane). */
  readonly stapled?: number;
  readonly certificates: readonly TlsCertificateStatus[];
}

/** `a` and `b` summed (counters; `handshaking` only from live workers); certificates are `a`'s. */
export function mergeTlsStatus(a: TlsServiceStatus | undefined, b: TlsServiceStatus, bLive: boolean): TlsServiceStatus {
  if (!a) return { ...b, handshaking: bLive ? b.handshaking : 0, versions: { ...b.versions }, failures: { ...b.failures }, sni: { ...b.sni } };
  return {
    handshakes: a.handshakes + b.handshakes,
    resumed: a.resumed + b.resumed,
    versions: addCounts(a.versions, b.versions),
    failures: addCounts(a.failures, b.failures),
    sni: addCounts(a.sni, b.sni),
    handshaking: a.handshaking + (bLive ? b.handshaking : 0),
    ...(a.stapled !== undefined || b.stapled !== undefined ? { stapled: (a.stapled ?? 0) + (b.stapled ?? 0) } : {}),
    certificates: a.certificates.length > 0 ? a.certificates : b.certificates,
  };
}

function addCounts(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** The certificates a TLS config serves, as status shows them (both data planes). */
export function certificateStatuses(config: TlsConfig, now = Date.now()): TlsCertificateStatus[] {
  return config.certificates.map((c, i): TlsCertificateStatus => ({
    name: c.names[0] ?? c.subject,
    names: c.names,
    subject: c.subject,
    issuer: c.issuer,
    notBefore: new Date(c.notBefore).toISOString(),
    notAfter: new Date(c.notAfter).toISOString(),
    daysLeft: Math.floor((c.notAfter - now) / 86_400_000),
    default: i === config.defaultIndex,
    keyType: c.keyType,
    file: c.certFile,
    fingerprint256: c.fingerprint256,
    ocsp: c.ocspFile === null ? null : { file: c.ocspFile, nextUpdate: c.ocspNextUpdate === null ? null : new Date(c.ocspNextUpdate).toISOString(), stapling: c.ocspNextUpdate !== null && now < c.ocspNextUpdate },
  }));
}

/** What status says about a service's TLS to its endpoints (ServiceStatus.upstreamTls). */
export interface UpstreamTlsStatus {
  /** Handshakes with endpoints completed (each new connection; pooled ones are reused without one). Absent: not counted (the HAProxy data plane). */
  readonly handshakes?: number;
  /** Handshakes that failed, by reason: untrusted, expired, name_mismatch, verify, client_certificate_refused, protocol_version, not_tls, closed, ... Absent: not counted. */
  readonly failures?: Readonly<Record<string, number>>;
  /** Clusters whose endpoints' certificates are NOT verified (insecure_skip_verify: true). */
  readonly insecureSkipVerify: readonly string[];
}

/** `a` and `b` summed (counters); the cluster list is `a`'s (the same config). */
export function mergeUpstreamTlsStatus(a: UpstreamTlsStatus | undefined, b: UpstreamTlsStatus): UpstreamTlsStatus {
  if (!a) return { ...b, ...(b.failures ? { failures: { ...b.failures } } : {}), insecureSkipVerify: [...b.insecureSkipVerify] };
  return { handshakes: (a.handshakes ?? 0) + (b.handshakes ?? 0), failures: addCounts(a.failures ?? {}, b.failures ?? {}), insecureSkipVerify: a.insecureSkipVerify };
}
