// One HTTP GET with a hard deadline. Resolves only for a complete 2xx response; every other outcome
// rejects with an error that classifyFailure() files under the right kind. No retries, ever: a
// retried request would hide exactly the resets this tool exists to count.
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { BadStatus, HandshakeFailed, TortureTimeout } from '../failures.js';
import type { Endpoint } from '../loopback.js';

/** HTTPS: the CA to verify the proxy's certificate with, and what to tell of each handshake. */
export interface ClientTls {
  readonly ca: Buffer;
  readonly servername: string;
  /** Called once per completed handshake with the served certificate's SHA-256 fingerprint. */
  readonly onHandshake: (fingerprint256: string | undefined) => void;
}

/** Sockets whose handshake completed: a keep-alive request on one of them cannot fail its handshake. */
const secured = new WeakSet<object>();

export interface GetOptions {
  readonly endpoint: Endpoint;
  /** false = a fresh socket for this request alone. */
  readonly agent: http.Agent | false;
  readonly tls?: ClientTls;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  readonly path?: string;
}

export function httpGet(options: GetOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let timedOut = false;
    let socket: object | undefined;
    const tls = options.tls;
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err === undefined) resolve();
      else if (timedOut) reject(new TortureTimeout(tls && !(socket && secured.has(socket)) ? 'TLS handshake' : 'request'));
      // Whatever ended a TLS connection before its handshake completed, the handshake failed.
      else reject(tls && !(socket && secured.has(socket)) && !options.signal.aborted ? new HandshakeFailed(err) : err);
    };
    const request = tls ? https.request : http.request;
    const req = request({
      ...(tls ? { ca: tls.ca, servername: tls.servername } : {}),
      host: options.endpoint.host,
      port: options.endpoint.port,
      path: options.path ?? '/',
      method: 'GET',
      agent: options.agent,
      signal: options.signal,
      headers: options.agent === false ? { connection: 'close' } : { connection: 'keep-alive' },
    });
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy(new TortureTimeout('request'));
    }, options.timeoutMs);
    req.on('error', settle);
    if (tls) {
      req.on('socket', (s) => {
        socket = s;
        if (secured.has(s)) return;
        s.once('secureConnect', () => {
          secured.add(s);
          // Empty when the socket is already gone: counted as a handshake of an unknown certificate.
          tls.onHandshake((s as TLSSocket).getPeerCertificate()?.fingerprint256 as string | undefined);
        });
      });
    }
    req.on('response', (res) => {
      res.on('error', settle);
      res.on('aborted', () => settle(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
      // The body must be read to the end, both to see a cut-off reply and to free the socket.
      res.on('data', () => {});
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (!res.complete) settle(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
        else settle(status >= 200 && status < 300 ? undefined : new BadStatus(status));
      });
    });
    req.end();
  });
}
