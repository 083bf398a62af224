// Listening sockets, reference-counted and keyed by address (Caddy's usage pool). A generation
// holds a reference, never the socket itself: while any generation wants an address, its socket
// stays open and is never re-bound (invariant 1). A new socket is bound by acquire() but listens
// only from activate(), once the apply that bound it commits: until then the kernel queues no
// connection on it, so an apply that aborts (or a validation) never accepts a client and resets it.
import { createServer, type Server, type Socket } from 'node:net';
import { readlinkSync } from 'node:fs';
import type { HostPort } from '../../config/address.js';
import { bindWithoutListening } from '../bound-socket.js';

export type ListenerState = 'warming' | 'active' | 'draining' | 'closed';

export interface PooledListener {
  readonly key: string;
  readonly address: HostPort;
  readonly server: Server;
  refs: number;
  state: ListenerState;
  since: number;
  /** Connections accepted on this socket and still open: drained when the socket is released. */
  readonly connections: Set<Socket>;
}

export type ConnectionHandler = (socket: Socket, listener: PooledListener) => void;

/** A socket bound for a warming listener: listen() makes the pool's server accept on it, close() gives it up. */
export interface BoundSocket {
  /** Synchronous, so the apply's swap that calls it cannot fail half-way. */
  listen(): void;
  close(): void;
}

/**
 * Binds `address` for `server` (created by the pool, so its accept options are the pool's),
 * without listening yet. The default binds here; a worker process injects one that takes the
 * handle its supervisor bound. Throws BindError when the address cannot be had.
 */
export type Binder = (server: Server, address: HostPort) => Promise<BoundSocket> | BoundSocket;

export class BindError extends Error {
  constructor(
    readonly address: string,
    readonly errno: string,
    message: string,
  ) {
    super(message);
    this.name = 'BindError';
  }
}

export class ListenerPool {
  private readonly listeners = new Map<string, PooledListener>();
  /** Released listeners whose connections are still draining. */
  private readonly draining = new Set<PooledListener>();
  /** Warming listeners: bound, not listening until activate(). */
  private readonly unlistened = new Map<PooledListener, BoundSocket>();

  constructor(
    private readonly onConnection: ConnectionHandler,
    private readonly bind: Binder = bindHere,
  ) {}

  get(key: string): PooledListener | undefined {
    return this.listeners.get(key);
  }

  /** Takes a reference on `address`, binding a new socket (not yet listening) only when none is open for it. */
  async acquire(address: HostPort): Promise<PooledListener> {
    const existing = this.listeners.get(address.key);
    if (existing) {
      existing.refs++;
      return existing;
    }
    const server = createServer({ pauseOnConnect: true, allowHalfOpen: true });
    const listener: PooledListener = {
      key: address.key,
      address,
      server,
      refs: 1,
      state: 'warming',
      since: Date.now(),
      connections: new Set(),
    };
    // Registered before the bind completes so that a concurrent acquire of the same address shares it.
    this.listeners.set(address.key, listener);
    server.on('connection', (socket: Socket) => {
      listener.connections.add(socket);
      (socket as Tagged)[LISTENER] = listener;
      socket.on('close', forgetConnection);
      this.onConnection(socket, listener);
    });
    try {
      this.unlistened.set(listener, await this.bind(server, address));
    } catch (err) {
      this.listeners.delete(address.key);
      listener.state = 'closed';
      throw err;
    }
    // A later error on a bound listener (e.g. EMFILE on accept) must not crash the process.
    server.on('error', () => {});
    return listener;
  }

  /** Makes a freshly bound listener listen and serve (after the apply that bound it committed). */
  activate(listener: PooledListener): void {
    const bound = this.unlistened.get(listener);
    if (bound) {
      this.unlistened.delete(listener);
      // A listen() error here is emitted on the server, past the swap: possible only if another
      // socket started listening on the port since the bind (both bound with SO_REUSEADDR).
      bound.listen();
    }
    if (listener.state === 'warming') {
      listener.state = 'active';
      listener.since = Date.now();
    }
  }

  /**
   * Drops a reference. The last one closes the socket (no new connections) and leaves its open
   * connections to finish; after `drainMs` the ones still open are closed.
   */
  release(listener: PooledListener, drainMs: number): void {
    if (--listener.refs > 0) return;
    this.listeners.delete(listener.key);
    const bound = this.unlistened.get(listener);
    if (bound) {
      // Never listened (an aborted apply): no connection was ever accepted on it.
      this.unlistened.delete(listener);
      bound.close();
      listener.state = 'closed';
      return;
    }
    listener.server.close();
    if (listener.connections.size === 0) {
      listener.state = 'closed';
      return;
    }
    listener.state = 'draining';
    listener.since = Date.now();
    this.draining.add(listener);
    const finish = () => {
      clearTimeout(timer);
      listener.state = 'closed';
      this.draining.delete(listener);
    };
    const timer = setTimeout(() => {
      for (const socket of listener.connections) socket.destroy();
      finish();
    }, drainMs);
    timer.unref();
    const check = () => {
      if (listener.connections.size === 0) finish();
    };
    for (const socket of listener.connections) socket.once('close', () => setImmediate(check));
  }

  /** Every listener, active and draining, for status. */
  all(): PooledListener[] {
    return [...this.listeners.values(), ...this.draining];
  }

  /** Stops accepting everywhere (shutdown); connections keep running until closed by the caller. */
  closeAll(): void {
    for (const bound of this.unlistened.values()) bound.close();
    this.unlistened.clear();
    for (const listener of this.listeners.values()) {
      listener.server.close();
      listener.state = 'draining';
      this.draining.add(listener);
    }
    this.listeners.clear();
  }

  openConnections(): number {
    let n = 0;
    for (const l of this.all()) n += l.connections.size;
    return n;
  }
}

/**
 * Connections the kernel queues before hitless accepts them (capped by net.core.somaxconn, 4096
 * on current kernels), as HAProxy and nginx ask. Node's 511 overflows when thousands of clients
 * reconnect at once, and a dropped SYN costs its client a 1 s retransmit.
 */
export const LISTEN_BACKLOG = 4096;

/** Whose listener a socket came through, so one shared 'close' function can forget it. */
const LISTENER = Symbol('hitless.listener');
type Tagged = Socket & { [LISTENER]?: PooledListener };

/** One function for every socket (no closure per connection): 'close' is emitted once. */
function forgetConnection(this: Tagged): void {
  this[LISTENER]?.connections.delete(this);
}

/** The default binder: binds here, listens at activate(). */
function bindHere(server: Server, address: HostPort): BoundSocket {
  const bound = bindWithoutListening(address.host, address.port);
  if ('errno' in bound) throw new BindError(address.key, bound.errno, bindMessage(address.key, { code: bound.errno, message: bound.errno }));
  const { handle } = bound;
  return {
    // The backlog is an argument: for a handle, listen() ignores one in an options object.
    listen: () => void server.listen(handle, LISTEN_BACKLOG),
    close: () => handle.close(),
  };
}

/** Why `key` could not be bound, with what to do about it (also the supervisor's, for its sockets). */
export function bindMessage(key: string, err: { readonly code?: string; readonly message: string }): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return `cannot listen on ${key}: address already in use (another process, or another listener of this config, holds it); choose a free port or stop what holds it (try: ss -ltnp 'sport = :${key.split(':').pop()}')`;
    case 'EACCES':
      return `cannot listen on ${key}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${key}: no local interface has that address`;
    default:
      return `cannot listen on ${key}: ${err.message}`;
  }
}

/** "socket:[inode]" of a listening socket: proof of identity across applies (same inode, same socket). */
export function socketIdentity(server: Server): string | null {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return null;
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return `fd:${fd}`;
  }
}
