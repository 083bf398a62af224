// TCP backends for the endpoint override tests: each answers a connection's first line with its
// tag ("b0\n"), then echoes every further line prefixed with it ("b0 ping\n"), so a long-lived
// connection shows which endpoint it is on and that it still works. An HTTP health check
// ("GET /healthz") on the same port is counted apart and answered 200: the test sees at the
// backend whether hitless still checks it.
import { EventEmitter, once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TaggedEcho extends EventEmitter {
  /** Client connections (not health checks) that reached this backend. */
  connections = 0;
  healthChecks = 0;

  constructor(
    readonly tag: string,
    readonly server: Server,
  ) {
    super();
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Resolves once `n` more health checks than now have arrived (bounded by `timeoutMs`). */
  async moreHealthChecks(n: number, timeoutMs = 15_000): Promise<void> {
    const target = this.healthChecks + n;
    const deadline = AbortSignal.timeout(timeoutMs);
    while (this.healthChecks < target) {
      await once(this, 'health', { signal: deadline }).catch(() => {
        throw new Error(`${this.tag}: ${this.healthChecks - (target - n)} of ${n} more health checks within ${timeoutMs} ms`);
      });
    }
  }
}

export interface TaggedEchoSet {
  readonly backends: readonly TaggedEcho[];
  stop(): Promise<void>;
}

export async function startTaggedEchoes(count: number): Promise<TaggedEchoSet> {
  const sockets = new Set<Socket>();
  const backends: TaggedEcho[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer();
    const backend = new TaggedEcho(`b${i}`, server);
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.once('close', () => sockets.delete(s));
      let buffered = '';
      let first = true;
      s.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        if (first && buffered.startsWith('GET /healthz')) {
          first = false;
          backend.healthChecks++;
          backend.emit('health');
          s.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
          return;
        }
        for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (first) {
            first = false;
            backend.connections++;
            backend.emit('connection');
            s.write(`${backend.tag}\n`);
          } else s.write(`${backend.tag} ${line}\n`);
        }
        if (buffered.length > 4096) s.destroy();
      });
    });
    await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
    backends.push(backend);
  }
  return {
    backends,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(backends.map((b) => new Promise((r) => b.server.close(r))));
    },
  };
}

/** A client connection through hitless to one of the backends, line by line. */
export class EchoClient {
  private buffered = '';
  private readonly waiting: Array<(line: string) => void> = [];
  private closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString('latin1');
      for (let nl = this.buffered.indexOf('\n'); nl >= 0 && this.waiting.length > 0; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        this.waiting.shift()!(line);
      }
    });
    socket.on('error', () => {});
    socket.once('close', () => {
      this.closed = true;
      for (const w of this.waiting.splice(0)) w('closed');
    });
  }

  /** Connects to `port`, says hello and returns once the backend has said who it is (`tag`). */
  static async open(port: number, timeoutMs = 5_000): Promise<{ client: EchoClient; tag: string }> {
    const socket = connect({ host: '127.0.0.1', port });
    const client = new EchoClient(socket);
    const tag = await client.ask('hello', timeoutMs);
    return { client, tag };
  }

  /** Sends a line; the backend's answer ("b0 ping"), or "closed" / "timeout". */
  ask(line: string, timeoutMs = 5_000): Promise<string> {
    if (this.closed) return Promise.resolve('closed');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(done);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve('timeout');
      }, timeoutMs);
      const done = (answer: string) => {
        clearTimeout(timer);
        resolve(answer);
      };
      this.waiting.push(done);
      this.socket.write(`${line}\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Tags of `n` new connections through `port` (in batches of 10), each closed after its tag. */
export async function tagsOf(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let done = 0; done < n; done += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, n - done) }, async () => {
        const { client, tag } = await EchoClient.open(port).catch(() => ({ client: null, tag: 'error' }));
        client?.close();
        return tag;
      }),
    );
    out.push(...batch);
  }
  return out;
}

export function countTags(tags: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const t of tags) counts[t] = (counts[t] ?? 0) + 1;
  return counts;
}
