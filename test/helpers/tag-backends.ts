// TCP backends that answer every connection with their tag ("b0\n") and close, and a client that
// reads which one a connection through hitless reached: the process-model delta tests' probes.
import { connect, createServer, type Server, type Socket } from 'node:net';

/** `count` tagged backends on 127.0.0.1 (port 0): their ports, and a stop that closes everything. */
export async function taggedBackends(count: number): Promise<{ ports: number[]; stop(): Promise<void> }> {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  for (let i = 0; i < count; i++) {
    const server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.once('close', () => sockets.delete(s));
      s.end(`b${i}\n`);
    });
    await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
    servers.push(server);
  }
  return {
    ports: servers.map((s) => (s.address() as { port: number }).port),
    stop: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

/** The tag of the backend a connection to `port` reaches through hitless ("refused" when nothing listens). */
export function tagVia(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => finish('timeout'), 5_000);
    function finish(result: string): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    }
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString();
      if (data.includes('\n')) finish(data.trim());
    });
    socket.once('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNREFUSED' ? 'refused' : `error ${err.code}`));
    socket.once('close', () => finish(data.trim() || 'closed'));
  });
}
