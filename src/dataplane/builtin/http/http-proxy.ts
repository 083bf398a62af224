// One HTTP request through a service: route to a cluster, pick an endpoint, dispatch on the
// endpoint's undici pool, stream the answer back with backpressure, retry when that is safe.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { BalancerEndpoint } from '../../balancers/balancer.js';
import type { ClusterRuntime, ServiceRuntime } from '../service-runtime.js';
import { BodyRelay } from './body-relay.js';
import { HTTP_ERRORS, sendHttpError, type HttpError } from './errors.js';
import { clientResponseHeaders, scanned, scannedResponse, upstreamRequestHeaders } from './headers.js';
import { poolFor } from './upstream-pool.js';
import { recordFailure, recordSuccess } from '../passive-health.js';
import { observeHttpExchange } from '../exchange-observer.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** Errors that mean the endpoint never saw the request: always safe to try another endpoint. */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

export function proxyHttpRequest(req: IncomingMessage, res: ServerResponse, runtime: ServiceRuntime): void {
  const service = runtime.state;
  service.total++;
  service.active++;
  const url = req.url ?? '/';
  if (url.length > runtime.config.limits.maxUrlBytes) {
    res.once('close', () => service.active--);
    return answer(runtime, res, HTTP_ERRORS.URL_TOO_LONG, true);
  }
  // One pass over the raw headers gives the upstream headers, the host and the body framing,
  // so Node never has to build req.headers (a lower-cased object) for a proxied request.
  const headers = upstreamRequestHeaders(req.rawHeaders, { clientIp: req.socket.remoteAddress ?? '', proto: 'http', upgrade: false });
  const cluster = runtime.route(scanned.host, url);
  new ProxiedRequest(req, res, runtime, cluster, headers, scanned.hasBody, scanned.contentLength).attempt();
}

function answer(runtime: ServiceRuntime, res: ServerResponse, error: HttpError, close = false): void {
  runtime.state.failed++;
  runtime.state.responses[Math.floor(error.status / 100)]++;
  sendHttpError(res, error, close);
}

class ProxiedRequest implements Dispatcher.DispatchHandler {
  private tried: Set<string> | null = null;
  private endpoint: BalancerEndpoint | null = null;
  private relay: BodyRelay | null = null;
  private abortUpstream: ((err: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  /** The response's declared length (-1: none); when the bytes reach it, the response is ended. */
  private lastByte = -1;
  private ended = false;
  private responseStarted = false;
  private settled = false;
  private inFlight = false;
  /** For the latency histogram and access log (observability): one clock read, one counter. */
  private readonly started = performance.now();
  private bytesOut = 0;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly runtime: ServiceRuntime,
    private readonly cluster: ClusterRuntime,
    private readonly headers: string[],
    private readonly hasBody: boolean,
    /** Declared request body length, for byte counters and the access log. */
    private readonly bytesIn: number,
  ) {
    res.once('close', this.onClientClose);
  }

  attempt(): void {
    const config = this.runtime.config;
    const tries = this.tried?.size ?? 0;
    const endpoint = tries <= config.retries ? this.cluster.balancer.pick({ clientKey: this.req.socket.remoteAddress, exclude: this.tried ?? undefined }) : undefined;
    if (!endpoint) {
      this.finishWith(tries === 0 ? HTTP_ERRORS.NO_ENDPOINT : (this.lastError ?? HTTP_ERRORS.CONNECT_FAILED));
      return;
    }
    if (tries > 0) this.runtime.state.retries++;
    (this.tried ??= new Set()).add(endpoint.key);
    this.endpoint = endpoint;
    endpoint.state.active++;
    endpoint.state.total++;
    this.inFlight = true;
    this.relay = this.hasBody ? new BodyRelay(this.req) : null;
    poolFor(endpoint, config.timeouts.connect).dispatch(
      {
        path: this.req.url ?? '/',
        method: this.req.method ?? 'GET',
        headers: this.headers,
        body: this.relay,
        headersTimeout: config.timeouts.response,
        bodyTimeout: config.timeouts.idle,
      },
      this,
    );
  }

  private lastError: HttpError | null = null;

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // 1xx: Node already answered Expect: 100-continue itself
    this.responseStarted = true;
    const endpoint = this.endpoint!;
    if (statusCode >= 500) recordFailure(endpoint.state, this.cluster.config.health.passive);
    else recordSuccess(endpoint.state);
    this.runtime.state.responses[Math.floor(statusCode / 100)]++;
    if (this.res.destroyed) return false;
    this.res.writeHead(statusCode, statusText, clientResponseHeaders(rawHeaders));
    this.lastByte = scannedResponse.contentLength;
    this.resumeUpstream = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    if (this.bytesOut === this.lastByte) {
      // The declared length is complete: headers and the last bytes go out in one write, without
      // the cork-until-next-tick that write() then end() costs for every small response.
      this.ended = true;
      this.res.end(chunk);
      return true;
    }
    if (this.res.write(chunk)) return true;
    // Backpressure: undici stops reading until the client has drained what was written.
    this.res.once('drain', this.onDrain);
    return false;
  }

  private readonly onDrain = (): void => {
    this.resumeUpstream?.();
  };

  onComplete(): void {
    this.release();
    if (!this.ended) this.res.end();
  }

  onError(err: Error): void {
    this.release();
    if (this.settled) return;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const endpoint = this.endpoint!;
    if (this.responseStarted) {
      // Bytes already went to the client: nothing can be retried or answered; cut it so the
      // client sees a truncated response rather than a silently short one.
      this.settled = true;
      this.res.destroy(err);
      return;
    }
    const connectFailure = CONNECT_ERRORS.has(code);
    if (code !== 'UND_ERR_ABORTED') recordFailure(endpoint.state, this.cluster.config.health.passive);
    this.lastError =
      code === 'UND_ERR_CONNECT_TIMEOUT' ? HTTP_ERRORS.CONNECT_TIMEOUT
      : code === 'UND_ERR_HEADERS_TIMEOUT' ? HTTP_ERRORS.RESPONSE_TIMEOUT
      : connectFailure ? HTTP_ERRORS.CONNECT_FAILED
      : HTTP_ERRORS.UPSTREAM_FAILED;
    if (this.canRetry(connectFailure, code)) {
      this.attempt();
      return;
    }
    this.finishWith(this.lastError);
  }

  /**
   * Before any response byte: a connect failure never reached the endpoint; a reset of a reused
   * connection did, so only idempotent requests whose body (if any) was not sent are replayed.
   */
  private canRetry(connectFailure: boolean, code: string): boolean {
    if (this.res.destroyed || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_ABORTED') return false;
    const bodySent = this.relay?.started ?? false;
    if (connectFailure) return !bodySent;
    return !bodySent && IDEMPOTENT.has(this.req.method ?? 'GET');
  }

  private finishWith(error: HttpError): void {
    if (this.settled) return;
    this.settled = true;
    this.lastError = error; // what the access log reports
    // A body we began to read and then abandoned cannot be resynchronised: close after answering.
    answer(this.runtime, this.res, error, this.relay?.started === true && !this.req.complete);
  }

  private release(): void {
    if (this.inFlight) {
      this.endpoint!.state.active--;
      this.inFlight = false;
    }
    this.abortUpstream = null;
    this.relay?.destroy();
  }

  private readonly onClientClose = (): void => {
    this.runtime.state.active--;
    const own = this.settled && !this.responseStarted ? (this.lastError?.code ?? null) : null;
    observeHttpExchange(this.runtime, this.req, this.res, this.started, this.cluster.config.name, this.endpoint, this.tried?.size ?? 0, this.bytesIn, this.bytesOut, own);
    if (!this.res.writableFinished) {
      this.settled = true;
      this.abortUpstream?.(new Error('client went away'));
    }
  };
}
