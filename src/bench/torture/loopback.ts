// Torture traffic may only ever hit this machine: a mistyped address must not turn the tool into
// a load generator against somebody else's service.
import { isIP } from 'node:net';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export class NotLoopbackError extends Error {
  constructor(text: string) {
    super(`refusing to send torture traffic to ${text}: only 127.0.0.1 (127.0.0.0/8), ::1 and localhost are allowed`);
    this.name = 'NotLoopbackError';
  }
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** Parses "host:port", "[::1]:port" or a bare port (meaning 127.0.0.1), refusing non-loopback hosts. */
export function parseLoopbackEndpoint(text: string): Endpoint {
  const trimmed = text.trim();
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(trimmed) ?? /^([^:[\]]+):(\d+)$/.exec(trimmed) ?? /^()(\d+)$/.exec(trimmed);
  if (!m) throw new Error(`expected "host:port" (IPv6 as "[::1]:port"), found ${JSON.stringify(text)}`);
  const host = m[1] === '' ? '127.0.0.1' : m[1].toLowerCase();
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${m[2]} is out of range 1-65535`);
  if (!isLoopbackHost(host)) throw new NotLoopbackError(trimmed);
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}

export function assertLoopback(endpoint: Endpoint): Endpoint {
  if (!isLoopbackHost(endpoint.host)) throw new NotLoopbackError(formatEndpoint(endpoint));
  return endpoint;
}

export function formatEndpoint(endpoint: Endpoint): string {
  return isIP(endpoint.host) === 6 ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}
