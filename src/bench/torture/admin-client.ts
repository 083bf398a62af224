// A tiny client for the hitless admin API, over a unix socket ("unix:/path") or loopback TCP.
import http from 'node:http';
import { parseLoopbackEndpoint } from './loopback.js';

export interface AdminReply {
  readonly status: number;
  readonly body: string;
}

export interface AdminClient {
  readonly address: string;
  request(method: string, path: string, body?: string, timeoutMs?: number): Promise<AdminReply>;
}

/** `token`: sent as `Authorization: Bearer` (a target whose config sets admin.token). */
export function adminClient(address: string, token?: string): AdminClient {
  const authorization: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const target = address.startsWith('unix:')
    ? { socketPath: address.slice('unix:'.length) }
    : (() => {
        const endpoint = parseLoopbackEndpoint(address);
        return { host: endpoint.host, port: endpoint.port };
      })();
  return {
    address,
    request: (method, path, body, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const req = http.request(
          {
            ...target,
            method,
            path,
            agent: false,
            timeout: timeoutMs,
            headers: { ...authorization, ...(body === undefined ? {} : { 'content-type': 'application/yaml', 'content-length': Buffer.byteLength(body) }) },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk.length < 1 << 20 ? chunk : ''));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error(`admin ${method} ${path} timed out after ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(body);
      }),
  };
}

/** The `{error:{code,message}}` body of a rejected admin call, in one line. */
export function adminError(reply: AdminReply): string {
  try {
    const parsed = JSON.parse(reply.body) as { error?: { code?: string; message?: string } };
    if (parsed.error) return `${reply.status} ${parsed.error.code ?? ''}: ${parsed.error.message ?? ''}`.trim();
  } catch {
    // Not JSON: show the start of the text below.
  }
  return `${reply.status} ${reply.body.slice(0, 200).replace(/\s+/g, ' ')}`.trim();
}
