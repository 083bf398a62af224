// TCP echo backends on 127.0.0.1, port 0. Each counts what it accepted and keeps its open sockets,
// so a test can tell which backend a proxied connection landed on and whether it is still open.
import { createServer, type Server, type Socket } from 'node:net';

export interface EchoServer {
  readonly port: number;
  /** "127.0.0.1:port", as an endpoint in a config. */
  readonly address: string;
  readonly server: Server;
  /** Connections open right now. */
  readonly connections: Set<Socket>;
  /** Connections accepted since start. */
  accepted(): number;
  close(): Promise<void>;
}

export async function startEchoServer(): Promise<EchoServer> {
  const connections = new Set<Socket>();
  let accepted = 0;
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    accepted++;
    connections.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => connections.delete(socket));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, resolve);
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    server,
    connections,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of connections) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export async function startEchoServers(n: number): Promise<EchoServer[]> {
  return Promise.all(Array.from({ length: n }, () => startEchoServer()));
}
