// The client side of an exchange that node:http parsed: everything the raw path hands over
// (HTTP/1.0, chunked uploads, 100-continue, upgrades, malformed or ambiguous requests...).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { BodySink, ClientSide } from './client-side.js';
import { sendHttpError, type HttpError } from './errors.js';
import type { ResponseHead } from './response-head.js';

export class NodeClient implements ClientSide {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly socket: Socket;
  readonly clientIp: string;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.method = req.method ?? 'GET';
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
    return this.res.headersSent;
  }

  get status(): number {
    return this.res.headersSent ? this.res.statusCode : 0;
  }

  get finished(): boolean {
    return this.res.writableFinished;
  }

  sendHead(head: ResponseHead): boolean {
    try {
      this.res.writeHead(head.status, head.reason, head.headers);
      return true;
    } catch {
      // node:http refused a header name or value (control characters, obs-fold...).
      return false;
    }
  }

  sendBody(chunk: Buffer, last: boolean): boolean {
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
    if (!this.res.writableEnded) this.res.end();
  }

  sendError(error: HttpError, close: boolean): void {
    sendHttpError(this.res, error, close);
  }

  destroy(): void {
    this.res.destroy();
  }

  onClose(callback: () => void): void {
    this.res.once('close', callback);
  }

  header(lowerName: string): string | undefined {
    const value = this.req.headers[lowerName];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  closeAfter(): void {
    this.res.shouldKeepAlive = false;
  }
}
