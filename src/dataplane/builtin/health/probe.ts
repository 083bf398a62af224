// One health probe: a TCP connect, or an HTTP GET that must answer 2xx/3xx, within a timeout.
// With upstream_tls, the connect includes the TLS handshake (verified like requests' connections)
// and the GET goes over it. Resolves 0 when it passed, else why it failed (check-failure.ts).
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { ActiveHealthConfig } from '../../../config/model.js';
import type { UpstreamTlsConfig } from '../../../config/tls-model.js';
import { upstreamConnectOptions } from '../tls/upstream-tls.js';
import { CHECK_FAILURES, failureOfError } from './check-failure.js';

export function probe(host: string, port: number, check: ActiveHealthConfig, tls: UpstreamTlsConfig | null = null): Promise<number> {
  return check.type === 'http' ? probeHttp(host, port, check, tls) : probeTcp(host, port, check.timeout, tls);
}

function probeTcp(host: string, port: number, timeout: number, tls: UpstreamTlsConfig | null): Promise<number> {
  return new Promise((resolve) => {
    const socket: Socket = tls === null ? connect({ host, port }) : tlsConnect(upstreamConnectOptions(tls, host, port));
    const done = (failure: number) => {
      socket.destroy();
      resolve(failure);
    };
    socket.setTimeout(timeout, () => done(CHECK_FAILURES.TIMEOUT));
    socket.once(tls === null ? 'connect' : 'secureConnect', () => done(0));
    socket.once('error', (err) => done(failureOfError(err)));
    // An endpoint that closes during the handshake has failed it.
    if (tls !== null) socket.once('close', () => done(CHECK_FAILURES.ERROR));
  });
}

function probeHttp(host: string, port: number, check: ActiveHealthConfig, tls: UpstreamTlsConfig | null): Promise<number> {
  return new Promise((resolve) => {
    let failure = CHECK_FAILURES.ERROR as number;
    const options = { host, port, path: check.path, method: 'GET', agent: false as const, timeout: check.timeout, headers: { 'user-agent': 'hitless-health-check', connection: 'close' } };
    const onResponse = (res: import('node:http').IncomingMessage): void => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 400 ? 0 : status >= 100 && status <= 599 ? status : CHECK_FAILURES.ERROR);
    };
    const req = tls === null ? request(options, onResponse) : httpsRequest({ ...upstreamConnectOptions(tls, host, port), ...options }, onResponse);
    req.once('timeout', () => {
      failure = CHECK_FAILURES.TIMEOUT;
      req.destroy(new Error('timeout'));
    });
    req.once('error', (err: NodeJS.ErrnoException) => resolve(failure === CHECK_FAILURES.TIMEOUT ? failure : failureOfError(err)));
    req.end();
  });
}
