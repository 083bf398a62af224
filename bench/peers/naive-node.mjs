// bench:http peer: the textbook node:http proxy, a keep-alive agent and pipes, nothing else.
// Usage: node naive-node.mjs PORT BACKEND_PORT
import http from 'node:http';
import process from 'node:process';

const [port, backend] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
function strip(headers) {
  const out = {};
  for (const k in headers) if (!HOP.has(k)) out[k] = headers[k];
  return out;
}
http
  .createServer((req, res) => {
    const headers = strip(req.headers);
    const xff = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = xff ? `${xff}, ${req.socket.remoteAddress}` : req.socket.remoteAddress;
    const up = http.request({ host: '127.0.0.1', port: backend, method: req.method, path: req.url, headers, agent }, (ures) => {
      res.writeHead(ures.statusCode, strip(ures.headers));
      ures.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  })
  .listen(port, '127.0.0.1');
