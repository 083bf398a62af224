// An HTTP/1.1 endpoint that records every request head exactly as it arrives (each header line
// kept as sent, in order, duplicates included), for tests that compare what two data planes
// forward. A raw TCP server, not node:http, so nothing is joined, dropped or lower-cased on the
// way. It reads Content-Length bodies, answers 200 keep-alive naming itself, on 127.0.0.1 port 0.
import net, { type AddressInfo, type Socket } from 'node:net';

export interface RecordedRequest {
  readonly endpoint: string;
  readonly method: string;
  readonly target: string;
  readonly version: string;
  /** [name as sent, value without surrounding whitespace], in order. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
}

export interface RecordingEndpoint {
  readonly name: string;
  readonly address: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

const MAX_HEAD = 256 * 1024;

/** The values of every line named `name` (case-insensitive), in order. */
export function headerValues(req: RecordedRequest, name: string): string[] {
  const lower = name.toLowerCase();
  return req.headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

export async function startRecordingEndpoint(name: string): Promise<RecordingEndpoint> {
  const sockets = new Set<Socket>();
  const requests: RecordedRequest[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buffered.length > MAX_HEAD) socket.destroy();
          return;
        }
        const lines = buffered.subarray(0, end).toString('latin1').split('\r\n');
        const [method = '', target = '', version = ''] = lines[0].split(' ');
        const headers = lines.slice(1).map((line): [string, string] => {
          const colon = line.indexOf(':');
          return [line.slice(0, colon), line.slice(colon + 1).trim()];
        });
        const length = Number(headers.find(([n]) => n.toLowerCase() === 'content-length')?.[1] ?? '0');
        if (buffered.length < end + 4 + length) return;
        const body = buffered.subarray(end + 4, end + 4 + length).toString('latin1');
        buffered = buffered.subarray(end + 4 + length);
        requests.push({ endpoint: name, method, target, version, headers, body });
        const answer = `${name} ${method} ${target}`;
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(answer)}\r\nx-endpoint: ${name}\r\n\r\n${answer}`);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    address: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
