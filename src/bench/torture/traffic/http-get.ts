// One HTTP GET with a hard deadline. Resolves only for a complete 2xx response; every other outcome
// rejects with an error that classifyFailure() files under the right kind. No retries, ever: a
// retried request would hide exactly the resets this tool exists to count.
import http from 'node:http';
import { BadStatus, TortureTimeout } from '../failures.js';
import type { Endpoint } from '../loopback.js';

export interface GetOptions {
  readonly endpoint: Endpoint;
  /** false = a fresh socket for this request alone. */
  readonly agent: http.Agent | false;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  readonly path?: string;
}

export function httpGet(options: GetOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let timedOut = false;
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err === undefined) resolve();
      else reject(timedOut ? new TortureTimeout('request') : err);
    };
    const req = http.request({
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
