// Requests to a running hitless's admin API over its unix socket, as a script would make them.
import { request } from 'node:http';

export interface AdminReply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

export function adminRequest(socketPath: string, method: string, path: string, body?: string, headers: Record<string, string> = {}, timeoutMs = 15_000): Promise<AdminReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json<T>() {
              return JSON.parse(text) as T;
            },
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The parts of GET /status the tests read. */
export interface StatusDoc {
  pid: number;
  config: { hash: string; source: string } | null;
  services: Array<{
    name: string;
    balance: string;
    listen: string[];
    active: number;
    total: number;
    rejected: number;
    failed: number;
    endpoints: Array<{ address: string; weight: number; active: number; total: number; failures: number }>;
  }>;
  listeners: Array<{ address: string; service: string | null; state: string; socket: string | null; connections: number }>;
  lastApply: ApplyRecordDoc | null;
  applies: ApplyRecordDoc[];
  /** Present when a supervisor runs workers (`hitless run --workers N`, N ≥ 1). */
  process?: { workersPerGeneration: number };
}

/** Processes that serve the listeners, each with its own upstream pools and counters: 1 without a supervisor. */
export function servingProcesses(status: StatusDoc): number {
  return status.process?.workersPerGeneration ?? 1;
}

export interface ApplyRecordDoc {
  origin: string;
  result: 'applied' | 'noop' | 'rejected';
  durationMs: number;
  hashBefore: string | null;
  hashAfter: string | null;
  summary: string;
  error?: { code: string; message: string };
}

export interface ErrorDoc {
  error: { code: string; message: string; details?: unknown };
}
