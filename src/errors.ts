// One registry of stable error codes (as undici does): scripts match on `code`, people read `message`.
export const ErrorCodes = {
  CONFIG_INVALID: 'HITLESS_ERR_CONFIG_INVALID',
  BIND_FAILED: 'HITLESS_ERR_BIND_FAILED',
  PRECONDITION_FAILED: 'HITLESS_ERR_PRECONDITION_FAILED',
  BODY_TOO_LARGE: 'HITLESS_ERR_BODY_TOO_LARGE',
  UNAUTHORIZED: 'HITLESS_ERR_UNAUTHORIZED',
  /** A valid token whose role may not do this (the read-only token on a change). */
  FORBIDDEN: 'HITLESS_ERR_FORBIDDEN',
  /** admin.api_apply: refuse — the config comes from the file only. */
  API_APPLY_REFUSED: 'HITLESS_ERR_API_APPLY_REFUSED',
  NOT_FOUND: 'HITLESS_ERR_NOT_FOUND',
  METHOD_NOT_ALLOWED: 'HITLESS_ERR_METHOD_NOT_ALLOWED',
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

/** An error with a stable code and optional structured details, rendered as JSON by the admin API. */
export class HitlessError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'HitlessError';
  }
}

/** Raised by a driver when an apply cannot be committed; the running state is untouched. */
export class ApplyError extends HitlessError {
  constructor(message: string, details?: unknown) {
    super(ErrorCodes.BIND_FAILED, message, details);
    this.name = 'ApplyError';
  }
}
