// One registry of stable error codes (as undici does): scripts match on `code`, people read
// `message`. Every HITLESS_ERR_* hitless gives is here, with the HTTP status it is answered with:
// the admin API's errors (ERROR_STATUS) and the answers the data plane gives clients in http mode
// (dataplane/builtin/http/errors.ts takes its codes from PROXY_CODES). docs/errors.md lists them.
export const ErrorCodes = {
  CONFIG_INVALID: 'HITLESS_ERR_CONFIG_INVALID',
  /** A listen address cannot be bound (in use, not local, no permission). */
  BIND_FAILED: 'HITLESS_ERR_BIND_FAILED',
  /** The data plane refused a valid config: `haproxy -c`, a worker's prepare, a setting that needs a restart. */
  DATAPLANE_REJECTED: 'HITLESS_ERR_DATAPLANE_REJECTED',
  /** hitless is stopping: nothing more is applied. */
  SHUTTING_DOWN: 'HITLESS_ERR_SHUTTING_DOWN',
  /** A code upgrade with no running generation to replace. */
  NOTHING_TO_UPGRADE: 'HITLESS_ERR_NOTHING_TO_UPGRADE',
  PRECONDITION_FAILED: 'HITLESS_ERR_PRECONDITION_FAILED',
  BODY_TOO_LARGE: 'HITLESS_ERR_BODY_TOO_LARGE',
  UNAUTHORIZED: 'HITLESS_ERR_UNAUTHORIZED',
  /** A valid token whose role may not do this (the read-only token on a change). */
  FORBIDDEN: 'HITLESS_ERR_FORBIDDEN',
  /** admin.api_apply: refuse — the config comes from the file only. */
  API_APPLY_REFUSED: 'HITLESS_ERR_API_APPLY_REFUSED',
  NOT_FOUND: 'HITLESS_ERR_NOT_FOUND',
  METHOD_NOT_ALLOWED: 'HITLESS_ERR_METHOD_NOT_ALLOWED',
  /** The CLI could not reach the admin API (never sent by the server). */
  ADMIN_UNREACHABLE: 'HITLESS_ERR_ADMIN_UNREACHABLE',
  INTERNAL: 'HITLESS_ERR_INTERNAL',
  UPGRADE_FAILED: 'HITLESS_ERR_UPGRADE_FAILED',
  /** POST /config/reload on an instance started from config text, not a file (embedded use). */
  NO_CONFIG_FILE: 'HITLESS_ERR_NO_CONFIG_FILE',
  /** A request whose parameters are wrong; `details.field` names the one. */
  INVALID_REQUEST: 'HITLESS_ERR_INVALID_REQUEST',
  /** The data plane in use cannot do what was asked. */
  NOT_IMPLEMENTED: 'HITLESS_ERR_NOT_IMPLEMENTED',
  OVERRIDE_LIMIT: 'HITLESS_ERR_OVERRIDE_LIMIT',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** The HTTP status the admin API answers each code with (exhaustive: a new code needs its status here). */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = Object.freeze({
  HITLESS_ERR_CONFIG_INVALID: 400,
  HITLESS_ERR_BIND_FAILED: 409,
  HITLESS_ERR_DATAPLANE_REJECTED: 422,
  HITLESS_ERR_SHUTTING_DOWN: 503,
  HITLESS_ERR_NOTHING_TO_UPGRADE: 409,
  HITLESS_ERR_PRECONDITION_FAILED: 412,
  HITLESS_ERR_BODY_TOO_LARGE: 413,
  HITLESS_ERR_UNAUTHORIZED: 401,
  HITLESS_ERR_FORBIDDEN: 403,
  HITLESS_ERR_API_APPLY_REFUSED: 403,
  HITLESS_ERR_NOT_FOUND: 404,
  HITLESS_ERR_METHOD_NOT_ALLOWED: 405,
  HITLESS_ERR_ADMIN_UNREACHABLE: 503,
  HITLESS_ERR_INTERNAL: 500,
  HITLESS_ERR_UPGRADE_FAILED: 500,
  HITLESS_ERR_NO_CONFIG_FILE: 409,
  HITLESS_ERR_INVALID_REQUEST: 400,
  HITLESS_ERR_NOT_IMPLEMENTED: 501,
  HITLESS_ERR_OVERRIDE_LIMIT: 409,
});

/** The codes of the answers hitless gives clients itself in http mode (their statuses: http/errors.ts). */
export const PROXY_CODES = {
  NO_HEALTHY_ENDPOINT: 'HITLESS_ERR_NO_HEALTHY_ENDPOINT',
  UPSTREAM_CONNECT: 'HITLESS_ERR_UPSTREAM_CONNECT',
  UPSTREAM_BAD_RESPONSE: 'HITLESS_ERR_UPSTREAM_BAD_RESPONSE',
  UPSTREAM_RESET: 'HITLESS_ERR_UPSTREAM_RESET',
  UPSTREAM_CONNECT_TIMEOUT: 'HITLESS_ERR_UPSTREAM_CONNECT_TIMEOUT',
  /** upstream_tls: the endpoint's certificate was refused (untrusted, expired, another name). */
  UPSTREAM_TLS_VERIFY: 'HITLESS_ERR_UPSTREAM_TLS_VERIFY',
  /** upstream_tls: the TLS handshake with the endpoint failed (no TLS there, client certificate refused, no common protocol). */
  UPSTREAM_TLS_HANDSHAKE: 'HITLESS_ERR_UPSTREAM_TLS_HANDSHAKE',
  UPSTREAM_TIMEOUT: 'HITLESS_ERR_UPSTREAM_TIMEOUT',
  URL_TOO_LONG: 'HITLESS_ERR_URL_TOO_LONG',
  BAD_REQUEST: 'HITLESS_ERR_BAD_REQUEST',
  HEADERS_TOO_LARGE: 'HITLESS_ERR_HEADERS_TOO_LARGE',
  HEADER_TIMEOUT: 'HITLESS_ERR_HEADER_TIMEOUT',
  METHOD_NOT_ALLOWED: 'HITLESS_ERR_METHOD_NOT_ALLOWED',
  BODY_TIMEOUT: 'HITLESS_ERR_BODY_TIMEOUT',
  EXPECTATION_FAILED: 'HITLESS_ERR_EXPECTATION_FAILED',
} as const;

export type ProxyCode = (typeof PROXY_CODES)[keyof typeof PROXY_CODES];

/** The admin API's status for `code` (500 for a code it does not know). */
export function httpStatusOf(code: string): number {
  return (ERROR_STATUS as Record<string, number>)[code] ?? 500;
}

/** An error with a stable code and optional structured details, rendered as JSON by the admin API. */
export class HitlessError extends Error {
  constructor(
    readonly code: ErrorCode | ProxyCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'HitlessError';
  }
}

/** Why an apply could not be committed. */
export type ApplyErrorCode = typeof ErrorCodes.BIND_FAILED | typeof ErrorCodes.DATAPLANE_REJECTED | typeof ErrorCodes.SHUTTING_DOWN | typeof ErrorCodes.NOTHING_TO_UPGRADE;

/** Raised by a driver when an apply cannot be committed; the running state is untouched. */
export class ApplyError extends HitlessError {
  constructor(code: ApplyErrorCode, message: string, details?: unknown) {
    super(code, message, details);
    this.name = 'ApplyError';
  }
}
