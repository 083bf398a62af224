// GET /metrics of the real `hitless run` process: counters move by exactly the traffic sent and
// the applies made (scraped and parsed from prom-client's exposition text), and the collection is
// a pure function of a status snapshot, so several workers' snapshots sum correctly.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';
import { httpRequest, parseExposition, sendRequests, spawnHitless, startBackend, valueOf, waitReady, type Backend, type RunningHitless, type Sample } from './observability-helpers.js';
import { metricFamilies, renderMetrics, type MetricsInput } from '../src/observability/metrics.js';

/** Opens a tcp connection through hitless, sends one HTTP request and waits for the close. */
function tcpExchange(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write('GET / HTTP/1.0\r\n\r\n'));
    s.on('data', () => {});
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
}

describe('GET /metrics under traffic and applies', () => {
  let ok: Backend[] = [];
  let failing: Backend;
  let h: RunningHitless | undefined;
  let socketPath = '';
  const ports = { web: 0, flaky: 0, raw: 0, dead: 0, extra: 0 };
  let config = '';

  const scrape = async (): Promise<Sample[]> => {
    const res = await httpRequest({ socketPath }, 'GET', '/metrics');
    assert.equal(res.status, 200, res.text);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    return parseExposition(res.text);
  };
  const put = (text: string) => httpRequest({ socketPath }, 'PUT', '/config', text, { 'content-type': 'application/yaml' });

  before(async () => {
    ok = [await startBackend(200), await startBackend(200)];
    failing = await startBackend(500);
    for (const k of Object.keys(ports) as Array<keyof typeof ports>) ports[k] = await reservePort();
    const closed = await reservePort(); // nothing listens there: connects to it fail
    config = `admin: { listen: "unix:$DIR/admin.sock" }
services:
  web:
    mode: http
    listen: 127.0.0.1:${ports.web}
    endpoints: [${ok[0].address}, ${ok[1].address}]
  flaky:
    mode: http
    listen: 127.0.0.1:${ports.flaky}
    endpoints: [${failing.address}]
  raw:
    listen: 127.0.0.1:${ports.raw}
    endpoints: [${ok[0].address}]
  dead:
    listen: 127.0.0.1:${ports.dead}
    endpoints: [127.0.0.1:${closed}]
    timeouts: { connect: 1s }
`;
    h = spawnHitless(config);
    socketPath = join(h.dir, 'admin.sock');
    config = h.config;
    await waitReady(h, { socketPath });
  });

  after(async () => {
    await h?.kill();
    await Promise.all([...ok, failing].map((b) => b?.close()));
  });

  it('counts http requests, responses by class, latency and bytes by exactly what was sent', async () => {
    const m0 = await scrape();
    const N = 37;
    const statuses = await sendRequests(ports.web, N);
    assert.deepEqual(new Set(statuses), new Set([200]));
    const m1 = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => valueOf(m1, name, labels) - valueOf(m0, name, labels);
    assert.equal(delta('hitless_service_requests_total', { service: 'web' }), N);
    assert.equal(delta('hitless_service_responses_total', { service: 'web', class: '2xx' }), N);
    assert.equal(delta('hitless_service_responses_total', { service: 'web', class: '5xx' }), 0);
    assert.equal(delta('hitless_http_request_duration_seconds_count', { service: 'web' }), N);
    assert.equal(delta('hitless_http_request_duration_seconds_bucket', { service: 'web', le: '+Inf' }), N);
    assert.ok(delta('hitless_http_request_duration_seconds_sum', { service: 'web' }) > 0);
    const perEndpoint = ok.map((b) => delta('hitless_endpoint_dispatched_total', { service: 'web', endpoint: b.address }));
    assert.equal(perEndpoint[0] + perEndpoint[1], N);
    assert.ok(perEndpoint[0] > 0 && perEndpoint[1] > 0, `round-robin used both endpoints: ${perEndpoint.join(', ')}`);
    // Each answer body is "backend PORT says 200\n".
    const body = `backend ${ok[0].address.split(':')[1]} says 200\n`.length;
    assert.equal(delta('hitless_service_bytes_total', { service: 'web', direction: 'out' }), N * body);
    assert.equal(valueOf(m1, 'hitless_service_requests_active', { service: 'web' }), 0);
    for (const b of ok) assert.equal(valueOf(m1, 'hitless_endpoint_up', { service: 'web', endpoint: b.address }), 1);
  });

  it('counts 5xx answers and endpoint failures', async () => {
    const m0 = await scrape();
    const statuses = await sendRequests(ports.flaky, 3, 1);
    assert.deepEqual(statuses, [500, 500, 500]);
    const m1 = await scrape();
    assert.equal(valueOf(m1, 'hitless_service_responses_total', { service: 'flaky', class: '5xx' }) - valueOf(m0, 'hitless_service_responses_total', { service: 'flaky', class: '5xx' }), 3);
    assert.equal(valueOf(m1, 'hitless_endpoint_failures_total', { service: 'flaky' }) - valueOf(m0, 'hitless_endpoint_failures_total', { service: 'flaky' }), 3);
  });

  it('counts tcp connections, bytes, and connections no endpoint could take', async () => {
    const m0 = await scrape();
    for (let i = 0; i < 4; i++) await tcpExchange(ports.raw);
    for (let i = 0; i < 3; i++) await tcpExchange(ports.dead);
    // Counters of a tcp connection are final once hitless saw it close.
    const m1 = await waitFor('tcp counters to settle', async () => {
      const m = await scrape();
      return valueOf(m, 'hitless_service_connections_active', { service: 'raw' }) === 0 && valueOf(m, 'hitless_service_connections_active', { service: 'dead' }) === 0 ? m : undefined;
    });
    const delta = (name: string, labels: Record<string, string>) => valueOf(m1, name, labels) - valueOf(m0, name, labels);
    assert.equal(delta('hitless_service_connections_total', { service: 'raw' }), 4);
    assert.equal(delta('hitless_service_bytes_total', { service: 'raw', direction: 'in' }), 4 * 'GET / HTTP/1.0\r\n\r\n'.length);
    assert.ok(delta('hitless_service_bytes_total', { service: 'raw', direction: 'out' }) > 0);
    assert.equal(delta('hitless_service_connections_total', { service: 'dead' }), 3);
    assert.equal(delta('hitless_service_errors_total', { service: 'dead', kind: 'failed' }), 3);
    assert.equal(delta('hitless_endpoint_failures_total', { service: 'dead' }), 3);
    // http services have no tcp connection families, and the reverse.
    assert.equal(m1.filter((s) => s.name === 'hitless_service_connections_total' && s.labels.service === 'web').length, 0);
  });

  it('counts applies by origin and result, their changes, and shows listener states', async () => {
    const m0 = await scrape();
    assert.equal(valueOf(m0, 'hitless_applies_total', { origin: 'startup', result: 'applied' }), 1);
    assert.equal(valueOf(m0, 'hitless_listener_state', { address: `127.0.0.1:${ports.web}`, state: 'active' }), 1);
    assert.equal(valueOf(m0, 'hitless_listener_state', { address: `127.0.0.1:${ports.web}`, state: 'draining' }), 0);
    const info = m0.find((s) => s.name === 'hitless_info');
    assert.ok(info && /^\d+$/.test(info.labels.pid) && info.labels.version && info.labels.driver === 'builtin', JSON.stringify(info));

    // An added endpoint and an added service on a new port.
    const changed = config.replace(`[${ok[0].address}, ${ok[1].address}]`, `[${ok[0].address}, ${ok[1].address}, ${failing.address}]`) +
      `  extra:\n    listen: 127.0.0.1:${ports.extra}\n    endpoints: [${ok[1].address}]\n`;
    assert.equal((await put(changed)).status, 200);
    assert.equal((await put('services: [not, a, map]\n')).status, 400);
    assert.equal((await put(changed)).status, 200); // identical: a noop
    const m1 = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => valueOf(m1, name, labels) - valueOf(m0, name, labels);
    assert.equal(delta('hitless_applies_total', { origin: 'admin', result: 'applied' }), 1);
    assert.equal(delta('hitless_applies_total', { origin: 'admin', result: 'rejected' }), 1);
    assert.equal(delta('hitless_applies_total', { origin: 'admin', result: 'noop' }), 1);
    assert.equal(delta('hitless_apply_changes_total', { kind: 'endpoints_added' }), 1);
    assert.equal(delta('hitless_apply_changes_total', { kind: 'services_added' }), 1);
    assert.equal(delta('hitless_apply_changes_total', { kind: 'listeners_added' }), 1);
    // Noops are not timed; the applied one and the unparsable one (0 ms) are.
    assert.equal(delta('hitless_apply_duration_seconds_count'), 2);
    assert.equal(valueOf(m1, 'hitless_listener_state', { address: `127.0.0.1:${ports.extra}`, state: 'active' }), 1);
    assert.ok(valueOf(m1, 'hitless_last_apply_timestamp_seconds') >= valueOf(m0, 'hitless_last_apply_timestamp_seconds'));

    // The PUT wrote the applied config into the file; the operator puts the original back and
    // sends SIGHUP: the extra service goes away again.
    writeFileSync(h!.configPath, config);
    process.kill(h!.child.pid!, 'SIGHUP');
    const m2 = await waitFor('the SIGHUP apply to be counted', async () => {
      const m = await scrape();
      return valueOf(m, 'hitless_applies_total', { origin: 'sighup', result: 'applied' }) === 1 ? m : undefined;
    });
    assert.equal(valueOf(m2, 'hitless_apply_changes_total', { kind: 'services_removed' }) - valueOf(m1, 'hitless_apply_changes_total', { kind: 'services_removed' }), 1);
    assert.equal(valueOf(m2, 'hitless_listener_state', { address: `127.0.0.1:${ports.extra}`, state: 'active' }), 0);
    assert.equal(m2.filter((s) => s.labels.service === 'extra' && s.name.startsWith('hitless_service_')).length, 0);
  });
});

describe('metrics of several workers', () => {
  const worker = (pid: number, requests: number, latencyCounts: number[]): MetricsInput => ({
    pid,
    version: '0.0.0-test',
    uptimeSeconds: 10 + pid,
    driver: 'builtin',
    generation: 3,
    config: { hash: 'abcdef0123456789' },
    services: [
      {
        name: 'web', mode: 'http', balance: 'round-robin', listen: ['127.0.0.1:1'], active: 1, total: requests, rejected: 0, failed: 1, retries: 2,
        responses: { '1xx': 0, '2xx': requests - 1, '3xx': 0, '4xx': 0, '5xx': 1 }, localResponses: { '503': { HITLESS_ERR_NO_HEALTHY_ENDPOINT: 1 } }, bytesIn: 0, bytesOut: 100,
        latency: { boundsMs: [1, 10], counts: latencyCounts, sumMs: 5, count: latencyCounts.reduce((a, b) => a + b, 0) },
        endpoints: [{ cluster: 'default', address: '127.0.0.1:2', weight: 1, healthy: pid === 1, health: pid === 1 ? 'up' : 'down', ejections: 0, active: 0, total: requests, failures: 1, bytesIn: 0, bytesOut: 100 }],
      },
    ],
    listeners: [{ address: '127.0.0.1:1', service: 'web', state: 'active', since: '', socket: null, connections: 1 }],
    discovery: [{ service: 'web', source: 'zookeeper 127.0.0.1:2181/web', state: 'healthy', lastUpdate: '2025-01-01T00:00:00.000Z', endpoints: 3 }],
  });

  it("counts the supervisor's tunnels at code upgrades by outcome, and the latest upgrade's pauses", async () => {
    const supervisor: MetricsInput = {
      ...worker(1, 1, [0, 0, 0]),
      process: { upgrades: { movedConnections: 250, drainedConnections: 1, lostConnections: 0, movePauseMs: { p50: 3.5, p99: 40, max: 61.2 } } },
    };
    const m = parseExposition((await renderMetrics([metricFamilies(supervisor)])).text);
    assert.equal(valueOf(m, 'hitless_upgrade_connections_total', { outcome: 'moved' }), 250);
    assert.equal(valueOf(m, 'hitless_upgrade_connections_total', { outcome: 'drained' }), 1);
    assert.equal(valueOf(m, 'hitless_upgrade_connections_total', { outcome: 'lost' }), 0);
    assert.equal(valueOf(m, 'hitless_upgrade_move_pause_seconds', { quantile: '0.99' }), 0.04);
    assert.ok(Math.abs((valueOf(m, 'hitless_upgrade_move_pause_seconds', { quantile: '1' }) ?? 0) - 0.0612) < 1e-9);
    // Without workers (no process section) there is no such series.
    assert.equal(m.filter((x) => x.name.startsWith('hitless_upgrade_')).length > 0, true);
    const single = parseExposition((await renderMetrics([metricFamilies(worker(1, 1, [0, 0, 0]))])).text);
    assert.equal(single.filter((x) => x.name.startsWith('hitless_upgrade_')).length, 0);
  });

  it('sums counters and histogram buckets, and aggregates gauges sensibly', async () => {
    const { text } = await renderMetrics([metricFamilies(worker(1, 10, [1, 2, 3])), metricFamilies(worker(2, 5, [4, 0, 1]))]);
    const m = parseExposition(text);
    assert.equal(valueOf(m, 'hitless_service_requests_total', { service: 'web' }), 15);
    assert.equal(valueOf(m, 'hitless_service_requests_active', { service: 'web' }), 2);
    assert.equal(valueOf(m, 'hitless_service_retries_total', { service: 'web' }), 4);
    assert.equal(valueOf(m, 'hitless_service_local_responses_total', { service: 'web', code: '503', error: 'HITLESS_ERR_NO_HEALTHY_ENDPOINT' }), 2);
    assert.equal(valueOf(m, 'hitless_http_request_duration_seconds_bucket', { service: 'web', le: '0.001' }), 5);
    assert.equal(valueOf(m, 'hitless_http_request_duration_seconds_bucket', { service: 'web', le: '0.01' }), 7);
    assert.equal(valueOf(m, 'hitless_http_request_duration_seconds_bucket', { service: 'web', le: '+Inf' }), 11);
    assert.equal(valueOf(m, 'hitless_http_request_duration_seconds_count', { service: 'web' }), 11);
    // One worker's balancer sees the endpoint down: "up" aggregates with min.
    assert.equal(valueOf(m, 'hitless_endpoint_up', { service: 'web' }), 0);
    // Both workers share the listening socket: its state is not doubled, its connections are summed.
    assert.equal(valueOf(m, 'hitless_listener_state', { address: '127.0.0.1:1', state: 'active' }), 1);
    assert.equal(valueOf(m, 'hitless_listener_connections', { address: '127.0.0.1:1' }), 2);
    assert.equal(valueOf(m, 'hitless_generation'), 3);
    assert.equal(m.filter((s) => s.name === 'hitless_info').length, 2, 'one info series per worker pid');
    assert.equal(valueOf(m, 'hitless_discovery_source_up', { service: 'web' }), 1);
    assert.equal(valueOf(m, 'hitless_discovery_endpoints', { service: 'web' }), 3);
    assert.equal(valueOf(m, 'hitless_discovery_last_update_timestamp_seconds', { service: 'web' }), Date.parse('2025-01-01T00:00:00.000Z') / 1000);
  });
});
