// A tiny authoritative DNS server on 127.0.0.1 (UDP) answering A, AAAA and SRV from an in-memory
// table, so the dns source is tested against real queries from node:dns. It can go silent (an
// outage: queries time out) or answer garbage (a malformed response).
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';

export interface SrvRecord {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  readonly target: string;
}

const TYPES = { A: 1, AAAA: 28, SRV: 33 } as const;

export class DnsServer {
  /** name (lower case, no trailing dot) → records. */
  readonly a = new Map<string, string[]>();
  readonly aaaa = new Map<string, string[]>();
  readonly srv = new Map<string, SrvRecord[]>();
  ttl = 1;
  mode: 'ok' | 'silent' | 'garbage' = 'ok';
  queries = 0;

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
  ) {}

  /** "127.0.0.1:port", as `server:` in a dns source config. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(): Promise<DnsServer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const server = new DnsServer(socket, socket.address().port);
    socket.on('message', (msg, peer) => {
      server.queries++;
      const reply = server.answer(msg);
      if (reply) socket.send(reply, peer.port, peer.address);
    });
    return server;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private answer(query: Buffer): Buffer | null {
    if (this.mode === 'silent' || query.length < 12) return null;
    const { name, type, end } = readQuestion(query);
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    if (this.mode === 'garbage') {
      // Claims one answer and carries none: node:dns rejects it as a bad response.
      header.writeUInt16BE(0x8180, 2);
      header.writeUInt16BE(1, 4);
      header.writeUInt16BE(1, 6);
      return Buffer.concat([header, query.subarray(12, end), Buffer.from([0xc0, 0x0c, 0x00])]);
    }
    const known = this.a.has(name) || this.aaaa.has(name) || this.srv.has(name);
    const answers: Buffer[] = [];
    if (type === TYPES.A) for (const ip of this.a.get(name) ?? []) answers.push(record(TYPES.A, this.ttl, ipv4(ip)));
    if (type === TYPES.AAAA) for (const ip of this.aaaa.get(name) ?? []) answers.push(record(TYPES.AAAA, this.ttl, ipv6(ip)));
    if (type === TYPES.SRV) {
      for (const r of this.srv.get(name) ?? []) {
        const fixed = Buffer.alloc(6);
        fixed.writeUInt16BE(r.priority, 0);
        fixed.writeUInt16BE(r.weight, 2);
        fixed.writeUInt16BE(r.port, 4);
        answers.push(record(TYPES.SRV, this.ttl, Buffer.concat([fixed, encodeName(r.target)])));
      }
    }
    header.writeUInt16BE(known ? 0x8580 : 0x8583, 2); // QR AA RD RA; rcode NXDOMAIN when unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    return Buffer.concat([header, query.subarray(12, end), ...answers]);
  }
}

function readQuestion(msg: Buffer): { name: string; type: number; end: number } {
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    labels.push(msg.subarray(i + 1, i + 1 + msg[i]).toString('ascii'));
    i += msg[i] + 1;
  }
  const type = msg.readUInt16BE(i + 1);
  return { name: labels.join('.').toLowerCase(), type, end: i + 5 };
}

/** One answer whose name points back at the question (offset 12). */
function record(type: number, ttl: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt32BE(ttl, 6);
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])), Buffer.from([0])]);
}

function ipv4(ip: string): Buffer {
  if (!isIPv4(ip)) throw new Error(`${ip} is not IPv4`);
  return Buffer.from(ip.split('.').map(Number));
}

function ipv6(ip: string): Buffer {
  const [head, tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
