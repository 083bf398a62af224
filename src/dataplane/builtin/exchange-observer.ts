// The one call the data plane makes per finished HTTP exchange (and per closed TCP connection):
// a latency observation, byte counters, and the access log line when the service has one.
// Kept to O(1) work; building the log record happens only when access_log is configured.
import type { Socket } from 'node:net';
import type { BalancerEndpoint } from '../balancers/balancer.js';
import type { ServiceRuntime } from './service-runtime.js';
import type { ClientSide } from './http/client-side.js';
import type { SideBytes, TunnelRecord } from './tunnel.js';
import { PROXY_CODES } from '../../errors.js';

/** The response did not complete: the client left, or the endpoint cut it mid-body. */
const INCOMPLETE = 'HITLESS_INCOMPLETE';

export function observeHttpExchange(
  runtime: ServiceRuntime,
  client: ClientSide,
  startedMs: number,
  cluster: string | null,
  endpoint: BalancerEndpoint | null,
  tries: number,
  /** The request body's declared length (scanned with the headers; req.headers is never built). */
  bytesIn: number,
  bytesOut: number,
  /** The code of the answer hitless made itself (502, 503, 504...), null when the endpoint answered. */
  error: string | null,
): void {
  const ms = performance.now() - startedMs;
  const state = runtime.state;
  state.latency.observe(ms);
  state.bytesIn += bytesIn;
  state.bytesOut += bytesOut;
  if (endpoint !== null) {
    endpoint.state.bytesIn += bytesIn;
    endpoint.state.bytesOut += bytesOut;
  }
  const log = runtime.accessLog;
  if (log === null) return;
  log({
    time: new Date().toISOString(),
    client: peerOf(client.socket),
    service: runtime.config.name,
    mode: 'http',
    cluster,
    endpoint: endpoint?.key ?? null,
    method: client.method,
    path: client.url,
    status: client.status,
    bytes_in: bytesIn,
    bytes_out: bytesOut,
    duration_ms: Math.round(ms * 1000) / 1000,
    retries: tries > 0 ? tries - 1 : 0,
    error: error ?? (client.finished ? null : INCOMPLETE),
    user_agent: client.header('user-agent'),
    referer: client.header('referer'),
  });
}

/**
 * An answer hitless gave before any request could be read (llhttp refused the bytes, a head did
 * not arrive in time, CONNECT): counted by status class and logged, with no method or path to name.
 */
export function observeRefusal(runtime: ServiceRuntime, client: Socket, status: number, code: string): void {
  const state = runtime.state;
  state.total++;
  state.answeredLocally(status, code);
  const log = runtime.accessLog;
  if (log === null) return;
  log({
    time: new Date().toISOString(),
    client: peerOf(client),
    service: runtime.config.name,
    mode: 'http',
    cluster: null,
    endpoint: null,
    method: null,
    path: null,
    status,
    bytes_in: 0,
    bytes_out: 0,
    duration_ms: 0,
    retries: 0,
    error: code,
  });
}

/** What an upgrade request became, filled in as it goes; logged once, when the client connection closes. */
export interface UpgradeRecord {
  readonly peer: string;
  readonly started: number;
  readonly method: string;
  readonly path: string;
  cluster: string | null;
  endpoint: string | null;
  /** 101 for a tunnel, the forwarded status, or hitless's own answer; 0 if none was sent. */
  status: number;
  error: string | null;
}

/** One access-log line per upgrade request (a tunnel's bytes included), at the connection's end. */
export function observeUpgrade(runtime: ServiceRuntime, client: Socket, record: UpgradeRecord): void {
  const log = runtime.accessLog;
  if (log === null) return;
  log({
    time: new Date().toISOString(),
    client: record.peer,
    service: runtime.config.name,
    mode: 'http',
    cluster: record.cluster,
    endpoint: record.endpoint,
    method: record.method,
    path: record.path,
    status: record.status,
    bytes_in: client.bytesRead,
    bytes_out: client.bytesWritten,
    duration_ms: Math.round((performance.now() - record.started) * 1000) / 1000,
    retries: 0,
    error: record.error ?? (record.status === 0 ? INCOMPLETE : null),
  });
}

/** tcp mode: one line per closed client connection (no latency histogram: connections, not requests). */
export function observeTcpConnection(runtime: ServiceRuntime, client: Socket, peer: string, startedMs: number, endpoint: string | null, tries: number, failed: boolean): void {
  const log = runtime.accessLog;
  if (log === null) return;
  log({
    time: new Date().toISOString(),
    client: peer,
    service: runtime.config.name,
    mode: 'tcp',
    cluster: runtime.defaultCluster.config.name,
    endpoint,
    method: null,
    path: null,
    status: 0,
    bytes_in: client.bytesRead,
    bytes_out: client.bytesWritten,
    duration_ms: Math.round((performance.now() - startedMs) * 1000) / 1000,
    retries: tries > 0 ? tries - 1 : 0,
    error: failed ? PROXY_CODES.UPSTREAM_CONNECT : null,
  });
}

/** `ip:port` of a connected socket (IPv6 in brackets); read while the socket is open. */
export function peerOf(socket: Socket): string {
  const ip = socket.remoteAddress ?? '-';
  return ip.includes(':') ? `[${ip}]:${socket.remotePort ?? 0}` : `${ip}:${socket.remotePort ?? 0}`;
}

/**
 * A tunnel that moved here from another process (tunnel.ts) ended: its one access line, for the
 * whole connection (bytes of every process it went through, duration from its accept). `client`:
 * the client bytes of this process.
 */
export function observeMovedTunnel(runtime: ServiceRuntime, client: SideBytes, record: TunnelRecord): void {
  const log = runtime.accessLog;
  if (log === null) return;
  log({
    time: new Date().toISOString(),
    client: record.peer,
    service: runtime.config.name,
    mode: record.kind === 'tcp' ? 'tcp' : 'http',
    cluster: record.cluster,
    endpoint: record.endpoint,
    method: record.method,
    path: record.path,
    status: record.status,
    bytes_in: record.priorBytesIn + client.read,
    bytes_out: record.priorBytesOut + client.written,
    duration_ms: Math.round((Date.now() - record.startedAt) * 1000) / 1000,
    retries: record.retries,
    error: null,
  });
}
