// Backends for the process-model tests, in the test process on port 0: an HTTP server that
// answers 200 "ok", and a TCP echo server. Both close every connection on stop().
import { createServer as createHttp, type Server as HttpServer } from 'node:http';
import { createServer as createTcp, type Server, type Socket } from 'node:net';
import { after, before } from 'node:test';
import { reservePort } from './ports.js';
import { SupervisedHitless, type SupervisedOptions } from './process-harness.js';

export interface Backends {
  readonly httpPort: number;
  readonly echoPort: number;
  stop(): Promise<void>;
}

export async function startBackends(): Promise<Backends> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
  };
  const http: HttpServer = createHttp({ keepAlive: true }, (_req, res) => res.end('ok'));
  http.on('connection', track);
  const echo: Server = createTcp({ noDelay: true }, (s) => {
    track(s);
    s.pipe(s);
  });
  const listen = (server: Server | HttpServer) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => resolve((server.address() as { port: number }).port));
    });
  const [httpPort, echoPort] = [await listen(http), await listen(echo)];
  return {
    httpPort,
    echoPort,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise((r) => http.close(r)), new Promise((r) => echo.close(r))]);
    },
  };
}

/** An http service and a tcp service, both through hitless, for the mixed load. */
export function mixedConfig(admin: string, ports: { http: number; tcp: number }, backends: Backends): string {
  return `admin: { listen: "${admin}" }
services:
  web:
    mode: http
    listen: 127.0.0.1:${ports.http}
    endpoints: [127.0.0.1:${backends.httpPort}]
  echo:
    mode: tcp
    listen: 127.0.0.1:${ports.tcp}
    endpoints: [127.0.0.1:${backends.echoPort}]
    timeouts: { idle: 10m }
`;
}

/**
 * The setup every process-model suite shares, called inside its describe(): backends for the
 * block, and start() runs a supervised hitless with the mixed config on two fresh ports. Every
 * hitless it started is killed, and the backends stopped, after the block.
 */
export function mixedProcessSuite(): {
  start(options: Omit<SupervisedOptions, 'config'>): Promise<{ h: SupervisedHitless; ports: { http: number; tcp: number } }>;
} {
  let backends: Backends;
  const started: SupervisedHitless[] = [];
  before(async () => {
    backends = await startBackends();
  });
  after(async () => {
    for (const h of started) await h.kill();
    await backends.stop();
  });
  return {
    async start(options) {
      const ports = { http: await reservePort(), tcp: await reservePort() };
      const h = await SupervisedHitless.start({ ...options, config: (admin) => mixedConfig(admin, ports, backends) });
      started.push(h);
      return { h, ports };
    },
  };
}
