// One keep-alive HTTP/1.1 connection to an endpoint, carrying one exchange at a time. It writes
// the request head as one string, streams the body the proxy hands it, and delimits the response
// itself (response-head.ts, chunked-decoder.ts) so the body's bytes reach the client without being
// re-parsed or copied. Everything it knows about a failure goes into UpstreamError, which is what
// the proxy needs to decide whether a retry is safe.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { UpstreamTlsConfig } from '../../../config/tls-model.js';
import { upstreamConnectOptions, upstreamTlsFailure, type UpstreamTlsCounters } from '../tls/upstream-tls.js';
import { HitlessError, PROXY_CODES, type ProxyCode } from '../../../errors.js';
import { ChunkedDecoder } from './chunked-decoder.js';
import { BadResponseError, parseResponseHead, type ResponseHead } from './response-head.js';
import { deadlineAfter, unwatchDeadline, watchDeadline, type HasDeadline } from './deadline-sweeper.js';
import { currentTurn, markTurn, writeAtTurnEnd, type HeldWriter } from './loop-turn.js';
import { probeIdleSocket } from '../../../util/idle-socket-probe.js';

/** A response head larger than this is refused (502), as HAProxy's tune.bufsize does. */
const MAX_RESPONSE_HEAD = 64 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');
/**
 * Every upstream read lands here first (reads are synchronous, so one buffer serves all
 * connections) and is copied out at its real size: cheaper than Node's default of a fresh 64 KiB
 * allocation per read, and it skips the Readable stream machinery on the hot path.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export interface ExchangeHandler {
  /** The connection is up and the head was written: the request body may be sent now. */
  onReady(): void;
  /** Return false if the head cannot be forwarded (the exchange is then aborted). */
  onHead(head: ResponseHead): boolean;
  /** Body bytes; `last` marks the slice that ends a Content-Length body. False = client is full. */
  onData(chunk: Buffer, last: boolean): boolean;
  /** The whole response arrived. */
  onEnd(): void;
  onError(err: UpstreamError): void;
  /** The request body may be written again after writeBody returned false. */
  onDrain(): void;
}

/** How an exchange with an endpoint failed: what retry and answer decisions are made on. */
export type UpstreamFailure = 'CONNECT_FAILED' | 'CONNECT_TIMEOUT' | 'TLS_VERIFY' | 'TLS_HANDSHAKE' | 'RESPONSE_TIMEOUT' | 'BODY_TIMEOUT' | 'RESET' | 'BAD_RESPONSE';

/** The registered code (src/errors.ts) each kind of failure is reported with. */
const CODE_OF: Readonly<Record<UpstreamFailure, ProxyCode>> = {
  CONNECT_FAILED: PROXY_CODES.UPSTREAM_CONNECT,
  CONNECT_TIMEOUT: PROXY_CODES.UPSTREAM_CONNECT_TIMEOUT,
  TLS_VERIFY: PROXY_CODES.UPSTREAM_TLS_VERIFY,
  TLS_HANDSHAKE: PROXY_CODES.UPSTREAM_TLS_HANDSHAKE,
  RESPONSE_TIMEOUT: PROXY_CODES.UPSTREAM_TIMEOUT,
  BODY_TIMEOUT: PROXY_CODES.UPSTREAM_TIMEOUT,
  RESET: PROXY_CODES.UPSTREAM_RESET,
  BAD_RESPONSE: PROXY_CODES.UPSTREAM_BAD_RESPONSE,
};

export class UpstreamError extends HitlessError {
  constructor(
    readonly kind: UpstreamFailure,
    message: string,
    /** No byte of a response had arrived: the request may be retried if it is safe to. */
    readonly beforeResponse: boolean,
    /** The connection had carried an earlier exchange (a pooled one the endpoint may have dropped). */
    readonly reused: boolean,
    /** Some of the request was written: false when the connection failed before any byte of it went out. */
    readonly sent = true,
  ) {
    super(CODE_OF[kind], message);
    this.name = 'UpstreamError';
  }
}

export interface ConnectionOwner {
  /** The exchange finished cleanly and the connection may carry another. */
  release(conn: UpstreamConnection): void;
  /** The connection closed; forget it. */
  forget(conn: UpstreamConnection): void;
}

const enum Phase {
  Connecting,
  Idle,
  AwaitingHead,
  Body,
  Closed,
}

export class UpstreamConnection implements HasDeadline, HeldWriter {
  deadline = Infinity;
  private phase = Phase.Connecting;
  private handler: ExchangeHandler | null = null;
  private method = 'GET';
  /** Timeouts of the current exchange (they come from the config the request started with). */
  private responseTimeout = 0;
  private idleTimeout = 0;
  private exchanges = 0;
  private partialHead: Buffer | null = null;
  private head: ResponseHead | null = null;
  private remaining = 0;
  private chunked: ChunkedDecoder | null = null;
  private requestDone = false;
  private reusable = true;
  /** Loop turn in which the connection went idle, and in which the current request was written. */
  private idleTurn = -1;
  private sentTurn = -1;
  /**
   * The request head, held for the end of the turn (loop-turn.ts); written before any body byte.
   * Only a connection that was idle holds one (a new one writes its head as it connects).
   */
  private heldHead: string | null = null;

  private readonly socket: Socket;
  /** onData asked to wait: reading stops until resume(). */
  private paused = false;

  /** upstream_tls: the TCP connection is up and the handshake under way (a failure now is a TLS failure). */
  private handshaking = false;

  constructor(
    host: string,
    port: number,
    private readonly owner: ConnectionOwner,
    connectTimeout: number,
    /** TLS to the endpoint (the pool's settings); null: plain TCP. */
    private readonly tls: UpstreamTlsConfig | null = null,
    private readonly tlsCounters: UpstreamTlsCounters | null = null,
  ) {
    this.deadline = deadlineAfter(connectTimeout);
    watchDeadline(this);
    let socket: Socket;
    if (tls === null) {
      socket = this.socket = connect({ host, port, noDelay: true, onread: { buffer: READ_BUFFER, callback: this.onRead } });
      socket.once('connect', this.onConnect);
    } else {
      // A TLS socket reads through its own stream: the shared read buffer does not apply.
      socket = this.socket = tlsConnect(upstreamConnectOptions(tls, host, port));
      socket.setNoDelay(true);
      socket.once('connect', () => (this.handshaking = true));
      socket.once('secureConnect', this.onSecureConnect);
      socket.on('data', this.onTlsData);
    }
    socket.on('drain', this.onSocketDrain);
    socket.once('end', this.onSocketEnd);
    socket.once('error', this.onSocketError);
    socket.once('close', this.onSocketClose);
  }

  /**
   * Starts an exchange: the head goes out at the end of this loop turn (loop-turn.ts), or once
   * connected on a new connection; the body when onReady says, after the head.
   */
  start(handler: ExchangeHandler, method: string, head: string, responseTimeout: number, idleTimeout: number): void {
    this.handler = handler;
    this.method = method;
    this.responseTimeout = responseTimeout;
    this.idleTimeout = idleTimeout;
    this.head = null;
    this.chunked = null;
    this.requestDone = false;
    if (this.phase === Phase.Connecting) {
      this.socket.write(head, 'latin1'); // Node queues it until the connection is up
      return; // onConnect continues
    }
    this.sentTurn = markTurn();
    this.heldHead = head;
    writeAtTurnEnd(this);
    this.phase = Phase.AwaitingHead;
    this.deadline = deadlineAfter(responseTimeout);
    handler.onReady();
  }

  writeHeld(): void {
    const head = this.heldHead;
    if (head === null || this.phase === Phase.Closed) return;
    if (this.tls === null) {
      // Bytes the endpoint sent while the connection was idle, if they came after the loop's last
      // poll, are still unread: written now, the request would take them for its answer. Looked
      // for just before the write (idle-socket-probe.ts says why it must be then); the request then
      // goes out on another connection, as nothing of it was sent. (Not with TLS: its records
      // cannot be read around OpenSSL, and there the window stays: docs/security.md.)
      const waiting = probeIdleSocket(this.socket);
      if (waiting === 'bytes') return this.fail('RESET', 'the endpoint sent bytes on the idle connection before the request was written');
      if (waiting === 'ended') return this.fail('RESET', 'the endpoint closed the idle connection before the request was written');
    }
    this.heldHead = null;
    this.socket.write(head, 'latin1');
  }

  /** Request body bytes, in chunked framing when asked. False: wait for onDrain. */
  writeBody(chunk: Buffer, chunked: boolean): boolean {
    if (this.heldHead !== null) this.writeHeld();
    if (this.phase === Phase.Closed) return true; // failed, and the handler was told
    if (this.phase === Phase.AwaitingHead) this.deadline = deadlineAfter(this.responseTimeout);
    if (!chunked) return this.socket.write(chunk);
    if (chunk.length === 0) return true; // a zero-size chunk would end the body
    this.socket.cork();
    this.socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    this.socket.write(chunk);
    const ok = this.socket.write('\r\n', 'latin1');
    this.socket.uncork();
    return ok;
  }

  /** The request is completely written (its body, if any, included). */
  endRequest(trailer?: string): void {
    if (trailer !== undefined) {
      if (this.heldHead !== null) this.writeHeld();
      if (this.phase !== Phase.Closed) this.socket.write(trailer);
    }
    this.requestDone = true;
  }

  /** Resumes reading the response after onData returned false. */
  resume(): void {
    this.paused = false;
    if (this.phase !== Phase.Closed) this.socket.resume();
  }

  /** The client went away mid-exchange: drop the connection without telling the handler. */
  abort(): void {
    this.handler = null;
    this.close();
  }

  /** Back in the pool: the deadline becomes the keep-alive expiry. */
  parkIdle(keepAliveMs: number): void {
    this.phase = Phase.Idle;
    this.deadline = deadlineAfter(keepAliveMs);
    this.idleTurn = markTurn();
  }

  /** Idle in the pool and still open (it may still be settling: see ready). */
  get open(): boolean {
    return this.phase === Phase.Idle && !this.socket.destroyed;
  }

  /**
   * May carry the next exchange: open, and idle since an earlier loop turn. Bytes an endpoint
   * sent after its response (a second response, a late one) close the connection when they are
   * read; a poll in between reads whatever was already on its way before a request can take the
   * connection and mistake them for its answer.
   */
  get ready(): boolean {
    return this.open && this.idleTurn !== currentTurn();
  }

  close(): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    this.heldHead = null; // the exchange is over: a head not yet written is not sent
    unwatchDeadline(this);
    this.socket.destroy();
    // Out of the pool now, not at the 'close' event: nothing may pick a closed connection.
    this.owner.forget(this);
  }

  onDeadline(): void {
    const phase = this.phase;
    if (phase === Phase.Idle || phase === Phase.Closed) return this.close();
    if (phase === Phase.Connecting) return this.fail('CONNECT_TIMEOUT', 'timed out connecting');
    if (phase === Phase.AwaitingHead) return this.fail('RESPONSE_TIMEOUT', 'no response in time');
    this.fail('BODY_TIMEOUT', 'response body stalled');
  }

  private readonly onConnect = (): void => {
    if (this.phase !== Phase.Connecting) return;
    const handler = this.handler;
    if (handler === null) {
      // Connected for nobody (the exchange was aborted meanwhile): it still may serve the pool.
      this.phase = Phase.Idle;
      this.owner.release(this);
      return;
    }
    this.phase = Phase.AwaitingHead;
    this.deadline = deadlineAfter(this.responseTimeout);
    handler.onReady();
  };

  private readonly onSecureConnect = (): void => {
    this.handshaking = false;
    if (this.tlsCounters) this.tlsCounters.handshakes++;
    this.onConnect();
  };

  private readonly onTlsData = (chunk: Buffer): void => {
    this.onSocketData(chunk);
    if (this.paused && this.phase !== Phase.Closed) this.socket.pause();
  };

  /** The handshake failed: the endpoint's certificate refused, or TLS itself (counted by reason). */
  private failHandshake(err: NodeJS.ErrnoException | null): void {
    this.handshaking = false;
    const failure = upstreamTlsFailure(err);
    this.tlsCounters?.failed(failure.reason);
    const what = err ? `${err.code ?? 'error'}: ${err.message}` : 'the endpoint closed the connection during the TLS handshake';
    if (failure.kind === 'verify') this.fail('TLS_VERIFY', `the endpoint's certificate was refused (${failure.reason}): ${what}`);
    else this.fail('TLS_HANDSHAKE', `TLS handshake with the endpoint failed (${failure.reason}): ${what}`);
  }

  private readonly onSocketDrain = (): void => {
    this.handler?.onDrain();
  };

  private readonly onRead = (nread: number, shared: Buffer): boolean => {
    const chunk = Buffer.allocUnsafe(nread);
    shared.copy(chunk, 0, 0, nread);
    this.onSocketData(chunk);
    return !this.paused;
  };

  private onSocketData(buf: Buffer): void {
    const handler = this.handler;
    if (handler === null || this.phase === Phase.Idle) {
      // Bytes nobody asked for: the connection is out of step with the endpoint.
      this.close();
      return;
    }
    let start = 0;
    if (this.head === null) {
      if (this.partialHead === null && this.sentTurn === currentTurn()) {
        // Read in the turn the request was written: these bytes were sent before the endpoint
        // had the request, so they answer something else. Not this client's answer; retried.
        this.fail('RESET', 'unsolicited bytes on a reused connection');
        return;
      }
      if (this.partialHead !== null) {
        buf = Buffer.concat([this.partialHead, buf]);
        this.partialHead = null;
      }
      start = this.readHead(buf, handler);
      if (start < 0) return;
    }
    this.readBody(buf, start, handler);
  }

  /** Parses the head at the start of buf; returns where the body starts, or -1 (need more / failed). */
  private readHead(buf: Buffer, handler: ExchangeHandler): number {
    let offset = 0;
    for (;;) {
      const end = buf.indexOf(CRLFCRLF, offset);
      if ((end === -1 ? buf.length : end) - offset > MAX_RESPONSE_HEAD) {
        this.fail('BAD_RESPONSE', `response head larger than ${MAX_RESPONSE_HEAD} bytes`);
        return -1;
      }
      if (end === -1) {
        // A head with bare-LF line ends would never show its CRLFCRLF: refuse it now, not at
        // the response timeout (RFC 9112 §2.2 lets a recipient refuse them; HAProxy does too).
        if (hasBareLf(buf, offset)) {
          this.fail('BAD_RESPONSE', 'response head with bare LF line endings');
          return -1;
        }
        this.partialHead = offset === 0 ? buf : buf.subarray(offset);
        return -1;
      }
      let head: ResponseHead;
      try {
        head = parseResponseHead(buf.toString('latin1', offset, end), this.method);
      } catch (err) {
        this.fail('BAD_RESPONSE', (err as BadResponseError).message);
        return -1;
      }
      offset = end + 4;
      if (head.status === 101) {
        this.fail('BAD_RESPONSE', 'unexpected 101 Switching Protocols');
        return -1;
      }
      if (head.status >= 200) {
        this.head = head;
        this.phase = Phase.Body;
        this.deadline = deadlineAfter(this.idleTimeout);
        this.reusable = head.keepAlive;
        if (!handler.onHead(head)) {
          this.abort();
          return -1;
        }
        if (head.framing === 'length') this.remaining = head.contentLength;
        else if (head.framing === 'chunked') this.chunked = new ChunkedDecoder();
        else if (head.framing === 'none') {
          this.finish(buf.length > offset);
          return -1;
        }
        return offset;
      }
      // 1xx interim responses (100 Continue, 103 Early Hints): skipped; node:http answered the
      // client's Expect itself. The final response follows.
    }
  }

  private readBody(buf: Buffer, start: number, handler: ExchangeHandler): void {
    const head = this.head!;
    this.deadline = deadlineAfter(this.idleTimeout);
    let writable = true;
    if (head.framing === 'length') {
      const available = buf.length - start;
      if (available === 0) return;
      const n = available < this.remaining ? available : this.remaining;
      this.remaining -= n;
      const slice = start === 0 && n === buf.length ? buf : buf.subarray(start, start + n);
      const last = this.remaining === 0;
      writable = handler.onData(slice, last);
      if (last) return this.finish(available > n);
    } else if (head.framing === 'chunked') {
      let end: number;
      try {
        end = this.chunked!.feed(buf, start, (slice) => {
          if (!handler.onData(slice, false)) writable = false;
        });
      } catch (err) {
        return this.fail('BAD_RESPONSE', `bad chunked framing: ${(err as Error).message}`);
      }
      if (end >= 0) return this.finish(end < buf.length);
    } else if (buf.length > start) {
      writable = handler.onData(start === 0 ? buf : buf.subarray(start), false);
    }
    if (!writable) this.paused = true;
  }

  /** The response is complete. The connection goes back to the pool only if nothing is left over. */
  private finish(extraBytes: boolean): void {
    const handler = this.handler!;
    this.handler = null;
    this.exchanges++;
    if (this.reusable && this.requestDone && !extraBytes && this.phase !== Phase.Closed) {
      this.phase = Phase.Idle;
      this.owner.release(this);
    } else {
      this.close();
    }
    handler.onEnd();
  }

  private fail(kind: UpstreamFailure, message: string): void {
    const handler = this.handler;
    this.handler = null;
    const beforeResponse = this.head === null;
    // A head still held was never written (nor any body byte: they follow it).
    const sent = this.heldHead === null;
    this.close();
    handler?.onError(new UpstreamError(kind, message, beforeResponse, this.exchanges > 0, sent));
  }

  private readonly onSocketEnd = (): void => {
    if (this.handshaking) return this.failHandshake(null);
    // A response delimited by the connection closing is complete now; anything else was cut.
    if (this.handler !== null && this.head?.framing === 'close') {
      this.reusable = false;
      return this.finish(false);
    }
    this.fail('RESET', 'the endpoint closed the connection');
  };

  private readonly onSocketError = (err: NodeJS.ErrnoException): void => {
    // TLS 1.3 finishes the client's side of the handshake before the endpoint has checked the
    // client certificate: its refusal (an alert) arrives after secureConnect, before any answer.
    if (this.handshaking || (this.tls !== null && this.exchanges === 0 && this.head === null && /^ERR_SSL_.*ALERT/.test(err.code ?? ''))) this.failHandshake(err);
    else if (this.phase === Phase.Connecting) this.fail('CONNECT_FAILED', `${err.code ?? 'error'}: ${err.message}`);
    else this.fail('RESET', `${err.code ?? 'error'}: ${err.message}`);
  };

  private readonly onSocketClose = (): void => {
    // fail() closes too; close() is idempotent and destroying a closed socket does nothing.
    if (this.handshaking && this.phase !== Phase.Closed) this.failHandshake(null);
    else if (this.handler !== null) this.fail('RESET', 'the connection closed');
    else this.close();
  };
}

/** A LF not preceded by CR at or after `from`. */
function hasBareLf(buf: Buffer, from: number): boolean {
  for (let i = buf.indexOf(10, from); i !== -1; i = buf.indexOf(10, i + 1)) if (i === from || buf[i - 1] !== 13) return true;
  return false;
}
