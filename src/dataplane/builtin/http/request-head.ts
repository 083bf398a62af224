// A strict recogniser for the common request head: `METHOD /path HTTP/1.1`, one Host, token-named
// headers with plain ASCII values, at most one Content-Length, no Transfer-Encoding, Expect,
// Upgrade or Proxy-Connection, at most 100 fields.
// It never rejects anything itself: whatever it does not recognise (HTTP/1.0, chunked uploads,
// 100-continue, upgrades, obs-fold, odd bytes, absolute-form targets...) makes it return null,
// and the connection goes to Node's llhttp parser, which answers or rejects it as before. So a
// request it accepts is one llhttp would read the same way, and smuggling tricks (duplicate or
// malformed lengths, TE with CL) never take this path.
import { addConnectionTokens, FIELD_NAME, type ConnectionOptions } from './headers.js';

export interface RequestHead {
  readonly method: string;
  readonly url: string;
  /** [name, value, ...] as sent, values trimmed of optional whitespace, like node:http's rawHeaders. */
  readonly rawHeaders: string[];
  /** The body's declared length; 0 without Content-Length. */
  readonly contentLength: number;
  /** The client asked to close after this exchange (Connection: close). */
  readonly close: boolean;
}

/** Methods taken here; any other (CONNECT included) goes to llhttp. */
const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE']);
const PRINTABLE_OR_CRLF = /^[\t\r\n\x20-\x7e]*$/;
/** Printable ASCII and tab only: obs-text and control bytes are left to llhttp to judge. */
const PLAIN_VALUE = /^[\t\x20-\x7e]*$/;
const ORIGIN_FORM = /^\/[\x21-\x7e]*$/;
/** As llhttp reads Content-Length: digits, optional spaces around them, never a tab after. */
const LENGTH_FIELD = /^ *[0-9]{1,15} *$/;
/** More fields than this go to llhttp, which keeps the first ~1,000 and drops the rest. */
const MAX_FIELDS = 100;
const VERSION = ' HTTP/1.1';

/** `text` is the head up to (not including) its blank line, decoded as latin1. */
export function parseRequestHead(text: string): RequestHead | null {
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd === -1) lineEnd = text.length;
  const sp = text.indexOf(' ');
  if (sp <= 0 || lineEnd - sp < 10 || !text.startsWith(VERSION, lineEnd - VERSION.length)) return null;
  const method = text.slice(0, sp);
  if (!METHODS.has(method)) return null;
  const url = text.slice(sp + 1, lineEnd - VERSION.length);
  if (!ORIGIN_FORM.test(url)) return null;
  const rawHeaders: string[] = [];
  let contentLength = -1;
  let hasHost = false;
  const connection: ConnectionOptions = { close: false, keepAlive: false };
  let pos = lineEnd + 2;
  while (pos < text.length) {
    let end = text.indexOf('\r\n', pos);
    if (end === -1) end = text.length;
    const colon = text.indexOf(':', pos);
    if (colon <= pos || colon >= end) return null;
    const name = text.slice(pos, colon);
    if (!FIELD_NAME.test(name)) return null;
    const value = trimOws(text, colon + 1, end);
    if (!PLAIN_VALUE.test(value)) return null;
    const n = name.length;
    // host 4, expect 6, upgrade 7, connection 10, content-length 14, proxy-connection 16 (llhttp
    // reads it as Connection), transfer-encoding 17.
    if (n === 4 || n === 6 || n === 7 || n === 10 || n === 14 || n === 16 || n === 17) {
      const lower = name.toLowerCase();
      if (lower === 'transfer-encoding' || lower === 'expect' || lower === 'upgrade' || lower === 'proxy-connection') return null;
      if (lower === 'content-length') {
        if (contentLength !== -1 || !LENGTH_FIELD.test(text.slice(colon + 1, end))) return null;
        contentLength = Number(value);
      } else if (lower === 'host') {
        if (hasHost) return null;
        hasHost = true;
      } else if (lower === 'connection') {
        // Names listed there are dropped later (upstreamRequestHeaders); only "close" matters here.
        addConnectionTokens(value, null, connection);
      }
    }
    pos = end + 2;
    rawHeaders.push(name, value);
    if (rawHeaders.length > 2 * MAX_FIELDS) return null;
  }
  // HTTP/1.1 without Host: node:http answers 400 (RFC 9112 §3.2), so the same answer comes from there.
  if (!hasHost) return null;
  return { method, url, rawHeaders, contentLength: contentLength === -1 ? 0 : contentLength, close: connection.close };
}

/**
 * Whether the first bytes of a head (no blank line yet) can still become one this module takes:
 * printable ASCII so far, starting with a known method. Anything else goes to llhttp at once,
 * which rejects garbage on its first bad byte instead of after a header timeout.
 */
export function couldStartRequestHead(text: string): boolean {
  if (!PRINTABLE_OR_CRLF.test(text)) return false;
  const sp = text.indexOf(' ');
  if (sp === -1) {
    for (const method of METHODS) if (method.startsWith(text)) return true;
    return false;
  }
  return METHODS.has(text.slice(0, sp));
}

/**
 * couldStartRequestHead for a head that grows read by read: the bytes before `from` were checked
 * by an earlier call, so only the new ones are, and the method from the first few bytes.
 */
export function couldContinueRequestHead(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) {
    const c = buf[i];
    if (c < 0x20 ? c !== 9 && c !== 10 && c !== 13 : c > 0x7e) return false;
  }
  // The longest method here is 7 bytes: its space, if any, is within the first 8.
  return couldStartRequestHead(buf.toString('latin1', 0, Math.min(buf.length, 8)));
}

/** The field value between `start` and `end` without leading or trailing spaces and tabs. */
function trimOws(text: string, start: number, end: number): string {
  while (start < end && (text.charCodeAt(start) === 32 || text.charCodeAt(start) === 9)) start++;
  while (end > start && (text.charCodeAt(end - 1) === 32 || text.charCodeAt(end - 1) === 9)) end--;
  return text.slice(start, end);
}

/** A header's value from a rawHeaders list, by lower-case name (for the access log only). */
export function rawHeaderValue(rawHeaders: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].length === lowerName.length && rawHeaders[i].toLowerCase() === lowerName) return rawHeaders[i + 1];
  return undefined;
}
