// A node:tls client for the TLS tests: one connection, what the handshake gave (certificate,
// version, ALPN, resumed or not, the session ticket), and HTTP/1.1 requests over it (keep-alive)
// parsed by hand, so a test can tell that a later request used the same TLS connection.
import { readFileSync } from 'node:fs';
import { connect, type PeerCertificate, type TLSSocket } from 'node:tls';

export interface TlsClientOptions {
  readonly servername?: string;
  /** CA file: with it the server's certificate is verified (chain and name). */
  readonly ca?: string;
  readonly session?: Buffer;
  readonly alpn?: string[];
  readonly minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  readonly ciphers?: string;
  readonly timeoutMs?: number;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export class TlsClient {
  private buffer = Buffer.alloc(0);
  private waiting: { resolve: (a: HttpAnswer) => void; reject: (e: Error) => void } | null = null;
  private ended = false;
  private readonly sessionTicket: Promise<Buffer>;
  readonly closed: Promise<void>;

  private constructor(
    readonly socket: TLSSocket,
    sessionTicket: Promise<Buffer>,
  ) {
    this.sessionTicket = sessionTicket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.deliver();
    });
    socket.on('end', () => {
      this.ended = true;
      this.deliver();
    });
    socket.on('close', () => {
      this.ended = true;
      this.deliver();
    });
  }

  static connect(port: number, options: TlsClientOptions = {}): Promise<TlsClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        ...(options.servername ? { servername: options.servername } : {}),
        ...(options.ca ? { ca: readFileSync(options.ca), rejectUnauthorized: true } : { rejectUnauthorized: false }),
        ...(options.session ? { session: options.session } : {}),
        ...(options.alpn ? { ALPNProtocols: options.alpn } : {}),
        ...(options.minVersion ? { minVersion: options.minVersion } : {}),
        ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
        ...(options.ciphers ? { ciphers: options.ciphers } : {}),
      });
      // TLS 1.2 sends its ticket before the handshake completes, TLS 1.3 after: listen from the start.
      const ticket = new Promise<Buffer>((resolve) => socket.once('session', resolve));
      const timer = setTimeout(() => fail(new Error(`no TLS handshake with 127.0.0.1:${port} within ${options.timeoutMs ?? 10_000} ms`)), options.timeoutMs ?? 10_000);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.once('error', fail);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        socket.on('error', () => {});
        resolve(new TlsClient(socket, ticket));
      });
    });
  }

  get certificate(): PeerCertificate {
    return this.socket.getPeerCertificate();
  }

  /** The CN of the certificate served ('' on a resumed session, which sends none). */
  get cn(): string {
    return String(this.certificate?.subject?.CN ?? '');
  }

  get protocol(): string | null {
    return this.socket.getProtocol();
  }

  get reused(): boolean {
    return this.socket.isSessionReused();
  }

  /** The session to resume with later (TLS 1.3 sends tickets after the handshake). */
  ticket(timeoutMs = 5_000): Promise<Buffer> {
    return within(timeoutMs, 'a session ticket', this.sessionTicket);
  }

  /** One request on this connection; the answer must carry a Content-Length. */
  request(path: string, host = 'example.test', headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<HttpAnswer> {
    if (this.waiting) throw new Error('one request at a time');
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const answer = new Promise<HttpAnswer>((resolve, reject) => (this.waiting = { resolve, reject }));
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`);
    this.deliver();
    return within(timeoutMs, `the answer to GET ${path}`, answer);
  }

  close(): Promise<void> {
    this.socket.end();
    return this.closed;
  }

  private deliver(): void {
    const w = this.waiting;
    if (!w) return;
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end >= 0) {
      const lines = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? 0);
      if (this.buffer.length >= end + 4 + length) {
        const body = this.buffer.subarray(end + 4, end + 4 + length).toString('latin1');
        this.buffer = this.buffer.subarray(end + 4 + length);
        this.waiting = null;
        w.resolve({ status: Number(lines[0].split(' ')[1]), headers, body });
        return;
      }
    }
    if (this.ended) {
      this.waiting = null;
      w.reject(new Error(`the connection closed before a whole answer (${this.buffer.length} bytes)`));
    }
  }
}

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Connects, and reports how the handshake failed (the client's error code), or 'connected'. */
export async function handshakeOutcome(port: number, options: TlsClientOptions): Promise<string> {
  try {
    const client = await TlsClient.connect(port, options);
    await client.close();
    return 'connected';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}
