// A tunnel: a client connection and its endpoint connection joined, bytes passed both ways with
// backpressure, each FIN passed on (half-close), a reset passed on as a reset. A tcp-mode
// connection (tcp-proxy.ts) and an upgraded HTTP connection after its 101 (http/upgrade-proxy.ts)
// are both one. A tunnel can be *frozen*: libuv stops reading both sockets, what Node had read
// is written on, and once nothing is left in user space both sockets can go to another process
// (process/tunnel-move.ts), which joins them again as a tunnel (tunnel-join.ts). The peers notice
// nothing: the bytes not yet read stay in the kernel and travel with the sockets.
// A joined tunnel starts *asleep*: its two bare handles are read by libuv for their first event,
// and its two net.Sockets (most of what taking a moved tunnel costs: bench:join-cost) are built
// only when a peer sends something (bytes, a FIN, a reset) or the tunnel is ended from outside (a
// drain's deadline). Its idle timeout, a destroy (a removed listener or service) and another move
// need no socket. Many long-lived connections carry nothing for minutes; one that moves on before
// it wakes costs no socket here at all. Asleep, it has no client socket that the tables of open
// connections could hold: a joined tunnel is itself what they hold (an OpenConnection, with its
// own 'close').
import { EventEmitter } from 'node:events';
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

/** A tunnel's two sockets (one accepted here, or both built around moved handles). */
export interface TunnelSockets {
  readonly client: Socket;
  readonly upstream: Socket;
}

/** A moved tunnel's two handles, as they came from the other process. */
export interface TunnelHandles {
  readonly clientHandle: NativeTcpHandle;
  readonly endpointHandle: NativeTcpHandle;
}

/** Bytes this process read from and wrote to one side. */
export interface SideBytes {
  readonly read: number;
  readonly written: number;
}

const NO_BYTES: SideBytes = { read: 0, written: 0 };

/** Every tunnel accepted in this process by its client socket: what a drain looks up. (A joined tunnel is its own key.) */
const tunnels = new WeakMap<Socket, Tunnel>();

export function tunnelOf(client: Socket): Tunnel | undefined {
  return tunnels.get(client);
}

const noop = (): void => {};

const encrypted = (socket: Socket): boolean => (socket as { encrypted?: boolean }).encrypted === true;

/** One side of a sleeping tunnel: its bare handle, and whether libuv reads it for its first event. */
interface BareSide {
  readonly handle: NativeTcpHandle;
  reading: boolean;
}

/** A joined tunnel before its sockets are built. */
interface Asleep {
  readonly client: BareSide;
  readonly endpoint: BareSide;
  /** The idle timeout (a sleeping tunnel has no socket to time it); null while frozen, or with none. */
  idle: NodeJS.Timeout | null;
}

export class Tunnel extends EventEmitter {
  state: TunnelState = 'open';
  private clientFin: boolean;
  private endpointFin: boolean;
  /** FINs hitless had passed on before the move: a socket built here starts with that side shut. */
  private readonly clientShutBefore: boolean;
  private readonly endpointShutBefore: boolean;
  private awake: TunnelSockets | null = null;
  private asleep: Asleep | null = null;
  private readonly idleMs: number;

  /**
   * `sides`: the two sockets (a tunnel made here), or the two handles of a tunnel moved here,
   * which starts asleep. `upstreamOnread`: the endpoint socket delivers its bytes through
   * `fromEndpoint` (net.connect's onread into a shared buffer, tcp-proxy's fast path) instead of
   * 'data' events. `release`: the counters the creator keeps for this tunnel, let go of when it
   * moves away (its close handlers never run: the sockets are detached first).
   */
  constructor(
    sides: TunnelSockets | TunnelHandles,
    readonly record: TunnelRecord,
    idleMs: number,
    private readonly upstreamOnread: boolean,
    readonly release: () => void,
    ends: Partial<TunnelEnds> = {},
  ) {
    super();
    this.clientFin = ends.clientFin === true;
    this.endpointFin = ends.endpointFin === true;
    this.clientShutBefore = ends.clientShut === true;
    this.endpointShutBefore = ends.endpointShut === true;
    this.idleMs = idleMs;
    if ('client' in sides) {
      // A TLS socket (terminated by hitless, or to an endpoint with upstream_tls) holds its
      // session state in this process: such a tunnel drains instead of moving.
      if (!encrypted(sides.client) && !encrypted(sides.upstream)) tunnels.set(sides.client, this);
      this.attach(sides.client, sides.upstream);
      return;
    }
    this.asleep = { client: { handle: sides.clientHandle, reading: false }, endpoint: { handle: sides.endpointHandle, reading: false }, idle: null };
    this.listenWhileAsleep();
  }

  /** Joins the two sockets: bytes, FINs, resets and backpressure, both ways. */
  private attach(client: Socket, upstream: Socket): void {
    this.awake = { client, upstream };
    const idle = this.onIdle;
    client.setTimeout(this.idleMs);
    client.on('timeout', idle);
    upstream.setTimeout(this.idleMs);
    upstream.on('timeout', idle);
    // A reset on one side is passed on as a reset, so the peer sees what really happened.
    // (A TLS socket to an endpoint cannot be reset itself: it is closed; a TLS client's TCP socket is reset.)
    client.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' && !upstream.destroyed && !encrypted(upstream)) upstream.resetAndDestroy();
      else upstream.destroy();
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' && !client.destroyed) resetAndDestroy(client);
      else client.destroy();
    });
    client.once('close', () => {
      closeAfterFlush(upstream);
      this.emit('close');
    });
    upstream.once('close', () => closeAfterFlush(client));
    // Client → endpoint: a full endpoint pauses the client; and the other way.
    client.on('data', (chunk: Buffer) => {
      if (!upstream.write(chunk)) client.pause();
    });
    if (!this.upstreamOnread) {
      upstream.on('data', (chunk: Buffer) => {
        if (!client.write(chunk)) upstream.pause();
      });
    }
    client.on('drain', () => {
      if (this.state === 'open' || this.state === 'stays') upstream.resume();
    });
    upstream.on('drain', () => {
      if (this.state === 'open' || this.state === 'stays') client.resume();
    });
    client.once('end', () => {
      this.clientFin = true;
      upstream.end();
    });
    upstream.once('end', () => {
      this.endpointFin = true;
      client.end();
    });
    if (this.state === 'frozen') return;
    if (!this.clientFin) client.resume();
    if (!this.endpointFin && !this.upstreamOnread) upstream.resume();
  }

  /** Asleep and open: libuv reads each side not finished, and the first read wakes the tunnel. */
  private listenWhileAsleep(): void {
    const asleep = this.asleep!;
    if (!this.clientFin) this.readFirst(asleep.client, 'client');
    if (!this.endpointFin) this.readFirst(asleep.endpoint, 'endpoint');
    if (asleep.idle === null && this.idleMs > 0) asleep.idle = setTimeout(this.onIdle, this.idleMs).unref();
  }

  private readFirst(side: BareSide, which: 'client' | 'endpoint'): void {
    if (side.reading) return;
    side.reading = readBareHandleOnce(side.handle, (read) => {
      side.reading = false;
      this.wake({ side: which, read });
    });
  }

  /**
   * Builds both sockets around the sleeping handles, joins them, and hands the side that woke it
   * (`first`; none when woken from outside) what its first read brought (bytes, the end, an error)
   * as if its socket had read it.
   */
  private wake(first: { readonly side: 'client' | 'endpoint'; readonly read: FirstRead } | null): TunnelSockets {
    const asleep = this.asleep!;
    this.asleep = null;
    quieten(asleep);
    const client = socketFromHandle(asleep.client.handle, { readable: !this.clientFin, writable: !this.clientShutBefore });
    const upstream = socketFromHandle(asleep.endpoint.handle, { readable: !this.endpointFin, writable: !this.endpointShutBefore });
    this.attach(client, upstream);
    if (first === null) return { client, upstream };
    const socket = first.side === 'client' ? client : upstream;
    const { read } = first;
    if (read.kind === 'data') socket.push(read.chunk);
    else if (read.kind === 'end') socket.push(null);
    else socket.destroy(Object.assign(new Error(`read ${getSystemErrorName(read.errno)}`), { code: getSystemErrorName(read.errno), errno: read.errno, syscall: 'read' }));
    return { client, upstream };
  }

  /** The two sockets, built now if the tunnel was asleep; null once it closed asleep or moved away. */
  private sockets(): TunnelSockets | null {
    if (this.awake !== null) return this.awake;
    return this.asleep !== null ? this.wake(null) : null;
  }

  /** Closes a sleeping tunnel's handles (idle, or destroyed from outside): the connection ends here. */
  private closeAsleep(): void {
    const asleep = this.asleep!;
    this.asleep = null;
    quieten(asleep);
    asleep.client.handle.close();
    asleep.endpoint.handle.close();
    // As a socket's: never during the call that closed it.
    process.nextTick(() => this.emit('close'));
  }

  /** The client side has closed here (asleep: its handle was closed), or the tunnel moved away. */
  get destroyed(): boolean {
    return this.awake !== null ? this.awake.client.destroyed : this.asleep === null;
  }

  /** The endpoint side has closed (asleep: its handle was closed here). */
  get endpointClosed(): boolean {
    return this.awake !== null ? this.awake.upstream.destroyed : this.asleep === null;
  }

  /** Ends the connection gracefully (a drain's deadline): a FIN to the client, which is passed on. */
  end(): void {
    this.sockets()?.client.end();
  }

  /** Closes both sides at once (the idle timeout, a removed listener or service). */
  destroy(): void {
    if (this.asleep !== null) return this.closeAsleep();
    this.awake?.client.destroy();
    this.awake?.upstream.destroy();
  }

  private readonly onIdle = (): void => this.destroy();

  /** Endpoint bytes read into net.connect's shared buffer; false pauses the endpoint until the client drains. */
  fromEndpoint(nread: number, shared: Uint8Array): boolean {
    const chunk = Buffer.allocUnsafe(nread);
    chunk.set(shared.subarray(0, nread));
    return this.awake!.client.write(chunk);
  }

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
    if (this.asleep !== null) {
      // Nothing was read here: it stays asleep, and moves as it is.
      quieten(this.asleep);
      return;
    }
    if (this.awake === null) return;
    const { client, upstream } = this.awake;
    freezeSocket(client);
    client.pause();
    freezeSocket(upstream);
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
    if (this.asleep !== null) return true;
    return this.awake !== null && quietSocket(this.awake.client) && quietSocket(this.awake.upstream);
  }

  /** A frozen tunnel that cannot move (a peer that does not read) carries on here, and drains. */
  thaw(): void {
    if (this.state !== 'frozen') return;
    this.state = 'stays';
    if (this.asleep !== null) return this.listenWhileAsleep();
    if (this.awake === null) return;
    const { client, upstream } = this.awake;
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
    const { clientFin, endpointFin } = this;
    if (this.awake === null) return { clientFin, endpointFin, clientShut: this.clientShutBefore, endpointShut: this.endpointShutBefore };
    return { clientFin, endpointFin, clientShut: this.awake.client.writableEnded, endpointShut: this.awake.upstream.writableEnded };
  }

  /** The two handles to send (the tunnel must be frozen and quiet). */
  handles(): { client: NativeTcpHandle; upstream: NativeTcpHandle } | null {
    if (this.asleep !== null) return { client: this.asleep.client.handle, upstream: this.asleep.endpoint.handle };
    if (this.awake === null) return null;
    const client = freezeSocket(this.awake.client);
    const upstream = freezeSocket(this.awake.upstream);
    return client && upstream ? { client, upstream } : null;
  }

  /** Bytes this process read from and wrote to the client (none while asleep). */
  clientBytes(): SideBytes {
    const client = this.awake?.client;
    return client === undefined ? NO_BYTES : { read: client.bytesRead, written: client.bytesWritten };
  }

  /** Bytes this process read from and wrote to the endpoint (none while asleep). */
  endpointBytes(): SideBytes {
    const upstream = this.awake?.upstream;
    return upstream === undefined ? NO_BYTES : { read: upstream.bytesRead, written: upstream.bytesWritten };
  }

  /**
   * The sockets went to another process: this process lets go of them without any of its close
   * handlers running (no access line, no counter, no FIN: the other process owns the connection).
   */
  movedAway(): void {
    this.state = 'moved';
    this.release();
    const { asleep, awake } = this;
    this.asleep = null;
    this.awake = null;
    this.removeAllListeners();
    if (asleep !== null) {
      // (Not read, nor timed: freeze() stopped both.)
      asleep.client.handle.close();
      asleep.endpoint.handle.close();
    }
    if (awake === null) return;
    tunnels.delete(awake.client);
    for (const socket of [awake.client, awake.upstream]) {
      socket.removeAllListeners();
      socket.on('error', noop);
      socket.destroy();
    }
  }
}

/** No side of a sleeping tunnel is read any more, nor timed (it is frozen, woken or closed). */
function quieten(asleep: Asleep): void {
  for (const side of [asleep.client, asleep.endpoint]) {
    if (side.reading) stopBareHandleRead(side.handle);
    side.reading = false;
  }
  if (asleep.idle !== null) clearTimeout(asleep.idle);
  asleep.idle = null;
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
