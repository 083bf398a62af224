// The bundled backend: answers every HTTP request with `200 ok` (keep-alive) and turns an
// `Upgrade: hitless-echo` request into a line-echo tunnel, which is how long-lived connections
// cross HTTP proxies (the same way WebSockets do). A raw TCP echo port serves TCP-only proxies.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { UPGRADE_PROTOCOL } from '../traffic/echo-connection.js';

export interface BackendServers {
  readonly httpPort: number;
  readonly echoPort: number;
  close(): Promise<void>;
}

function echo(socket: net.Socket, head?: Buffer): void {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  if (head && head.length > 0) socket.write(head);
  socket.pipe(socket);
}

export async function startBackendServers(host = '127.0.0.1', ports: { http?: number; echo?: number } = {}): Promise<BackendServers> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
    res.end('ok\n');
  });
  // Proxies keep upstream connections open for reuse; do not close them under their feet.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 130_000;
  server.requestTimeout = 0;
  server.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
    if (String(req.headers.upgrade).toLowerCase() !== UPGRADE_PROTOCOL) {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${UPGRADE_PROTOCOL}\r\n\r\n`);
    echo(socket, head);
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  const echoServer = net.createServer((socket) => echo(socket));
  await Promise.all([listen(server, host, ports.http ?? 0), listen(echoServer, host, ports.echo ?? 0)]);
  return {
    httpPort: (server.address() as AddressInfo).port,
    echoPort: (echoServer.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await Promise.all([close(server), close(echoServer)]);
    },
  };
}

function listen(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: 4096 }, () => resolve());
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
