// The supervisor's listening sockets, reference-counted and keyed by address like the workers'
// ListenerPool. The supervisor binds but never accepts: it creates the bound handle the way
// Node's cluster primary does (net._createServerHandle, no listen()), and each worker calls
// listen() on its copy. So the socket stays open, and keeps queueing connections, for as long as
// the supervisor lives, whatever happens to the workers (no refused connection on a crash).
import * as net from 'node:net';
import { readlinkSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import type { HostPort } from '../config/address.js';
import { BindError, bindMessage } from '../dataplane/builtin/listener-pool.js';
import type { TcpHandle } from './messages.js';

interface Entry {
  readonly address: HostPort;
  readonly handle: TcpHandle & { fd?: number };
  refs: number;
  readonly since: number;
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number, flags?: number) => TcpHandle | number;
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

export class SupervisorSockets {
  private readonly entries = new Map<string, Entry>();

  /** Takes a reference on every address, binding the new ones; all or nothing (BindError). */
  acquireAll(addresses: readonly HostPort[]): void {
    const taken: string[] = [];
    try {
      for (const address of addresses) {
        this.acquire(address);
        taken.push(address.key);
      }
    } catch (err) {
      for (const key of taken) this.release(key);
      throw err;
    }
  }

  private acquire(address: HostPort): void {
    const existing = this.entries.get(address.key);
    if (existing) {
      existing.refs++;
      return;
    }
    const result = createServerHandle(address.host, address.port, net.isIPv6(address.host) ? 6 : 4, undefined, 0);
    if (typeof result === 'number') throw bindError(address.key, result);
    // libuv defers EADDRINUSE from bind() to listen(); getsockname() reports it now, so a bind
    // failure still rejects the config before any worker is asked to change.
    const rc = result.getsockname?.({}) ?? 0;
    if (rc !== 0) {
      result.close();
      throw bindError(address.key, rc);
    }
    this.entries.set(address.key, { address, handle: result, refs: 1, since: Date.now() });
  }

  /**
   * Adopts a listening socket inherited as file descriptor `fd` (supervisor upgrade), with no
   * reference yet: the first apply takes it instead of binding; dropUnused() closes the rest.
   */
  adopt(key: string, fd: number): void {
    const result = createServerHandle(null, 0, -1, fd, 0);
    if (typeof result === 'number') throw bindError(key, result);
    const address = { host: key.slice(0, key.lastIndexOf(':')).replace(/^\[|\]$/g, ''), port: Number(key.slice(key.lastIndexOf(':') + 1)), key };
    this.entries.set(key, { address, handle: result, refs: 0, since: Date.now() });
  }

  dropUnused(): void {
    for (const [key, entry] of this.entries) {
      if (entry.refs > 0) continue;
      this.entries.delete(key);
      entry.handle.close();
    }
  }

  /** Drops a reference; the last one closes the supervisor's copy (workers close theirs). */
  release(key: string): void {
    const entry = this.entries.get(key);
    if (!entry || --entry.refs > 0) return;
    this.entries.delete(key);
    entry.handle.close();
  }

  handle(key: string): TcpHandle | undefined {
    return this.entries.get(key)?.handle;
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** Key and file descriptor of every socket, for passing them to a new supervisor as inherited fds. */
  descriptors(): Array<{ key: string; fd: number }> {
    return [...this.entries.values()].flatMap((e) => (typeof e.handle.fd === 'number' && e.handle.fd >= 0 ? [{ key: e.address.key, fd: e.handle.fd }] : []));
  }

  since(key: string): number | undefined {
    return this.entries.get(key)?.since;
  }

  /** "socket:[inode]": the same in the supervisor and every worker, and across upgrades. */
  identity(key: string): string | null {
    const fd = this.entries.get(key)?.handle.fd;
    if (typeof fd !== 'number' || fd < 0) return null;
    try {
      return readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return `fd:${fd}`;
    }
  }

  closeAll(): void {
    for (const entry of this.entries.values()) entry.handle.close();
    this.entries.clear();
  }
}

function bindError(key: string, errno: number): BindError {
  const code = getSystemErrorName(errno);
  return new BindError(key, code, bindMessage(key, { code, message: code }));
}
