// The shape of a service's `tls:` section (TLS termination), checked by zod like the rest of the
// schema. What zod cannot check (files, keys, chains, dates) is tls-material.ts's job.
import { z } from 'zod';

export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

export const TLS_DEFAULTS = Object.freeze({
  minVersion: 'TLSv1.2' as TlsVersion,
  /** ALPN offered by http services; tcp services offer none unless told. */
  httpAlpn: Object.freeze(['http/1.1']),
  /** A TLS handshake that has not completed after this long is abandoned (timeouts.handshake). */
  handshakeTimeout: 10_000,
});

/** An SNI name as a certificate or `names:` gives it: "host.example.com" or "*.example.com". */
export const TLS_NAME = /^(\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

const filePath = z.string().min(1);

const certificate = z.strictObject({
  /** PEM: the leaf certificate first, then its intermediates in order. */
  cert: filePath,
  /** PEM private key of the leaf (PKCS#8, PKCS#1 or SEC1; encrypted ones need a passphrase). */
  key: filePath,
  passphrase: z.string().min(1).optional(),
  passphrase_file: filePath.optional(),
  /** SNI names this certificate serves; absent: its subjectAltName DNS names and CN. */
  names: z.array(z.string().regex(TLS_NAME, 'names are host names, or "*.suffix" wildcards')).min(1).optional(),
  /** OCSP stapling from the responder: not available yet ("fetch" is refused); off is the default. */
  ocsp: z.enum(['off', 'fetch']).optional(),
  /** A DER OCSP response to staple (as nginx ssl_stapling_file), watched like the certificate. */
  ocsp_file: filePath.optional(),
}).superRefine((c, ctx) => {
  // Refused rather than ignored: a config asking for stapling must not run without it unnoticed.
  if (c.ocsp === 'fetch') ctx.addIssue({ code: 'custom', path: ['ocsp'], message: 'fetching OCSP responses from the responder is not available yet; staple a response file with ocsp_file: (kept fresh by a cron job or your ACME client), or leave ocsp out (off)' });
});

export const tlsSchema = z.strictObject({
  certificates: z.array(certificate).min(1),
  /** A name of the certificate served when SNI matches none (or is absent); default: the first certificate. */
  default: z.string().regex(TLS_NAME, 'expected a name of one of the certificates').optional(),
  min_version: z.enum(TLS_VERSIONS).optional(),
  /** OpenSSL cipher list (TLS 1.2 suites and TLS 1.3 TLS_* names); absent: Node's default list. */
  ciphers: z.string().min(1).optional(),
  alpn: z.array(z.string().min(1).max(255)).optional(),
  /** Serve certificates outside their validity period (expired, not yet valid) instead of refusing the config. */
  allow_expired: z.boolean().optional(),
});

export type RawTls = z.output<typeof tlsSchema>;
export type RawTlsCertificate = z.output<typeof certificate>;

/** For "unknown key" hints (load.ts). */
export const TLS_ALLOWED_KEYS: Record<string, readonly string[]> = {
  tls: ['certificates', 'default', 'min_version', 'ciphers', 'alpn', 'allow_expired'],
  certificate: ['cert', 'key', 'passphrase', 'passphrase_file', 'names', 'ocsp', 'ocsp_file'],
};
