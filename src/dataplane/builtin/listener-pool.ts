// Listening sockets, reference-counted and keyed by address (Caddy's usage pool). A generation
// holds a reference, never the socket itself: while any generation wants an address, its socket
// stays open and is never re-bound (invariant 1).
import { createServer, type Server, type Socket } from 'node:net';
import { readlinkSync } from 'node:fs';
import type { HostPort } from '../../config/address.js';

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

/**
 * Makes `server` (created by the pool, so its accept options are the pool's) listen on `address`.
 * The default binds; a worker process injects one that listens on a handle its supervisor bound.
 */
export type Binder = (server: Server, address: HostPort) => Promise<void>;

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

  constructor(
    private readonly onConnection: ConnectionHandler,
    private readonly bind: Binder = listen,
  ) {}

  get(key: string): PooledListener | undefined {
    return this.listeners.get(key);
  }

  /** Takes a reference on `address`, binding a new socket only when none is open for it. */
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
      await this.bind(server, address);
    } catch (err) {
      this.listeners.delete(address.key);
      listener.state = 'closed';
      throw err;
    }
    // A later error on a bound listener (e.g. EMFILE on accept) must not crash the process.
    server.on('error', () => {});
    return listener;
  }

  /** Marks a freshly bound listener as serving (after the apply that bound it committed). */
  activate(listener: PooledListener): void {
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
