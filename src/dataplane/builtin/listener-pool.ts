// The data plane's listening sockets: the reference-counted pool (socket-pool/ref-counted-pool.ts)
// around net.Servers that accept here. A generation holds a reference, never the socket itself:
// while any generation wants an address, its socket stays open and is never re-bound (invariant 1).
import { createServer, type Server, type Socket } from 'node:net';
import type { HostPort } from '../../config/address.js';
import { serverFd } from '../../util/node-internals.js';
import { BindError, bindMessage } from '../socket-pool/bind-error.js';
import { RefCountedPool, type PoolEntry, type SocketState } from '../socket-pool/ref-counted-pool.js';

// The pool's bind error, for the driver and the worker binder that use this pool.
export { BindError };

export type ListenerState = SocketState;

/** A listening address: its server, references, state and the connections accepted on it. */
export type PooledListener = PoolEntry<{ readonly server: Server }>;

export type ConnectionHandler = (socket: Socket, listener: PooledListener) => void;

/**
 * Makes `server` (created by the pool, so its accept options are the pool's) listen on `address`.
 * The default binds; a worker process injects one that listens on a handle its supervisor bound.
 */
export type Binder = (server: Server, address: HostPort) => Promise<void>;

export class ListenerPool {
  private readonly pool = new RefCountedPool<{ readonly server: Server }>({
    close: (listener) => listener.server.close(),
    fd: (listener) => serverFd(listener.server),
  });

  constructor(
    private readonly onConnection: ConnectionHandler,
    private readonly bind: Binder = listen,
  ) {}

  get(key: string): PooledListener | undefined {
    return this.pool.get(key);
  }

  /** Takes a reference on `address`, binding a new socket only when none is open for it. */
  async acquire(address: HostPort): Promise<PooledListener> {
    const { entry: listener, created } = this.pool.acquire(address, () => ({ server: createServer({ pauseOnConnect: true, allowHalfOpen: true }) }));
    if (!created) return listener;
    listener.server.on('connection', (socket: Socket) => {
      this.pool.track(listener, socket);
      this.onConnection(socket, listener);
    });
    try {
      await this.bind(listener.server, address);
    } catch (err) {
      this.pool.abandon(listener);
      throw err;
    }
    // A later error on a bound listener (e.g. EMFILE on accept) must not crash the process.
    listener.server.on('error', () => {});
    return listener;
  }

  /** Marks a freshly bound listener as serving (after the apply that bound it committed). */
  activate(listener: PooledListener): void {
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

function listen(server: Server, address: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(new BindError(address.key, err.code ?? 'UNKNOWN', bindMessage(address.key, err)));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: address.host, port: address.port, backlog: LISTEN_BACKLOG, exclusive: true });
  });
}
