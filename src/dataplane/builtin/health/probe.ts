// One health probe: a TCP connect, or an HTTP GET that must answer 2xx/3xx, within a timeout.
// Resolves 0 when it passed, else why it failed (check-failure.ts).
import { connect } from 'node:net';
import { request } from 'node:http';
import type { ActiveHealthConfig } from '../../../config/model.js';
import { CHECK_FAILURES, failureOfError } from './check-failure.js';

export function probe(host: string, port: number, check: ActiveHealthConfig): Promise<number> {
  return check.type === 'http' ? probeHttp(host, port, check) : probeTcp(host, port, check.timeout);
}

function probeTcp(host: string, port: number, timeout: number): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (failure: number) => {
      socket.destroy();
      resolve(failure);
    };
    socket.setTimeout(timeout, () => done(CHECK_FAILURES.TIMEOUT));
    socket.once('connect', () => done(0));
    socket.once('error', (err) => done(failureOfError(err)));
  });
}

function probeHttp(host: string, port: number, check: ActiveHealthConfig): Promise<number> {
  return new Promise((resolve) => {
    let failure = CHECK_FAILURES.ERROR as number;
    const req = request({ host, port, path: check.path, method: 'GET', agent: false, timeout: check.timeout, headers: { 'user-agent': 'hitless-health-check', connection: 'close' } }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 400 ? 0 : status >= 100 && status <= 599 ? status : CHECK_FAILURES.ERROR);
    });
    req.once('timeout', () => {
      failure = CHECK_FAILURES.TIMEOUT;
      req.destroy(new Error('timeout'));
    });
    req.once('error', (err: NodeJS.ErrnoException) => resolve(failure === CHECK_FAILURES.TIMEOUT ? failure : failureOfError(err)));
    req.end();
  });
}
