// Header rewriting at the proxy boundary: hop-by-hop headers (RFC 9110 §7.6.1) stop here, and the
// client's address is appended to X-Forwarded-For and Forwarded (RFC 7239) as nginx and HAProxy do.
// This runs for every request, so it makes one pass over the raw list and lower-cases a name only
// when its length is one of the names it cares about (most names are skipped by length alone).

/** A field name (RFC 9110 §5.1: a token). */
export const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Hop-by-hop header names (RFC 9110 §7.6.1): dropped at the proxy, requests and responses alike. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

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
 * noted in `options` when the caller passes one.
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
    } else if (name) (tokens ??= new Set()).add(name);
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

/**
 * What the pass over the request headers learned besides the headers themselves; filled by
 * upstreamRequestHeaders (one object per process: requests are handled one at a time).
 */
export const scanned = { host: undefined as string | undefined, hasBody: false, chunked: false, contentLength: 0 };

/** The request headers to send upstream, as a flat [name, value, ...] list. Fills `scanned`. */
export function upstreamRequestHeaders(raw: readonly string[], info: ForwardInfo): string[] {
  let listed: Set<string> | null = null;
  const out: string[] = [];
  let xff: string | null = null;
  let forwarded: string | null = null;
  let hasProto = false;
  let hasXfHost = false;
  let host: string | undefined;
  let hasBody = false;
  let chunked = false;
  let contentLength = 0;
  let upgrade: string | undefined;
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
        else if (lower === 'transfer-encoding') hasBody = chunked = true;
        else if (lower === 'upgrade') upgrade = value;
        continue;
      }
      switch (lower) {
        case 'host':
          host = value;
          break;
        case 'expect':
          // node:http already answered the client's 100-continue; the endpoint must not wait for it.
          continue;
        case 'content-length':
          if (value !== '0') hasBody = true;
          contentLength = Number(value) || 0;
          break;
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
  const result = listed === null ? out : dropListed(out, listed);
  const ip = info.clientIp;
  result.push('x-forwarded-for', xff === null ? ip : `${xff}, ${ip}`);
  const node = ip.includes(':') ? `"[${ip}]"` : ip;
  const quotedHost = host === undefined ? '' : `;host="${host.includes('"') || host.includes('\\') ? host.replace(/["\\]/g, '') : host}"`;
  const element = `for=${node};proto=${info.proto}${quotedHost}`;
  result.push('forwarded', forwarded === null ? element : `${forwarded}, ${element}`);
  if (!hasProto) result.push('x-forwarded-proto', info.proto);
  if (!hasXfHost && host !== undefined) result.push('x-forwarded-host', host);
  if (info.upgrade && upgrade) result.push('connection', 'upgrade', 'upgrade', upgrade);
  scanned.host = host;
  scanned.hasBody = hasBody;
  scanned.chunked = chunked;
  scanned.contentLength = contentLength;
  return result;
}

/**
 * The request head for an endpoint, one string written in one call. A body whose length the client
 * did not declare (node:http de-chunked it) is chunked again towards the endpoint.
 */
export function requestHead(method: string, url: string, headers: readonly string[], chunked: boolean, hostMissing: boolean, fallbackHost: string): string {
  let text = `${method} ${url} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  if (hostMissing) text += `host: ${fallbackHost}\r\n`;
  if (chunked) text += 'transfer-encoding: chunked\r\n';
  return `${text}\r\n`;
}
