// Node's own floor for TLS termination: node:tls with one certificate and nothing else (no SNI
// callback, no ticket key callback, no proxying: each request is answered 200 here), so that
// bench:tls can tell the cost of Node's TLSSocket from the cost of hitless's code around it.
//   node node-tls-floor.mjs PORT CERT KEY
import { readFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { createServer } from 'node:tls';

const [port, cert, key] = process.argv.slice(2);
const body = 'hello from the backend, a fixed body of about sixty bytes\n';
const reply = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
const server = createServer({ cert: readFileSync(cert), key: readFileSync(key), ALPNProtocols: ['http/1.1'] }, (socket) => {
  socket.setNoDelay(true);
  let pending = '';
  socket.on('data', (chunk) => {
    pending += chunk.toString('latin1');
    // One reply per complete request head (GETs without a body, as wrk sends them).
    for (let at = pending.indexOf('\r\n\r\n'); at >= 0; at = pending.indexOf('\r\n\r\n')) {
      pending = pending.slice(at + 4);
      socket.write(reply);
    }
  });
  socket.on('error', () => socket.destroy());
});
server.on('tlsClientError', () => {});
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
