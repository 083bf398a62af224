// Requests that ask to upgrade the connection (WebSocket and others). The request goes to an
// endpoint with its Upgrade pair, and the connection becomes a byte tunnel only after the endpoint
// answers 101 with a protocol the client asked for (invariant 8). Any other answer is forwarded
// as one ordinary response, framed by hitless, and the client connection closes after it: nothing
// the client sends later can reach an endpoint without being parsed and routed (the WebSocket/h2c
// smuggling class). `h2c` (and any upgrade in an HTTP/1.0 request, RFC 9110 §7.8) is not
// offered to the endpoint: hitless has no HTTP/2, so the request is forwarded as plain HTTP/1.1.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { upstreamConnectOptions, upstreamTlsFailure } from '../tls/upstream-tls.js';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { ServiceRuntime } from '../service-runtime.js';
// FIELD_NAME is RFC 9110's token, which protocol names and versions are too.
import { FIELD_NAME as TOKEN, scanRequestHeaders, requestHead } from './headers.js';
import { resolveTarget } from './request-target.js';
import { FAULT_ERROR, HTTP_ERRORS, rawErrorResponse, type HttpError } from './errors.js';
import { recordFailure, recordSuccess } from '../passive-health.js';
import { ChunkedDecoder } from './chunked-decoder.js';
import { BadResponseError, formatResponseHead, parseResponseHead, type ResponseHead } from './response-head.js';
import type { BalancerEndpoint } from '../../balancers/balancer.js';
import { observeUpgrade, peerOf, type UpgradeRecord } from '../exchange-observer.js';
import type { ClusterRuntime } from '../service-runtime.js';
import { Tunnel, type TunnelRecord } from '../tunnel.js';

const CRLFCRLF = Buffer.from('\r\n\r\n');
const MAX_RESPONSE_HEAD = 64 * 1024;

/**
 * The protocol names the Upgrade values list (every Upgrade header: one list), lower-case,
 * without versions ("websocket", "h2c"); null when one is not a protocol token. Such a value
 * (":h2c", from "Upgrade::h2c") was checked as a name that is not h2c and forwarded, and an
 * endpoint that trims it saw h2c: it is refused instead.
 */
function protocolsOf(values: readonly string[]): string[] | null {
  const out: string[] = [];
  for (const value of values) {
    for (const item of value.split(',')) {
      const p = item.trim();
      if (p === '') continue;
      // RFC 9110 §7.8: protocol = protocol-name ["/" protocol-version], both tokens.
      const [name, version, ...more] = p.split('/');
      if (more.length > 0 || !TOKEN.test(name) || (version !== undefined && !TOKEN.test(version))) return null;
      out.push(name.toLowerCase());
    }
  }
  return out;
}

export function proxyUpgrade(req: IncomingMessage, client: Socket, head: Buffer, runtime: ServiceRuntime): void {
  client.on('error', () => {});
  runtime.state.total++;
  runtime.connections.add(client);
  client.once('close', () => runtime.connections.delete(client));
  const clientIp = client.remoteAddress ?? '';
  const method = req.method ?? 'GET';
  const record: UpgradeRecord = { peer: runtime.accessLog === null ? '' : peerOf(client), started: performance.now(), method, path: req.url ?? '/', cluster: null, endpoint: null, status: 0, error: null };
  client.once('close', () => observeUpgrade(runtime, client, record));
  const target = resolveTarget(method, req.url ?? '/');
  if (target === null) return refuse(runtime, client, HTTP_ERRORS.BAD_TARGET, record);
  const upgrades: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i].toLowerCase() === 'upgrade') upgrades.push(req.rawHeaders[i + 1]);
  const asked = protocolsOf(upgrades);
  if (asked === null) return refuse(runtime, client, HTTP_ERRORS.BAD_UPGRADE, record);
  const tunnel = req.httpVersion === '1.1' && asked.length > 0 && !asked.includes('h2c');
  const scan = scanRequestHeaders(req.rawHeaders, { clientIp, proto: (client as { encrypted?: boolean }).encrypted === true ? 'https' : 'http', upgrade: tunnel }, target.authority);
  if (scan.fault !== null) return refuse(runtime, client, FAULT_ERROR[scan.fault], record);
  if (scan.host === undefined && req.httpVersion !== '1.0') return refuse(runtime, client, HTTP_ERRORS.MISSING_HOST, record);
  // node:http stops parsing at an upgrade's head: a chunked body would have to be de-framed here.
  if (scan.chunked) return refuse(runtime, client, HTTP_ERRORS.UPGRADE_WITH_BODY, record);
  const host = target.authority ?? scan.host;
  const cluster = runtime.route(host, target.path);
  record.cluster = cluster.config.name;
  const exchange = new UpgradeExchange(runtime, cluster, client, head, method, tunnel ? asked : null, Math.max(0, scan.contentLength), record);
  exchange.attempt((endpointKey) => requestHead(method, target.path, host ?? endpointKey, scan.headers, { chunked: false, contentLength: scan.contentLength }));
}

function refuse(runtime: ServiceRuntime, client: Socket, error: HttpError, record: UpgradeRecord): void {
  record.status = error.status;
  record.error = error.code;
  runtime.state.answeredLocally(error.status, error.code);
  client.write(rawErrorResponse(error.status, STATUS_CODES[error.status] ?? 'Error', error.code), 'latin1');
  lingeringClose(client);
}

/** How long a closing client's further bytes are read and dropped (nginx's lingering_close). */
const LINGER_MS = 2_000;

/**
 * Ends the connection after what was written, reading and dropping whatever the client still
 * sends: closing a socket with unread bytes makes the kernel send a reset, which can destroy the
 * answer before the client has read it.
 */
function lingeringClose(client: Socket): void {
  client.on('data', () => {});
  client.resume();
  client.end();
  const timer = setTimeout(() => client.destroy(), LINGER_MS).unref();
  client.once('close', () => clearTimeout(timer));
}

class UpgradeExchange {
  private readonly tried = new Set<string>();
  private upstream: Socket | null = null;
  private endpoint: BalancerEndpoint | null = null;
  private partial: Buffer | null = null;
  /** What of `early` is left once the body took its part: the tunnel's first bytes. */
  private earlyRest: Buffer;
  private responded = false;
  /** A 101 switched the connection to a byte tunnel. */
  private tunnel = false;
  private done = false;

  constructor(
    private readonly runtime: ServiceRuntime,
    private readonly cluster: ClusterRuntime,
    private readonly client: Socket,
    /** Bytes node:http read after the head: the start of the body, or of the tunnel's data. */
    private readonly early: Buffer,
    private readonly method: string,
    /** The protocols a 101 may switch to; null: this request must not become a tunnel. */
    private readonly protocols: string[] | null,
    /** Request body bytes to forward before the response (Content-Length). */
    private bodyRemaining: number,
    private readonly record: UpgradeRecord,
  ) {
    this.earlyRest = early.subarray(Math.min(bodyRemaining, early.length));
    client.pause();
    client.once('close', () => this.upstream?.destroy());
  }

  attempt(headFor: (endpointKey: string) => string): void {
    const { runtime, cluster, client, tried } = this;
    if (client.destroyed) return;
    const endpoint = tried.size <= runtime.config.retries ? cluster.balancer.pick({ clientKey: client.remoteAddress, exclude: tried }) : undefined;
    if (!endpoint) return this.answer(tried.size === 0 ? HTTP_ERRORS.NO_ENDPOINT : HTTP_ERRORS.CONNECT_FAILED);
    tried.add(endpoint.key);
    // upstream_tls: the same TLS settings as the cluster's pooled connections (upgrade-proxy's
    // connections are its own: a tunnel never goes back to a pool).
    const tls = cluster.config.upstreamTls;
    const upstream: Socket = tls === null ? connect({ host: endpoint.host, port: endpoint.port, noDelay: true }) : tlsConnect(upstreamConnectOptions(tls, endpoint.host, endpoint.port));
    let handshaking = false;
    if (tls !== null) {
      upstream.setNoDelay(true);
      upstream.once('connect', () => (handshaking = true));
    }
    upstream.setTimeout(runtime.config.timeouts.connect);
    const fail = (err?: NodeJS.ErrnoException): void => {
      if (handshaking) runtime.state.upstreamTls.failed(upstreamTlsFailure(err ?? null).reason);
      handshaking = false;
      upstream.destroy();
      recordFailure(endpoint.state, cluster.config.health.passive);
      this.attempt(headFor);
    };
    const onTimeout = (): void => fail();
    upstream.once('timeout', onTimeout);
    upstream.once('error', fail);
    upstream.once(tls === null ? 'connect' : 'secureConnect', () => {
      if (tls !== null) runtime.state.upstreamTls.handshakes++;
      handshaking = false;
      upstream.off('timeout', onTimeout);
      upstream.off('error', fail);
      this.connected(endpoint, upstream, headFor(endpoint.key));
    });
  }

  private connected(endpoint: BalancerEndpoint, upstream: Socket, head: string): void {
    const { client, runtime } = this;
    if (client.destroyed) return void upstream.destroy();
    this.upstream = upstream;
    this.endpoint = endpoint;
    this.record.endpoint = endpoint.key;
    endpoint.state.active++;
    endpoint.state.total++;
    upstream.once('close', () => {
      endpoint.state.active--;
      // Finished or answered: the client side is already taken care of (a lingering close).
      if (this.done) return;
      if (!this.responded) return this.fail(HTTP_ERRORS.UPSTREAM_FAILED);
      // A tunnel ends with its endpoint; a forwarded answer cut short is cut for the client too.
      if (this.tunnel) client.destroySoon();
      else this.closeBoth();
    });
    upstream.on('error', () => upstream.destroy());
    upstream.setTimeout(runtime.config.timeouts.response, () => {
      if (!this.responded) this.fail(HTTP_ERRORS.RESPONSE_TIMEOUT);
      else this.closeBoth();
    });
    upstream.write(head, 'latin1');
    this.sendBody();
    upstream.on('data', this.onUpstreamData);
  }

  /** Forwards exactly the declared body: nothing more of the client's bytes goes anywhere yet. */
  private sendBody(): void {
    const { client, early } = this;
    const upstream = this.upstream!;
    if (this.bodyRemaining === 0) return;
    const first = early.subarray(0, this.bodyRemaining);
    this.bodyRemaining -= first.length;
    if (first.length > 0) upstream.write(first);
    if (this.bodyRemaining === 0) return;
    const onData = (chunk: Buffer): void => {
      const part = chunk.subarray(0, this.bodyRemaining);
      this.bodyRemaining -= part.length;
      if (!upstream.write(part)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
      if (this.bodyRemaining === 0) {
        client.off('data', onData);
        client.pause();
        // Bytes beyond the body are the tunnel's (after a 101) or are never read.
        if (part.length < chunk.length) client.unshift(chunk.subarray(part.length));
      }
    };
    client.on('data', onData);
    client.resume();
  }

  private readonly onUpstreamData = (chunk: Buffer): void => {
    if (this.responded) return;
    const buf = this.partial === null ? chunk : Buffer.concat([this.partial, chunk]);
    this.partial = null;
    let offset = 0;
    for (;;) {
      const end = buf.indexOf(CRLFCRLF, offset);
      if (end === -1) {
        if (buf.length - offset > MAX_RESPONSE_HEAD || buf.indexOf('\n\n', offset) !== -1) return this.fail(HTTP_ERRORS.BAD_RESPONSE);
        this.partial = buf.subarray(offset);
        return;
      }
      let head: ResponseHead;
      try {
        head = parseResponseHead(buf.toString('latin1', offset, end), this.method);
      } catch (err) {
        if (err instanceof BadResponseError) return this.fail(HTTP_ERRORS.BAD_RESPONSE);
        throw err;
      }
      offset = end + 4;
      if (head.status === 101) return this.switchProtocols(head, buf.subarray(offset));
      if (head.status >= 200) return this.forwardResponse(head, buf.subarray(offset));
      // Other 1xx (100 Continue, 103 Early Hints): interim, the final response follows.
    }
  };

  /** A 101 for a protocol the client asked for: from now on, bytes flow both ways untouched. */
  private switchProtocols(head: ResponseHead, rest: Buffer): void {
    const protocols = this.protocols;
    const chosen = protocolsOf(head.upgrade === undefined ? [] : [head.upgrade]);
    if (protocols === null || chosen === null || chosen.length !== 1 || !protocols.includes(chosen[0]) || this.bodyRemaining > 0) return this.fail(HTTP_ERRORS.BAD_RESPONSE);
    const text = formatResponseHead(head, ['connection', 'upgrade', 'upgrade', head.upgrade!]);
    if (text === null) return this.fail(HTTP_ERRORS.BAD_RESPONSE);
    const { client, runtime } = this;
    const upstream = this.upstream!;
    this.responded = true;
    this.tunnel = true;
    recordSuccess(this.endpoint!.state);
    runtime.state.responses[1]++;
    this.record.status = 101;
    upstream.off('data', this.onUpstreamData);
    client.write(text, 'latin1');
    if (rest.length > 0) client.write(rest);
    if (this.earlyRest.length > 0) upstream.write(this.earlyRest);
    // The response timeout's handler goes: from now on the tunnel's idle timeout applies.
    upstream.removeAllListeners('timeout');
    const endpoint = this.endpoint!;
    const record = this.record;
    const tunnelRecord: TunnelRecord = {
      kind: 'upgrade',
      service: runtime.config.name,
      cluster: record.cluster,
      endpoint: endpoint.key,
      peer: record.peer === '' ? peerOf(client) : record.peer,
      startedAt: Date.now() - (performance.now() - record.started),
      method: record.method,
      path: record.path,
      status: 101,
      retries: 0,
      priorBytesIn: 0,
      priorBytesOut: 0,
    };
    // Moved to another process: its connection and endpoint counts go with it (its log line too).
    const release = (): void => {
      this.done = true;
      runtime.connections.delete(client);
      endpoint.state.active--;
    };
    new Tunnel({ client, upstream }, tunnelRecord, runtime.config.timeouts.idle, false, release);
  }

  /** Anything but a 101: one response, framed by hitless, then the client connection closes. */
  private forwardResponse(head: ResponseHead, rest: Buffer): void {
    const text = formatResponseHead(head, head.framing === 'none' || head.framing === 'length' ? ['connection', 'close'] : ['transfer-encoding', 'chunked', 'connection', 'close']);
    if (text === null) return this.fail(HTTP_ERRORS.BAD_RESPONSE);
    const { client, runtime } = this;
    const upstream = this.upstream!;
    this.responded = true;
    if (head.status >= 500) recordFailure(this.endpoint!.state, this.cluster.config.health.passive);
    else recordSuccess(this.endpoint!.state);
    runtime.state.responses[Math.floor(head.status / 100)]++;
    this.record.status = head.status;
    upstream.off('data', this.onUpstreamData);
    upstream.setTimeout(runtime.config.timeouts.idle);
    client.write(text, 'latin1');
    const body = new ResponseBody(head, client, upstream, () => this.finish());
    upstream.on('data', (chunk: Buffer) => body.feed(chunk));
    upstream.once('end', () => body.upstreamEnded());
    body.feed(rest);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.upstream?.destroy();
    lingeringClose(this.client);
  }

  private fail(error: HttpError): void {
    if (this.endpoint !== null && error !== HTTP_ERRORS.NO_ENDPOINT) recordFailure(this.endpoint.state, this.cluster.config.health.passive);
    if (this.responded) return this.closeBoth();
    this.responded = true;
    this.upstream?.destroy();
    this.answer(error);
  }

  private answer(error: HttpError): void {
    this.done = true;
    refuse(this.runtime, this.client, error, this.record);
  }

  private readonly closeBoth = (): void => {
    this.done = true;
    this.client.destroy();
    this.upstream?.destroy();
  };
}

/** The body of a non-101 answer, delimited by its own framing and re-chunked where needed. */
class ResponseBody {
  private remaining: number;
  private readonly decoder: ChunkedDecoder | null;
  private ended = false;

  constructor(
    private readonly head: ResponseHead,
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly onEnd: () => void,
  ) {
    this.remaining = head.framing === 'length' ? head.contentLength : 0;
    this.decoder = head.framing === 'chunked' ? new ChunkedDecoder() : null;
    if (head.framing === 'none') this.end();
  }

  feed(chunk: Buffer): void {
    if (this.ended || chunk.length === 0) return;
    const framing = this.head.framing;
    if (framing === 'length') {
      const part = chunk.subarray(0, this.remaining);
      this.remaining -= part.length;
      this.write(part);
      if (this.remaining === 0) this.end();
    } else if (this.decoder !== null) {
      let end: number;
      try {
        end = this.decoder.feed(chunk, 0, (slice) => this.writeChunk(slice));
      } catch {
        return this.cut();
      }
      if (end >= 0) {
        this.client.write('0\r\n\r\n', 'latin1');
        this.end();
      }
    } else this.writeChunk(chunk); // delimited by the endpoint closing
  }

  upstreamEnded(): void {
    if (this.ended) return;
    if (this.head.framing !== 'close') return this.cut();
    this.client.write('0\r\n\r\n', 'latin1');
    this.end();
  }

  private writeChunk(slice: Buffer): void {
    if (slice.length === 0) return;
    this.client.write(`${slice.length.toString(16)}\r\n`, 'latin1');
    this.client.write(slice);
    this.write('\r\n');
  }

  /** Backpressure: the endpoint is read only as fast as the client takes the bytes. */
  private write(data: Buffer | string): void {
    if (this.client.write(data)) return;
    this.upstream.pause();
    this.client.once('drain', () => this.upstream.resume());
  }

  /** The endpoint's body was cut or malformed: the client sees a truncated response. */
  private cut(): void {
    this.ended = true;
    this.client.destroy();
  }

  private end(): void {
    this.ended = true;
    this.onEnd();
  }
}
