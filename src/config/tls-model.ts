// A service's TLS termination as the rest of hitless reads it: validated, with the certificate
// files already read, so that every process builds its secure contexts from the same bytes (the
// supervisor reads the files; workers never do) and the plan sees a rotated file as a change.
import type { TlsVersion } from './tls-schema.js';

export interface TlsCertificateConfig {
  /** The files as configured, made absolute (relative paths are resolved against the working directory). */
  readonly certFile: string;
  readonly keyFile: string;
  readonly passphraseFile: string | null;
  /** The certificate chain as PEM, leaf first (checked: each next certificate issued the previous one). */
  readonly chainPem: string;
  /** The private key, decrypted, as PKCS#8 PEM: no process but the one that read it needs the passphrase. */
  readonly keyPem: string;
  /** Lower-case SNI names served with this certificate: exact names, and "*.suffix" wildcards. */
  readonly names: readonly string[];
  /** Where `names` came from: the config's `names:`, or the certificate (subjectAltName DNS names and CN). */
  readonly namesFrom: 'config' | 'certificate';
  readonly subject: string;
  readonly issuer: string;
  /** Unix milliseconds. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly fingerprint256: string;
  /** "ec", "rsa", "ed25519", ... */
  readonly keyType: string;
  /** SHA-256 over the bytes of the files as read: what the file watcher compares to see a change. */
  readonly sourceDigest: string;
  /** ocsp_file as configured, made absolute; null: no stapling. */
  readonly ocspFile: string | null;
  /** The OCSP response (DER, base64), checked for this certificate (ocsp-response.ts); null: none. */
  readonly ocspResponse: string | null;
  /** Unix ms of the response's nextUpdate: after it the response is no longer stapled. */
  readonly ocspNextUpdate: number | null;
}

export interface TlsConfig {
  /** At least one; SNI picks among them (exact name, then wildcard, then the default). */
  readonly certificates: readonly TlsCertificateConfig[];
  /** Index in `certificates` of the one served when no name matches. */
  readonly defaultIndex: number;
  readonly minVersion: TlsVersion;
  /** OpenSSL cipher list; null: Node's default. */
  readonly ciphers: string | null;
  /** ALPN protocols offered, in order of preference; empty: no ALPN. */
  readonly alpn: readonly string[];
  /** Certificates outside their validity period were accepted (and are reported). */
  readonly allowExpired: boolean;
  /** Identity of everything above: equal digests, equal TLS. */
  readonly digest: string;
}

/**
 * TLS from hitless to the endpoints of a cluster (`upstream_tls:`), validated, its files read
 * (by the process that parsed the config; workers get the bytes).
 */
export interface UpstreamTlsConfig {
  /** The CA file as configured, made absolute; null: the system CA bundle. */
  readonly caFile: string | null;
  /** Its certificates as PEM; null with caFile null. */
  readonly caPem: string | null;
  /** SHA-256 of the CA file's bytes as read (the file watcher compares it); null without caFile. */
  readonly caDigest: string | null;
  /** SNI and the name verified, lower case; null: the endpoint's host (an IP endpoint: its IP SAN, no SNI). */
  readonly serverName: string | null;
  /** Client certificate and key for mTLS; null: none sent. */
  readonly client: TlsCertificateConfig | null;
  /** The endpoint's certificate is not verified at all (warned at every apply, shown in status). */
  readonly insecureSkipVerify: boolean;
  readonly minVersion: TlsVersion;
  readonly ciphers: string | null;
  readonly alpn: readonly string[];
  /** Identity of everything above, the files' bytes included: equal digests, equal TLS. */
  readonly digest: string;
}
