// Reads the kernel's socket table (/proc/net/tcp and tcp6): an independent witness, outside hitless,
// of which socket (by inode) is listening on a port.
import { readFileSync } from 'node:fs';

const LISTEN = '0A';

export interface TcpSocketEntry {
  readonly localAddress: string;
  readonly localPort: number;
  readonly state: string;
  readonly inode: string;
}

function parseTable(file: string): TcpSocketEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = line.trim().split(/\s+/);
      const [addressHex, portHex] = fields[1].split(':');
      return { localAddress: addressHex, localPort: parseInt(portHex, 16), state: fields[3], inode: fields[9] };
    });
}

/** Inodes of the sockets in LISTEN state on `port` (any local address, IPv4 and IPv6). */
export function listeningInodes(port: number): string[] {
  return [...parseTable('/proc/net/tcp'), ...parseTable('/proc/net/tcp6')]
    .filter((e) => e.state === LISTEN && e.localPort === port)
    .map((e) => e.inode);
}

/** The one listening socket's inode on `port`; throws when there is none or more than one. */
export function listeningInode(port: number): string {
  const inodes = listeningInodes(port);
  if (inodes.length !== 1) throw new Error(`expected exactly one LISTEN socket on port ${port} in /proc/net/tcp, found ${inodes.length}`);
  return inodes[0];
}
