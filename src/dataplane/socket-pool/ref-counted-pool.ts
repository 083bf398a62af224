// Listening sockets, reference-counted and keyed by address (Caddy's usage pool), each with a
// lifecycle (Envoy's listener states): warming (bound, its apply not committed yet) → active →
// draining (closed to new connections, accepted ones finishing) → closed. The running state, or an
// apply in flight, holds a reference, never the socket itself: while any reference is held the
// socket stays open, is never re-bound and keeps its identity (invariant 1); the last release
// closes it. Both the data plane's ListenerPool and the supervisor's SupervisorSockets are this
// pool around their own kind of socket (a listening net.Server; a bound, never-accepting handle).
import { readlinkSync } from 'node:fs';
import type { HostPort } from '../../config/address.js';
import type { OpenConnection } from '../open-connection.js';

export type SocketState = 'warming' | 'active' | 'draining' | 'closed';

/** What the pool keeps for every address, whatever the socket. */
export interface PoolEntryBase {
  readonly key: string;
  readonly address: HostPort;
  refs: number;
  state: SocketState;
  /** When the entry entered its state (Unix ms). */
  since: number;
  /** Connections accepted on this socket and still open: what a draining entry waits for. */
  readonly connections: Set<OpenConnection>;
}

/** An entry with the socket it holds (`R`: a server, a handle). */
export type PoolEntry<R> = PoolEntryBase & R;

/** How to let go of one kind of socket, and find its descriptor. */
export interface SocketKind<R> {
  /** Closes this process's copy: no connection is accepted through it any more. */
  close(entry: PoolEntry<R>): void;
  /** Its file descriptor in this process, or null when it has none (not bound yet, closed). */
  fd(entry: PoolEntry<R>): number | null;
}

export class RefCountedPool<R extends object> {
  private readonly open = new Map<string, PoolEntry<R>>();
  /** Entries closed to new connections whose accepted ones are still open. */
  private readonly draining = new Set<PoolEntry<R>>();

  constructor(private readonly kind: SocketKind<R>) {}

  get(key: string): PoolEntry<R> | undefined {
    return this.open.get(key);
  }

  /**
   * Takes a reference on `address`: on its open entry when there is one (`created` false), or on a
   * new warming entry around the socket `create` opens (which throws when it cannot: nothing is kept).
   */
  acquire(address: HostPort, create: (address: HostPort) => R): { entry: PoolEntry<R>; created: boolean } {
    const existing = this.open.get(address.key);
    if (existing) {
      existing.refs++;
      return { entry: existing, created: false };
    }
    return { entry: this.insert(address, create(address), 1), created: true };
  }

  /**
   * Holds a socket opened elsewhere (inherited from a previous supervisor) with no reference yet:
   * the next acquire of its address takes it instead of binding; dropUnused() closes it otherwise.
   */
  inherit(address: HostPort, socket: R): PoolEntry<R> {
    return this.insert(address, socket, 0);
  }

  /** Forgets a new entry whose socket failed to open after `create` (its bind failed): nothing to close. */
  abandon(entry: PoolEntry<R>): void {
    if (this.open.get(entry.key) === entry) this.open.delete(entry.key);
    this.enter(entry, 'closed');
  }

  /** A warming entry serves from now on (the apply that bound it committed). */
  activate(entry: PoolEntry<R>): void {
    if (entry.state === 'warming') this.enter(entry, 'active');
  }

  /**
   * Drops a reference. The last one closes the socket (no new connections) and lets the
   * connections accepted on it finish; after `drainMs` (none: no limit) those still open are closed.
   */
  release(entry: PoolEntry<R>, drainMs = 0): void {
    if (entry.refs <= 0 || --entry.refs > 0) return;
    this.close(entry, drainMs);
  }

  /** Closes every entry no reference holds (inherited sockets no apply took). */
  dropUnused(): void {
    for (const entry of [...this.open.values()]) if (entry.refs === 0) this.close(entry, 0);
  }

  /** Stops accepting everywhere (shutdown); accepted connections run on until they or the caller close them. */
  closeAll(): void {
    for (const entry of [...this.open.values()]) {
      entry.refs = 0;
      this.close(entry, Infinity);
    }
  }

  /** A connection accepted on `entry`: counted until it closes, and waited for when the entry drains. */
  track(entry: PoolEntry<R>, connection: OpenConnection): void {
    entry.connections.add(connection);
    (connection as Tagged)[ENTRY] = entry;
    connection.on('close', forgetConnection);
  }

  /** Entries holding a socket open (warming, active). */
  entries(): Array<PoolEntry<R>> {
    return [...this.open.values()];
  }

  /** Every entry, open and draining, for status. */
  all(): Array<PoolEntry<R>> {
    return [...this.open.values(), ...this.draining];
  }

  openConnections(): number {
    let n = 0;
    for (const entry of this.all()) n += entry.connections.size;
    return n;
  }

  /** "socket:[inode]" of the entry's socket, or null once it has none: proof of identity. */
  identity(entry: PoolEntry<R>): string | null {
    return socketIdentity(this.kind.fd(entry));
  }

  private insert(address: HostPort, socket: R, refs: number): PoolEntry<R> {
    const entry: PoolEntry<R> = { ...socket, key: address.key, address, refs, state: 'warming', since: Date.now(), connections: new Set<OpenConnection>() };
    // Registered before the caller's bind completes, so a concurrent acquire of the address shares it.
    this.open.set(address.key, entry);
    return entry;
  }

  private close(entry: PoolEntry<R>, drainMs: number): void {
    if (this.open.get(entry.key) === entry) this.open.delete(entry.key);
    this.kind.close(entry);
    if (entry.connections.size === 0) return this.enter(entry, 'closed');
    this.enter(entry, 'draining');
    this.draining.add(entry);
    const finish = (): void => {
      if (entry.state !== 'draining') return;
      if (timer) clearTimeout(timer);
      entry.state = 'closed';
      this.draining.delete(entry);
    };
    const timer = Number.isFinite(drainMs)
      ? setTimeout(() => {
          for (const connection of entry.connections) connection.destroy();
          finish();
        }, drainMs)
      : null;
    timer?.unref();
    const check = (): void => {
      if (entry.connections.size === 0) finish();
    };
    // After the connection's own 'close' listener (forgetConnection) has removed it.
    for (const connection of entry.connections) connection.once('close', () => setImmediate(check));
  }

  private enter(entry: PoolEntry<R>, state: SocketState): void {
    entry.state = state;
    entry.since = Date.now();
  }
}

/** "socket:[inode]" of descriptor `fd` in this process: the same inode is the same socket, in every process holding it. */
export function socketIdentity(fd: number | null): string | null {
  if (fd === null) return null;
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return `fd:${fd}`;
  }
}

/** Whose entry a connection was accepted on, so one shared 'close' function can forget it. */
const ENTRY = Symbol('hitless.poolEntry');
type Tagged = OpenConnection & { [ENTRY]?: PoolEntryBase };

/** One function for every connection (no closure per connection): 'close' is emitted once. */
function forgetConnection(this: Tagged): void {
  this[ENTRY]?.connections.delete(this);
}
