// Why an active health check failed, as one number: it travels in an endpoint's packed numbers
// (packed-status.ts) from every worker to the supervisor, where status and the dashboard show it
// as text ("why is this endpoint down?"). 0: the last check passed (or none ran yet).
/** Failures that are not an HTTP answer; an HTTP status (100-599) is its own code. */
export const CHECK_FAILURES = {
  REFUSED: 1,
  TIMEOUT: 2,
  RESET: 3,
  UNREACHABLE: 4,
  ERROR: 5,
  /** upstream_tls: the handshake failed or the endpoint's certificate was refused. */
  TLS: 6,
} as const;

/**
 * Node's TLS errors (ERR_SSL_*, ERR_TLS_*) and OpenSSL's X.509 verification results, which are
 * upper case without Node's E/ERR_ prefixes (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ...).
 */
export function isTlsErrorCode(code: string): boolean {
  if (/^ERR_(SSL|TLS)_/.test(code)) return true;
  return !code.startsWith('E') && /^[A-Z][A-Z0-9_]+$/.test(code);
}

/** A socket error's code as a check failure. */
export function failureOfError(err: NodeJS.ErrnoException): number {
  switch (err.code) {
    case 'ECONNREFUSED':
      return CHECK_FAILURES.REFUSED;
    case 'ECONNRESET':
    case 'EPIPE':
      return CHECK_FAILURES.RESET;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return CHECK_FAILURES.UNREACHABLE;
    default:
      if (isTlsErrorCode(err.code ?? '')) return CHECK_FAILURES.TLS;
      return CHECK_FAILURES.ERROR;
  }
}

const TEXT: Record<number, string> = {
  [CHECK_FAILURES.REFUSED]: 'connection refused',
  [CHECK_FAILURES.TIMEOUT]: 'timed out',
  [CHECK_FAILURES.RESET]: 'connection reset',
  [CHECK_FAILURES.UNREACHABLE]: 'endpoint unreachable',
  [CHECK_FAILURES.ERROR]: 'socket error',
  [CHECK_FAILURES.TLS]: 'TLS handshake failed or certificate refused',
};

/** The text status shows for a failure code ("HTTP 503", "connection refused"); null for 0 (passed). */
export function describeCheckFailure(code: number): string | null {
  if (code === 0) return null;
  if (code >= 100 && code <= 599) return `HTTP ${code}`;
  return TEXT[code] ?? TEXT[CHECK_FAILURES.ERROR];
}
