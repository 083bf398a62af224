// Long-lived connections that each echo a byte-numbered stream: byte i of a connection's stream is
// (i * 7 + seed) mod 256, so a byte lost, duplicated or out of order shows at the first position it
// moves. TCP connections (through a tcp service to an echo server) and WebSocket connections
// (through an http service to a `ws` echo server) write a chunk every `everyMs`, and check every
// byte that comes back. A connection closed before stop() is a failure.
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

const CHUNK = 64;

function streamByte(seed: number, i: number): number {
  return (i * 7 + seed) & 0xff;
}

function chunkAt(seed: number, from: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let k = 0; k < n; k++) b[k] = streamByte(seed, from + k);
  return b;
}

export interface StreamReport {
  readonly opened: number;
  /** Connections closed (by anyone) before stop(). */
  readonly closedEarly: number;
  /** Connections where a byte came back that is not the next one of the stream. */
  readonly corrupted: number;
  readonly bytesSent: number;
  readonly bytesEchoed: number;
  readonly errors: readonly string[];
}

class Stream {
  sent = 0;
  echoed = 0;
  corrupt = false;
  closed = false;
  constructor(readonly seed: number) {}

  next(): Buffer {
    const b = chunkAt(this.seed, this.sent, CHUNK);
    this.sent += CHUNK;
    return b;
  }

  check(data: Buffer): void {
    for (let k = 0; k < data.length; k++) {
      if (data[k] !== streamByte(this.seed, this.echoed + k)) this.corrupt = true;
    }
    this.echoed += data.length;
    if (this.echoed > this.sent) this.corrupt = true;
  }
}

export class NumberedStreams {
  private readonly tcp: Array<{ s: Stream; socket: Socket }> = [];
  private readonly ws: Array<{ s: Stream; socket: WebSocket }> = [];
  private readonly errors: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;

  async open(tcpPort: number, tcpCount: number, wsPort: number, wsCount: number): Promise<void> {
    const opening: Promise<void>[] = [];
    for (let i = 0; i < tcpCount; i++) {
      const s = new Stream(i);
      const socket = connect({ host: '127.0.0.1', port: tcpPort, noDelay: true });
      this.tcp.push({ s, socket });
      socket.on('data', (d: Buffer) => s.check(d));
      socket.on('error', (err) => this.errors.push(`tcp ${i}: ${err.message}`));
      socket.on('close', () => (s.closed = true));
      opening.push(new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }));
    }
    for (let i = 0; i < wsCount; i++) {
      const s = new Stream(1000 + i);
      const socket = new WebSocket(`ws://127.0.0.1:${wsPort}/echo`);
      this.ws.push({ s, socket });
      socket.on('message', (d: Buffer) => s.check(d));
      socket.on('error', (err) => this.errors.push(`ws ${i}: ${err.message}`));
      socket.on('close', () => (s.closed = true));
      opening.push(new Promise((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      }));
    }
    await Promise.all(opening);
  }

  /** Every connection writes a chunk every `everyMs` until stop(). */
  start(everyMs: number): void {
    this.timer = setInterval(() => {
      for (const { s, socket } of this.tcp) if (!s.closed) socket.write(s.next());
      for (const { s, socket } of this.ws) if (!s.closed && socket.readyState === WebSocket.OPEN) socket.send(s.next());
    }, everyMs);
  }

  /**
   * Every connection has had bytes echoed: it is joined to its endpoint through hitless (a
   * connect() only says the kernel completed the handshake; the connection may still wait in the
   * listening socket's backlog for a worker to accept it).
   */
  allEchoing(): boolean {
    return [...this.tcp, ...this.ws].every(({ s }) => s.echoed > 0);
  }

  /** Every byte sent has come back (or a connection closed). */
  caughtUp(): boolean {
    return [...this.tcp, ...this.ws].every(({ s }) => s.closed || s.echoed === s.sent);
  }

  /** Connections still open that wait for some of their bytes to come back. */
  behind(): number {
    return [...this.tcp, ...this.ws].filter(({ s }) => !s.closed && s.echoed !== s.sent).length;
  }

  /** Stops writing; call caughtUp() after, then report(), then close(). */
  stopWriting(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  report(): StreamReport {
    const all = [...this.tcp, ...this.ws].map((c) => c.s);
    return {
      opened: all.length,
      closedEarly: this.stopping ? 0 : all.filter((s) => s.closed).length,
      corrupted: all.filter((s) => s.corrupt || (!s.closed && s.echoed !== s.sent)).length,
      bytesSent: all.reduce((n, s) => n + s.sent, 0),
      bytesEchoed: all.reduce((n, s) => n + s.echoed, 0),
      errors: this.errors.slice(0, 5),
    };
  }

  close(): void {
    this.stopWriting();
    this.stopping = true;
    for (const { socket } of this.tcp) socket.destroy();
    for (const { socket } of this.ws) socket.terminate();
  }
}

/** An HTTP endpoint on 127.0.0.1 (port 0) that answers 200 "ok", and echoes WebSocket messages (the `ws` package) on an upgrade. */
export async function startWsEcho(): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ keepAlive: true }, (_req, res) => res.end('ok'));
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data: Buffer, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  }));
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
