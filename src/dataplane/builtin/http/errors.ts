// The answers hitless itself gives in http mode: short body, stable code in a header (the codes
// are registered in src/errors.ts with the admin API's).
import type { ServerResponse } from 'node:http';
import { PROXY_CODES } from '../../../errors.js';
import type { HeaderFault } from './headers.js';
import { closeAfterResponse } from '../../../util/node-internals.js';

export const HTTP_ERRORS = {
  NO_ENDPOINT: { status: 503, code: PROXY_CODES.NO_HEALTHY_ENDPOINT, text: 'no healthy endpoint' },
  CONNECT_FAILED: { status: 502, code: PROXY_CODES.UPSTREAM_CONNECT, text: 'could not connect to an endpoint' },
  BAD_RESPONSE: { status: 502, code: PROXY_CODES.UPSTREAM_BAD_RESPONSE, text: 'the endpoint sent a malformed response' },
  UPSTREAM_FAILED: { status: 502, code: PROXY_CODES.UPSTREAM_RESET, text: 'the endpoint closed the connection before answering' },
  TLS_VERIFY: { status: 502, code: PROXY_CODES.UPSTREAM_TLS_VERIFY, text: "the endpoint's TLS certificate was refused" },
  TLS_HANDSHAKE: { status: 502, code: PROXY_CODES.UPSTREAM_TLS_HANDSHAKE, text: 'the TLS handshake with the endpoint failed' },
  CONNECT_TIMEOUT: { status: 504, code: PROXY_CODES.UPSTREAM_CONNECT_TIMEOUT, text: 'timed out connecting to an endpoint' },
  RESPONSE_TIMEOUT: { status: 504, code: PROXY_CODES.UPSTREAM_TIMEOUT, text: 'the endpoint did not answer in time' },
  URL_TOO_LONG: { status: 414, code: PROXY_CODES.URL_TOO_LONG, text: 'request line too long' },
  // The request is refused before anything reaches an endpoint (docs/security.md says why).
  BAD_VERSION: { status: 400, code: PROXY_CODES.BAD_REQUEST, text: 'only HTTP/1.1 and HTTP/1.0 are served' },
  MISSING_HOST: { status: 400, code: PROXY_CODES.BAD_REQUEST, text: 'an HTTP/1.1 request needs a Host header' },
  DUPLICATE_HOST: { status: 400, code: PROXY_CODES.BAD_REQUEST, text: 'more than one Host header' },
  INVALID_HOST: { status: 400, code: PROXY_CODES.BAD_REQUEST, text: 'invalid Host header' },
  INVALID_LENGTH: { status: 400, code: PROXY_CODES.BAD_REQUEST, text: 'invalid or conflicting Content-Length' },
  BAD_TRANSFER_ENCODING: { status: 400, code: PROXY_CODES.BAD_REQUEST, text: 'only Transfer-Encoding: chunked is accepted' },
  BAD_TARGET: { status: 400, code: PROXY_CODES.BAD_REQUEST, text: 'invalid request target' },
  BAD_UPGRADE: { status: 400, code: PROXY_CODES.BAD_REQUEST, text: 'an Upgrade header must list protocol tokens (name or name/version)' },
  UPGRADE_WITH_BODY: { status: 400, code: PROXY_CODES.BAD_REQUEST, text: 'an upgrade request cannot carry a chunked body' },
  INCOMPLETE_HEAD: { status: 400, code: PROXY_CODES.BAD_REQUEST, text: 'the connection ended inside a request head' },
  BAD_REQUEST: { status: 400, code: PROXY_CODES.BAD_REQUEST, text: 'malformed request' },
  HEADERS_TOO_LARGE: { status: 431, code: PROXY_CODES.HEADERS_TOO_LARGE, text: 'request header fields too large' },
  HEADER_TIMEOUT: { status: 408, code: PROXY_CODES.HEADER_TIMEOUT, text: 'the request head did not arrive in time' },
  METHOD_NOT_ALLOWED: { status: 405, code: PROXY_CODES.METHOD_NOT_ALLOWED, text: 'CONNECT is not supported' },
  BODY_TIMEOUT: { status: 408, code: PROXY_CODES.BODY_TIMEOUT, text: 'the request body stalled' },
  EXPECTATION_FAILED: { status: 417, code: PROXY_CODES.EXPECTATION_FAILED, text: 'only Expect: 100-continue is supported' },
} as const;

export type HttpError = (typeof HTTP_ERRORS)[keyof typeof HTTP_ERRORS];

/** The answer to each reason scanRequestHeaders gives for not forwarding a request. */
export const FAULT_ERROR: Record<HeaderFault, HttpError> = {
  'duplicate-host': HTTP_ERRORS.DUPLICATE_HOST,
  'invalid-host': HTTP_ERRORS.INVALID_HOST,
  'invalid-length': HTTP_ERRORS.INVALID_LENGTH,
  'length-with-chunked': HTTP_ERRORS.INVALID_LENGTH,
  'bad-transfer-encoding': HTTP_ERRORS.BAD_TRANSFER_ENCODING,
};

export const ERROR_HEADER = 'x-hitless-error';

export function sendHttpError(res: ServerResponse, error: HttpError, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorBody(error.status, error.text);
  if (close) closeAfterResponse(res);
  res.writeHead(error.status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    [ERROR_HEADER]: error.code,
  });
  res.end(body);
}

/** The short body of every answer hitless gives itself. */
function errorBody(status: number, text: string): string {
  return `${status} ${text}\n`;
}

/** Raw answers for requests Node's parser rejected (no ServerResponse exists for them). */
export function rawErrorResponse(status: number, reason: string, code: string): string {
  return errorResponseText(status, reason, code, reason, true);
}

/** A whole error response as one string: status line, headers, short body. */
export function errorResponseText(status: number, reason: string, code: string, text: string, close: boolean): string {
  const body = errorBody(status, text);
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${ERROR_HEADER}: ${code}\r\n${close ? 'Connection: close\r\n' : ''}\r\n${body}`;
}
