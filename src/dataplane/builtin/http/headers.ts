// Header rewriting at the proxy boundary: hop-by-hop headers (RFC 9110 §7.6.1) stop here, and the
// client's address is appended to X-Forwarded-For and Forwarded (RFC 7239) as nginx and HAProxy do.

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Lower-case names listed in a Connection header: hop-by-hop too. */
function connectionTokens(raw: readonly string[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === 'connection') {
      for (const t of raw[i + 1].split(',')) {
        const name = t.trim().toLowerCase();
        if (name && name !== 'close' && name !== 'keep-alive') (tokens ??= new Set()).add(name);
      }
    }
  }
  return tokens;
}

export interface ForwardInfo {
  readonly clientIp: string;
  readonly proto: 'http' | 'https';
  /** Keep the Upgrade/Connection pair: the request is a WebSocket (or other) upgrade. */
  readonly upgrade: boolean;
}

/** The request headers to send upstream, as a flat [name, value, ...] list. */
export function upstreamRequestHeaders(raw: readonly string[], info: ForwardInfo): string[] {
  const listed = connectionTokens(raw);
  const out: string[] = [];
  let xff: string | null = null;
  let forwarded: string | null = null;
  let hasProto = false;
  let hasXfHost = false;
  let host: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed?.has(lower)) continue;
    const value = raw[i + 1];
    switch (lower) {
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
      case 'host':
        host = value;
        break;
    }
    out.push(name, value);
  }
  out.push('x-forwarded-for', xff === null ? info.clientIp : `${xff}, ${info.clientIp}`);
  const node = info.clientIp.includes(':') ? `"[${info.clientIp}]"` : info.clientIp;
  const element = `for=${node};proto=${info.proto}${host ? `;host="${host.replace(/["\\]/g, '')}"` : ''}`;
  out.push('forwarded', forwarded === null ? element : `${forwarded}, ${element}`);
  if (!hasProto) out.push('x-forwarded-proto', info.proto);
  if (!hasXfHost && host) out.push('x-forwarded-host', host);
  if (info.upgrade) {
    const upgrade = headerValue(raw, 'upgrade');
    if (upgrade) out.push('connection', 'upgrade', 'upgrade', upgrade);
  }
  return out;
}

/** The response headers to send to the client: upstream's minus hop-by-hop, as a flat list. */
export function clientResponseHeaders(raw: readonly Buffer[]): string[] {
  const strings: string[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) strings[i] = raw[i].toString('latin1');
  const listed = connectionTokens(strings);
  const out: string[] = [];
  for (let i = 0; i < strings.length; i += 2) {
    const lower = strings[i].toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed?.has(lower)) continue;
    out.push(strings[i], strings[i + 1]);
  }
  return out;
}

export function headerValue(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === lowerName) return raw[i + 1];
  return undefined;
}
