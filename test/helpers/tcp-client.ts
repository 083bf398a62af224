// Clients of an echo service through the proxy. Every byte sent is checked when it comes back.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** What happened to a connection that was expected to echo. */
export type EchoOutcome =
  | { ok: true }
  | { ok: false; reason: string };

/** One short connection: connect, send `size` random bytes, read them back, close. Never throws. */
export function echoOnce(port: number, size = 64, timeoutMs = 5_000): Promise<EchoOutcome> {
  return new Promise((resolve) => {
    const payload = randomBytes(size);
    const received: Buffer[] = [];
    let length = 0;
    let settled = false;
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    const timer = setTimeout(() => finish({ ok: false, reason: `no full echo within ${timeoutMs} ms (${length}/${size} bytes)` }), timeoutMs);
    function finish(outcome: EchoOutcome): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (outcome.ok) socket.end();
      else socket.destroy();
      resolve(outcome);
    }
    socket.once('connect', () => socket.write(payload));
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      length += chunk.length;
      if (length < size) return;
      const echoed = Buffer.concat(received);
      finish(echoed.equals(payload) ? { ok: true } : { ok: false, reason: 'echo differs from what was sent' });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => finish({ ok: false, reason: `error ${err.code ?? err.message}` }));
    socket.once('close', () => finish({ ok: false, reason: `closed after ${length}/${size} bytes` }));
  });
}

/** How a connection ended when the proxy is expected to refuse or close it without echoing. */
export type RefusalOutcome = 'refused' | 'closed-without-data' | 'reset' | 'echoed' | 'timeout';

/** Connects and sends a few bytes; reports whether the far side refused, closed, or echoed. */
export function connectAndObserve(port: number, timeoutMs = 5_000): Promise<RefusalOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    let received = 0;
    const socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    function finish(outcome: RefusalOutcome): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    }
    socket.once('connect', () => socket.write('hello?'));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= 'hello?'.length) finish('echoed');
    });
    socket.once('end', () => finish(received > 0 ? 'echoed' : 'closed-without-data'));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      finish(err.code === 'ECONNREFUSED' ? 'refused' : err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'reset' : 'closed-without-data'),
    );
    socket.once('close', () => finish(received > 0 ? 'echoed' : 'closed-without-data'));
  });
}

/**
 * A long-lived connection that sends a numbered message every `intervalMs` and checks each echo
 * byte for byte. It is "broken" when it errors, is closed by the far side, or an echo differs.
 */
export class LongLivedClient {
  readonly socket: Socket;
  /** Why the connection broke; null while healthy or after a clean close by us. */
  broken: string | null = null;
  /** True once the far side closed (or reset) the connection. */
  closedByPeer = false;
  closedAt: number | null = null;
  messagesSent = 0;
  bytesVerified = 0;
  private expected: Buffer[] = [];
  private expectedOffset = 0;
  private ticker: NodeJS.Timeout | null = null;
  private endingByUs = false;
  private waiters: Array<{ bytes: number; resolve: () => void }> = [];
  private readonly closed: Promise<void>;
  private bytesSent = 0;

  private constructor(
    readonly port: number,
    readonly label: string,
    socket: Socket,
  ) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.verify(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(`error ${err.code ?? err.message}`));
    socket.once('end', () => {
      if (!this.endingByUs) {
        this.closedByPeer = true;
        this.fail('closed by the far side');
      }
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAt = Date.now();
        this.stopTicking();
        if (!this.endingByUs) {
          this.closedByPeer = true;
          this.fail('closed by the far side');
        }
        resolve();
      }),
    );
  }

  static open(port: number, label = `:${port}`, timeoutMs = 5_000): Promise<LongLivedClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`${label}: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', onError);
        resolve(new LongLivedClient(port, label, socket));
      });
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(new Error(`${label}: ${err.message}`));
      };
      socket.once('error', onError);
    });
  }

  /** Opens and proves the connection echoes (the proxy has connected it to an endpoint). */
  static async openVerified(port: number, label?: string): Promise<LongLivedClient> {
    const client = await LongLivedClient.open(port, label);
    await client.roundTrip();
    return client;
  }

  private fail(reason: string): void {
    if (this.endingByUs || this.broken) return;
    this.broken = `${this.label}: ${reason} after ${this.messagesSent} messages`;
    this.stopTicking();
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  private verify(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      const head = this.expected[0];
      if (!head) {
        this.fail('received bytes that were never sent');
        return;
      }
      const n = Math.min(head.length - this.expectedOffset, chunk.length - offset);
      if (!chunk.subarray(offset, offset + n).equals(head.subarray(this.expectedOffset, this.expectedOffset + n))) {
        this.fail(`echo differs at byte ${this.bytesVerified}`);
        return;
      }
      offset += n;
      this.expectedOffset += n;
      this.bytesVerified += n;
      if (this.expectedOffset === head.length) {
        this.expected.shift();
        this.expectedOffset = 0;
      }
    }
    this.waiters = this.waiters.filter((w) => {
      if (this.bytesVerified >= w.bytes) w.resolve();
      return this.bytesVerified < w.bytes;
    });
  }

  /** Sends one numbered message (its echo is checked when it arrives). */
  send(): void {
    if (this.broken || this.socket.destroyed) return;
    const message = Buffer.from(`${this.label} #${this.messagesSent} ${randomBytes(6).toString('hex')}\n`);
    this.messagesSent++;
    this.bytesSent += message.length;
    this.expected.push(message);
    this.socket.write(message);
  }

  /** Sends one message and waits until everything sent so far has come back. Throws when broken. */
  async roundTrip(timeoutMs = 5_000): Promise<void> {
    this.send();
    if (this.broken) throw new Error(this.broken);
    const target = this.bytesSent;
    if (this.bytesVerified < target) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.waiters.push({ bytes: target, resolve });
        timer = setTimeout(() => {
          this.fail(`no echo within ${timeoutMs} ms`);
          resolve();
        }, timeoutMs);
      }).finally(() => clearTimeout(timer));
    }
    if (this.broken) throw new Error(this.broken);
  }

  startTicking(intervalMs: number): void {
    this.stopTicking();
    this.ticker = setInterval(() => this.send(), intervalMs);
  }

  stopTicking(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
  }

  /** Resolves when the far side closes the connection; rejects after `timeoutMs`. */
  async waitClosedByPeer(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${this.label}: still open after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (!this.closedByPeer) throw new Error(`${this.label}: closed by us, not by the far side`);
  }

  /** A clean close by us: a final round trip proves nothing was lost, then FIN, then wait for close. */
  async finish(timeoutMs = 5_000): Promise<void> {
    this.stopTicking();
    await this.roundTrip(timeoutMs);
    this.endingByUs = true;
    this.socket.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]).finally(() => clearTimeout(timer));
    this.socket.destroy();
  }

  /** Abortive close for cleanup; never throws. */
  destroy(): void {
    this.endingByUs = true;
    this.stopTicking();
    this.socket.destroy();
  }
}
