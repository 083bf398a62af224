// Who may do what on the admin API. Two roles: admin (admin.token: everything) and read
// (admin.read_token: what a metrics scraper or a dashboard viewer needs, nothing that changes the
// proxy or shows the config text, which holds the tokens). /live, /ready and the dashboard's
// static files need no token at all (admin-server.ts).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type Role = 'admin' | 'read';

/** The routes the read-only token may use. Everything else (including unknown routes) needs admin. */
export const READ_ROUTES: ReadonlySet<string> = new Set(['GET /status', 'GET /metrics', 'GET /dashboard/data', 'GET /overrides']);

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export class Authorizer {
  private readonly admin: Buffer | null;
  /** Without a read token: the digest of random bytes, which no header can match. */
  private readonly read: Buffer;

  constructor(adminToken: string | null, readToken: string | null) {
    this.admin = adminToken === null ? null : digest(adminToken);
    this.read = readToken === null ? createHash('sha256').update(randomBytes(32)).digest() : digest(readToken);
  }

  /**
   * The role an Authorization header grants; null: none (401). Without admin.token every request
   * is admin (the config refuses that on a non-loopback address). Both tokens are always compared,
   * as SHA-256 digests of equal length, so neither the time taken nor an early exit tells which
   * one, or how much of one, a guess matched.
   */
  roleOf(header: string | undefined): Role | null {
    if (this.admin === null) return 'admin';
    const given = bearer(header);
    const d = digest(given ?? '');
    const isAdmin = timingSafeEqual(d, this.admin);
    const isRead = timingSafeEqual(d, this.read);
    if (given === null) return null;
    if (isAdmin) return 'admin';
    return isRead ? 'read' : null;
  }
}

/** The credentials of `Authorization: Bearer <token>` (the scheme is case-insensitive, RFC 9110 §11.1); null for anything else. */
function bearer(header: string | undefined): string | null {
  if (header === undefined || header.length < 8) return null;
  if (header.slice(0, 7).toLowerCase() !== 'bearer ') return null;
  return header.slice(7);
}
