import { isIP } from 'node:net';

/** A TCP address as written in the config, split and normalised so that equal addresses compare equal. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
  /** Canonical "host:port" (IPv6 in brackets); the key of the listener pool and of endpoint state. */
  readonly key: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Parses "host:port" or "[v6]:port". Hostnames are allowed (endpoints may be DNS names). */
export function parseHostPort(text: string): ParseResult<HostPort> {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!m) return { ok: false, reason: 'expected "host:port" (IPv6 as "[::1]:port")' };
  const host = m[1].toLowerCase();
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return { ok: false, reason: `port ${m[2]} is out of range 1-65535` };
  }
  if (m[0].startsWith('[') && isIP(host) !== 6) return { ok: false, reason: `"${host}" is not an IPv6 address` };
  return { ok: true, value: Object.freeze({ host, port, key: joinHostPort(host, port) }) };
}

/** Listen addresses must be local literals: a hostname could resolve differently on each apply. */
export function parseListenAddress(text: string): ParseResult<HostPort> {
  const parsed = parseHostPort(text);
  if (!parsed.ok) return parsed;
  const host = parsed.value.host === 'localhost' ? '127.0.0.1' : parsed.value.host === '*' ? '0.0.0.0' : parsed.value.host;
  if (isIP(host) === 0) {
    return { ok: false, reason: `listen host "${parsed.value.host}" must be an IP address (or localhost, or *)` };
  }
  return { ok: true, value: Object.freeze({ host, port: parsed.value.port, key: joinHostPort(host, parsed.value.port) }) };
}

export function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The admin API listens on "unix:/path" or a TCP "host:port". */
export type AdminAddress = { kind: 'unix'; path: string; key: string } | ({ kind: 'tcp' } & HostPort);

export function parseAdminAddress(text: string): ParseResult<AdminAddress> {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    if (!path) return { ok: false, reason: 'expected "unix:/path/to/admin.sock"' };
    return { ok: true, value: Object.freeze({ kind: 'unix' as const, path, key: text }) };
  }
  const parsed = parseListenAddress(text);
  if (!parsed.ok) return { ok: false, reason: `${parsed.reason}, or "unix:/path/to/admin.sock"` };
  return { ok: true, value: Object.freeze({ kind: 'tcp' as const, ...parsed.value }) };
}

export function isLoopback(host: string): boolean {
  return host === '::1' || host.startsWith('127.');
}
