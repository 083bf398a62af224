// A client for a line-echo conversation over one TCP connection, optionally opened with an HTTP/1.1
// Upgrade handshake (like a WebSocket) so that it passes through HTTP proxies as a tunnel.
import net from 'node:net';
import { BadStatus, BrokenLongLived, TortureTimeout } from '../failures.js';
import type { Endpoint } from '../loopback.js';

export type LongLivedMode = 'upgrade' | 'raw';

export const UPGRADE_PROTOCOL = 'hitless-echo';

export class EchoConnection {
  private buffer = '';
  /** The one pending read: `check` returns true once it took what it waited for. */
  private waiter: { check: () => boolean; reject: (err: unknown) => void } | undefined;
  private ended: unknown;
  /** True once the conversation is established; breaks after this are "broken long-lived". */
  private established = false;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.onEnd(err));
    // Before the conversation is established these read as a hang-up (a reset, for the client).
    socket.on('end', () => this.onEnd(Object.assign(new Error('socket hang up: closed by peer'), { code: 'EOF' })));
    socket.on('close', () => this.onEnd(Object.assign(new Error('socket hang up: closed'), { code: 'CLOSED' })));
  }

  /** Connects (and upgrades, in upgrade mode) within timeoutMs, or rejects with a classified error. */
  static async open(endpoint: Endpoint, mode: LongLivedMode, timeoutMs: number, signal: AbortSignal): Promise<EchoConnection> {
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    const connection = new EchoConnection(socket);
    const abort = () => socket.destroy();
    signal.addEventListener('abort', abort, { once: true });
    socket.once('close', () => signal.removeEventListener('abort', abort));
    try {
      await connection.withTimeout(timeoutMs, 'connect', new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }));
      if (mode === 'upgrade') await connection.withTimeout(timeoutMs, 'upgrade', connection.upgrade(endpoint));
    } catch (err) {
      socket.destroy();
      throw err;
    }
    connection.established = true;
    return connection;
  }

  /** Sends one line and waits for the identical line back. */
  async ping(line: string, timeoutMs: number): Promise<void> {
    this.socket.write(`${line}\n`);
    const reply = await this.withTimeout(timeoutMs, 'ping', this.nextLine());
    if (reply !== line) throw new BrokenLongLived(`expected echo ${JSON.stringify(line)}, got ${JSON.stringify(reply.slice(0, 60))}`);
  }

  /** A planned, graceful end. */
  close(): void {
    this.established = false;
    this.socket.end();
    // A peer that never answers our FIN must not keep the socket (and the run) alive.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  destroy(): void {
    this.established = false;
    this.socket.destroy();
  }

  private async upgrade(endpoint: Endpoint): Promise<void> {
    const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
    this.socket.write(
      `GET /echo HTTP/1.1\r\nHost: ${host}:${endpoint.port}\r\nConnection: Upgrade\r\nUpgrade: ${UPGRADE_PROTOCOL}\r\n\r\n`,
    );
    const headerEnd = await this.until('\r\n\r\n');
    const statusLine = headerEnd.split('\r\n', 1)[0];
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
    if (status !== 101) throw status > 0 ? new BadStatus(status) : new Error(`not an HTTP reply: ${statusLine.slice(0, 60)}`);
  }

  private nextLine(): Promise<string> {
    return this.until('\n');
  }

  /** Resolves with the buffered text up to (not including) the separator. */
  private until(separator: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const take = () => {
        const at = this.buffer.indexOf(separator);
        if (at < 0) return false;
        const text = this.buffer.slice(0, at);
        this.buffer = this.buffer.slice(at + separator.length);
        resolve(text);
        return true;
      };
      if (take()) return;
      if (this.ended !== undefined) return reject(this.failure(this.ended));
      this.waiter = { check: take, reject };
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    if (this.waiter?.check()) this.waiter = undefined;
    // A proxy or server gone mad could stream forever; a ping reply is a few bytes.
    if (this.buffer.length > 1 << 20) this.socket.destroy(new BrokenLongLived('more than 1 MiB of unexpected data'));
  }

  private onEnd(err: unknown): void {
    if (this.ended !== undefined) return;
    this.ended = err;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(this.failure(err));
  }

  private failure(err: unknown): unknown {
    if (!this.established) return err;
    const code = (err as { code?: string }).code;
    return new BrokenLongLived(code ? `${code}` : String(err));
  }

  private withTimeout<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TortureTimeout(what)), ms);
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }
}
