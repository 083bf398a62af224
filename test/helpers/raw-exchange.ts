// One request as exact bytes on a fresh connection, its response read and parsed by hand (no HTTP
// client in the way, so malformed or duplicated headers reach the proxy as written). Optionally a
// second request on the same connection tells whether the proxy kept it open after answering.
import net from 'node:net';

export interface RawResponse {
  readonly status: number;
  /** [lower-case name, value]. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
}

export interface RawExchange {
  readonly response: RawResponse;
  /** With `probe`: whether the connection answered a second request or was closed. */
  readonly after: 'answered' | 'closed' | null;
}

export interface ExchangeOptions {
  readonly host: string;
  readonly port: number;
  /** A second request written once the first response is complete. */
  readonly probe?: string;
  readonly timeoutMs?: number;
}

/** The response at the start of `buf`, with the bytes it took; null while incomplete. */
function parseResponse(buf: Buffer, ended: boolean): { response: RawResponse; used: number } | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? 'NaN');
  const headers = lines.slice(1).map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  });
  const length = headers.find(([n]) => n === 'content-length')?.[1];
  if (length !== undefined) {
    const total = end + 4 + Number(length);
    if (buf.length < total) return null;
    return { response: { status, headers, body: buf.subarray(end + 4, total).toString('latin1') }, used: total };
  }
  if (status === 204 || status === 304) return { response: { status, headers, body: '' }, used: end + 4 };
  // Close-delimited (the test endpoints always send a length; this is for odd proxy answers).
  if (!ended) return null;
  return { response: { status, headers, body: buf.subarray(end + 4).toString('latin1') }, used: buf.length };
}

export function rawExchange(request: string, options: ExchangeOptions): Promise<RawExchange> {
  const { host, port, probe, timeoutMs = 10_000 } = options;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    let first: RawResponse | null = null;
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`no complete answer within ${timeoutMs} ms; got ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`)), timeoutMs);
    function finish(result: RawExchange | Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    }
    function progress(ended: boolean): void {
      if (first === null) {
        const parsed = parseResponse(buf, ended);
        if (parsed === null) {
          if (ended) finish(new Error(`connection closed before a complete response; got ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`));
          return;
        }
        first = parsed.response;
        buf = buf.subarray(parsed.used);
        if (probe === undefined) return finish({ response: first, after: null });
        socket.write(probe, 'latin1');
      }
      // Waiting for the probe's answer: any status line means the connection stayed open.
      if (/^HTTP\/1\.[01] \d{3}/.test(buf.toString('latin1'))) finish({ response: first, after: 'answered' });
      else if (ended) finish({ response: first, after: 'closed' });
    }
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      progress(false);
    });
    socket.on('end', () => progress(true));
    // A reset after a complete first response is the proxy closing; before it, a failure.
    socket.on('error', (err) => (first !== null ? progress(true) : finish(err)));
    socket.on('close', () => progress(true));
    socket.write(request, 'latin1');
  });
}
