// The data plane's listening sockets: the reference-counted pool (socket-pool/ref-counted-pool.ts)
// around net.Servers that accept here. The running state holds a reference, never the socket itself:
// while it, or an apply in flight, wants an address, its socket stays open and is never re-bound (invariant 1).
// A new socket is bound by acquire() but listens only from activate(), once the apply that bound
// it commits: until then the kernel queues no connection on it, so an apply that aborts (or a
// validation) never accepts a client and resets it.
import { createServer, type Server, type Socket } from 'node:net';
import type { HostPort } from '../../config/address.js';
import { bindTcpHandle, handleFd, listenOnNativeHandle, serverFd } from '../../util/node-internals.js';
import { BindError, bindErrorOf } from '../socket-pool/bind-error.js';
import type { OpenConnection } from '../open-connection.js';
import { RefCountedPool, type PoolEntry, type SocketState } from '../socket-pool/ref-counted-pool.js';

// The pool's bind error, for the driver and the worker binder that use this pool.
export { BindError };

export type ListenerState = SocketState;

/** A listening address: its server, references, state and the connections accepted on it. */
export type PooledListener = PoolEntry<{ readonly server: Server }>;

export type ConnectionHandler = (socket: Socket, listener: PooledListener) => void;

/** A socket bound for a warming listener: listen() makes the pool's server accept on it, close() gives it up. */
export interface BoundSocket {
  /** Synchronous, so the apply's swap that calls it cannot fail half-way. */
  listen(): void;
  close(): void;
  /** Its descriptor, so a warming socket shows the identity it keeps once it listens. */
  fd(): number | null;
}

/**
 * Binds `address` for `server` (created by the pool, so its accept options are the pool's),
 * without listening yet. The default binds here; a worker process injects one that takes the
 * handle its supervisor bound. Throws BindError when the address cannot be had.
 */
export type Binder = (server: Server, address: HostPort) => Promise<BoundSocket> | BoundSocket;

export class ListenerPool {
  /** Warming listeners: bound, not listening until activate(). */
  private readonly unlistened = new Map<PooledListener, BoundSocket>();
  private readonly pool = new RefCountedPool<{ readonly server: Server }>({
    close: (listener) => {
      const bound = this.unlistened.get(listener);
      if (!bound) return void listener.server.close();
      // Never listened (an aborted apply, a validation): no connection was ever accepted on it.
      this.unlistened.delete(listener);
      bound.close();
    },
    fd: (listener) => this.unlistened.get(listener)?.fd() ?? serverFd(listener.server),
  });

  constructor(
    private readonly onConnection: ConnectionHandler,
    private readonly bind: Binder = bindHere,
  ) {}

  get(key: string): PooledListener | undefined {
    return this.pool.get(key);
  }

  /**
   * A connection accepted on `key` by another process and moved here (a tunnel at a code upgrade):
   * counted as this address's, so a shutdown waits for it like for those accepted here. False
   * when the address is not open here.
   */
  adopt(key: string, connection: OpenConnection): boolean {
    const listener = this.pool.get(key);
    if (!listener) return false;
    this.pool.track(listener, connection);
    return true;
  }

  /** Takes a reference on `address`, binding a new socket (not yet listening) only when none is open for it. */
  async acquire(address: HostPort): Promise<PooledListener> {
    const { entry: listener, created } = this.pool.acquire(address, () => ({ server: createServer({ pauseOnConnect: true, allowHalfOpen: true }) }));
    if (!created) return listener;
    listener.server.on('connection', (socket: Socket) => {
      this.pool.track(listener, socket);
      this.onConnection(socket, listener);
    });
    try {
      this.unlistened.set(listener, await this.bind(listener.server, address));
    } catch (err) {
      this.pool.abandon(listener);
      throw err;
    }
    // A later error on a bound listener (e.g. EMFILE on accept) must not crash the process.
    listener.server.on('error', () => {});
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
    this.pool.activate(listener);
  }

  /**
   * Drops a reference. The last one closes the socket (no new connections) and leaves its open
   * connections to finish; after `drainMs` the ones still open are closed.
   */
  release(listener: PooledListener, drainMs: number): void {
    this.pool.release(listener, drainMs);
  }

  /** Every listener, active and draining, for status. */
  all(): PooledListener[] {
    return this.pool.all();
  }

  /** Stops accepting everywhere (shutdown); connections keep running until closed by the caller. */
  closeAll(): void {
    this.pool.closeAll();
  }

  openConnections(): number {
    return this.pool.openConnections();
  }

  /** "socket:[inode]" of a listener's socket while it holds one: proof of identity across applies. */
  identity(listener: PooledListener): string | null {
    return this.pool.identity(listener);
  }
}

/**
 * Connections the kernel queues before hitless accepts them (capped by net.core.somaxconn, 4096
 * on current kernels), as HAProxy and nginx ask. Node's 511 overflows when thousands of clients
 * reconnect at once, and a dropped SYN costs its client a 1 s retransmit.
 */
export const LISTEN_BACKLOG = 4096;

/** The default binder: binds here, listens at activate(). */
function bindHere(server: Server, address: HostPort): BoundSocket {
  const handle = bindTcpHandle(address.host, address.port);
  if (typeof handle === 'number') throw bindErrorOf(address.key, handle);
  return {
    listen: () => listenOnNativeHandle(server, handle, LISTEN_BACKLOG, () => {}),
    close: () => handle.close(),
    fd: () => handleFd(handle),
  };
}
