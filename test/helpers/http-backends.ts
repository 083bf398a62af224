// HTTP backends for the http data-plane tests, on 127.0.0.1 port 0. Each answers with its name so a
// test can tell where a request went, and offers a few paths that behave in one precise way each.
// They can die (listener and connections closed) and come back on the same port.
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { WebSocketServer } from 'ws';

/** Deterministic bulk content: chunk `i` of 64 KiB, the same on both sides of a transfer. */
export const CHUNK = 64 * 1024;
const BASE = Buffer.alloc(CHUNK);
for (let i = 0; i < CHUNK; i += 32) createHash('sha256').update(`hitless-${i}`).digest().copy(BASE, i);
export function bulkChunk(i: number): Buffer {
  const chunk = Buffer.from(BASE);
  chunk.writeUInt32BE(i, 0);
  chunk.writeUInt32BE(i * 2654435761 >>> 0, CHUNK - 4);
  return chunk;
}
export function bulkSha256(chunks: number): string {
  const hash = createHash('sha256');
  for (let i = 0; i < chunks; i++) hash.update(bulkChunk(i));
  return hash.digest('hex');
}

export interface HttpBackend {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  /** Requests answered, by path prefix seen ("/" for all). */
  requests: number;
  /** Methods and urls in arrival order. */
  readonly log: Array<{ method: string; url: string }>;
  /** What /health answers (200 while true). */
  healthy: boolean;
  /** When set, every request other than /health is answered with this status. */
  failWith: number | null;
  /** Local ports of hitless's connections to this backend (for pool reuse). */
  readonly peers: Set<number>;
  /** Held requests (/hold/ID): answered when released. */
  release(id: string, body?: string): void;
  /** Resolves when /hold/ID has arrived. */
  held(id: string): Promise<void>;
  /** Test hooks for streaming proofs: /stream-in and /stream-out use them. */
  hooks: { onFirstRequestChunk?: () => void; secondResponseChunk?: Promise<void> };
  /** Connections open to this backend right now. */
  connections(): number;
  /** Closes the listener and every connection: the endpoint is dead (connects are refused). */
  die(): Promise<void>;
  /** Listens again on the same port. */
  revive(): Promise<void>;
  close(): Promise<void>;
}

export async function startHttpBackend(name: string, port = 0): Promise<HttpBackend> {
  const sockets = new Set<Socket>();
  const holds = new Map<string, { res?: ServerResponse; arrived: Promise<void>; arrive: () => void }>();
  const hold = (id: string) => {
    let h = holds.get(id);
    if (!h) {
      let arrive!: () => void;
      const arrived = new Promise<void>((r) => (arrive = r));
      h = { arrived, arrive };
      holds.set(id, h);
    }
    return h;
  };
  let server: http.Server;
  let wss: WebSocketServer;
  const backend: HttpBackend = {
    name,
    port,
    address: '',
    requests: 0,
    log: [],
    healthy: true,
    failWith: null,
    peers: new Set(),
    hooks: {},
    release(id, body = `${name} released ${id}`) {
      const h = hold(id);
      if (!h.res) throw new Error(`${name}: /hold/${id} has not arrived`);
      h.res.end(body);
    },
    held: (id) => hold(id).arrived,
    connections: () => sockets.size,
    async die() {
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    async revive() {
      await listen();
    },
    close: () => backend.die(),
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    backend.peers.add(req.socket.remotePort ?? 0);
    const url = req.url ?? '/';
    if (url === '/health') {
      req.resume();
      res.writeHead(backend.healthy ? 200 : 503, { 'content-length': 3 });
      res.end(backend.healthy ? 'ok\n' : 'no\n');
      return;
    }
    backend.requests++;
    backend.log.push({ method: req.method ?? '', url });
    res.setHeader('x-backend', name);
    if (backend.failWith !== null) {
      req.resume();
      res.writeHead(backend.failWith, { 'content-length': name.length });
      res.end(name);
      return;
    }
    const path = url.split('?')[0];
    if (path.startsWith('/hold/')) {
      req.resume();
      const h = hold(path.slice(6));
      h.res = res;
      h.arrive();
      return;
    }
    if (path === '/echo') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.stringify({ name, method: req.method, url, httpVersion: req.httpVersion, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString('latin1') });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (path === '/upload') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
      });
      req.on('end', () => res.end(JSON.stringify({ name, bytes, sha256: hash.digest('hex') })));
      return;
    }
    if (path === '/download') {
      req.resume();
      const chunks = Number(new URL(url, 'http://x').searchParams.get('chunks') ?? '16');
      res.writeHead(200, { 'content-length': chunks * CHUNK, 'content-type': 'application/octet-stream' });
      let i = 0;
      const pump = (): void => {
        while (i < chunks) {
          if (!res.write(bulkChunk(i++))) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    if (path === '/stream-in') {
      // Answers when the body is complete; tells the test as soon as the first chunk arrived.
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        if (chunks.length === 0) backend.hooks.onFirstRequestChunk?.();
        chunks.push(c);
      });
      req.on('end', () => res.end(Buffer.concat(chunks)));
      return;
    }
    if (path === '/stream-out') {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' }); // no length: chunked
      res.write('first;');
      void (backend.hooks.secondResponseChunk ?? Promise.resolve()).then(() => res.end('second'));
      return;
    }
    if (path === '/chunked') {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('alpha-');
      setImmediate(() => res.end('omega'));
      return;
    }
    if (path === '/204') {
      req.resume();
      res.writeHead(204);
      res.end();
      return;
    }
    if (path === '/304') {
      req.resume();
      res.writeHead(304, { etag: '"v1"' });
      res.end();
      return;
    }
    if (path.startsWith('/status/')) {
      req.resume();
      const status = Number(path.slice(8));
      res.writeHead(status, { 'content-length': name.length });
      res.end(name);
      return;
    }
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': name.length });
    res.end(name);
  };
  const listen = async (): Promise<void> => {
    server = http.createServer({ keepAliveTimeout: 30_000 }, handler);
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    // WebSocket: echo every message, prefixed with the backend's name.
    wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `${name}:${String(data)}`)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: backend.port }, () => resolve());
    });
    (backend as { port: number }).port = (server.address() as AddressInfo).port;
    (backend as { address: string }).address = `127.0.0.1:${backend.port}`;
  };
  await listen();
  return backend;
}

export interface RawServer {
  readonly port: number;
  readonly address: string;
  /** Connections accepted. */
  accepted: number;
  /** Connections this server reset on purpose. */
  resets: number;
  /** Requests answered normally. */
  answered: number;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1 that tracks its connections (closed with it) and counts accepts. */
export async function rawServer(onConnection: (socket: Socket, server: RawServer) => void, port = 0): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const state = { port: 0, address: '', accepted: 0, resets: 0, answered: 0, close: async () => {} } as RawServer;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    state.accepted++;
    onConnection(socket, state);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    port: actual,
    address: `127.0.0.1:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}

/** Reads one request head (and a Content-Length body) from a raw socket, then calls `done`. */
function readRequest(socket: Socket, done: (head: string) => void): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = buffered.subarray(0, end).toString('latin1');
    const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? '0');
    if (buffered.length < end + 4 + length) return;
    socket.off('data', onData);
    done(head);
  };
  socket.on('data', onData);
}

/**
 * Answers the first request on each connection (keep-alive), then resets the connection as soon as
 * the next request arrives: the classic race of a pooled connection the endpoint has given up on.
 */
export function resetReusedServer(name = 'resetter'): Promise<RawServer> {
  return rawServer((socket, state) => {
    readRequest(socket, () => {
      state.answered++;
      socket.write(`HTTP/1.1 200 OK\r\nx-backend: ${name}\r\nContent-Length: ${name.length}\r\nConnection: keep-alive\r\n\r\n${name}`);
      socket.once('data', () => {
        state.resets++;
        socket.resetAndDestroy();
      });
    });
  });
}

/** Reads a whole request (head and body), then resets the connection without answering. */
export function resetAfterBodyServer(): Promise<RawServer> {
  return rawServer((socket, state) => {
    readRequest(socket, () => {
      state.resets++;
      socket.resetAndDestroy();
    });
  });
}

/** Answers every request with the given raw response head + body (keep-alive). */
export function fixedResponseServer(response: string): Promise<RawServer> {
  return rawServer((socket, state) => {
    const next = (): void =>
      readRequest(socket, () => {
        state.answered++;
        socket.write(response);
        next();
      });
    next();
  });
}

/** A port on 127.0.0.1 with nothing listening (connects are refused). */
export async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
