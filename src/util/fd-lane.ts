// A lane for many descriptors at once: a socketpair whose messages each carry up to 64 descriptors
// (SCM_RIGHTS) and one byte, written and read with sendmsg(2)/recvmsg(2) called through koffi.
// Why by hand: libuv passes one descriptor per write (uv_write2), and Node accepts one received
// descriptor per read, so moving a tunnel over an IPC pipe costs two messages, two reads and two
// turns of the receiver's event loop; measured, a descriptor-carrying message cost the receiver
// 20-26 µs of CPU against 3-7 µs per descriptor received 64 at a time here. Node has no sendmsg,
// so there is no library to prefer: koffi makes the two calls (libc.ts, shared with
// idle-socket-probe.ts's recv). The lane is never read by libuv: the receiver is told over its
// ordinary channel how many descriptors a message brought, after they were sent
// (process/move-channel.ts).
//
// Linux on a 64-bit little-endian CPU only (struct msghdr and cmsghdr are laid out below for it);
// elsewhere, or where koffi cannot load, `fdLaneSupport()` says why and callers send descriptors
// one per message as before.
import { closeSync } from 'node:fs';
import { arch, endianness } from 'node:os';
import { libc, type Libc } from './libc.js';

/** The most descriptors one message carries: what libuv's own reader accepts, and a window of 32 tunnels. */
export const MAX_LANE_FDS = 64;

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const EINTR = 4;

// struct msghdr (56 bytes): name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48.
// struct cmsghdr (16 bytes): len 0, level 8, type 12, then the descriptors (int each).
const MSGHDR_SIZE = 56;
const CMSG_HEADER = 16;
const CONTROL_SIZE = CMSG_HEADER + 4 * MAX_LANE_FDS;
// Where each structure sits in the slab: the header, the one iovec, its one byte, the control data.
const IOV_AT = 64;
const BYTE_AT = 96;
const CONTROL_AT = 128;
const SLAB_SIZE = CONTROL_AT + CONTROL_SIZE;

interface Calls extends Pick<Libc, 'address' | 'errno'> {
  socketpair(domain: number, type: number, protocol: number, sv: Int32Array): number;
  sendmsg(fd: number, msg: Buffer, flags: number): number;
  recvmsg(fd: number, msg: Buffer, flags: number): number;
}

function load(): Calls | Error {
  if (!['x64', 'arm64'].includes(arch()) || endianness() !== 'LE') return new Error(`the lane's structures are laid out for 64-bit little-endian CPUs; this is ${arch()}`);
  const c = libc();
  if (c instanceof Error) return c;
  try {
    return {
      socketpair: c.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)') as Calls['socketpair'],
      sendmsg: c.func('long sendmsg(int fd, void *msg, int flags)') as Calls['sendmsg'],
      recvmsg: c.func('long recvmsg(int fd, void *msg, int flags)') as Calls['recvmsg'],
      address: c.address,
      errno: c.errno,
    };
  } catch (err) {
    return err as Error;
  }
}

let calls: Calls | Error | null = null;

function loaded(): Calls | Error {
  return (calls ??= load());
}

/** Whether lanes can be made here; if not, why (descriptors then go one per message). */
export function fdLaneSupport(): { readonly ok: true } | { readonly ok: false; readonly why: string } {
  const c = loaded();
  return c instanceof Error ? { ok: false, why: c.message } : { ok: true };
}

/**
 * One end of a lane, with its message buffers. Not thread-safe, not reentrant: one call at a time,
 * which a Node process is.
 */
export class FdLane {
  // One slab for the structures the kernel reads through pointers. Larger than 64 bytes, so V8
  // keeps it outside its heap, where it never moves.
  private readonly slab = Buffer.alloc(SLAB_SIZE);
  private readonly header = this.slab.subarray(0, MSGHDR_SIZE);
  private readonly control = this.slab.subarray(CONTROL_AT, CONTROL_AT + CONTROL_SIZE);
  private open = true;

  private constructor(
    private readonly c: Calls,
    /** This end's descriptor. */
    readonly fd: number,
    private readonly closeFd: () => void,
  ) {
    const base = c.address(this.slab);
    this.slab[BYTE_AT] = 0x4c;
    this.slab.writeBigUInt64LE(base + BigInt(BYTE_AT), IOV_AT);
    this.slab.writeBigUInt64LE(1n, IOV_AT + 8);
    this.header.writeBigUInt64LE(base + BigInt(IOV_AT), 16);
    this.header.writeBigUInt64LE(1n, 24);
    this.header.writeBigUInt64LE(base + BigInt(CONTROL_AT), 32);
  }

  /** A new lane: this end, and the descriptor of the other (to send to the other process, then close here). */
  static create(): { readonly lane: FdLane; readonly peerFd: number } | Error {
    const c = loaded();
    if (c instanceof Error) return c;
    const sv = new Int32Array(2);
    if (c.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) !== 0) return new Error(`socketpair: errno ${c.errno()}`);
    const fd = sv[0]!;
    return { lane: new FdLane(c, fd, () => closeSync(fd)), peerFd: sv[1]! };
  }

  /** The end of a lane another process made, received here as descriptor `fd` (owned by a handle: `close` closes it). */
  static adopt(fd: number, close: () => void): FdLane | Error {
    const c = loaded();
    return c instanceof Error ? c : new FdLane(c, fd, close);
  }

  /**
   * Sends `fds` (1..64) in one message, without waiting. 0 once they are on their way (the kernel
   * holds its own references: the caller may close its copies), or the errno (EAGAIN: the lane is
   * full; nothing was sent).
   */
  send(fds: readonly number[]): number {
    if (!this.open) return 9; // EBADF
    if (fds.length === 0 || fds.length > MAX_LANE_FDS) throw new RangeError(`a lane message carries 1 to ${MAX_LANE_FDS} descriptors, not ${fds.length}`);
    const length = CMSG_HEADER + 4 * fds.length;
    this.control.writeBigUInt64LE(BigInt(length), 0);
    this.control.writeInt32LE(SOL_SOCKET, 8);
    this.control.writeInt32LE(SCM_RIGHTS, 12);
    fds.forEach((fd, i) => this.control.writeInt32LE(fd, CMSG_HEADER + 4 * i));
    this.header.writeBigUInt64LE(BigInt(length), 40);
    for (;;) {
      if (this.c.sendmsg(this.fd, this.header, MSG_DONTWAIT | MSG_NOSIGNAL) === 1) return 0;
      const errno = this.c.errno();
      if (errno !== EINTR) return errno;
    }
  }

  /**
   * Reads the next message without waiting: its descriptors, now this process's (close-on-exec;
   * fewer than were sent when the kernel could not give them all, e.g. at the descriptor limit: it
   * closes those). An errno when there is none (EAGAIN) or the lane failed.
   */
  receive(): { readonly fds: number[] } | number {
    if (!this.open) return 9;
    this.header.writeBigUInt64LE(BigInt(CONTROL_SIZE), 40);
    let n: number;
    for (;;) {
      n = this.c.recvmsg(this.fd, this.header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n >= 0) break;
      const errno = this.c.errno();
      if (errno !== EINTR) return errno;
    }
    if (n === 0) return 32; // EPIPE: the other end is closed and nothing is left
    const fds: number[] = [];
    const controlLength = Number(this.header.readBigUInt64LE(40));
    // One control message (SCM_RIGHTS) is all a sender of this lane writes; anything else is not ours.
    if (controlLength >= CMSG_HEADER && this.control.readInt32LE(8) === SOL_SOCKET && this.control.readInt32LE(12) === SCM_RIGHTS) {
      const count = Math.min(MAX_LANE_FDS, Math.floor((Number(this.control.readBigUInt64LE(0)) - CMSG_HEADER) / 4));
      for (let i = 0; i < count; i++) fds.push(this.control.readInt32LE(CMSG_HEADER + 4 * i));
    }
    return { fds };
  }

  /** Closes this end: descriptors still queued in the lane are closed by the kernel once both ends are. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.closeFd();
  }
}
