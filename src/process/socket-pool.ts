// The supervisor's listening sockets: the reference-counted pool (dataplane/socket-pool/) around
// handles that are bound but never accepted on. The supervisor creates each one the way Node's
// cluster primary does (bindTcpHandle: no listen()), and each worker calls listen() on its copy.
// So the socket stays open, and keeps queueing connections, for as long as the supervisor lives,
// whatever happens to the workers (no refused connection on a crash). The workers accept, so the
// supervisor's entries carry no connections: the last release closes its copy at once.
import { parseListenAddress, type HostPort } from '../config/address.js';
import { bindErrorOf } from '../dataplane/socket-pool/bind-error.js';
import { RefCountedPool, type PoolEntry, type SocketState } from '../dataplane/socket-pool/ref-counted-pool.js';
import { bindTcpHandle, handleFd, tcpHandleFromFd, type NativeTcpHandle } from '../util/node-internals.js';

type Bound = PoolEntry<{ readonly handle: NativeTcpHandle }>;

export class SupervisorSockets {
  private readonly pool = new RefCountedPool<{ readonly handle: NativeTcpHandle }>({
    close: (entry) => entry.handle.close(),
    fd: (entry) => handleFd(entry.handle),
  });

  /** Takes a reference on every address, binding the new ones; all or nothing (BindError). */
  acquireAll(addresses: readonly HostPort[]): void {
    const taken: Bound[] = [];
    try {
      for (const address of addresses) taken.push(this.pool.acquire(address, bind).entry);
    } catch (err) {
      for (const entry of taken) this.pool.release(entry);
      throw err;
    }
  }

  /** The sockets of `addresses` serve from now on (the apply that bound them committed). */
  activate(addresses: readonly HostPort[]): void {
    for (const address of addresses) {
      const entry = this.pool.get(address.key);
      if (entry) this.pool.activate(entry);
    }
  }

  /**
   * Takes in a listening socket inherited as file descriptor `fd` (supervisor upgrade), with no
   * reference yet: the first apply takes it instead of binding; dropUnused() closes the rest.
   */
  inherit(key: string, fd: number): void {
    const parsed = parseListenAddress(key);
    if (!parsed.ok) throw new Error(`inherited socket ${key}: ${parsed.reason}`);
    const handle = tcpHandleFromFd(fd);
    if (typeof handle === 'number') throw bindErrorOf(key, handle);
    this.pool.inherit(parsed.value, { handle });
  }

  dropUnused(): void {
    this.pool.dropUnused();
  }

  /** Drops a reference; the last one closes the supervisor's copy (workers close theirs). */
  release(key: string): void {
    const entry = this.pool.get(key);
    if (entry) this.pool.release(entry);
  }

  handle(key: string): NativeTcpHandle | undefined {
    return this.pool.get(key)?.handle;
  }

  keys(): string[] {
    return this.pool.entries().map((e) => e.key);
  }

  /** Key and file descriptor of every socket, for passing them to a new supervisor as inherited fds. */
  descriptors(): Array<{ key: string; fd: number }> {
    return this.pool.entries().flatMap((e) => {
      const fd = handleFd(e.handle);
      return fd === null ? [] : [{ key: e.key, fd }];
    });
  }

  since(key: string): number | undefined {
    return this.pool.get(key)?.since;
  }

  state(key: string): SocketState | undefined {
    return this.pool.get(key)?.state;
  }

  /** "socket:[inode]": the same in the supervisor and every worker, and across upgrades. */
  identity(key: string): string | null {
    const entry = this.pool.get(key);
    return entry ? this.pool.identity(entry) : null;
  }

  closeAll(): void {
    this.pool.closeAll();
  }
}

function bind(address: HostPort): { readonly handle: NativeTcpHandle } {
  const handle = bindTcpHandle(address.host, address.port);
  if (typeof handle === 'number') throw bindErrorOf(address.key, handle);
  return { handle };
}
