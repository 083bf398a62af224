// Header rewriting at the proxy boundary: hop-by-hop headers (RFC 9110 §7.6.1) stop here, and the
// client's address is appended to X-Forwarded-For and Forwarded (RFC 7239) as nginx and HAProxy do.
// Framing (Content-Length, Transfer-Encoding) and routing (Host) are decided once, here, from the
// headers as received, and written out by hitless itself: a name listed in `Connection` can never
// remove them (invariant 8; HAProxy makes the same choice), so what the endpoint reads as the end
// of a request is always what hitless read.
// This runs for every request, so it makes one pass over the raw list and lower-cases a name only
// when its length is one of the names it cares about (most names are skipped by length alone).

/** A field name (RFC 9110 §5.1: a token). */
export const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Hop-by-hop header names (RFC 9110 §7.6.1): dropped at the proxy, requests and responses alike. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * Names that `Connection` can never remove: they decide where a message ends and where a request
 * goes. Dropping them would let a client (or an endpoint) make the two sides of hitless disagree
 * on framing — request smuggling and response poisoning (issue 13).
 */
const PROTECTED: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'host']);

/** Lengths of the hop-by-hop names: 2 te, 7 trailer/upgrade, 10 connection/keep-alive, 16, 17. */
export function hopLength(n: number): boolean {
  return n === 10 || n === 2 || n === 7 || n === 17 || n === 16;
}

/** The two Connection options that are not header names; only responses act on them (reuse). */
export interface ConnectionOptions {
  close: boolean;
  keepAlive: boolean;
}

/**
 * Adds the lower-case names listed in a Connection header value (hop-by-hop too) to `tokens`,
 * creating the set on first need. "close" and "keep-alive" are options, not names: they are
 * noted in `options` when the caller passes one. Framing and routing names are never added.
 */
export function addConnectionTokens(value: string, tokens: Set<string> | null, options?: ConnectionOptions): Set<string> | null {
  // The usual values ("keep-alive", "close") list nothing: no split, no allocation.
  if (value.length <= 10 && value.indexOf(',') === -1) {
    const v = value.trim().toLowerCase();
    if (v === 'keep-alive' || v === 'close' || v === '') {
      if (options !== undefined) noteOption(v, options);
      return tokens;
    }
  }
  for (const t of value.split(',')) {
    const name = t.trim().toLowerCase();
    if (name === 'close' || name === 'keep-alive') {
      if (options !== undefined) noteOption(name, options);
    } else if (name && !PROTECTED.has(name)) (tokens ??= new Set()).add(name);
  }
  return tokens;
}

function noteOption(option: string, options: ConnectionOptions): void {
  if (option === 'close') options.close = true;
  else if (option === 'keep-alive') options.keepAlive = true;
}

/** Drops the names listed by Connection (rare: only when a Connection header lists extra names). */
export function dropListed(out: readonly string[], listed: ReadonlySet<string>): string[] {
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) if (!listed.has(out[i].toLowerCase())) kept.push(out[i], out[i + 1]);
  return kept;
}

export interface ForwardInfo {
  readonly clientIp: string;
  readonly proto: 'http' | 'https';
  /** Keep the Upgrade/Connection pair: the request is a WebSocket (or other) upgrade. */
  readonly upgrade: boolean;
}

/** Why a request's headers cannot be forwarded; answered with 400. */
export type HeaderFault = 'duplicate-host' | 'invalid-host' | 'invalid-length' | 'length-with-chunked' | 'bad-transfer-encoding';

/** What one pass over a request's headers gives: what to send, and what was decided. */
export interface ScannedRequest {
  /** The headers for the endpoint, without Host and the framing headers (requestHead adds those). */
  readonly headers: string[];
  /** The Host header's value (undefined without one). */
  readonly host: string | undefined;
  /** The body is chunked (Transfer-Encoding): it goes out chunked again. */
  readonly chunked: boolean;
  /** The body's declared length; -1 without Content-Length. */
  readonly contentLength: number;
  /** Upgrade's value (kept only when `info.upgrade`). */
  readonly upgrade: string | undefined;
  /** Set when the request must be refused (400). */
  readonly fault: HeaderFault | null;
}

/** RFC 3986 authority as a Host value: reg-name or IP-literal, optional port; no userinfo. */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]{0,5})?$/;
const LENGTH = /^[0-9]{1,15}$/;

/**
 * The request headers to send upstream, as a flat [name, value, ...] list, with what the pass
 * learned. Host, Content-Length and Transfer-Encoding are left out of the list: requestHead
 * writes them from the decisions made here.
 */
export function scanRequestHeaders(raw: readonly string[], info: ForwardInfo, effectiveHost?: string): ScannedRequest {
  let listed: Set<string> | null = null;
  const out: string[] = [];
  let xff: string | null = null;
  let forwarded: string | null = null;
  let hasProto = false;
  let hasXfHost = false;
  let host: string | undefined;
  let chunked = false;
  let contentLength = -1;
  let upgrade: string | undefined;
  let fault: HeaderFault | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    const n = name.length;
    // host 4, expect 6, forwarded 9, x-forwarded-for 15, x-forwarded-host 16,
    // x-forwarded-proto 17, content-length 14, plus the hop-by-hop lengths.
    if (n === 4 || n === 6 || n === 9 || n === 14 || n === 15 || hopLength(n)) {
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower)) {
        if (lower === 'connection') listed = addConnectionTokens(value, listed);
        // The body is de-chunked by llhttp and chunked again here: only a plain `chunked` can be
        // carried that way (another coding would reach the endpoint undeclared), and llhttp
        // forwards some others (`chunk`, `"chunked"`, `chunked;q=1`) before it rejects them.
        else if (lower === 'transfer-encoding') {
          if (chunked || value.toLowerCase() !== 'chunked') fault ??= 'bad-transfer-encoding';
          chunked = true;
        }
        else if (lower === 'upgrade') upgrade = value;
        continue;
      }
      switch (lower) {
        case 'host':
          if (host !== undefined) fault ??= 'duplicate-host';
          else if (!HOST_VALUE.test(value)) fault ??= 'invalid-host';
          host = value;
          continue;
        case 'expect':
          // node:http already answered the client's 100-continue; the endpoint must not wait for it.
          continue;
        case 'content-length': {
          const length = LENGTH.test(value) ? Number(value) : -1;
          if (length === -1 || (contentLength !== -1 && length !== contentLength)) fault ??= 'invalid-length';
          contentLength = length;
          continue;
        }
        case 'x-forwarded-for':
          xff = xff === null ? value : `${xff}, ${value}`;
          continue;
        case 'forwarded':
          forwarded = forwarded === null ? value : `${forwarded}, ${value}`;
          continue;
        case 'x-forwarded-proto':
          hasProto = true;
          break;
        case 'x-forwarded-host':
          hasXfHost = true;
          break;
      }
    }
    out.push(name, value);
  }
  if (chunked && contentLength !== -1) fault ??= 'length-with-chunked';
  const result = listed === null ? out : dropListed(out, listed);
  const ip = info.clientIp;
  const routedHost = effectiveHost ?? host;
  result.push('x-forwarded-for', xff === null ? ip : `${xff}, ${ip}`);
  const node = ip.includes(':') ? `"[${ip}]"` : ip;
  const quotedHost = routedHost === undefined ? '' : `;host="${routedHost.includes('"') || routedHost.includes('\\') ? routedHost.replace(/["\\]/g, '') : routedHost}"`;
  const element = `for=${node};proto=${info.proto}${quotedHost}`;
  result.push('forwarded', forwarded === null ? element : `${forwarded}, ${element}`);
  if (!hasProto) result.push('x-forwarded-proto', info.proto);
  if (!hasXfHost && routedHost !== undefined) result.push('x-forwarded-host', routedHost);
  if (info.upgrade && upgrade) result.push('connection', 'upgrade', 'upgrade', upgrade);
  return { headers: result, host, chunked, contentLength, upgrade, fault };
}

/** How the request body goes to the endpoint: decided by scanRequestHeaders, written by requestHead. */
export interface BodyFraming {
  readonly chunked: boolean;
  /** -1: no Content-Length line. */
  readonly contentLength: number;
}

/**
 * The request head for an endpoint, one string written in one call: Host first (RFC 9110 §7.2),
 * then the forwarded headers, then the one framing header hitless decided on. A body whose
 * length the client did not declare (node:http de-chunked it) is chunked again.
 */
export function requestHead(method: string, target: string, host: string, headers: readonly string[], framing: BodyFraming): string {
  let text = `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  if (framing.chunked) text += 'transfer-encoding: chunked\r\n';
  else if (framing.contentLength !== -1) text += `content-length: ${framing.contentLength}\r\n`;
  return `${text}\r\n`;
}
