// Prometheus series of a service's TLS termination (ServiceStatus.tls), rendered with the other
// service series by metrics.ts. Counters sum across workers; a certificate's not-after is the
// same in every worker, so its gauge takes the maximum.
import type { TlsServiceStatus, UpstreamTlsStatus } from '../dataplane/tls-status.js';

type Labels = Record<string, string | number>;
export type AddMetric = (name: string, type: 'counter' | 'gauge', help: string, labels: Labels, value: number, aggregator?: 'sum' | 'max') => void;

export function tlsMetrics(add: AddMetric, service: string, tls: TlsServiceStatus): void {
  const l = { service };
  for (const [version, n] of Object.entries(tls.versions)) {
    add('hitless_tls_handshakes_total', 'counter', 'TLS handshakes completed, by protocol version.', { ...l, version }, n);
  }
  add('hitless_tls_resumed_handshakes_total', 'counter', 'TLS handshakes that resumed a session (a ticket) instead of a full handshake.', l, tls.resumed);
  for (const [reason, n] of Object.entries(tls.failures)) {
    add('hitless_tls_handshake_failures_total', 'counter', 'TLS handshakes that failed, by reason: no_shared_cipher, protocol_version, no_application_protocol, not_tls (plain text on a TLS port), certificate_rejected (by the client), timeout (timeouts.handshake), closed (the client left), protocol (other).', { ...l, reason }, n);
  }
  for (const [match, n] of Object.entries(tls.sni)) {
    add('hitless_tls_sni_total', 'counter', 'How the certificate of a handshake was chosen: exact name, wildcard, default (a name no certificate has: not a failure), none (the client sent no SNI).', { ...l, match }, n);
  }
  add('hitless_tls_handshakes_in_progress', 'gauge', 'TLS handshakes under way.', l, tls.handshaking);
  for (const c of tls.certificates) {
    add('hitless_tls_certificate_not_after_seconds', 'gauge', 'Unix time at which the certificate expires (alert on it minus time()).', { ...l, name: c.name }, Date.parse(c.notAfter) / 1000, 'max');
    if (c.ocsp) {
      add('hitless_tls_ocsp_stapling', 'gauge', '1 while a current OCSP response (ocsp_file) is stapled for the certificate, 0 when none is (stale: past its nextUpdate).', { ...l, name: c.name }, c.ocsp.stapling ? 1 : 0, 'max');
      if (c.ocsp.nextUpdate !== null) add('hitless_tls_ocsp_next_update_seconds', 'gauge', "Unix time of the stapled OCSP response's nextUpdate: renew the ocsp_file before it.", { ...l, name: c.name }, Date.parse(c.ocsp.nextUpdate) / 1000, 'max');
    }
  }
  if (tls.stapled !== undefined) add('hitless_tls_ocsp_stapled_total', 'counter', 'TLS handshakes that got a stapled OCSP response (the client asked for one).', l, tls.stapled);
}

/** TLS from hitless to a service's endpoints (ServiceStatus.upstreamTls). */
export function upstreamTlsMetrics(add: AddMetric, service: string, tls: UpstreamTlsStatus): void {
  const l = { service };
  if (tls.handshakes !== undefined) add('hitless_tls_upstream_handshakes_total', 'counter', 'TLS handshakes with endpoints completed (upstream_tls); a pooled connection is reused without one.', l, tls.handshakes);
  for (const [reason, n] of Object.entries(tls.failures ?? {})) {
    add('hitless_tls_upstream_handshake_failures_total', 'counter', "TLS handshakes with endpoints that failed, by reason: untrusted, expired, name_mismatch, verify (the endpoint's certificate refused), client_certificate_refused, protocol_version, no_shared_cipher, not_tls, closed, protocol.", { ...l, reason }, n);
  }
  for (const cluster of tls.insecureSkipVerify) {
    add('hitless_tls_upstream_insecure_skip_verify', 'gauge', "1 for each cluster whose endpoints' certificates are NOT verified (upstream_tls.insecure_skip_verify: true).", { ...l, cluster }, 1, 'max');
  }
}
