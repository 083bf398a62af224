// The HTTP side of one listening address. Each connection starts on the raw HTTP/1.1 path
// (raw-client.ts); whatever that path does not take is handed to node:http, which keeps the
// connection from then on. Each request is routed by the runtime the listener has *now*, so a
// keep-alive client's next request follows the new config while its connection stays open
// (issue 3's promise).
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ServiceRuntime } from '../service-runtime.js';
import type { ServiceState } from '../state-registry.js';
import { proxyHttpRequest } from './http-proxy.js';
import { closeAfterThis, isClosing, NodeClient } from './node-client.js';
import type { ClientSide } from './client-side.js';
import { RawConnection, rawConnectionOf, type RawExchange, type RawHost } from './raw-client.js';
import { proxyUpgrade } from './upgrade-proxy.js';
import { HTTP_ERRORS, rawErrorResponse, type HttpError } from './errors.js';
import { observeRefusal } from '../exchange-observer.js';
import { answerHalfClosedClients, keepsAlive, startConnectionChecks } from '../../../util/node-internals.js';

/** How often Node checks header/request timeouts; its 30 s default makes slowloris cheap. */
const TIMEOUT_CHECK_MS = 1_000;

export type RuntimeLookup = () => ServiceRuntime | undefined;

export class HttpFrontend implements RawHost {
  readonly server: Server;
  /** The last http runtime seen: serves requests arriving on a listener that is being drained. */
  private last: ServiceRuntime;
  private draining = false;
  /** The listener was removed or turned to tcp: requests finish on `last`, then connections close. */
  private stale = false;
  private retired = false;
  /** Connections handed to this frontend and still open. */
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly maxHeaderBytes: number,
    private readonly lookup: RuntimeLookup,
    initial: ServiceRuntime,
  ) {
    this.last = initial;
    this.server = createServer(
      { maxHeaderSize: maxHeaderBytes, connectionsCheckingInterval: TIMEOUT_CHECK_MS, requestTimeout: 0, noDelay: true, keepAlive: true, requireHostHeader: false },
      (req, res) => this.onRequest(req, res),
    );
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => proxyUpgrade(req, socket, head, this.current()));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => this.refuse(socket, HTTP_ERRORS.METHOD_NOT_ALLOWED));
    // An Expect other than 100-continue. Node's own answer (417) was neither counted nor logged,
    // and a request pipelined behind it could still get an answer after that 417's Connection:
    // close. hitless answers it itself and the connection ends with it; the body is not read.
    this.server.on('checkExpectation', (req: IncomingMessage) => {
      req.resume();
      if (isClosing(req.socket)) return;
      closeAfterThis(req.socket);
      this.refuse(req.socket, HTTP_ERRORS.EXPECTATION_FAILED);
    });
    // With a listener, node:http no longer destroys a socket on timeouts.idle by itself: a request
    // whose body stalled is answered (408) and logged first; anything else closes as before.
    this.server.on('timeout', (socket: Socket) => {
      if (!inFlight.get(socket)?.timedOut()) socket.destroy();
    });
    // A client that half-closes after its request still wants the answer (RFC 9112 §9.6:
    // a half-close does not mean the client lost interest). By default node:http aborts the
    // requests in flight on the client's FIN; with this it answers them, then closes.
    answerHalfClosedClients(this.server);
    // This server never listens (the listener pool accepts for it), but Node starts tracking
    // connections, and with it the headersTimeout (slowloris) checks, only on 'listening':
    // without this, timeouts.header was never enforced.
    startConnectionChecks(this.server);
    this.configure(initial);
  }

  /** Takes an accepted connection: the raw path reads it first. */
  accept(socket: Socket): void {
    const runtime = this.current(); // the connection's first timeouts come from the config as it is now
    const state = runtime.state;
    if (runtime.maxConnections !== null && state.connections >= runtime.maxConnections) {
      // Over the cap, as in tcp mode: closed at once with a FIN and counted as rejected. Not a 503:
      // this may be an idle keep-alive connection handed over by a draining generation, where an
      // unsolicited answer would be read as the answer to the client's next request.
      state.rejected++;
      socket.on('error', () => {});
      socket.end();
      return;
    }
    state.connections++;
    this.sockets.add(socket);
    (socket as Tagged)[FRONTEND] = this;
    (socket as Tagged)[COUNTED] = state;
    socket.on('close', leaveFrontend);
    new RawConnection(socket, this);
  }

  /** node:http takes the connection over from the raw path, starting with the bytes it had read. */
  fallback(socket: Socket, unread: Buffer | null, clientEnded: boolean): void {
    if (!clientEnded) {
      if (unread !== null) socket.unshift(unread);
      this.server.emit('connection', socket);
      socket.resume();
      return;
    }
    // The client half-closed after pipelining: its 'end' is past, and a stream takes no unshift
    // after that. node:http reads any Duplex handed to it through 'data' and 'end' (the
    // documented use of the 'connection' event), so the rest goes to it that way.
    this.server.emit('connection', socket);
    if (unread !== null) socket.emit('data', unread);
    socket.emit('end');
  }

  headerTimeout(): number {
    return this.last.config.timeouts.header;
  }

  idleTimeout(): number {
    return this.last.config.timeouts.idle;
  }

  serve(exchange: RawExchange): void {
    this.dispatch(exchange);
  }

  /** A connection handed to this frontend closed. */
  forget(socket: Socket): void {
    this.sockets.delete(socket);
    if (this.retired && this.sockets.size === 0) this.server.close();
  }

  /**
   * No new connections will come (listener removed, or a replacement frontend took over). Once
   * the ones it has are gone, close the server: that stops Node's timeout-check interval, which
   * would otherwise keep every retired frontend alive (a leak under a storm of applies).
   */
  retire(): void {
    this.retired = true;
    if (this.sockets.size === 0) this.server.close();
  }

  /** Timeouts that Node reads live; called when an apply changes the service's runtime. */
  configure(runtime: ServiceRuntime): void {
    const t = runtime.config.timeouts;
    this.server.headersTimeout = t.header;
    // One inactivity timeout for the whole connection (idle keep-alive included). A separate
    // keepAliveTimeout would make Node re-arm a socket timer twice per request.
    this.server.keepAliveTimeout = 0;
    this.server.timeout = t.idle;
    this.last = runtime;
  }

  /** Shutdown: idle keep-alive connections close now, busy ones right after their current response. */
  drain(): void {
    this.draining = true;
    this.server.closeIdleConnections();
    for (const socket of this.sockets) rawConnectionOf(socket)?.closeAfterCurrent(true);
  }

  private current(): ServiceRuntime {
    const runtime = this.lookup();
    if (runtime && runtime.config.mode === 'http') {
      if (runtime !== this.last) this.configure(runtime);
      this.stale = false;
      return runtime;
    }
    // The listener was removed or turned to tcp: finish this request on the last http rules,
    // then close the connection in an orderly way (Connection: close), never mid-request.
    this.stale = true;
    return this.last;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    // Pipelined after a response that closes the connection: never proxied, never answered.
    if (isClosing(socket)) return void req.resume();
    // The client asked to close (Connection: close, or HTTP/1.0 without keep-alive).
    if (!keepsAlive(res)) closeAfterThis(socket);
    const client = new NodeClient(req, res);
    inFlight.set(socket, client);
    res.once('close', () => {
      if (inFlight.get(socket) === client) inFlight.delete(socket);
    });
    this.dispatch(client);
  }

  /** Malformed or too-slow requests that llhttp rejected: answer once, count, log, close; never throw. */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    // Bytes after a closing response: the connection ends with that response, nothing more is said.
    if (isClosing(socket)) return;
    if (!socket.writable || ((err as { bytesParsed?: number }).bytesParsed === 0 && err.code === 'ECONNRESET')) {
      socket.destroy();
      return;
    }
    this.refuse(socket, PARSE_ERRORS[err.code ?? ''] ?? HTTP_ERRORS.BAD_REQUEST);
  }

  /** An answer before any request could be proxied: written, counted and logged, then the connection closes. */
  refuse(socket: Socket, error: HttpError): void {
    socket.on('error', () => {});
    observeRefusal(this.current(), socket, error.status, error.code);
    socket.end(rawErrorResponse(error.status, STATUS_CODES[error.status] ?? 'Error', error.code));
    socket.destroySoon();
  }

  /** One request, from either parser, routed by the config as it is now. */
  private dispatch(client: ClientSide): void {
    const runtime = this.current();
    if (this.draining || this.stale) client.closeAfter();
    proxyHttpRequest(client, runtime);
  }
}

/** The frontend a socket was handed to, so that one shared 'close' function can tell it. */
const FRONTEND = Symbol('hitless.httpFrontend');
/** The service whose connection count a socket holds (decremented once, at 'close'). */
const COUNTED = Symbol('hitless.countedIn');
type Tagged = Socket & { [FRONTEND]?: HttpFrontend; [COUNTED]?: ServiceState };

/** One function for every socket (no closure per connection): 'close' is emitted once. */
function leaveFrontend(this: Tagged): void {
  this[FRONTEND]?.forget(this);
  const state = this[COUNTED];
  if (state) state.connections--;
}

/** The request node:http is serving on a socket, for its timeout handler. */
const inFlight = new WeakMap<Socket, NodeClient>();

const PARSE_ERRORS: Record<string, HttpError> = {
  HPE_HEADER_OVERFLOW: HTTP_ERRORS.HEADERS_TOO_LARGE,
  ERR_HTTP_REQUEST_TIMEOUT: HTTP_ERRORS.HEADER_TIMEOUT,
};
