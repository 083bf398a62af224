// The C library, through koffi (a C FFI with prebuilt binaries), for the few system calls Node
// does not offer: recv(MSG_PEEK) (idle-socket-probe.ts) and sendmsg/recvmsg with descriptors
// (fd-lane.ts). Loaded once, at the first use, not imported: a platform without koffi's binary
// throws at load, and hitless must still start (each caller has a slower way without it).
// Linux only: the callers' flag values and structures are Linux's.
import { createRequire } from 'node:module';

export interface Libc {
  /** Declares a function of the C library, e.g. 'long recv(int fd, void *buf, size_t len, int flags)'. */
  func(signature: string): unknown;
  /** The errno the last call left (koffi keeps it per thread). */
  errno(): number;
  /** A buffer's address, for structures that point at other buffers. */
  address(buffer: Buffer): bigint;
}

let loaded: Libc | Error | null = null;

/** The C library, or why it cannot be had here. */
export function libc(): Libc | Error {
  return (loaded ??= load());
}

function load(): Libc | Error {
  if (process.platform !== 'linux') return new Error(`the calls made through the C library are Linux's; this is ${process.platform}`);
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load(null);
    return {
      func: (signature) => lib.func(signature),
      errno: () => koffi.errno(),
      address: (buffer) => BigInt(koffi.address(buffer) as unknown as number | bigint),
    };
  } catch (err) {
    return err as Error;
  }
}
