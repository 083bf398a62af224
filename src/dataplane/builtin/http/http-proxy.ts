// One HTTP request through a service: route to a cluster, pick an endpoint, send the request on
// one of the endpoint's pooled connections, stream the answer back with backpressure, retry when
// that is safe.
import type { BalancerEndpoint } from '../../balancers/balancer.js';
import type { ClusterRuntime, ServiceRuntime } from '../service-runtime.js';
import { FAULT_ERROR, HTTP_ERRORS, type HttpError } from './errors.js';
import type { BodySink, ClientSide, ExchangeWatcher } from './client-side.js';
import { requestHead, scanRequestHeaders, type BodyFraming } from './headers.js';
import { resolveTarget } from './request-target.js';
import { poolFor } from './upstream-pool.js';
import type { ExchangeHandler, UpstreamConnection, UpstreamError } from './upstream-connection.js';
import type { ResponseHead } from './response-head.js';
import { recordFailure, recordSuccess } from '../passive-health.js';
import { observeHttpExchange } from '../exchange-observer.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const CHUNKED_END = '0\r\n\r\n';

const ERROR_FOR: Record<UpstreamError['kind'], HttpError> = {
  CONNECT_FAILED: HTTP_ERRORS.CONNECT_FAILED,
  CONNECT_TIMEOUT: HTTP_ERRORS.CONNECT_TIMEOUT,
  TLS_VERIFY: HTTP_ERRORS.TLS_VERIFY,
  TLS_HANDSHAKE: HTTP_ERRORS.TLS_HANDSHAKE,
  RESPONSE_TIMEOUT: HTTP_ERRORS.RESPONSE_TIMEOUT,
  BODY_TIMEOUT: HTTP_ERRORS.UPSTREAM_FAILED,
  RESET: HTTP_ERRORS.UPSTREAM_FAILED,
  BAD_RESPONSE: HTTP_ERRORS.BAD_RESPONSE,
};

export function proxyHttpRequest(client: ClientSide, runtime: ServiceRuntime): void {
  const service = runtime.state;
  service.total++;
  service.active++;
  const url = client.url;
  if (url.length > runtime.config.limits.maxUrlBytes) return refuse(runtime, client, HTTP_ERRORS.URL_TOO_LONG);
  // A request line without a version (llhttp reads it as HTTP/0.9) has no place in HTTP/1.1.
  if (client.httpVersion !== '1.1' && client.httpVersion !== '1.0') return refuse(runtime, client, HTTP_ERRORS.BAD_VERSION);
  const target = resolveTarget(client.method, url);
  if (target === null) return refuse(runtime, client, HTTP_ERRORS.BAD_TARGET);
  // One pass over the raw headers gives the upstream headers, the host and the body framing,
  // so Node never has to build req.headers (a lower-cased object) for a proxied request.
  const scan = scanRequestHeaders(client.rawHeaders, { clientIp: client.clientIp, proto: (client.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http', upgrade: false }, target.authority);
  if (scan.fault !== null) return refuse(runtime, client, FAULT_ERROR[scan.fault]);
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused (node:http's own check is off, so
  // that this answer is hitless's: coded, counted and logged like the others).
  if (scan.host === undefined && client.httpVersion !== '1.0') return refuse(runtime, client, HTTP_ERRORS.MISSING_HOST);
  // RFC 9112 §3.2.2: an absolute-form target's authority replaces Host, for routing and upstream.
  const host = target.authority ?? scan.host;
  const cluster = runtime.route(host, target.path);
  const framing: BodyFraming = { chunked: scan.chunked, contentLength: scan.contentLength };
  new ProxiedRequest(client, runtime, cluster, scan.headers, framing, target.path, host).attempt(false);
}


/** A request hitless will not forward: answered here, logged, and the connection closes after it. */
function refuse(runtime: ServiceRuntime, client: ClientSide, error: HttpError): void {
  client.watch(new Refusal(runtime, client, error));
  answer(runtime, client, error, true);
}

class Refusal implements ExchangeWatcher {
  private readonly started = performance.now();

  constructor(
    private readonly runtime: ServiceRuntime,
    private readonly client: ClientSide,
    private readonly error: HttpError,
  ) {}

  onClientClose(): void {
    this.runtime.state.active--;
    observeHttpExchange(this.runtime, this.client, this.started, null, null, 0, 0, 0, this.error.code);
  }

  onBodyTimeout(): void {
    this.client.destroy();
  }
}

function answer(runtime: ServiceRuntime, client: ClientSide, error: HttpError, close = false): void {
  runtime.state.answeredLocally(error.status, error.code);
  client.sendError(error, close);
}

class ProxiedRequest implements ExchangeHandler, BodySink, ExchangeWatcher {
  /** Endpoints tried so far; the set of their keys is built only when a second is needed. */
  private tries = 0;
  private tried: Set<string> | null = null;
  private endpoint: BalancerEndpoint | null = null;
  private conn: UpstreamConnection | null = null;
  private readonly hasBody: boolean;
  /** The client's body had no declared length: it is chunked again towards the endpoint. */
  private readonly chunked: boolean;
  /** Declared request body length, for byte counters and the access log. */
  private readonly bytesIn: number;
  private bodyAttached = false;
  private bodyEnded = false;
  /** True once any body byte left the client's stream: from then on the request cannot be replayed. */
  private bodySent = false;
  /** A pooled connection the endpoint had dropped was replaced by a fresh one (once per request). */
  private staleRetried = false;
  private ended = false;
  private responseStarted = false;
  private settled = false;
  private lastError: HttpError | null = null;
  /** For the latency histogram and access log (observability): one clock read, one counter. */
  private readonly started = performance.now();
  private bytesOut = 0;

  constructor(
    private readonly client: ClientSide,
    private readonly runtime: ServiceRuntime,
    private readonly cluster: ClusterRuntime,
    private readonly headers: string[],
    private readonly framing: BodyFraming,
    /** Origin-form (or `*`): what the endpoint's request line carries. */
    private readonly path: string,
    /** The host routed on; undefined for an HTTP/1.0 request without one (the endpoint's address is sent). */
    private readonly host: string | undefined,
  ) {
    this.chunked = framing.chunked;
    this.hasBody = framing.chunked || framing.contentLength > 0;
    this.bytesIn = framing.contentLength > 0 ? framing.contentLength : 0;
    client.watch(this);
  }

  /** sameEndpoint: the last try failed on a stale pooled connection; use a fresh one to the same endpoint. */
  attempt(sameEndpoint: boolean): void {
    const config = this.runtime.config;
    let endpoint: BalancerEndpoint | undefined;
    if (sameEndpoint) {
      endpoint = this.endpoint!;
      this.runtime.state.retries++;
    } else {
      const tries = this.tries;
      if (tries > 0) this.tried ??= new Set([this.endpoint!.key]);
      endpoint = tries <= config.retries ? this.cluster.balancer.pick({ clientKey: this.client.clientIp, exclude: this.tried ?? undefined }) : undefined;
      if (!endpoint) {
        this.finishWith(tries === 0 ? HTTP_ERRORS.NO_ENDPOINT : (this.lastError ?? HTTP_ERRORS.CONNECT_FAILED));
        return;
      }
      if (tries > 0) {
        this.runtime.state.retries++;
        this.tried!.add(endpoint.key);
      }
      this.tries++;
      this.endpoint = endpoint;
    }
    endpoint.state.active++;
    endpoint.state.total++;
    const conn = (this.conn = poolFor(endpoint, config.timeouts.connect, this.cluster.config.upstreamTls, this.runtime.state.upstreamTls).acquire(sameEndpoint));
    const { method } = this.client;
    const head = requestHead(method, this.path, this.host ?? endpoint.key, this.headers, this.framing);
    conn.start(this, method, head, config.timeouts.response, config.timeouts.idle);
  }

  onReady(): void {
    if (!this.hasBody) return this.conn!.endRequest();
    // The body is read only now that the endpoint is connected: a connect failure leaves it
    // unread, so the request can still go to another endpoint.
    if (!this.bodyAttached) {
      this.bodyAttached = true;
      this.client.readBody(this);
    } else if (this.bodyEnded) this.onBodyEnd();
    else this.client.resumeBody();
  }

  onBody(chunk: Buffer): void {
    this.bodySent = true;
    const conn = this.conn;
    if (conn === null) return;
    if (!conn.writeBody(chunk, this.chunked)) this.client.pauseBody();
  }

  onBodyEnd(): void {
    this.bodyEnded = true;
    this.bodySent = true; // the request is complete on the wire: replaying it could repeat it
    this.conn?.endRequest(this.chunked ? CHUNKED_END : undefined);
  }

  onDrain(): void {
    this.client.resumeBody();
  }

  onHead(head: ResponseHead): boolean {
    const endpoint = this.endpoint!;
    const client = this.client;
    if (client.gone) {
      this.release();
      return false;
    }
    if (!client.sendHead(head)) {
      // A header name or value a client must never see (control characters, obs-fold...).
      recordFailure(endpoint.state, this.cluster.config.health.passive);
      this.release();
      this.finishWith(HTTP_ERRORS.BAD_RESPONSE);
      return false;
    }
    this.responseStarted = true;
    if (head.status >= 500) recordFailure(endpoint.state, this.cluster.config.health.passive);
    else recordSuccess(endpoint.state);
    this.runtime.state.responses[Math.floor(head.status / 100)]++;
    return true;
  }

  onData(chunk: Buffer, last: boolean): boolean {
    this.bytesOut += chunk.length;
    if (last) {
      // The declared length is complete: headers and the last bytes go out in one write, without
      // the cork-until-next-tick that write() then end() costs for every small response.
      this.ended = true;
      this.client.sendBody(chunk, true);
      return true;
    }
    if (this.client.sendBody(chunk, false)) return true;
    // Backpressure: the endpoint's connection stops reading until the client has drained.
    this.client.onceDrained(() => this.conn?.resume());
    return false;
  }

  onEnd(): void {
    this.release();
    if (!this.ended) this.client.endResponse();
    // The endpoint answered before reading the whole body (a 413, say): read and drop the rest,
    // as Node does for an unread body, so the client's next request on this connection is parsed.
    if (this.bodyAttached && !this.client.bodyComplete) this.client.resumeBody();
  }

  onError(err: UpstreamError): void {
    this.release();
    if (this.settled) return;
    const status = this.client.status;
    if (this.responseStarted && this.client.withdrawHead()) {
      // The endpoint failed after its head, before any byte of it reached the client: the
      // client gets a clean 502 instead of an empty reply.
      this.responseStarted = false;
      this.runtime.state.responses[Math.floor(status / 100)]--;
      recordFailure(this.endpoint!.state, this.cluster.config.health.passive);
      this.finishWith(ERROR_FOR[err.kind]);
      return;
    }
    if (this.responseStarted) {
      // Bytes already went to the client: nothing can be retried or answered; cut it so the
      // client sees a truncated response rather than a silently short one.
      this.settled = true;
      this.client.destroy();
      return;
    }
    if (this.client.gone) return;
    const replayable = this.replayable(err);
    // A pooled connection the endpoint closed while idle is not the endpoint failing: replace it
    // with a fresh connection to the same endpoint, and do not count it against its health.
    // (One found closed before the request was written is such a connection too, reused or not.)
    if (err.kind === 'RESET' && (err.reused || !err.sent) && err.beforeResponse && replayable && !this.staleRetried) {
      this.staleRetried = true;
      this.attempt(true);
      return;
    }
    recordFailure(this.endpoint!.state, this.cluster.config.health.passive);
    this.lastError = ERROR_FOR[err.kind];
    if (replayable && err.kind !== 'RESPONSE_TIMEOUT' && err.kind !== 'BAD_RESPONSE') {
      this.attempt(false);
      return;
    }
    this.finishWith(this.lastError);
  }

  /**
   * Before any response byte: a connect failure never reached the endpoint; a reset after the
   * request was sent may have, so only an idempotent request, or one whose body had not started
   * (the endpoint cannot have acted on half a request), is replayed.
   */
  private replayable(err: UpstreamError): boolean {
    if (!err.beforeResponse || this.bodySent) return false;
    // Nothing of it reached the endpoint (the connection failed before the write).
    if (!err.sent) return true;
    // A failed TLS handshake is a failed connect: no request byte reached the endpoint.
    if (err.kind === 'CONNECT_FAILED' || err.kind === 'CONNECT_TIMEOUT' || err.kind === 'TLS_VERIFY' || err.kind === 'TLS_HANDSHAKE') return true;
    return this.hasBody || IDEMPOTENT.has(this.client.method);
  }

  private finishWith(error: HttpError): void {
    if (this.settled) return;
    this.settled = true;
    this.lastError = error; // what the access log reports
    // A body we began to read and then abandoned cannot be resynchronised: close after answering.
    answer(this.runtime, this.client, error, this.bodyAttached && !this.client.bodyComplete);
  }

  /** The exchange with the current endpoint is over (the connection went back to its pool or closed). */
  private release(): void {
    if (this.conn === null) return;
    this.conn = null;
    this.endpoint!.state.active--;
    if (this.bodyAttached && !this.client.bodyComplete) this.client.pauseBody();
  }

  /**
   * The client stopped sending its body for longer than timeouts.idle: the endpoint's copy is
   * truncated, so its connection is dropped (never reused), and the client gets a 408 when it has
   * no response yet. Logged like every answer hitless gives.
   */
  onBodyTimeout(): void {
    const conn = this.conn;
    if (conn !== null) {
      this.release();
      conn.abort();
    }
    if (this.responseStarted || this.settled) return this.client.destroy();
    this.settled = true;
    this.lastError = HTTP_ERRORS.BODY_TIMEOUT;
    answer(this.runtime, this.client, HTTP_ERRORS.BODY_TIMEOUT, true);
  }

  onClientClose(): void {
    this.runtime.state.active--;
    const own = this.settled && !this.responseStarted ? (this.lastError?.code ?? null) : null;
    observeHttpExchange(this.runtime, this.client, this.started, this.cluster.config.name, this.endpoint, this.tries, this.bytesIn, this.bytesOut, own);
    if (!this.client.finished && this.conn !== null) {
      this.settled = true;
      const conn = this.conn;
      this.release();
      conn.abort();
    }
  }
}
