// A tunnel: a client connection and its endpoint connection joined, bytes passed both ways with
// backpressure, each FIN passed on (half-close), a reset passed on as a reset. A tcp-mode
// connection (tcp-proxy.ts) and an upgraded HTTP connection after its 101 (http/upgrade-proxy.ts)
// are both one. A tunnel can be *frozen*: libuv stops reading both sockets, what Node had read
// is written on, and once nothing is left in user space both sockets can go to another process
// (process/tunnel-move.ts), which joins them again as a tunnel (`joinTunnel`). The peers notice
// nothing: the bytes not yet read stay in the kernel and travel with the sockets.
// A joined tunnel's endpoint side starts *asleep*: its bare handle is read by libuv, but its
// net.Socket (most of what taking a moved tunnel costs: bench:join-cost) is built only when the
// endpoint sends something or the tunnel needs it (client bytes to write to it, an end to pass
// on, a reset, another move). Many long-lived connections carry nothing for minutes.
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { freezeSocket, readBareHandleOnce, socketFromHandle, stopBareHandleRead, thawSocket, type FirstRead, type NativeTcpHandle } from '../../util/node-internals.js';
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

/** A joined tunnel's endpoint side before its socket is built: the bare handle, and whether libuv reads it. */
interface SleepingEndpoint {
  readonly handle: NativeTcpHandle;
  /** libuv is reading it for the first event (not when the endpoint had already sent its FIN). */
  reading: boolean;
}

export class Tunnel {
  state: TunnelState = 'open';
  private clientFin: boolean;
  private endpointFin: boolean;
  /** hitless had passed the client's FIN on to the endpoint before the move (for a sleeping side). */
  private readonly endpointShutBefore: boolean;
  private upstreamSocket: Socket | null = null;
  private sleeping: SleepingEndpoint | null = null;
  private readonly idleMs: number;

  /**
   * `upstream`: the endpoint socket, or (a joined tunnel) the bare handle its socket is built
   * around when first needed. `upstreamOnread`: the endpoint socket delivers its bytes through
   * `fromEndpoint` (net.connect's onread into a shared buffer, tcp-proxy's fast path) instead of
   * 'data' events. `release`: the counters the creator keeps for this tunnel, let go of when it
   * moves away (its close handlers never run: the sockets are detached first).
   */
  constructor(
    readonly client: Socket,
    upstream: Socket | NativeTcpHandle,
    readonly record: TunnelRecord,
    idleMs: number,
    private readonly upstreamOnread: boolean,
    readonly release: () => void,
    ends: Partial<TunnelEnds> = {},
  ) {
    this.clientFin = ends.clientFin === true;
    this.endpointFin = ends.endpointFin === true;
    this.endpointShutBefore = ends.endpointShut === true;
    this.idleMs = idleMs;
    const asleep = !isSocket(upstream);
    // A TLS socket (terminated by hitless, or to an endpoint with upstream_tls) holds its session
    // state in this process: such a tunnel drains instead of moving.
    if (!encrypted(client) && (asleep || !encrypted(upstream))) tunnels.set(client, this);
    client.setTimeout(idleMs);
    client.on('timeout', this.onIdle);
    // A reset on one side is passed on as a reset, so the peer sees what really happened.
    client.on('error', (err: NodeJS.ErrnoException) => {
      // (Nor can a TLS socket to an endpoint: it is closed.)
      const upstream = this.endpointSide();
      if (upstream === null) return;
      if (err.code === 'ECONNRESET' && !upstream.destroyed && !encrypted(upstream)) upstream.resetAndDestroy();
      else upstream.destroy();
    });
    client.once('close', () => {
      if (this.sleeping !== null) this.closeSleeping();
      else if (this.upstreamSocket !== null) closeAfterFlush(this.upstreamSocket);
    });
    // Client → endpoint: a full endpoint pauses the client.
    client.on('data', (chunk: Buffer) => {
      const upstream = this.endpointSide();
      if (upstream !== null && !upstream.write(chunk)) client.pause();
    });
    client.once('end', () => {
      this.clientFin = true;
      this.endpointSide()?.end();
    });
    client.on('drain', () => {
      if ((this.state === 'open' || this.state === 'stays') && this.upstreamSocket !== null) this.upstreamSocket.resume();
    });
    if (asleep) {
      this.sleeping = { handle: upstream, reading: false };
      this.listenWhileAsleep();
    } else this.attach(upstream);
    if (!this.clientFin) client.resume();
  }

  /** The endpoint socket, built now if the endpoint side was still asleep; null once that side was closed asleep. */
  private endpointSide(): Socket | null {
    if (this.upstreamSocket !== null) return this.upstreamSocket;
    return this.sleeping !== null ? this.wake(null) : null;
  }

  /** The endpoint side has closed (asleep: its handle was closed here). */
  get endpointClosed(): boolean {
    return this.upstreamSocket !== null ? this.upstreamSocket.destroyed : this.sleeping === null;
  }

  /** The endpoint socket's listeners: the endpoint's half of the tunnel. */
  private attach(upstream: Socket): void {
    this.upstreamSocket = upstream;
    const { client } = this;
    upstream.setTimeout(this.idleMs);
    upstream.on('timeout', this.onIdle);
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      // (A TLS client cannot be reset itself: its TCP socket is.)
      if (err.code === 'ECONNRESET' && !client.destroyed) resetAndDestroy(client);
      else client.destroy();
    });
    upstream.once('close', () => closeAfterFlush(client));
    upstream.on('drain', () => {
      if (this.state === 'open' || this.state === 'stays') client.resume();
    });
    // Endpoint → client: a full client pauses the endpoint.
    if (!this.upstreamOnread) {
      upstream.on('data', (chunk: Buffer) => {
        if (!client.write(chunk)) upstream.pause();
      });
    }
    upstream.once('end', () => {
      this.endpointFin = true;
      client.end();
    });
    if (!this.endpointFin && !this.upstreamOnread && this.state !== 'frozen') upstream.resume();
  }

  /** Asleep and open: libuv reads the bare handle, and its first read wakes the tunnel. */
  private listenWhileAsleep(): void {
    const sleeping = this.sleeping!;
    if (this.endpointFin || sleeping.reading) return;
    sleeping.reading = readBareHandleOnce(sleeping.handle, (first) => {
      sleeping.reading = false;
      this.wake(first);
    });
  }

  /**
   * Builds the endpoint socket around the sleeping handle, and hands it what the handle's first
   * read brought (bytes, the end, an error) as if the socket had read it.
   */
  private wake(first: FirstRead | null): Socket {
    const sleeping = this.sleeping!;
    this.sleeping = null;
    if (sleeping.reading) stopBareHandleRead(sleeping.handle);
    const upstream = socketFromHandle(sleeping.handle, { readable: !this.endpointFin, writable: !this.endpointShutBefore });
    this.attach(upstream);
    if (first?.kind === 'data') upstream.push(first.chunk);
    else if (first?.kind === 'end') upstream.push(null);
    else if (first?.kind === 'error') upstream.destroy(Object.assign(new Error(`read ${getSystemErrorName(first.errno)}`), { code: getSystemErrorName(first.errno), errno: first.errno, syscall: 'read' }));
    return upstream;
  }

  /** The client side closed while the endpoint side slept: close its handle too. */
  private closeSleeping(): void {
    const sleeping = this.sleeping!;
    this.sleeping = null;
    if (sleeping.reading) stopBareHandleRead(sleeping.handle);
    sleeping.handle.close();
  }

  /** Endpoint bytes read into net.connect's shared buffer; false pauses the endpoint until the client drains. */
  fromEndpoint(nread: number, shared: Uint8Array): boolean {
    const chunk = Buffer.allocUnsafe(nread);
    chunk.set(shared.subarray(0, nread));
    return this.client.write(chunk);
  }

  private readonly onIdle = (): void => {
    this.client.destroy();
    if (this.sleeping !== null) this.closeSleeping();
    else this.upstreamSocket?.destroy();
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
    const { client } = this;
    const upstream = this.upstreamSocket;
    freezeSocket(client);
    client.pause();
    const sleeping = this.sleeping;
    if (sleeping?.reading) {
      // Nothing of the endpoint's was read here: its side stays asleep and moves as it is.
      stopBareHandleRead(sleeping.handle);
      sleeping.reading = false;
    }
    if (upstream !== null) {
      freezeSocket(upstream);
      upstream.pause();
    }
    // read() hands each buffered chunk to the 'data' listener above (and may ask libuv to read
    // again: frozen again below, in the same tick, so no byte is read meanwhile). Client bytes
    // wake a sleeping endpoint side (they are written to it).
    while (client.read() !== null);
    const awake = this.upstreamSocket;
    if (awake !== null && !this.upstreamOnread) while (awake.read() !== null);
    freezeSocket(client);
    if (awake !== null) freezeSocket(awake);
  }

  /** Nothing of this tunnel is left in user space: every byte read has been handed to the kernel. */
  get quiet(): boolean {
    return quietSocket(this.client) && (this.upstreamSocket === null ? this.sleeping !== null : quietSocket(this.upstreamSocket));
  }

  /** A frozen tunnel that cannot move (a peer that does not read) carries on here, and drains. */
  thaw(): void {
    if (this.state !== 'frozen') return;
    this.state = 'stays';
    const { client } = this;
    if (!this.clientFin) {
      thawSocket(client);
      client.resume();
    }
    if (this.sleeping !== null) this.listenWhileAsleep();
    else if (!this.endpointFin && this.upstreamSocket !== null) {
      thawSocket(this.upstreamSocket);
      this.upstreamSocket.resume();
    }
  }

  /** Which directions have finished, for the receiving process. */
  ends(): TunnelEnds {
    const endpointShut = this.upstreamSocket === null ? this.endpointShutBefore : this.upstreamSocket.writableEnded;
    return { clientFin: this.clientFin, endpointFin: this.endpointFin, clientShut: this.client.writableEnded, endpointShut };
  }

  /** The two handles to send (the tunnel must be frozen and quiet). */
  handles(): { client: NativeTcpHandle; upstream: NativeTcpHandle } | null {
    const client = freezeSocket(this.client);
    const upstream = this.upstreamSocket === null ? (this.sleeping?.handle ?? null) : freezeSocket(this.upstreamSocket);
    return client && upstream ? { client, upstream } : null;
  }

  /** Bytes this process read from and wrote to the endpoint (none while its side slept). */
  endpointBytes(): { readonly read: number; readonly written: number } {
    const upstream = this.upstreamSocket;
    return upstream === null ? { read: 0, written: 0 } : { read: upstream.bytesRead, written: upstream.bytesWritten };
  }

  /**
   * The sockets went to another process: this process lets go of them without any of its close
   * handlers running (no access line, no counter, no FIN: the other process owns the connection).
   */
  movedAway(): void {
    this.state = 'moved';
    tunnels.delete(this.client);
    this.release();
    const sleeping = this.sleeping;
    this.sleeping = null;
    // (A sleeping handle is not read: freeze() stopped that.)
    sleeping?.handle.close();
    for (const socket of this.upstreamSocket === null ? [this.client] : [this.client, this.upstreamSocket]) {
      socket.removeAllListeners();
      socket.on('error', noop);
      socket.destroy();
    }
  }
}

function isSocket(upstream: Socket | NativeTcpHandle): upstream is Socket {
  return typeof (upstream as Socket).write === 'function';
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
