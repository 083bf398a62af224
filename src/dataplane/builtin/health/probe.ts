// One health probe: a TCP connect, or an HTTP GET that must answer 2xx/3xx, within a timeout.
import { connect } from 'node:net';
import { request } from 'node:http';
import type { ActiveHealthConfig } from '../../../config/model.js';

export function probe(host: string, port: number, check: ActiveHealthConfig): Promise<boolean> {
  return check.type === 'http' ? probeHttp(host, port, check) : probeTcp(host, port, check.timeout);
}

function probeTcp(host: string, port: number, timeout: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(timeout, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function probeHttp(host: string, port: number, check: ActiveHealthConfig): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: check.path, method: 'GET', agent: false, timeout: check.timeout, headers: { 'user-agent': 'hitless-health-check', connection: 'close' } }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 400);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve(false));
    req.end();
  });
}
