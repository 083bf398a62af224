// The client side of an exchange that node:http parsed: everything the raw path hands over
// (HTTP/1.0, chunked uploads, 100-continue, upgrades, malformed or ambiguous requests...).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { BodySink, ClientSide, ExchangeWatcher } from './client-side.js';
import { sendHttpError, type HttpError } from './errors.js';
import { forwardableHead, type ResponseHead } from './response-head.js';
import { closeAfterResponse } from '../../../util/node-internals.js';

/**
 * Connections whose current response says Connection: close. node:http still parses what the
 * client pipelined after it (and would answer a parse error there with a second response): those
 * bytes must neither reach an endpoint nor be answered (RFC 9112 §9.6).
 */
const closing = new WeakSet<Socket>();

export function isClosing(socket: Socket): boolean {
  return closing.has(socket);
}

export function closeAfterThis(socket: Socket): void {
  closing.add(socket);
}

export class NodeClient implements ClientSide {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly rawHeaders: readonly string[];
  readonly socket: Socket;
  readonly clientIp: string;
  /** The response head, checked and held until the first body byte (see sendHead). */
  private head: ResponseHead | null = null;
  private watcher: ExchangeWatcher | null = null;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.method = req.method ?? 'GET';
    this.httpVersion = req.httpVersion;
    this.url = req.url ?? '/';
    this.rawHeaders = req.rawHeaders;
    this.socket = req.socket;
    this.clientIp = req.socket.remoteAddress ?? '';
  }

  readBody(sink: BodySink): void {
    this.req.on('data', (chunk: Buffer) => sink.onBody(chunk));
    this.req.once('end', () => sink.onBodyEnd());
    this.req.resume();
  }

  pauseBody(): void {
    this.req.pause();
  }

  resumeBody(): void {
    this.req.resume();
  }

  get bodyComplete(): boolean {
    return this.req.complete;
  }

  get gone(): boolean {
    return this.res.destroyed;
  }

  get headSent(): boolean {
    return this.head !== null || this.res.headersSent;
  }

  get status(): number {
    if (this.head !== null) return this.head.status;
    return this.res.headersSent ? this.res.statusCode : 0;
  }

  get finished(): boolean {
    return this.res.writableFinished;
  }

  /**
   * Checked now (what node:http's writeHead would refuse: control characters, obs-fold...) but
   * written with the first body bytes, so that an endpoint failing right after its head can still
   * be answered with a 502 (withdrawHead).
   */
  sendHead(head: ResponseHead): boolean {
    if (!forwardableHead(head)) return false;
    this.head = head;
    return true;
  }

  withdrawHead(): boolean {
    if (this.head === null) return false;
    this.head = null;
    return true;
  }

  private flushHead(): void {
    const head = this.head;
    if (head === null) return;
    this.head = null;
    this.res.writeHead(head.status, head.reason, head.headers);
  }

  sendBody(chunk: Buffer, last: boolean): boolean {
    this.flushHead();
    if (last) {
      // Headers and the last bytes go out in one write, without the cork-until-next-tick that
      // write() then end() costs for every small response.
      this.res.end(chunk);
      return true;
    }
    return this.res.write(chunk);
  }

  onceDrained(callback: () => void): void {
    this.res.once('drain', callback);
  }

  endResponse(): void {
    this.flushHead();
    if (!this.res.writableEnded) this.res.end();
  }

  sendError(error: HttpError, close: boolean): void {
    if (close) closing.add(this.socket);
    sendHttpError(this.res, error, close);
  }

  destroy(): void {
    this.res.destroy();
  }

  watch(watcher: ExchangeWatcher): void {
    this.watcher = watcher;
    this.res.once('close', () => watcher.onClientClose());
  }

  /** node:http's socket timeout (timeouts.idle) fired while this request was in flight. */
  timedOut(): boolean {
    if (this.req.complete || this.watcher === null) return false;
    this.watcher.onBodyTimeout();
    return true;
  }

  header(lowerName: string): string | undefined {
    const value = this.req.headers[lowerName];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  closeAfter(): void {
    closing.add(this.socket);
    closeAfterResponse(this.res);
  }
}
