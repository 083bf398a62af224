// What the proxy needs from the client's side of one exchange. Two implementations: the raw
// HTTP/1.1 path (raw-client.ts), which serves the common requests without node:http, and
// node:http's request/response pair (node-client.ts) for everything the raw path hands over.
import type { Socket } from 'node:net';
import type { HttpError } from './errors.js';
import type { ResponseHead } from './response-head.js';

/**
 * Told what happens to the client's side of one exchange. One object (the proxied request itself)
 * rather than a callback each: two closures per request were measurable on the hot path.
 */
export interface ExchangeWatcher {
  /** Called once, when the exchange is over: response finished, or the client gone. */
  onClientClose(): void;
  /** The client stopped sending its request body for longer than timeouts.idle. */
  onBodyTimeout(): void;
}

export interface BodySink {
  onBody(chunk: Buffer): void;
  onBodyEnd(): void;
}

export interface ClientSide {
  readonly method: string;
  readonly url: string;
  /** "1.1" or "1.0", as the request line said. */
  readonly httpVersion: string;
  /** As sent: [name, value, ...]. */
  readonly rawHeaders: readonly string[];
  readonly socket: Socket;
  /** The client's IP ('' if unknown), read once per connection. */
  readonly clientIp: string;

  /** Starts delivering the request body to `sink` (called once, when the endpoint is ready). */
  readBody(sink: BodySink): void;
  pauseBody(): void;
  resumeBody(): void;
  /** The whole request body was read from the client. */
  readonly bodyComplete: boolean;

  /** The client is gone (connection closed or destroyed). */
  readonly gone: boolean;
  /** The response's status line went (or is queued) to the client. */
  readonly headSent: boolean;
  /** The status sent, 0 before that. */
  readonly status: number;
  /** The whole response was handed to the socket. */
  readonly finished: boolean;
  /** False when a header cannot be forwarded (invalid name or value): nothing was sent. */
  sendHead(head: ResponseHead): boolean;
  /**
   * Takes back a head that no byte of has reached the socket yet (the endpoint failed right after
   * sending it), so that hitless can still answer; false once anything was written.
   */
  withdrawHead(): boolean;
  /** False: the client is full; `onDrain` will be called once it has room. */
  sendBody(chunk: Buffer, last: boolean): boolean;
  onceDrained(callback: () => void): void;
  endResponse(): void;
  /** hitless's own answer (502, 503, 504, 414...); `close` ends the connection after it. */
  sendError(error: HttpError, close: boolean): void;
  /** This exchange is the connection's last: its response says Connection: close. */
  closeAfter(): void;
  /** Cuts the connection: the response cannot be completed. */
  destroy(): void;
  /** Who is told when the exchange is over and when the body stalls (set once, before anything can happen). */
  watch(watcher: ExchangeWatcher): void;
  /** For the access log, built only when one is configured. */
  header(lowerName: string): string | undefined;
}
