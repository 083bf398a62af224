// One client connection in tcp mode: pick an endpoint, connect (retrying on the next endpoint),
// then splice the two sockets with backpressure. Client bytes are passed through as Node read them;
// endpoint bytes are read into one shared buffer and copied out at their real size (cheaper than
// Node's fresh 64 KiB allocation per read, and no Readable machinery on that direction).
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, TLSSocket, type ConnectionOptions } from 'node:tls';
import type { BalancerEndpoint } from '../balancers/balancer.js';
import type { ServiceRuntime } from './service-runtime.js';
import { recordFailure, recordSuccess } from './passive-health.js';
import { observeTcpConnection, peerOf } from './exchange-observer.js';
import { resetAndDestroy } from './tls/tls-termination.js';
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
  client.once('close', () => {
    observeTcpConnection(runtime, client, peer, started, connected, tried.size, connected === null);
    service.active--;
    runtime.connections.delete(client);
    service.bytesIn += client.bytesRead;
    service.bytesOut += client.bytesWritten;
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
    let upstream: Socket;
    let handshaking = false;
    if (tls === null) {
      upstream = connect({ host: endpoint.host, port: endpoint.port, allowHalfOpen: true, noDelay: true, onread: { buffer: READ_BUFFER, callback: (n, buf) => relayToClient(client, n, buf) } });
    } else {
      // upstream_tls: the endpoint side is wrapped in TLS; its plain bytes are relayed as they come.
      // allowHalfOpen reaches the TLSSocket (Node's tls.connect passes it on; its types omit it).
      upstream = tlsConnect({ ...upstreamConnectOptions(tls, endpoint.host, endpoint.port), allowHalfOpen: true } as ConnectionOptions);
      upstream.setNoDelay(true);
      upstream.once('connect', () => (handshaking = true));
      upstream.on('data', (chunk: Buffer) => {
        if (!client.write(chunk)) upstream.pause();
      });
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
    upstream.once('timeout', () => onConnectFailure());
    upstream.once('error', onConnectFailure);
    client.once('close', abandon);
    function abandon(): void {
      upstream.destroy();
    }
    upstream.once(tls === null ? 'connect' : 'secureConnect', () => {
      if (tls !== null) service.upstreamTls.handshakes++;
      handshaking = false;
      upstream.off('timeout', onConnectFailure);
      upstream.off('error', onConnectFailure);
      client.off('close', abandon);
      connected = endpoint.key;
      splice(client, upstream, endpoint, timeouts.idle);
    });
  };
  attempt();
}

function splice(client: Socket, upstream: Socket, endpoint: BalancerEndpoint, idleMs: number): void {
  const state = endpoint.state;
  recordSuccess(state);
  state.active++;
  state.total++;
  upstream.setTimeout(idleMs);
  client.setTimeout(idleMs);
  const onIdle = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('timeout', onIdle);
  upstream.on('timeout', onIdle);
  // A reset on one side is passed on as a reset, so the peer sees what really happened.
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    // (A TLS client cannot be reset itself: its TCP socket is.)
    if (err.code === 'ECONNRESET' && !client.destroyed) resetAndDestroy(client);
    else client.destroy();
  });
  client.on('error', (err: NodeJS.ErrnoException) => {
    // (Nor can a TLS socket to an endpoint: it is closed.)
    if (err.code === 'ECONNRESET' && !upstream.destroyed && !(upstream instanceof TLSSocket)) upstream.resetAndDestroy();
    else upstream.destroy();
  });
  client.once('close', () => closeAfterFlush(upstream));
  upstream.once('close', () => {
    state.active--;
    state.bytesIn += upstream.bytesWritten;
    state.bytesOut += upstream.bytesRead;
    closeAfterFlush(client);
  });
  // Client → endpoint: Node's buffers as they are; a full endpoint pauses the client.
  client.on('data', (chunk: Buffer) => {
    if (!upstream.write(chunk)) client.pause();
  });
  upstream.on('drain', () => client.resume());
  client.once('end', () => upstream.end());
  // Endpoint → client: relayToClient (the onread callback); a full client pauses the endpoint.
  client.on('drain', () => upstream.resume());
  upstream.once('end', () => client.end());
  client.resume();
}

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Endpoint bytes for the client; returning false pauses the endpoint until the client drains. */
function relayToClient(client: Socket, nread: number, shared: Uint8Array): boolean {
  const chunk = Buffer.allocUnsafe(nread);
  chunk.set(shared.subarray(0, nread));
  return client.write(chunk);
}

/**
 * The peer of a socket that closed. After an orderly close the pipe has already ended this side;
 * let its last bytes flush before closing it, instead of cutting them off.
 */
function closeAfterFlush(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded && !socket.writableFinished) socket.once('finish', () => socket.destroy());
  else socket.destroy();
}
