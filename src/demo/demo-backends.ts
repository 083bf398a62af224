// Small HTTP backends for `npm start` and the benchmarks: each answers with its own name, so a
// client can see the balancer at work through a tcp-mode service.
import { createServer, type Server } from 'node:http';

export interface DemoBackend {
  readonly port: number;
  readonly server: Server;
}

export async function startDemoBackends(host: string, ports: readonly number[]): Promise<DemoBackend[]> {
  const started: DemoBackend[] = [];
  try {
    for (const port of ports) {
      const body = `hello from demo backend ${host}:${port}\n`;
      const server = createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      server.keepAliveTimeout = 60_000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(new Error(`demo backend cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)),
        );
        server.listen({ host, port, exclusive: true }, resolve);
      });
      started.push({ port, server });
    }
    return started;
  } catch (err) {
    await stopDemoBackends(started);
    throw err;
  }
}

export async function stopDemoBackends(backends: readonly DemoBackend[]): Promise<void> {
  await Promise.all(backends.map((b) => new Promise<void>((r) => {
    b.server.close(() => r());
    b.server.closeAllConnections();
  })));
}
