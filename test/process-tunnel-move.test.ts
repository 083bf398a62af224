// Tunnels survive code upgrades (src/process/tunnel-move.ts): established tcp-mode connections and
// upgraded (WebSocket) connections move to the new generation, over real sockets through a real
// `hitless run --workers 2` from dist/. Each connection echoes a byte-numbered stream, so a byte
// lost, duplicated or reordered on the way is seen; plain HTTP requests run alongside.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, Agent } from 'node:http';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { SupervisedHitless } from './helpers/process-harness.js';
import { startBackends, type Backends } from './helpers/process-backends.js';
import { NumberedStreams, startWsEcho } from './helpers/numbered-streams.js';
import { reservePort } from './helpers/ports.js';
import { waitFor, within, sleep } from './helpers/wait.js';

interface MoveStatus {
  process: {
    processes: number;
    workers: Array<{ pid: number; state: string }>;
    upgrades: { ok: number; movedConnections: number; drainedConnections: number; lostConnections: number; movePauseMs: { count: number; p50: number | null; p99: number | null; max: number | null } };
  };
}

function config(admin: string, ports: { tcp: number; web: number }, echoPort: number, webPort: number, extraTcp = ''): string {
  return `admin: { listen: "${admin}" }
services:
  echo:
    mode: tcp
    listen: 127.0.0.1:${ports.tcp}
    endpoints: [127.0.0.1:${echoPort}]
    timeouts: { idle: 10m }
${extraTcp}  web:
    mode: http
    listen: 127.0.0.1:${ports.web}
    endpoints: [127.0.0.1:${webPort}]
    timeouts: { idle: 10m }
`;
}

/** Plain HTTP requests, a few at a time, until stop(): counts answered and failed. */
function plainHttp(port: number, concurrency: number): { stop(): Promise<{ ok: number; failed: number; errors: string[] }> } {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let running = true;
  const result = { ok: 0, failed: 0, errors: [] as string[] };
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          if (res.statusCode === 200 && body === 'ok') result.ok++;
          else (result.failed++, result.errors.push(`HTTP ${res.statusCode} ${body.slice(0, 80)}`));
          resolve();
        });
        res.on('error', (err) => (result.failed++, result.errors.push(err.message), resolve()));
      });
      req.on('error', (err) => (result.failed++, result.errors.push(err.message), resolve()));
      req.end();
    });
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) await one();
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return result;
    },
  };
}

describe('process model: tunnels move to the new generation at a code upgrade', () => {
  let backends: Backends;
  let web: Awaited<ReturnType<typeof startWsEcho>>;
  const started: SupervisedHitless[] = [];
  before(async () => {
    backends = await startBackends();
    web = await startWsEcho();
  });
  after(async () => {
    for (const h of started) await h.kill();
    await backends.stop();
    await web.stop();
  });

  async function start(extraTcp = '', args: string[] = []): Promise<{ h: SupervisedHitless; ports: { tcp: number; web: number } }> {
    const ports = { tcp: await reservePort(), web: await reservePort() };
    const h = await SupervisedHitless.start({ workers: 2, args, config: (admin) => config(admin, ports, backends.echoPort, web.port, extraTcp) });
    started.push(h);
    return { h, ports };
  }

  it('200 tcp and 50 WebSocket connections across 20 upgrades, 1 per second: none closed, no byte lost, duplicated or reordered', async () => {
    const { h, ports } = await start();
    const streams = new NumberedStreams();
    await streams.open(ports.tcp, 200, ports.web, 50);
    streams.start(100);
    const http = plainHttp(ports.web, 4);
    let slowestBackMs = 0;
    try {
      for (let i = 0; i < 20; i++) {
        const began = Date.now();
        const res = await h.upgrade();
        assert.equal(res.status, 200, `upgrade ${i + 1}: ${res.text}`);
        // The old generation has nothing left once its tunnels moved: it exits at once.
        await waitFor(`the process count back to 1 + 2 after upgrade ${i + 1}`, async () => (await h.request('GET', '/status')).json<MoveStatus>().process.processes === 3, { timeoutMs: 5_000, intervalMs: 20 });
        slowestBackMs = Math.max(slowestBackMs, Date.now() - began);
        await sleep(Math.max(0, 1_000 - (Date.now() - began)));
      }
      streams.stopWriting();
      await waitFor('every byte sent to come back', () => streams.caughtUp(), { timeoutMs: 10_000 });
    } finally {
      streams.stopWriting();
    }
    const report = streams.report();
    const plain = await http.stop();
    const s = (await h.request('GET', '/status')).json<MoveStatus>();
    streams.close();
    const u = s.process.upgrades;
    console.log(`20 upgrades: ${report.opened} tunnels, ${report.bytesEchoed} bytes echoed; moved ${u.movedConnections}, drained ${u.drainedConnections}, lost ${u.lostConnections}; last upgrade's pauses p50 ${u.movePauseMs.p50} ms, p99 ${u.movePauseMs.p99} ms, max ${u.movePauseMs.max} ms; back to 1 + N within ${slowestBackMs} ms of each upgrade's start; plain http ${plain.ok} ok, ${plain.failed} failed`);
    assert.equal(report.closedEarly, 0, JSON.stringify(report));
    assert.equal(report.corrupted, 0, JSON.stringify(report));
    assert.equal(report.bytesEchoed, report.bytesSent);
    assert.equal(plain.failed, 0, plain.errors.slice(0, 5).join('; '));
    assert.ok(plain.ok > 0);
    assert.equal(u.ok, 20);
    assert.equal(u.lostConnections, 0);
    assert.equal(u.drainedConnections, 0);
    // Every tunnel moved at every upgrade.
    assert.equal(u.movedConnections, 250 * 20);
  });
});
