// One client connection in tcp mode: pick an endpoint, connect (retrying on the next endpoint),
// then join the two sockets as a tunnel (tunnel.ts: backpressure, half-close, resets passed on;
// movable to the next generation at a code upgrade). Client bytes are passed through as Node read
// them; endpoint bytes are read into one shared buffer and copied out at their real size (cheaper
// than Node's fresh 64 KiB allocation per read, and no Readable machinery on that direction).
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { BalancerEndpoint } from '../balancers/balancer.js';
import type { ServiceRuntime } from './service-runtime.js';
import { recordFailure, recordSuccess } from './passive-health.js';
import { observeTcpConnection, peerOf } from './exchange-observer.js';
import { Tunnel, type TunnelRecord } from './tunnel.js';
import { upstreamConnectOptions, upstreamTlsFailure } from './tls/upstream-tls.js';

export function proxyTcpConnection(client: Socket, runtime: ServiceRuntime): void {
  const service = runtime.state;
  const { timeouts } = runtime.config;
  const { maxConnections } = runtime;
  client.on('error', () => {}); // errors surface as 'close'; an unhandled one would crash the process
  if (maxConnections !== null && service.active >= maxConnections) {
    // Over the cap: refuse politely with a FIN so clients see an orderly close, and count it.
    service.rejected++;
    client.end();
    return;
  }
  service.active++;
  service.total++;
  runtime.connections.add(client);
  // For the access log (observability): which endpoint served the connection, and since when.
  const started = performance.now();
  // The peer is read now: once the socket has closed, Node no longer knows it (the log said -:0).
  const peer = runtime.accessLog === null ? '' : peerOf(client);
  let connected: string | null = null;
  const settle = (): void => {
    service.active--;
    runtime.connections.delete(client);
    service.bytesIn += client.bytesRead;
    service.bytesOut += client.bytesWritten;
  };
  client.once('close', () => {
    observeTcpConnection(runtime, client, peer, started, connected, tried.size, connected === null);
    settle();
  });
  const tried = new Set<string>();
  const cluster = runtime.defaultCluster;
  // getpeername is a syscall: only source-hash needs the client's address.
  const clientKey = cluster.config.balance === 'source-hash' ? client.remoteAddress : undefined;

  const attempt = (): void => {
    if (client.destroyed) return;
    const endpoint = tried.size <= runtime.config.retries ? cluster.balancer.pick({ clientKey, exclude: tried }) : undefined;
    if (!endpoint) {
      service.failed++;
      client.destroy();
      return;
    }
    if (tried.size > 0) service.retries++;
    tried.add(endpoint.key);
    const tls = cluster.config.upstreamTls;
    let tunnel: Tunnel | null = null;
    let upstream: Socket;
    let handshaking = false;
    if (tls === null) {
      upstream = connect({ host: endpoint.host, port: endpoint.port, allowHalfOpen: true, noDelay: true, onread: { buffer: READ_BUFFER, callback: (n, buf) => tunnel!.fromEndpoint(n, buf) } });
    } else {
      // upstream_tls: the endpoint side is wrapped in TLS; the tunnel relays its plain bytes from
      // 'data' events. allowHalfOpen reaches the TLSSocket (Node's tls.connect passes it on; its
      // types omit it).
      upstream = tlsConnect({ ...upstreamConnectOptions(tls, endpoint.host, endpoint.port), allowHalfOpen: true } as ConnectionOptions);
      upstream.setNoDelay(true);
      upstream.once('connect', () => (handshaking = true));
    }
    upstream.setTimeout(timeouts.connect);
    const onConnectFailure = (err?: NodeJS.ErrnoException): void => {
      // A failed handshake is a failed connect (retried on the next endpoint), counted by reason.
      if (handshaking) service.upstreamTls.failed(upstreamTlsFailure(err ?? null).reason);
      handshaking = false;
      upstream.destroy();
      recordFailure(endpoint.state, cluster.config.health.passive);
      attempt();
    };
    const onConnectTimeout = (): void => onConnectFailure();
    upstream.once('timeout', onConnectTimeout);
    upstream.once('error', onConnectFailure);
    client.once('close', abandon);
    function abandon(): void {
      upstream.destroy();
    }
    upstream.once(tls === null ? 'connect' : 'secureConnect', () => {
      if (tls !== null) service.upstreamTls.handshakes++;
      handshaking = false;
      upstream.off('timeout', onConnectTimeout);
      upstream.off('error', onConnectFailure);
      client.off('close', abandon);
      connected = endpoint.key;
      const record: TunnelRecord = {
        kind: 'tcp',
        service: runtime.config.name,
        cluster: cluster.config.name,
        endpoint: endpoint.key,
        peer: peer === '' ? peerOf(client) : peer,
        startedAt: Date.now() - (performance.now() - started),
        method: null,
        path: null,
        status: 0,
        retries: tried.size - 1,
        priorBytesIn: 0,
        priorBytesOut: 0,
      };
      tunnel = splice(client, upstream, endpoint, runtime, record, settle, tls === null);
    });
  };
  attempt();
}

function splice(client: Socket, upstream: Socket, endpoint: BalancerEndpoint, runtime: ServiceRuntime, record: TunnelRecord, release: () => void, onread: boolean): Tunnel {
  const state = endpoint.state;
  recordSuccess(state);
  state.active++;
  state.total++;
  let released = false;
  upstream.once('close', () => {
    if (released) return;
    state.active--;
    state.bytesIn += upstream.bytesWritten;
    state.bytesOut += upstream.bytesRead;
  });
  // Moved to another process: the endpoint's counters so far stay here, the rest count there.
  const releaseAll = (): void => {
    released = true;
    state.active--;
    state.bytesIn += upstream.bytesWritten;
    state.bytesOut += upstream.bytesRead;
    release();
  };
  return new Tunnel({ client, upstream }, record, runtime.config.timeouts.idle, onread, releaseAll);
}

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
