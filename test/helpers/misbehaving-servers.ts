// Small servers on loopback (port 0) that fail in one precise way each, to prove that the torture
// tool files every failure under the right kind.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TestServer {
  readonly port: number;
  close(): Promise<void>;
}

function track(server: net.Server): Set<net.Socket> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  });
  return sockets;
}

async function listen(server: net.Server): Promise<TestServer> {
  const sockets = track(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port with nothing listening: bound once to get a free number, then released. */
export async function closedPort(): Promise<number> {
  const server = await listen(net.createServer());
  await server.close();
  return server.port;
}

/** Reads the request, then answers with a TCP RST. */
export function resettingServer(): Promise<TestServer> {
  return listen(net.createServer((socket) => socket.once('data', () => socket.resetAndDestroy())));
}

/** Accepts connections and never says a word. */
export function silentServer(): Promise<TestServer> {
  return listen(net.createServer(() => {}));
}

/** A well-formed HTTP server that answers every request with the given status. */
export function statusServer(status: number): Promise<TestServer> {
  return listen(
    http.createServer((req, res) => {
      req.resume();
      res.writeHead(status, { 'content-length': 5 });
      res.end('nope\n');
    }),
  );
}

/** A line echo that closes every connection (FIN) after `lifeMs`, in the middle of its life. */
export function breakingEchoServer(lifeMs: number): Promise<TestServer> {
  return listen(
    net.createServer((socket) => {
      socket.pipe(socket);
      const timer = setTimeout(() => socket.end(), lifeMs);
      socket.on('close', () => clearTimeout(timer));
    }),
  );
}

/** An admin API stand-in: records request bodies and answers with a fixed status. */
export async function adminStub(status: number): Promise<TestServer & { requests: { method: string; url: string; body: string }[] }> {
  const requests: { method: string; url: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', body });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? '{"ok":true}' : '{"error":{"code":"HITLESS_ERR_NOT_FOUND","message":"no such route"}}');
    });
  });
  return Object.assign(await listen(server), { requests });
}
