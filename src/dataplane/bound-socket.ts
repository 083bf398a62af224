// A TCP socket bound to an address but not listening. The kernel queues no connection for such a
// socket, so a prepared apply (or a validation, which aborts) can hold a new port without a client
// being accepted on it and then reset. Node has no public API for it: this is the call its cluster
// primary makes (net._createServerHandle), kept here in one place. (process/socket-pool.ts makes
// the same call for the supervisor's sockets.)
import * as net from 'node:net';
import { getSystemErrorName } from 'node:util';

/** A libuv TCP handle; server.listen(handle, backlog) starts accepting on it. */
export interface BoundHandle {
  close(callback?: () => void): void;
  getsockname?(out: Record<string, unknown>): number;
  readonly fd?: number;
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number, flags?: number) => BoundHandle | number;
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

/** Binds `host` (an IP literal) and `port` without listening: the handle, or the errno name ("EADDRINUSE") why not. */
export function bindWithoutListening(host: string, port: number): { readonly handle: BoundHandle } | { readonly errno: string } {
  const result = createServerHandle(host, port, net.isIPv6(host) ? 6 : 4, undefined, 0);
  if (typeof result === 'number') return { errno: getSystemErrorName(result) };
  // libuv defers EADDRINUSE from bind() to listen(); getsockname() reports it now, so a port
  // another process listens on is refused here, before anything changes.
  const rc = result.getsockname?.({}) ?? 0;
  if (rc !== 0) {
    result.close();
    return { errno: getSystemErrorName(rc) };
  }
  return { handle: result };
}
