// The shape of `upstream_tls:` (TLS from hitless to the endpoints of a service or one of its
// clusters), checked by zod like the rest of the schema. What zod cannot check (files, keys,
// dates) is upstream-tls.ts's job, with the checks TLS termination uses (tls-certificate.ts).
import { z } from 'zod';
import { TLS_VERSIONS } from './tls-schema.js';

const filePath = z.string().min(1);

/** A host name (SNI and the name verified) or an IP address (verified against the IP SAN, sent without SNI). */
const SERVER_NAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|[0-9.]+|\[?[0-9A-Fa-f:.]+\]?)$/;

export const upstreamTlsSchema = z.strictObject({
  /** PEM CA certificates the endpoints' certificates must chain to; absent: the system CA bundle. */
  ca_file: filePath.optional(),
  /** SNI sent and the name the certificate must carry; absent: the endpoint's host name (or, for an IP endpoint, its IP SAN). */
  server_name: z.string().regex(SERVER_NAME, 'expected a host name or an IP address').optional(),
  /** Client certificate (PEM, leaf first) for endpoints that require one (mTLS); needs `key`. */
  cert: filePath.optional(),
  key: filePath.optional(),
  passphrase: z.string().min(1).optional(),
  passphrase_file: filePath.optional(),
  /** Accept any certificate, unverified: loudly named, warned about at every apply, shown in status. */
  insecure_skip_verify: z.boolean().optional(),
  min_version: z.enum(TLS_VERSIONS).optional(),
  /** OpenSSL cipher list; absent: Node's default list. */
  ciphers: z.string().min(1).optional(),
  /** ALPN offered to the endpoint; http services may offer only http/1.1 (the default there). */
  alpn: z.array(z.string().min(1).max(255)).optional(),
});

export type RawUpstreamTls = z.output<typeof upstreamTlsSchema>;

/** For "unknown key" hints (load.ts). */
export const UPSTREAM_TLS_ALLOWED_KEYS: Record<string, readonly string[]> = {
  upstream_tls: ['ca_file', 'server_name', 'cert', 'key', 'passphrase', 'passphrase_file', 'insecure_skip_verify', 'min_version', 'ciphers', 'alpn'],
};
