// bench:conns peer: a plain node:http server that answers every request itself with a fixed body.
// It shows what Node itself needs per idle keep-alive connection (socket, parser, timers), the
// floor any Node proxy starts from. Plain JavaScript, no loader, so nothing else is in its heap.
// Usage: node node-floor-server.mjs PORT HEADER_TIMEOUT_S IDLE_TIMEOUT_S BODY
import http from 'node:http';
import { Buffer } from 'node:buffer';
import process from 'node:process';

const [port, headerS, idleS] = process.argv.slice(2, 5).map(Number);
const body = process.argv[5] ?? 'ok\n';
const server = http.createServer(
  { keepAliveTimeout: idleS * 1000, headersTimeout: headerS * 1000, requestTimeout: 0, noDelay: true },
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  },
);
server.timeout = 0;
server.listen({ host: '127.0.0.1', port, backlog: 4096 });
process.on('SIGTERM', () => process.exit(0));
