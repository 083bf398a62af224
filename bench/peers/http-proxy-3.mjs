// bench:http peer: http-proxy-3 (the maintained rewrite of http-proxy), as its README sets it up
// for a reverse proxy, with a keep-alive agent towards the backend so that both sides stay
// keep-alive like every other proxy in the bench. Usage: node http-proxy-3.mjs PORT BACKEND_PORT
import http from 'node:http';
import process from 'node:process';
import { createProxyServer } from 'http-proxy-3';

const [port, backend] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = createProxyServer({ target: `http://127.0.0.1:${backend}`, agent, xfwd: true });
proxy.on('error', (_err, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502);
  res.end();
});
http.createServer((req, res) => proxy.web(req, res)).listen(port, '127.0.0.1');
