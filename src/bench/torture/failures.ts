// Every failed operation lands in exactly one of these kinds, so that the totals add up and
// nothing is hidden in a catch-all that nobody reads.
export const FAILURE_KINDS = ['refused', 'handshake', 'reset', 'timeout', 'badStatus', 'broken', 'other'] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

export const FAILURE_LABELS: Record<FailureKind, string> = {
  refused: 'refused',
  handshake: 'failed handshake',
  reset: 'reset',
  timeout: 'timeout',
  badStatus: 'bad status',
  broken: 'broken long-lived',
  other: 'other',
};

/** Thrown by our own code when a deadline passes, so it is classified as a timeout, not a reset. */
export class TortureTimeout extends Error {
  constructor(what: string) {
    super(`${what} timed out`);
    this.name = 'TortureTimeout';
  }
}

/** A response that arrived but was not 2xx. */
export class BadStatus extends Error {
  constructor(readonly status: number) {
    super(`status ${status}`);
    this.name = 'BadStatus';
  }
}

/**
 * A TLS connection that failed before its handshake completed (reset, closed, a certificate the
 * client does not accept, a TLS alert): the loss a certificate rotation must never cause.
 */
export class HandshakeFailed extends Error {
  constructor(readonly reason: unknown) {
    super(`TLS handshake failed: ${describeError(reason)}`);
    this.name = 'HandshakeFailed';
  }
}

/** An established long-lived connection that ended (or echoed garbage) before its planned end. */
export class BrokenLongLived extends Error {
  constructor(reason: string) {
    super(`long-lived connection broken: ${reason}`);
    this.name = 'BrokenLongLived';
  }
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

export function classifyFailure(err: unknown): FailureKind {
  if (err instanceof HandshakeFailed) return 'handshake';
  if (err instanceof TortureTimeout) return 'timeout';
  if (err instanceof BadStatus) return 'badStatus';
  if (err instanceof BrokenLongLived) return 'broken';
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT') return 'timeout';
  if (typeof code === 'string' && RESET_CODES.has(code)) return 'reset';
  // node:http reports a connection closed before (or in the middle of) a response as
  // "socket hang up" / "aborted": for the client that is the same loss as a reset.
  if (/socket hang up|aborted|premature close/i.test(message)) return 'reset';
  // HTTP parser errors mean the connection carried something that was not the reply: broken.
  if (typeof code === 'string' && code.startsWith('HPE_')) return 'reset';
  return 'other';
}

export function describeError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

export type FailureCounts = Record<FailureKind, number>;

export function emptyFailureCounts(): FailureCounts {
  return { refused: 0, handshake: 0, reset: 0, timeout: 0, badStatus: 0, broken: 0, other: 0 };
}

export function totalFailures(counts: FailureCounts): number {
  return FAILURE_KINDS.reduce((sum, kind) => sum + counts[kind], 0);
}
