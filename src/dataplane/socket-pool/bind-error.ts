// Why a listen address could not be bound, for both pools (the data plane's and the supervisor's):
// one error type, one message per errno, so a bind failure reads the same whichever process bound.
import { getSystemErrorName } from 'node:util';
import { ErrorCodes, HitlessError } from '../../errors.js';

export class BindError extends HitlessError {
  constructor(
    readonly address: string,
    readonly errno: string,
    message: string,
  ) {
    super(ErrorCodes.BIND_FAILED, message, { address, errno });
    this.name = 'BindError';
  }
}

/** The BindError for a libuv errno (a negative number) met binding `key`. */
export function bindErrorOf(key: string, errno: number): BindError {
  const code = getSystemErrorName(errno);
  return new BindError(key, code, bindMessage(key, { code, message: code }));
}

/** Why `key` could not be bound, with what to do about it. */
export function bindMessage(key: string, err: { readonly code?: string; readonly message: string }): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return `cannot listen on ${key}: address already in use (another process, or another listener of this config, holds it); choose a free port or stop what holds it (try: ss -ltnp 'sport = :${key.split(':').pop()}')`;
    case 'EACCES':
      return `cannot listen on ${key}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${key}: no local interface has that address`;
    default:
      return `cannot listen on ${key}: ${err.message}`;
  }
}
