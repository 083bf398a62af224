// Clients for the http data-plane tests, and the config shape they write (http mode).
import http, { type Agent, type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { stringify } from 'yaml';

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly body: string;
  /** The client's local port: the same number on two replies means the same connection. */
  readonly localPort: number;
  /** True when the request went out on a connection that had carried a request before. */
  readonly reused: boolean;
}

export interface RequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string | string[]>;
  readonly body?: string | Buffer;
  readonly agent?: Agent | false;
  readonly timeoutMs?: number;
}

/** One request to 127.0.0.1:port; rejects on any error (tests count those as failures). */
export function request(port: number, path: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false, timeout: options.timeoutMs ?? 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        const localPort = res.socket.localPort ?? 0;
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', reject);
        res.once('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('latin1'), localPort, reused: req.reusedSocket }),
        );
      },
    );
    req.once('timeout', () => req.destroy(new Error(`${options.method ?? 'GET'} ${path}: no answer within ${options.timeoutMs ?? 10_000} ms`)));
    req.once('error', reject);
    req.end(options.body);
  });
}

/**
 * Writes `text` on a fresh connection (optionally in pieces, `gapMs` apart) and collects everything
 * that comes back until the far side closes or `timeoutMs` passes.
 */
export function rawExchange(port: number, pieces: string | string[], options: { gapMs?: number; timeoutMs?: number } = {}): Promise<{ text: string; closed: boolean }> {
  const parts = typeof pieces === 'string' ? [pieces] : pieces;
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let text = '';
    let done = false;
    let ticker: NodeJS.Timeout | undefined;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(ticker);
      socket.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 5_000);
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.once('close', () => finish(true));
    socket.on('error', () => {});
    socket.once('connect', () => {
      if (!options.gapMs) {
        for (const p of parts) socket.write(p);
        return;
      }
      let i = 0;
      const next = (): void => {
        if (i < parts.length && !socket.destroyed) socket.write(parts[i++]);
        else clearInterval(ticker);
      };
      next();
      ticker = setInterval(next, options.gapMs);
    });
  });
}

/** Header values by lower-case name from a raw [name, value, ...] list. */
export function headerValues(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === name) out.push(raw[i + 1]);
  return out;
}

// ---- config ----

export type Health = {
  active?: { type?: 'tcp' | 'http'; path?: string; interval?: string; timeout?: string; rise?: number; fall?: number };
  passive?: { consecutive_failures?: number; ejection?: string };
};
export type Endpoint = string | { address: string; weight?: number };
export interface HttpService {
  mode?: 'http';
  listen: string | string[];
  balance?: string;
  endpoints?: Endpoint[];
  health?: Health;
  clusters?: Record<string, { balance?: string; endpoints: Endpoint[]; health?: Health }>;
  routes?: Array<{ host?: string; path?: string; cluster: string }>;
  timeouts?: { connect?: string; idle?: string; drain?: string; header?: string; response?: string };
  limits?: { max_header_bytes?: number; max_url_bytes?: number };
  retries?: number;
  max_connections?: number;
}

/** A config file text: every service in http mode unless it says otherwise. */
export function httpConfig(admin: string, services: Record<string, HttpService>): string {
  const withMode = Object.fromEntries(Object.entries(services).map(([name, s]) => [name, { mode: 'http', ...s }]));
  return stringify({ admin: { listen: admin }, services: withMode }, { lineWidth: 0 });
}
