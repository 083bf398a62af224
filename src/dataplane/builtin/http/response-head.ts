// An endpoint's response head, parsed once from the bytes up to the blank line. hitless decides
// the body framing itself (RFC 9112 §6.3) so that it never trusts a response it cannot delimit:
// anything ambiguous either closes the upstream connection after the response or is refused (502).
// Header names and values are validated later by node:http's writeHead, which rejects what a
// client must never see (control characters, obs-fold), and that rejection also becomes a 502.
import { HitlessError, PROXY_CODES } from '../../../errors.js';
import { addConnectionTokens, dropListed, FIELD_NAME, HOP_BY_HOP, hopLength, type ConnectionOptions } from './headers.js';

/** Lengths of the names this parser looks at (content-length 14, hop-by-hop); others pass unlowered. */
function interesting(n: number): boolean {
  return n === 14 || hopLength(n);
}

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  /** For the client: upstream's headers minus hop-by-hop ones, as a flat [name, value, ...] list. */
  readonly headers: string[];
  /** How the body ends: a byte count, chunked framing, the connection closing, or no body. */
  readonly framing: 'length' | 'chunked' | 'close' | 'none';
  /** The declared Content-Length (framing 'length'), else -1. */
  readonly contentLength: number;
  /** False when the endpoint asked to close, spoke HTTP/1.0 without keep-alive, or framing is 'close'. */
  readonly keepAlive: boolean;
  /** The Upgrade header's value (hop-by-hop: not in `headers`); what a 101 switches to. */
  readonly upgrade: string | undefined;
}

/** What a client must never see in a field value or reason phrase (node:http's writeHead refuses the same). */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** Every header name a token, every value and the reason free of control bytes (CR, LF, NUL...). */
export function forwardableHead(head: ResponseHead): boolean {
  if (INVALID_VALUE.test(head.reason)) return false;
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) if (!FIELD_NAME.test(h[i]) || INVALID_VALUE.test(h[i + 1])) return false;
  return true;
}

/** The status line and headers (plus `extra` pairs) as one string, or null if not forwardable. */
export function formatResponseHead(head: ResponseHead, extra: readonly string[]): string | null {
  if (!forwardableHead(head)) return null;
  let text = `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) text += `${h[i]}: ${h[i + 1]}\r\n`;
  for (let i = 0; i < extra.length; i += 2) text += `${extra[i]}: ${extra[i + 1]}\r\n`;
  return `${text}\r\n`;
}

export class BadResponseError extends HitlessError {
  constructor(message: string) {
    super(PROXY_CODES.UPSTREAM_BAD_RESPONSE, message);
    this.name = 'BadResponseError';
  }
}

/**
 * `text` is the head without its final CRLFCRLF, decoded as latin1. `requestMethod` matters:
 * a response to HEAD has no body whatever it declares.
 */
export function parseResponseHead(text: string, requestMethod: string): ResponseHead {
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd === -1) lineEnd = text.length;
  // "HTTP/1.x NNN reason": checked by hand, it runs once per response.
  const minor = text.charCodeAt(7);
  const status = statusCode(text);
  const afterCode = text.charCodeAt(12);
  if (!text.startsWith('HTTP/1.') || (minor !== 48 && minor !== 49) || text.charCodeAt(8) !== 32 || status < 100 || (lineEnd > 12 && afterCode !== 32)) {
    throw new BadResponseError(`malformed status line: ${JSON.stringify(text.slice(0, Math.min(lineEnd, 80)))}`);
  }
  const http10 = minor === 48;
  const reason = lineEnd > 13 ? text.slice(13, lineEnd) : '';
  const headers: string[] = [];
  let contentLength = -1;
  let chunked = false;
  let otherCoding = false;
  const connection: ConnectionOptions = { close: false, keepAlive: false };
  let listed: Set<string> | null = null;
  let upgrade: string | undefined;
  let pos = lineEnd + 2;
  while (pos < text.length) {
    let end = text.indexOf('\r\n', pos);
    if (end === -1) end = text.length;
    const colon = text.indexOf(':', pos);
    if (colon === -1 || colon >= end || colon === pos) throw new BadResponseError(`malformed header line: ${JSON.stringify(text.slice(pos, Math.min(end, pos + 80)))}`);
    const name = text.slice(pos, colon);
    const value = fieldValue(text, colon + 1, end);
    pos = end + 2;
    if (interesting(name.length)) {
      const lower = name.toLowerCase();
      if (lower === 'content-length') {
        const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
        // Two different lengths (or a non-number) make the body's end unknowable: refuse.
        if (Number.isNaN(n) || (contentLength !== -1 && contentLength !== n)) throw new BadResponseError(`invalid Content-Length: ${JSON.stringify(value)}`);
        if (contentLength === -1) headers.push(name, value);
        contentLength = n;
        continue;
      }
      if (HOP_BY_HOP.has(lower)) {
        if (lower === 'transfer-encoding') {
          const codings = value.toLowerCase();
          // Chunked must be the final coding; any other transfer coding means "until close".
          if (/(?:^|,)\s*chunked\s*$/.test(codings)) chunked = true;
          else otherCoding = true;
        } else if (lower === 'connection') {
          listed = addConnectionTokens(value, listed, connection);
        } else if (lower === 'upgrade') {
          upgrade = value;
        }
        continue;
      }
    }
    headers.push(name, value);
  }
  const noBody = requestMethod === 'HEAD' || status === 204 || status === 304 || status < 200;
  let framing: ResponseHead['framing'];
  if (noBody) framing = 'none';
  else if (otherCoding) framing = 'close';
  else if (chunked) framing = 'chunked';
  else if (contentLength !== -1) framing = contentLength === 0 ? 'none' : 'length';
  else framing = 'close';
  // Transfer-Encoding beats Content-Length (RFC 9112 §6.3), and such a response may be a smuggling
  // attempt: its length header is not passed on, and the connection is not reused.
  const transferAndLength = (chunked || otherCoding) && contentLength !== -1;
  // RFC 9110 §8.6: no Content-Length in a 1xx or 204 (a client could read it as a body to wait
  // for). A 304 or a HEAD response keeps it: there it describes the representation, not this message.
  if ((transferAndLength && !noBody) || status < 200 || status === 204) dropContentLength(headers);
  const keepAlive = !connection.close && !transferAndLength && framing !== 'close' && (!http10 || connection.keepAlive);
  return {
    status,
    reason,
    headers: listed === null ? headers : dropListed(headers, listed),
    framing,
    contentLength: framing === 'length' ? contentLength : -1,
    keepAlive,
    upgrade,
  };
}

function dropContentLength(headers: string[]): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].toLowerCase() === 'content-length') {
      headers.splice(i, 2);
      return;
    }
  }
}

/** The three digits at 9..11, or -1. */
function statusCode(text: string): number {
  let code = 0;
  for (let i = 9; i < 12; i++) {
    const c = text.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) return -1;
    code = code * 10 + c;
  }
  return code;
}

/** The field value between `start` and `end` without its surrounding optional whitespace (SP, HTAB). */
function fieldValue(text: string, start: number, end: number): string {
  let s = start;
  let e = end;
  while (s < e && isOws(text.charCodeAt(s))) s++;
  while (e > s && isOws(text.charCodeAt(e - 1))) e--;
  return text.slice(s, e);
}

function isOws(c: number): boolean {
  return c === 32 || c === 9;
}
