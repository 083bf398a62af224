// A tunnel: a client connection and its endpoint connection joined, bytes passed both ways with
// backpressure, each FIN passed on (half-close), a reset passed on as a reset. A tcp-mode
// connection (tcp-proxy.ts) and an upgraded HTTP connection after its 101 (http/upgrade-proxy.ts)
// are both one. A tunnel can be *frozen*: libuv stops reading both sockets, what Node had read
// is written on, and once nothing is left in user space both sockets can go to another process
// (process/tunnel-move.ts), which joins them again as a tunnel (`joinTunnel`). The peers notice
// nothing: the bytes not yet read stay in the kernel and travel with the sockets.
import type { Socket } from 'node:net';
import { freezeSocket, thawSocket, type NativeTcpHandle } from '../../util/node-internals.js';
import { resetAndDestroy } from './tls/tls-termination.js';

/** What a tunnel is, for its counters and its one access-log line; crosses IPC when it moves. */
export interface TunnelRecord {
  readonly kind: 'tcp' | 'upgrade';
  readonly service: string;
  readonly cluster: string | null;
  readonly endpoint: string;
  readonly peer: string;
  /** Unix time (ms) the client connection was accepted: the access line's duration runs from it. */
  readonly startedAt: number;
  /** The upgrade request (null in tcp mode). */
  readonly method: string | null;
  readonly path: string | null;
  readonly status: number;
  readonly retries: number;
  /** Client bytes read and written by earlier processes (the access line counts the whole connection). */
  readonly priorBytesIn: number;
  readonly priorBytesOut: number;
}

/** Which directions had finished when a tunnel moved: each is done in the receiving process too. */
export interface TunnelEnds {
  /** The client sent its FIN (nothing more to read from it). */
  readonly clientFin: boolean;
  /** The endpoint sent its FIN. */
  readonly endpointFin: boolean;
  /** hitless passed a FIN on to the client (its write side is shut). */
  readonly clientShut: boolean;
  readonly endpointShut: boolean;
}

export type TunnelState = 'open' | 'frozen' | 'moved' | 'stays';

/** Every tunnel of this process by its client socket (the accepted one): what a drain looks up. */
const tunnels = new WeakMap<Socket, Tunnel>();

export function tunnelOf(client: Socket): Tunnel | undefined {
  return tunnels.get(client);
}

const noop = (): void => {};

const encrypted = (socket: Socket): boolean => (socket as { encrypted?: boolean }).encrypted === true;

export class Tunnel {
  state: TunnelState = 'open';
  private clientFin: boolean;
  private endpointFin: boolean;

  /**
   * `upstreamOnread`: the endpoint socket delivers its bytes through `fromEndpoint` (net.connect's
   * onread into a shared buffer, tcp-proxy's fast path) instead of 'data' events. `release`: the
   * counters the creator keeps for this tunnel, let go of when it moves away (its close handlers
   * never run: the sockets are detached first).
   */
  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    readonly record: TunnelRecord,
    idleMs: number,
    private readonly upstreamOnread: boolean,
    readonly release: () => void,
    ends: Partial<TunnelEnds> = {},
  ) {
    this.clientFin = ends.clientFin === true;
    this.endpointFin = ends.endpointFin === true;
    // A TLS socket (terminated by hitless, or to an endpoint with upstream_tls) holds its session
    // state in this process: such a tunnel drains instead of moving.
    if (!encrypted(client) && !encrypted(upstream)) tunnels.set(client, this);
    upstream.setTimeout(idleMs);
    client.setTimeout(idleMs);
    client.on('timeout', this.onIdle);
    upstream.on('timeout', this.onIdle);
    // A reset on one side is passed on as a reset, so the peer sees what really happened.
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      // (A TLS client cannot be reset itself: its TCP socket is.)
      if (err.code === 'ECONNRESET' && !client.destroyed) resetAndDestroy(client);
      else client.destroy();
    });
    client.on('error', (err: NodeJS.ErrnoException) => {
      // (Nor can a TLS socket to an endpoint: it is closed.)
      if (err.code === 'ECONNRESET' && !upstream.destroyed && !encrypted(upstream)) upstream.resetAndDestroy();
      else upstream.destroy();
    });
    client.once('close', () => closeAfterFlush(upstream));
    upstream.once('close', () => closeAfterFlush(client));
    // Client → endpoint: a full endpoint pauses the client.
    client.on('data', (chunk: Buffer) => {
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => {
      if (this.state === 'open' || this.state === 'stays') client.resume();
    });
    client.once('end', () => {
      this.clientFin = true;
      upstream.end();
    });
    // Endpoint → client: a full client pauses the endpoint.
    if (!upstreamOnread) {
      upstream.on('data', (chunk: Buffer) => {
        if (!client.write(chunk)) upstream.pause();
      });
    }
    client.on('drain', () => {
      if (this.state === 'open' || this.state === 'stays') upstream.resume();
    });
    upstream.once('end', () => {
      this.endpointFin = true;
      client.end();
    });
    if (!this.clientFin) client.resume();
    if (!this.endpointFin && !upstreamOnread) upstream.resume();
  }

  /** Endpoint bytes read into net.connect's shared buffer; false pauses the endpoint until the client drains. */
  fromEndpoint(nread: number, shared: Uint8Array): boolean {
    const chunk = Buffer.allocUnsafe(nread);
    chunk.set(shared.subarray(0, nread));
    return this.client.write(chunk);
  }

  private readonly onIdle = (): void => {
    this.client.destroy();
    this.upstream.destroy();
  };

  /** Both directions have finished: the tunnel is closing, nothing to move. */
  get finishing(): boolean {
    return this.clientFin && this.endpointFin;
  }

  /**
   * Stops reading both sockets and writes on what Node had already read. No byte enters this
   * process after this; `quiet` says when every byte read has left it too.
   */
  freeze(): void {
    if (this.state !== 'open') return;
    this.state = 'frozen';
    const { client, upstream } = this;
    freezeSocket(client);
    freezeSocket(upstream);
    client.pause();
    upstream.pause();
    // read() hands each buffered chunk to the 'data' listener above (and may ask libuv to read
    // again: frozen again below, in the same tick, so no byte is read meanwhile).
    while (client.read() !== null);
    if (!this.upstreamOnread) while (upstream.read() !== null);
    freezeSocket(client);
    freezeSocket(upstream);
  }

  /** Nothing of this tunnel is left in user space: every byte read has been handed to the kernel. */
  get quiet(): boolean {
    return quietSocket(this.client) && quietSocket(this.upstream);
  }

  /** A frozen tunnel that cannot move (a peer that does not read) carries on here, and drains. */
  thaw(): void {
    if (this.state !== 'frozen') return;
    this.state = 'stays';
    const { client, upstream } = this;
    if (!this.clientFin) {
      thawSocket(client);
      client.resume();
    }
    if (!this.endpointFin) {
      thawSocket(upstream);
      upstream.resume();
    }
  }

  /** Which directions have finished, for the receiving process. */
  ends(): TunnelEnds {
    return { clientFin: this.clientFin, endpointFin: this.endpointFin, clientShut: this.client.writableEnded, endpointShut: this.upstream.writableEnded };
  }

  /** The two handles to send (the tunnel must be frozen and quiet). */
  handles(): { client: NativeTcpHandle; upstream: NativeTcpHandle } | null {
    const client = freezeSocket(this.client);
    const upstream = freezeSocket(this.upstream);
    return client && upstream ? { client, upstream } : null;
  }

  /**
   * The sockets went to another process: this process lets go of them without any of its close
   * handlers running (no access line, no counter, no FIN: the other process owns the connection).
   */
  movedAway(): void {
    this.state = 'moved';
    tunnels.delete(this.client);
    this.release();
    for (const socket of [this.client, this.upstream]) {
      socket.removeAllListeners();
      socket.on('error', noop);
      socket.destroy();
    }
  }
}

function quietSocket(socket: Socket): boolean {
  if (socket.destroyed || socket.connecting) return false;
  if (socket.readableLength > 0 || socket.writableLength > 0) return false;
  // A FIN being sent (shutdown requested, not done) is still this process's business.
  return !socket.writableEnded || socket.writableFinished;
}

/**
 * The peer of a socket that closed. After an orderly close the pipe has already ended this side;
 * let its last bytes flush before closing it, instead of cutting them off.
 */
export function closeAfterFlush(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded && !socket.writableFinished) socket.once('finish', () => socket.destroy());
  else socket.destroy();
}
