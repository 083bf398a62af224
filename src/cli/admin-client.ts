// Talks to a running hitless's admin API, over "unix:/path" or "host:port".
import { request } from 'node:http';
import { parseAdminAddress } from '../config/address.js';
import { ErrorCodes, HitlessError } from '../errors.js';

export interface AdminResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export interface AdminTarget {
  readonly admin: string;
  readonly token?: string;
}

export function adminRequest(target: AdminTarget, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<AdminResponse> {
  const parsed = parseAdminAddress(target.admin);
  if (!parsed.ok) return Promise.reject(new HitlessError(ErrorCodes.ADMIN_UNREACHABLE, `--admin ${target.admin}: ${parsed.reason}`));
  const address = parsed.value;
  const token = target.token ?? process.env.HITLESS_ADMIN_TOKEN;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method,
        path,
        ...(address.kind === 'unix' ? { socketPath: address.path } : { host: address.host, port: address.port }),
        headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}) },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 30s')));
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        new HitlessError(
          ErrorCodes.ADMIN_UNREACHABLE,
          err.code === 'EACCES'
            ? `cannot reach the admin API at ${target.admin}: permission denied (the socket is mode 0600, owned by the user hitless runs as: run this as that user, e.g. sudo -u hitless, or as root)`
            : `cannot reach the admin API at ${target.admin}: ${err.code ?? err.message} (is hitless running with admin.listen: ${target.admin}?)`,
        ),
      ),
    );
    req.end(body);
  });
}

/** The error message of an admin JSON error body, or the raw body. */
export function errorMessage(res: AdminResponse): string {
  try {
    const parsed = JSON.parse(res.body) as { error?: { code?: string; message?: string } };
    if (parsed.error) return `${parsed.error.message} [${parsed.error.code}]`;
  } catch {
    /* not JSON: fall through */
  }
  return res.body.trim() || `HTTP ${res.status}`;
}
