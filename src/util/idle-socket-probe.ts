// Whether anything waits unread on an idle socket: bytes, or the peer's end. Asked of a pooled
// endpoint connection just before a request is written on it (upstream-connection.ts): bytes the
// endpoint sent while the connection was idle (a second or late response) that arrived after the
// loop's last poll are read by libuv only at the next poll, after the write, where they would pass
// for the request's answer (invariant 8). Node has no way to ask a socket this (no peek, no
// FIONREAD), so:
//
// - recv(2) with MSG_PEEK | MSG_DONTWAIT, called through koffi (a C FFI with prebuilt binaries):
//   one system call, nothing consumed, a plain return value. About 0.6 µs here.
// - where koffi cannot load (a platform without its binary), read(2) through fs.readSync on the
//   descriptor. It consumes the byte it finds (the connection is closed then anyway) and reports
//   "nothing waiting", the usual answer, by throwing EAGAIN: that exception made hitless's proxying
//   about 45% dearer in bench:http (hitless 15.3k against 28.8k requests per CPU-second, same run).
import { readSync } from 'node:fs';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { libc } from './libc.js';
import { socketFd } from './node-internals.js';

/** What waits on an idle socket: nothing, bytes, its end (or an error), or it cannot be told (no descriptor). */
export type IdleProbe = 'quiet' | 'bytes' | 'ended' | 'unknown';

const MSG_PEEK = 0x2;
const MSG_DONTWAIT = 0x40;
const { EAGAIN, EWOULDBLOCK } = constants.errno;
const ONE_BYTE = Buffer.allocUnsafe(1);

interface Recv {
  (fd: number, buf: Buffer, len: number, flags: number): number;
  /** The errno the call left (koffi keeps it). */
  errno(): number;
}

/** recv(2) from the C library, or why it could not be had (libc.ts). */
function loadRecv(): Recv | Error {
  const c = libc();
  if (c instanceof Error) return c;
  try {
    const call = c.func('long recv(int fd, void *buf, size_t len, int flags)') as (fd: number, buf: Buffer, len: number, flags: number) => number;
    return Object.assign(call, { errno: () => c.errno() });
  } catch (err) {
    return err as Error;
  }
}

let recv: Recv | Error | null = null;

/** How probes are made here: 'recv' (koffi), or 'read' (fs.readSync) with the reason recv is not available. */
export function idleProbeMechanism(): { readonly kind: 'recv' } | { readonly kind: 'read'; readonly why: string } {
  recv ??= loadRecv();
  return recv instanceof Error ? { kind: 'read', why: recv.message } : { kind: 'recv' };
}

/** Looks at a plain TCP socket without waiting. Not for TLS: the bytes there are records for OpenSSL. */
export function probeIdleSocket(socket: Socket): IdleProbe {
  const fd = socketFd(socket);
  if (fd === null) return 'unknown';
  recv ??= loadRecv();
  return recv instanceof Error ? probeByRead(fd) : probeByRecv(recv, fd);
}

function probeByRecv(peek: Recv, fd: number): IdleProbe {
  const n = peek(fd, ONE_BYTE, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return 'bytes';
  if (n === 0) return 'ended';
  const errno = peek.errno();
  return errno === EAGAIN || errno === EWOULDBLOCK ? 'quiet' : 'ended';
}

/** The fallback: consumes the byte it finds. */
export function probeByRead(fd: number): IdleProbe {
  try {
    return readSync(fd, ONE_BYTE, 0, 1, null) === 0 ? 'ended' : 'bytes';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EAGAIN' || code === 'EWOULDBLOCK' ? 'quiet' : 'ended';
  }
}
