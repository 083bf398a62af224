// The client side of the common HTTP/1.1 exchange, without node:http. A request head that
// request-head.ts recognises is served here: usually one read, one string, and one write for the
// response head and a small body together. A head that arrives in pieces is waited for (with
// timeouts.header, and node:http's 408 when it runs out). Anything else (HTTP/1.0, chunked
// uploads, 100-continue, upgrades, malformed or oversized heads, bytes that cannot start a head)
// is handed, with the bytes already read, to node:http at a request boundary, and node:http keeps
// the connection from then on. The raw path never judges a malformed request itself.
//
// One exchange at a time per connection: pipelined requests wait in `buffered` (bounded, the
// socket is paused) until the response before them is complete, so responses never interleave.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { BodySink, ClientSide, ExchangeWatcher } from './client-side.js';
import { errorResponseText, HTTP_ERRORS, type HttpError } from './errors.js';
import { forwardableHead, type ResponseHead } from './response-head.js';
import { couldContinueRequestHead, parseRequestHead, rawHeaderValue, type RequestHead } from './request-head.js';
import { deadlineAfter, unwatchDeadline, watchDeadline, type HasDeadline } from './deadline-sweeper.js';
import { writeAtTurnEnd, type HeldWriter } from './loop-turn.js';

const CRLFCRLF = Buffer.from('\r\n\r\n');
/** Bytes held unread (a pipelined backlog, a body not yet wanted) before the socket is paused. */
const MAX_HELD = 64 * 1024;
/**
 * A small response's head and body are joined into one buffer (one write) below this size, and
 * such a complete response is held for the end of the loop turn (loop-turn.ts).
 */
const JOIN_BELOW = 16 * 1024;
const OWNER = Symbol('hitless.rawHttpConnection');

/** What a raw connection needs from its frontend. */
export interface RawHost {
  readonly maxHeaderBytes: number;
  /** Timeouts of the service as configured now: first request's head, idle between requests. */
  headerTimeout(): number;
  idleTimeout(): number;
  /** Proxies one exchange (routing by the current config). */
  serve(exchange: RawExchange): void;
  /** Answers `error` on a connection with no request to serve (counted, logged), then closes it. */
  refuse(socket: Socket, error: HttpError): void;
  /** node:http takes the connection over, starting with `unread`; `clientEnded`: its FIN was read. */
  fallback(socket: Socket, unread: Buffer | null, clientEnded: boolean): void;
}

/** The raw connection behind a socket, if the raw path owns it (for the worker drain). */
export function rawConnectionOf(socket: Socket): RawConnection | undefined {
  return (socket as Owned)[OWNER];
}

type Owned = Socket & { [OWNER]?: RawConnection };

// The socket's listeners are these three module-level functions, shared by every connection: an
// idle keep-alive connection is mostly what it allocates, and a closure per listener per
// connection was a third of hitless's own cost per idle connection (bench:conns).
function onRawData(this: Owned, data: Buffer): void {
  this[OWNER]?.read(data);
}

function onRawEnd(this: Owned): void {
  this[OWNER]?.clientEnd();
}

function onRawClose(this: Owned): void {
  this[OWNER]?.closed();
}

/**
 * Refusals of heads cut short by a FIN, answered at most REFUSALS_PER_TURN per event-loop turn:
 * a wave of clients leaving together (the end of a slowloris attack) then costs every other
 * request a few milliseconds per turn instead of one long stall.
 */
const pendingRefusals: Array<{ host: RawHost; socket: Socket }> = [];
const REFUSALS_PER_TURN = 64;

function refuseSoon(host: RawHost, socket: Socket): void {
  if (pendingRefusals.push({ host, socket }) === 1) setImmediate(refuseSome);
}

function refuseSome(): void {
  for (const { host, socket } of pendingRefusals.splice(0, REFUSALS_PER_TURN)) {
    if (!socket.destroyed) host.refuse(socket, HTTP_ERRORS.INCOMPLETE_HEAD);
  }
  if (pendingRefusals.length > 0) setImmediate(refuseSome);
}

export class RawConnection implements HasDeadline, HeldWriter {
  deadline: number;
  /** Read once: Node asks the kernel again on every remoteAddress read. */
  readonly clientIp: string;
  /** Bytes read and not yet used: a pipelined request, or the start of one. */
  private buffered: Buffer | null = null;
  /** `buffered` holds the start of a head: its blank line is looked for from here on. */
  private scanFrom = 0;
  /** The buffer `buffered` grows in while a head arrives in pieces (see hold). */
  private store: Buffer | null = null;
  private awaitingHead = false;
  private exchange: RawExchange | null = null;
  /** Request body bytes still to come from the client for the current exchange. */
  private bodyRemaining = 0;
  private served = 0;
  /** Every later response says Connection: close and the connection ends after it. */
  private closing = false;
  /** Shutdown: the connection also ends as soon as it is idle. */
  private endWhenIdle = false;
  private clientEnded = false;
  private inNext = false;
  private paused = false;
  private detached = false;
  /**
   * A complete small response held for the end of the loop turn (loop-turn.ts). Every other write,
   * close or hand-over writes it first, so the client's bytes keep their order.
   */
  private heldOut: Buffer | string | null = null;

  constructor(
    readonly socket: Socket,
    private readonly host: RawHost,
  ) {
    (socket as Owned)[OWNER] = this;
    socket.setNoDelay(true);
    this.clientIp = socket.remoteAddress ?? '';
    socket.on('data', onRawData);
    socket.on('end', onRawEnd);
    socket.on('error', noop);
    socket.on('close', onRawClose);
    this.deadline = deadlineAfter(host.headerTimeout());
    watchDeadline(this);
    socket.resume();
  }

  /** No request in flight, nothing read ahead, nothing held or unwritten: it can move or close without loss. */
  get idle(): boolean {
    const s = this.socket;
    return this.exchange === null && this.buffered === null && this.heldOut === null && !s.destroyed && s.readableLength === 0 && s.writableLength === 0;
  }

  /** Shutdown or worker drain: idle now → closed; busy → closed after its current response. */
  closeAfterCurrent(closeIdle: boolean): void {
    this.closing = true;
    this.endWhenIdle = closeIdle;
    if (!closeIdle) return;
    this.writeHeld(); // as if written at once: then idle means what it meant before
    if (this.idle) this.closeNow();
  }

  onDeadline(): void {
    // Only a connection waiting for a request, or for the rest of an upload, times out here;
    // an exchange waiting on its endpoint has the endpoint's timeouts.
    const ex = this.exchange;
    if (ex === null && this.buffered !== null) {
      // A head begun and not finished in time (slowloris): answered as node:http does.
      this.release();
      this.host.refuse(this.socket, HTTP_ERRORS.HEADER_TIMEOUT);
    } else if (ex === null) this.destroy();
    else if (this.bodyRemaining > 0) ex.bodyTimedOut();
    else this.deadline = Infinity;
  }

  /** Bytes from the client (the socket's 'data'). */
  read(data: Buffer): void {
    let chunk: Buffer | null = data;
    const ex = this.exchange;
    let body: Buffer | null = null;
    // The deadline matters only while waiting on the client: a head sets its own in next(), and
    // exchangeDone the wait for the next request, so only an upload in progress refreshes it here.
    if (ex !== null && this.bodyRemaining > 0) {
      this.deadline = deadlineAfter(this.host.idleTimeout());
      if (data.length <= this.bodyRemaining) {
        body = data;
        chunk = null;
      } else {
        body = data.subarray(0, this.bodyRemaining);
        chunk = data.subarray(this.bodyRemaining);
      }
      this.bodyRemaining -= body.length;
    }
    if (chunk !== null) this.hold(chunk);
    // The body goes after the read-ahead is stored: delivering its last byte can complete the
    // exchange, which then looks at `buffered` for the next request.
    if (body !== null) ex!.body(body, this.bodyRemaining === 0);
    if (this.exchange === null) this.next();
    else this.updateFlow();
  }

  /**
   * Appends read-ahead bytes to `buffered`. A head arriving in many small pieces (a slow or
   * hostile client) grows one backing buffer by doubling instead of copying everything held on
   * every read: O(n) for a head sent byte by byte, not O(n²).
   */
  private hold(chunk: Buffer): void {
    const held = this.buffered;
    if (held === null) {
      this.buffered = chunk;
      return;
    }
    const length = held.length + chunk.length;
    let store = this.store;
    if (store === null || held.buffer !== store.buffer || held.byteOffset !== store.byteOffset || length > store.length) {
      // allocUnsafeSlow: a buffer of its own, never a slice of Node's shared pool.
      store = Buffer.allocUnsafeSlow(Math.max(2 * length, 1024));
      held.copy(store, 0);
      this.store = store;
    }
    chunk.copy(store, held.length);
    this.buffered = store.subarray(0, length);
  }

  /** The client's FIN (the socket's 'end'). */
  clientEnd(): void {
    this.clientEnded = true;
    if (this.exchange !== null || this.detached) return;
    if (this.buffered === null) return this.closeNow();
    // A head cut short by the client's FIN can never complete: 400, as llhttp would answer it,
    // without building a node:http parser to say so. That matters when thousands of slow clients
    // leave at once (bench:slowloris: handing each to node:http stalled the loop for ~1 s).
    this.release();
    refuseSoon(this.host, this.socket);
  }

  /** Ends the connection once what was written is flushed; nothing read from here on is served. */
  private closeNow(): void {
    this.release();
    this.socket.destroySoon();
  }

  /** Cuts the connection, after writing what is held (as a write made before it would have been). */
  destroy(): void {
    this.writeHeld();
    this.socket.destroy();
  }

  /** Holds a complete small response for the end of the loop turn, after what is already held. */
  writeLater(data: Buffer | string): void {
    // Something held is already registered for this turn's end: write it, hold this in its place.
    if (this.heldOut !== null) this.writeHeld();
    else writeAtTurnEnd(this);
    this.heldOut = data;
  }

  /** Writes the held response now: at the turn's end, or first thing before any other write or close. */
  writeHeld(): void {
    const data = this.heldOut;
    if (data === null) return;
    this.heldOut = null;
    if (this.socket.writable) this.socket.write(data, 'latin1');
  }

  /** The socket closed. */
  closed(): void {
    this.heldOut = null;
    unwatchDeadline(this);
    const ex = this.exchange;
    this.exchange = null;
    ex?.clientGone();
  }

  /** Starts the next request held in `buffered`, if there is one and nothing is in flight. */
  private next(): void {
    if (this.inNext) return;
    this.inNext = true;
    try {
      while (this.exchange === null && this.buffered !== null && !this.socket.destroyed && !this.detached) {
        const buf = this.buffered;
        const end = buf.indexOf(CRLFCRLF, this.scanFrom);
        if (end === -1) {
          // Part of a head (a big one in several segments, or a slow client): wait for the rest,
          // unless it is already too big or cannot become a head this path takes.
          if (buf.length > this.host.maxHeaderBytes || !couldContinueRequestHead(buf, this.scanFrom)) return this.detach(buf);
          this.scanFrom = buf.length > 3 ? buf.length - 3 : 0;
          if (!this.awaitingHead) {
            this.awaitingHead = true;
            // From its first byte, a later request's head has timeouts.header to arrive (the
            // first request's deadline has run since the connection was accepted).
            if (this.served > 0) this.deadline = deadlineAfter(this.host.headerTimeout());
          }
          break;
        }
        this.scanFrom = 0;
        this.store = null;
        this.awaitingHead = false;
        const head = end + 4 > this.host.maxHeaderBytes ? null : parseRequestHead(buf.toString('latin1', 0, end));
        if (head === null) return this.detach(buf);
        this.start(head, buf, end + 4);
      }
      this.updateFlow();
    } finally {
      this.inNext = false;
    }
  }

  private start(head: RequestHead, buf: Buffer, bodyStart: number): void {
    const ex = new RawExchange(this, head, this.closing);
    this.exchange = ex;
    this.served++;
    let rest: Buffer | null = bodyStart < buf.length ? buf.subarray(bodyStart) : null;
    let body: Buffer | null = null;
    this.bodyRemaining = head.contentLength;
    if (rest !== null && this.bodyRemaining > 0) {
      const take = Math.min(this.bodyRemaining, rest.length);
      body = rest.subarray(0, take);
      rest = take < rest.length ? rest.subarray(take) : null;
      this.bodyRemaining -= take;
    }
    this.buffered = rest;
    // The body has timeouts.idle between reads, from now: not what is left of the head's deadline.
    if (this.bodyRemaining > 0) this.deadline = deadlineAfter(this.host.idleTimeout());
    if (body !== null) ex.body(body, this.bodyRemaining === 0);
    else if (head.contentLength === 0) ex.bodyDone();
    this.host.serve(ex);
  }

  /** node:http takes over, from the first byte not used here. */
  private detach(unread: Buffer): void {
    this.release();
    const s = this.socket;
    s.off('error', noop);
    if (this.paused) s.resume();
    this.host.fallback(s, unread, this.clientEnded);
  }

  /**
   * Lets go of the socket: no more reads, timeouts or callbacks from here. For the fallback, and
   * for the worker drain handing an idle connection over to the next generation.
   */
  release(): void {
    this.writeHeld();
    this.detached = true;
    this.buffered = null;
    this.store = null;
    unwatchDeadline(this);
    const s = this.socket;
    s.off('data', onRawData);
    s.off('end', onRawEnd);
    s.off('close', onRawClose);
    // Assigned, not deleted: delete turns the socket into a slow dictionary-mode object.
    (s as Owned)[OWNER] = undefined;
  }

  /** The exchange's response is complete and its request body fully read. */
  exchangeDone(ex: RawExchange): void {
    if (this.exchange !== ex) return;
    this.exchange = null;
    // A client that half-closed after pipelining still gets every answer it asked for.
    if (ex.closeConnection || ((this.clientEnded || this.endWhenIdle) && this.buffered === null)) {
      this.closeNow();
      return;
    }
    this.deadline = deadlineAfter(this.host.idleTimeout());
    // A pipelined request starts on a later tick: the endpoint connection that carried this one
    // goes back to its pool first, and can carry the next.
    if (this.buffered !== null) queueMicrotask(() => this.next());
    else this.updateFlow();
  }

  /** Reads while the bytes it would pile up are wanted; pauses the socket otherwise. */
  updateFlow(): void {
    const ex = this.exchange;
    let pause: boolean;
    if (ex === null) pause = false;
    else if (this.bodyRemaining > 0) pause = ex.holdingBody;
    else pause = this.buffered !== null && this.buffered.length > MAX_HELD;
    if (pause === this.paused) return;
    this.paused = pause;
    // While hitless holds the body back (endpoint slow to read it), the client is not stalling:
    // the body's idle clock runs only while it is being read.
    if (this.bodyRemaining > 0) this.deadline = pause ? Infinity : deadlineAfter(this.host.idleTimeout());
    if (pause) this.socket.pause();
    else this.socket.resume();
  }

  get bodyOutstanding(): boolean {
    return this.bodyRemaining > 0;
  }
}

export class RawExchange implements ClientSide {
  /** request-head.ts takes HTTP/1.1 only. */
  readonly httpVersion = '1.1';
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly socket: Socket;
  readonly clientIp: string;
  status = 0;
  headSent = false;
  finished = false;
  bodyComplete = false;
  /** This response says Connection: close, and the connection ends after it. */
  closeConnection: boolean;
  private sink: BodySink | null = null;
  private queued: Buffer[] | null = null;
  private queuedBytes = 0;
  private sinkPaused = false;
  /** The response ended before the body was read: the rest is read and dropped. */
  private discarding = false;
  private pendingHead: string | null = null;
  private chunked = false;
  private watcher: ExchangeWatcher | null = null;
  private closed = false;

  constructor(
    private readonly conn: RawConnection,
    head: RequestHead,
    closing: boolean,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.rawHeaders = head.rawHeaders;
    this.socket = conn.socket;
    this.clientIp = conn.clientIp;
    this.closeConnection = head.close || closing;
  }

  closeAfter(): void {
    if (!this.headSent) this.closeConnection = true;
  }

  get gone(): boolean {
    return this.socket.destroyed;
  }

  /** Body bytes are arriving faster than they are taken (no sink yet, or the sink is full). */
  get holdingBody(): boolean {
    if (this.discarding) return false;
    return this.sink === null ? this.queuedBytes > MAX_HELD : this.sinkPaused;
  }

  body(chunk: Buffer, last: boolean): void {
    if (this.discarding) {
      if (last) this.bodyDone();
      return;
    }
    if (this.sink !== null) {
      this.sink.onBody(chunk);
    } else {
      (this.queued ??= []).push(chunk);
      this.queuedBytes += chunk.length;
    }
    if (last) this.bodyDone();
  }

  bodyDone(): void {
    this.bodyComplete = true;
    if (this.discarding) {
      if (this.finished) this.conn.exchangeDone(this);
      return;
    }
    this.sink?.onBodyEnd();
  }

  readBody(sink: BodySink): void {
    this.sink = sink;
    const queued = this.queued;
    this.queued = null;
    this.queuedBytes = 0;
    if (queued !== null) for (const chunk of queued) sink.onBody(chunk);
    if (this.bodyComplete) sink.onBodyEnd();
    this.conn.updateFlow();
  }

  pauseBody(): void {
    this.sinkPaused = true;
    this.conn.updateFlow();
  }

  resumeBody(): void {
    this.sinkPaused = false;
    this.conn.updateFlow();
  }

  sendHead(head: ResponseHead): boolean {
    // The reason phrase too: a bare LF in it would let an endpoint inject a header line.
    if (!forwardableHead(head)) return false;
    const h = head.headers;
    let text = `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
    for (let i = 0; i < h.length; i += 2) text += `${h[i]}: ${h[i + 1]}\r\n`;
    const status = head.status;
    const bodiless = this.method === 'HEAD' || status === 204 || status === 304 || status < 200 || head.framing === 'none';
    if (!bodiless && head.framing !== 'length') {
      // The endpoint's own chunking was decoded (or it delimits by closing): chunk it again.
      this.chunked = true;
      text += 'transfer-encoding: chunked\r\n';
    }
    if (this.closeConnection) text += 'connection: close\r\n';
    this.pendingHead = `${text}\r\n`;
    this.headSent = true;
    this.status = status;
    return true;
  }

  withdrawHead(): boolean {
    if (this.pendingHead === null || this.finished) return false;
    this.pendingHead = null;
    this.headSent = false;
    this.status = 0;
    this.chunked = false;
    return true;
  }

  sendBody(chunk: Buffer, last: boolean): boolean {
    const socket = this.socket;
    const head = this.pendingHead;
    this.pendingHead = null;
    let ok: boolean;
    this.conn.writeHeld(); // a pipelined response before this one
    if (this.chunked && chunk.length === 0) {
      // An empty chunk would read as the last one: only the head (if still pending) goes out.
      ok = head === null || socket.write(head, 'latin1');
    } else if (this.chunked) {
      socket.cork();
      if (head !== null) socket.write(head, 'latin1');
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else if (head === null) {
      ok = socket.write(chunk);
    } else if (chunk.length < JOIN_BELOW) {
      const joined = Buffer.allocUnsafe(head.length + chunk.length);
      joined.write(head, 0, 'latin1');
      chunk.copy(joined, head.length);
      // The whole response: written with the turn's other writes.
      if (last) {
        this.conn.writeLater(joined);
        ok = true;
      } else ok = socket.write(joined);
    } else {
      socket.cork();
      socket.write(head, 'latin1');
      ok = socket.write(chunk);
      socket.uncork();
    }
    if (last) this.endResponse();
    return ok;
  }

  onceDrained(callback: () => void): void {
    this.socket.once('drain', callback);
  }

  endResponse(): void {
    if (this.finished) return;
    const head = this.pendingHead;
    this.pendingHead = null;
    // The rest of a response (a bodiless one's head, the chunked body's end): small and final.
    if (this.chunked) this.conn.writeLater(head === null ? '0\r\n\r\n' : `${head}0\r\n\r\n`);
    else if (head !== null) this.conn.writeLater(head);
    this.finish();
  }

  sendError(error: HttpError, close: boolean): void {
    if (this.headSent) return this.destroy();
    if (close) this.closeConnection = true;
    this.headSent = true;
    this.status = error.status;
    this.conn.writeLater(errorResponseText(error.status, STATUS_CODES[error.status] ?? 'Error', error.code, error.text, this.closeConnection));
    this.finish();
  }

  destroy(): void {
    this.conn.destroy();
  }

  watch(watcher: ExchangeWatcher): void {
    this.watcher = watcher;
  }

  /** The client sent no body byte for timeouts.idle while hitless was reading it. */
  bodyTimedOut(): void {
    const watcher = this.watcher;
    if (watcher === null || this.finished) this.destroy();
    else watcher.onBodyTimeout();
  }

  header(lowerName: string): string | undefined {
    return rawHeaderValue(this.rawHeaders, lowerName);
  }

  /** The socket closed while this exchange was in flight. */
  clientGone(): void {
    this.notifyClosed();
  }

  private finish(): void {
    this.finished = true;
    this.notifyClosed();
    if (this.bodyComplete || this.closeConnection) {
      this.conn.exchangeDone(this);
      return;
    }
    // The endpoint answered before the upload was over: read the rest and drop it, so the
    // client's next request on this connection is found where it starts.
    this.discarding = true;
    this.sink = null;
    this.queued = null;
    this.queuedBytes = 0;
    this.conn.updateFlow();
  }

  private notifyClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher?.onClientClose();
  }
}

function noop(): void {}
