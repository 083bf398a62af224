// Upgrade requests (WebSocket and others) become byte streams: the request head is sent to an
// endpoint as is (with forwarding headers), and from then on both sockets are spliced like tcp.
import { connect, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { ServiceRuntime } from '../service-runtime.js';
import { upstreamRequestHeaders } from './headers.js';
import { HTTP_ERRORS, rawErrorResponse } from './errors.js';
import { recordFailure, recordSuccess } from '../passive-health.js';

export function proxyUpgrade(req: IncomingMessage, client: Socket, head: Buffer, runtime: ServiceRuntime): void {
  const cluster = runtime.route(req.headers.host, req.url ?? '/');
  const { timeouts, retries } = runtime.config;
  const tried = new Set<string>();
  client.on('error', () => {});
  runtime.state.total++;
  runtime.connections.add(client);
  client.once('close', () => runtime.connections.delete(client));
  const headers = upstreamRequestHeaders(req.rawHeaders, { clientIp: client.remoteAddress ?? '', proto: 'http', upgrade: true });
  let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  text += '\r\n';

  const attempt = (): void => {
    if (client.destroyed) return;
    const endpoint = tried.size <= retries ? cluster.balancer.pick({ clientKey: client.remoteAddress, exclude: tried }) : undefined;
    if (!endpoint) {
      const e = tried.size === 0 ? HTTP_ERRORS.NO_ENDPOINT : HTTP_ERRORS.CONNECT_FAILED;
      runtime.state.failed++;
      client.end(rawErrorResponse(e.status, e.text, e.code));
      return;
    }
    tried.add(endpoint.key);
    const upstream = connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
    upstream.setTimeout(timeouts.connect);
    const fail = (): void => {
      upstream.destroy();
      recordFailure(endpoint.state, cluster.config.health.passive);
      attempt();
    };
    upstream.once('timeout', fail);
    upstream.once('error', fail);
    upstream.once('connect', () => {
      upstream.off('timeout', fail);
      upstream.off('error', fail);
      recordSuccess(endpoint.state);
      endpoint.state.active++;
      endpoint.state.total++;
      upstream.setTimeout(timeouts.idle);
      client.setTimeout(timeouts.idle);
      const closeBoth = (): void => {
        client.destroy();
        upstream.destroy();
      };
      upstream.on('timeout', closeBoth);
      client.on('timeout', closeBoth);
      upstream.on('error', closeBoth);
      client.on('error', closeBoth);
      upstream.once('close', () => {
        endpoint.state.active--;
        client.destroy();
      });
      client.once('close', () => upstream.destroy());
      upstream.write(text);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
  };
  attempt();
}
