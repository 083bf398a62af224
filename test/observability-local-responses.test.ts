// Every answer hitless gives itself is counted by status and error code (issue 15, finding 3), and
// a retry is counted as a retry, not as an error (finding 5): real requests through the real
// `hitless run` with two workers, each producing one of hitless's own answers, then a scrape of
// GET /metrics must show exactly those, summed over the workers.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HitlessProcess } from './helpers/hitless-process.js';
import { rawExchange } from './helpers/http-client.js';
import { reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';
import { parseExposition, startBackend, valueOf, type Backend, type Sample } from './observability-helpers.js';

/** A server that accepts connections and never answers: requests to it time out. */
async function silentServer(): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const statusOf = (text: string): number => Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0);

describe("hitless's own answers, counted by code", () => {
  let backend: Backend;
  let silent: Awaited<ReturnType<typeof silentServer>>;
  let h: HitlessProcess;
  const port = { web: 0, dead: 0, down: 0, slow: 0 };

  const scrape = async (): Promise<Sample[]> => {
    const res = await h.request('GET', '/metrics');
    assert.equal(res.status, 200, res.text);
    return parseExposition(res.text);
  };

  before(async () => {
    backend = await startBackend(200);
    silent = await silentServer();
    for (const k of Object.keys(port) as Array<keyof typeof port>) port[k] = await reservePort();
    const closed = [await reservePort(), await reservePort()]; // nothing listens there
    h = await HitlessProcess.start({
      workers: 2,
      logLevel: 'warn',
      config: (admin) => `admin: { listen: "${admin}" }
services:
  web:
    mode: http
    listen: 127.0.0.1:${port.web}
    endpoints: [${backend.address}]
    timeouts: { header: 1s }
    limits: { max_header_bytes: 2048, max_url_bytes: 512 }
  dead:
    mode: http
    listen: 127.0.0.1:${port.dead}
    endpoints: [127.0.0.1:${closed[0]}, 127.0.0.1:${closed[1]}]
    retries: 1
  down:
    mode: http
    listen: 127.0.0.1:${port.down}
    endpoints: [127.0.0.1:${closed[0]}]
    health: { active: { type: tcp, interval: 200ms, timeout: 200ms, rise: 1, fall: 1 } }
  slow:
    mode: http
    listen: 127.0.0.1:${port.slow}
    endpoints: [${silent.address}]
    timeouts: { response: 300ms }
`,
    });
  });

  after(async () => {
    await h?.kill();
    await backend?.close();
    await silent?.close();
  });

  it('counts each code hitless answered, per service, with its error code, over both workers', async () => {
    // The endpoint of "down" is out once every worker's check has failed: `healthy` turns false at
    // the first worker's verdict (the least healthy view), `healthyIn` counts those still routing to it.
    await waitFor('the down endpoint to be out of rotation in both workers', async () => {
      const s = await h.status();
      const svc = (s.services as unknown as Array<{ name: string; endpoints: Array<{ healthy: boolean; healthyIn: number }> }>).find((x) => x.name === 'down');
      return svc?.endpoints.every((e) => !e.healthy && e.healthyIn === 0) || undefined;
    });
    const m0 = await scrape();
    const get = (path: string, headers = 'Host: t\r\n') => `GET ${path} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`;
    const sent: Array<[keyof typeof port, string | string[], number]> = [
      ['web', get('/'), 200],
      ['web', 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n', 400], // no Host
      ['web', get('/' + 'a'.repeat(600)), 414],
      ['web', get('/', `Host: t\r\nX-Big: ${'b'.repeat(3000)}\r\n`), 431],
      ['web', 'CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n', 405],
      ['web', ['GET / HTTP/1.1\r\n'], 408], // the head never completes: timeouts.header
      ['dead', get('/'), 502],
      ['dead', get('/'), 502],
      ['down', get('/'), 503],
      ['slow', get('/'), 504],
    ];
    const seen = await Promise.all(sent.map(async ([service, text]) => statusOf((await rawExchange(port[service], text, { timeoutMs: 8_000 })).text)));
    assert.deepEqual(seen, sent.map(([, , status]) => status), 'each request got the answer it was built for');
    const m1 = await waitFor('every answer to be counted', async () => {
      const m = await scrape();
      return valueOf(m, 'hitless_service_requests_active', { service: 'slow' }) === 0 && valueOf(m, 'hitless_service_requests_active', { service: 'web' }) === 0 ? m : undefined;
    });
    const delta = (name: string, labels: Record<string, string>) => valueOf(m1, name, labels) - valueOf(m0, name, labels);
    const local = (service: string, code: string, error: string) => delta('hitless_service_local_responses_total', { service, code, error });
    assert.equal(local('web', '400', 'HITLESS_ERR_BAD_REQUEST'), 1);
    assert.equal(local('web', '414', 'HITLESS_ERR_URL_TOO_LONG'), 1);
    assert.equal(local('web', '431', 'HITLESS_ERR_HEADERS_TOO_LARGE'), 1);
    assert.equal(local('web', '405', 'HITLESS_ERR_METHOD_NOT_ALLOWED'), 1);
    assert.equal(local('web', '408', 'HITLESS_ERR_HEADER_TIMEOUT'), 1);
    assert.equal(local('dead', '502', 'HITLESS_ERR_UPSTREAM_CONNECT'), 2);
    assert.equal(local('down', '503', 'HITLESS_ERR_NO_HEALTHY_ENDPOINT'), 1);
    assert.equal(local('slow', '504', 'HITLESS_ERR_UPSTREAM_TIMEOUT'), 1);
    // Nothing else was answered by hitless itself: the 200 came from the endpoint.
    const ownTotal = m1.filter((s) => s.name === 'hitless_service_local_responses_total').reduce((a, s) => a + s.value, 0) - m0.filter((s) => s.name === 'hitless_service_local_responses_total').reduce((a, s) => a + s.value, 0);
    assert.equal(ownTotal, 9);
    // The classes agree with the codes.
    assert.equal(delta('hitless_service_responses_total', { service: 'web', class: '4xx' }), 5);
    assert.equal(delta('hitless_service_responses_total', { service: 'web', class: '2xx' }), 1);

    // Retries: each request to "dead" was tried on the second endpoint once; they are not errors.
    assert.equal(delta('hitless_service_retries_total', { service: 'dead' }), 2);
    assert.equal(m1.filter((s) => s.name === 'hitless_service_errors_total' && s.labels.kind === 'retries').length, 0, 'no errors_total{kind="retries"}');
    assert.equal(delta('hitless_service_errors_total', { service: 'dead', kind: 'failed' }), 2);
  });

  it('says why an endpoint is out of rotation, in status', async () => {
    const s = await h.status();
    type Row = { name: string; endpoints: Array<{ health: string; checkError?: string | null }> };
    const services = s.services as unknown as Row[];
    const down = services.find((x) => x.name === 'down')!;
    assert.equal(down.endpoints[0].health, 'down');
    assert.equal(down.endpoints[0].checkError, 'connection refused');
    const web = services.find((x) => x.name === 'web')!;
    assert.equal(web.endpoints[0].checkError, null, 'no active check configured: no reason');
  });
});
