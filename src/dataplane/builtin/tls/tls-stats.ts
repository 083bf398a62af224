// A service's TLS counters, kept by service name across applies (a rotation or any other change
// of the service keeps them), and why a handshake failed, from the error Node reports.
import type { TlsConfig } from '../../../config/tls-model.js';
import { certificateStatuses, type TlsServiceStatus } from '../../tls-status.js';

export type SniMatch = 'exact' | 'wildcard' | 'default' | 'none';

export class TlsStats {
  handshakes = 0;
  resumed = 0;
  handshaking = 0;
  /** Handshakes that got a stapled OCSP response (the client asked, and a current one was held). */
  stapled = 0;
  readonly versions: Record<string, number> = {};
  readonly failures: Record<string, number> = {};
  readonly sni: Record<SniMatch, number> = { exact: 0, wildcard: 0, default: 0, none: 0 };

  completed(version: string, resumed: boolean): void {
    this.handshakes++;
    if (resumed) this.resumed++;
    this.versions[version] = (this.versions[version] ?? 0) + 1;
  }

  failed(reason: string): void {
    this.failures[reason] = (this.failures[reason] ?? 0) + 1;
  }

  status(config: TlsConfig, now = Date.now()): TlsServiceStatus {
    return {
      handshakes: this.handshakes,
      resumed: this.resumed,
      versions: { ...this.versions },
      failures: { ...this.failures },
      sni: { ...this.sni },
      handshaking: this.handshaking,
      stapled: this.stapled,
      certificates: certificateStatuses(config, now),
    };
  }
}

/**
 * Why a handshake failed, as a metric label. A client that sends an unknown name is not a
 * failure (it gets the default certificate); one that goes away before finishing is.
 */
export function failureReason(err: NodeJS.ErrnoException | null): string {
  const code = err?.code ?? '';
  switch (code) {
    case 'ERR_SSL_NO_SHARED_CIPHER':
    case 'ERR_SSL_NO_SHARED_SIGNATURE_ALGORITHMS':
    case 'ERR_SSL_NO_SUITABLE_KEY_SHARE':
    case 'ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM':
      return 'no_shared_cipher';
    case 'ERR_SSL_UNSUPPORTED_PROTOCOL':
    case 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION':
    case 'ERR_SSL_VERSION_TOO_LOW':
      return 'protocol_version';
    case 'ERR_SSL_NO_APPLICATION_PROTOCOL':
    case 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL':
      return 'no_application_protocol';
    case 'ERR_SSL_HTTP_REQUEST':
    case 'ERR_SSL_HTTPS_PROXY_REQUEST':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
      return 'not_tls';
    case 'ECONNRESET':
    case 'EPIPE':
    case '':
      return 'closed';
    default:
      // The client refused the certificate (unknown CA, bad or expired certificate): an alert.
      if (/^ERR_SSL_(SSLV3|TLSV1)_ALERT_(BAD_CERTIFICATE|CERTIFICATE_|UNKNOWN_CA|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED|DECRYPT_ERROR)/.test(code)) return 'certificate_rejected';
      return 'protocol';
  }
}
