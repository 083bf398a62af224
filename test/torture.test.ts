// The torture tool counts each kind of failure correctly and never runs past its bounds. Every
// case runs against a purpose-made server on loopback; durations are a second or less.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { applyAction, upgradeAction } from '../src/bench/torture/actions.js';
import { parseTortureOptions } from '../src/bench/torture/cli-options.js';
import { FAILURE_KINDS, type FailureKind } from '../src/bench/torture/failures.js';
import type { KindResult, TrafficKind } from '../src/bench/torture/kind-stats.js';
import { parseLoopbackEndpoint } from '../src/bench/torture/loopback.js';
import { formatReturns, processReturns } from '../src/bench/torture/process-return.js';
import { writeReport } from '../src/bench/torture/report/write-report.js';
import { graceMs, runTorture, type RunOptions, type TargetResult, type TrafficOptions } from '../src/bench/torture/run-torture.js';
import { startBackendServers } from '../src/bench/torture/targets/backend-server.js';
import {
  adminStub,
  breakingEchoServer,
  closedPort,
  resettingServer,
  silentServer,
  statusServer,
  type TestServer,
} from './helpers/misbehaving-servers.js';

const servers: { close(): Promise<void> }[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});
async function serve<T extends { close(): Promise<void> }>(server: Promise<T>): Promise<T> {
  const started = await server;
  servers.push(started);
  return started;
}

const OFF: TrafficOptions = {
  newConnection: 0,
  keepAlive: 0,
  longLived: 0,
  longLivedMode: 'raw',
  longLivedLifeMs: [1000, 1000],
  pingIntervalMs: 20,
  timeoutMs: 1000,
  maxRequests: 1_000_000,
};

function run(port: number, traffic: Partial<TrafficOptions>, extra: Partial<RunOptions> = {}): Promise<TargetResult> {
  const endpoint = { host: '127.0.0.1', port };
  return runTorture({
    target: 'test',
    http: endpoint,
    tcp: endpoint,
    traffic: { ...OFF, ...traffic },
    durationMs: 600,
    baselineMs: 0,
    actionRate: 0,
    maxActions: 0,
    ...extra,
  });
}

function kind(result: TargetResult, name: TrafficKind): KindResult {
  const found = result.kinds.find((k) => k.kind === name);
  assert.ok(found, `no results for ${name}`);
  return found;
}

/** Every failure is of `expected` kind, there was at least one, and nothing succeeded (by default). */
function onlyFailures(k: KindResult, expected: FailureKind, maxOk = 0): void {
  assert.ok(k.failures[expected] > 0, `expected some ${expected} failures: ${JSON.stringify(k.failures)}`);
  for (const other of FAILURE_KINDS) if (other !== expected) assert.equal(k.failures[other], 0, `unexpected ${other}: ${k.errorSamples.join('; ')}`);
  assert.ok(k.ok <= maxOk, `${k.ok} succeeded`);
}

describe('torture: failure kinds', () => {
  it('counts a connection to a port with nothing listening as refused', async () => {
    const port = await closedPort();
    const result = await run(port, { newConnection: 1, keepAlive: 1, maxRequests: 20 });
    onlyFailures(kind(result, 'newConnection'), 'refused');
    onlyFailures(kind(result, 'keepAlive'), 'refused');
    assert.equal(result.operations, 20);
  });

  it('counts a TCP RST as a reset', async () => {
    const server = await serve(resettingServer());
    const result = await run(server.port, { newConnection: 1, keepAlive: 1, maxRequests: 20 });
    onlyFailures(kind(result, 'newConnection'), 'reset');
    onlyFailures(kind(result, 'keepAlive'), 'reset');
  });

  it('counts a server that never answers as a timeout', async () => {
    const server = await serve(silentServer());
    const result = await run(server.port, { newConnection: 2, timeoutMs: 200 });
    onlyFailures(kind(result, 'newConnection'), 'timeout');
  });

  it('counts a 500 as a bad status', async () => {
    const server = await serve(statusServer(500));
    const result = await run(server.port, { newConnection: 1, keepAlive: 1, maxRequests: 20 });
    onlyFailures(kind(result, 'newConnection'), 'badStatus');
    onlyFailures(kind(result, 'keepAlive'), 'badStatus');
  });

  it('counts a long-lived connection closed mid-life as broken', async () => {
    const server = await serve(breakingEchoServer(150));
    const result = await run(server.port, { longLived: 2, longLivedLifeMs: [1000, 1000] }, { durationMs: 800 });
    const longLived = kind(result, 'longLived');
    // A connection opened in the last 150 ms ends at the deadline before the server cuts it: ok.
    onlyFailures(longLived, 'broken', 2);
    assert.ok((longLived.pings ?? 0) > 0, 'the connections worked before they broke');
  });

  it('counts nothing as failed against a healthy backend, including long-lived upgrades', async () => {
    const backend = await serve(startBackendServers());
    const result = await run(backend.httpPort, {
      newConnection: 1,
      keepAlive: 1,
      longLived: 2,
      longLivedMode: 'upgrade',
      longLivedLifeMs: [200, 300],
    });
    for (const k of result.kinds) {
      assert.equal(k.failed, 0, `${k.kind}: ${k.errorSamples.join('; ')}`);
      assert.ok(k.ok > 0, `${k.kind} did some work`);
    }
    assert.ok((kind(result, 'longLived').pings ?? 0) > 0);
  });
});

describe('torture: bounds', () => {
  it('ends within its duration plus the grace, even against a silent server', async () => {
    const server = await serve(silentServer());
    const traffic = { newConnection: 2, keepAlive: 2, longLived: 2, timeoutMs: 300, longLivedLifeMs: [5000, 5000] as const };
    const started = Date.now();
    const result = await run(server.port, traffic, { durationMs: 500 });
    const bound = 500 + graceMs({ ...OFF, ...traffic });
    assert.ok(Date.now() - started <= bound + 500, `ran ${Date.now() - started} ms, bound ${bound} ms`);
    assert.ok(result.elapsedMs <= bound);
  });

  it('never exceeds the request budget', async () => {
    const backend = await serve(startBackendServers());
    const result = await run(backend.httpPort, { newConnection: 3, keepAlive: 3, maxRequests: 40 }, { durationMs: 20_000 });
    assert.equal(result.operations, 40);
    const done = result.kinds.reduce((sum, k) => sum + k.ok + k.failed, 0);
    assert.equal(done, 40);
  });

  it('never exceeds the action budget, and stops an action the target does not support', async () => {
    const backend = await serve(startBackendServers());
    let fired = 0;
    const action = { name: 'count', fire: async () => void fired++ };
    const limited = await run(backend.httpPort, { keepAlive: 1 }, { action, actionRate: 50, maxActions: 3 });
    assert.equal(limited.actions.attempted, 3);
    assert.equal(fired, 3);

    const admin = await serve(adminStub(404));
    const upgrade = upgradeAction(`127.0.0.1:${admin.port}`);
    const unsupported = await run(backend.httpPort, { keepAlive: 1 }, { action: upgrade, actionRate: 50, maxActions: 10 });
    assert.equal(unsupported.actions.attempted, 1);
    assert.match(unsupported.actions.unsupported ?? '', /404/);
  });

  it('refuses any target that is not loopback', async () => {
    assert.throws(() => parseLoopbackEndpoint('10.1.2.3:80'), /only 127\.0\.0\.1/);
    assert.throws(() => parseLoopbackEndpoint('example.com:80'), /only 127\.0\.0\.1/);
    assert.throws(() => parseTortureOptions({ http: '192.168.0.1:8080' }), /refusing/);
    assert.deepEqual(parseLoopbackEndpoint('[::1]:8080'), { host: '::1', port: 8080 });
    await assert.rejects(
      runTorture({ target: 'x', http: { host: '8.8.8.8', port: 53 }, traffic: OFF, durationMs: 10, baselineMs: 0, actionRate: 0, maxActions: 0 }),
      /refusing/,
    );
  });
});

describe('torture: actions and report', () => {
  it('apply alternates the two configs through PUT /config and counts rejections', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'torture-test-'));
    servers.push({ close: () => rm(dir, { recursive: true, force: true }) });
    await writeFile(join(dir, 'a.yaml'), 'A');
    await writeFile(join(dir, 'b.yaml'), 'B');
    const ok = await serve(adminStub(200));
    const apply = applyAction(`127.0.0.1:${ok.port}`, [join(dir, 'a.yaml'), join(dir, 'b.yaml')]);
    for (let i = 0; i < 3; i++) await apply.fire();
    assert.deepEqual(ok.requests.map((r) => `${r.method} ${r.url} ${r.body}`), ['PUT /config B', 'PUT /config A', 'PUT /config B']);

    const rejecting: TestServer = await serve(adminStub(400));
    const rejected = applyAction(`127.0.0.1:${rejecting.port}`, [join(dir, 'a.yaml'), join(dir, 'b.yaml')]);
    await assert.rejects(rejected.fire(), /apply rejected: 400 HITLESS_ERR_NOT_FOUND/);
  });

  it('writes a Markdown report with SVG and PNG charts', async () => {
    const backend = await serve(startBackendServers());
    const action = { name: 'noop', fire: async () => {} };
    const result = await run(backend.httpPort, { keepAlive: 1 }, { action, actionRate: 10, maxActions: 5, baselineMs: 100 });
    const dir = await mkdtemp(join(tmpdir(), 'torture-report-'));
    servers.push({ close: () => rm(dir, { recursive: true, force: true }) });
    const suite = { startedAt: '', finishedAt: '', shape: { traffic: OFF, durationMs: 600, baselineMs: 100, actionRate: 10, maxActions: 5 }, targets: [result] };
    const machine = { date: '', hostname: 'h', nproc: 2, cpuModel: 'cpu', memoryBytes: 1 << 30, kernel: 'k', versions: { node: process.version } };
    await writeReport(dir, suite, machine, 'test');
    const markdown = await readFile(join(dir, 'README.md'), 'utf8');
    assert.match(markdown, /\| test \| keep-alive \|/);
    for (const file of ['failures', 'latency', 'processes']) {
      assert.match(await readFile(join(dir, `${file}.svg`), 'utf8'), /<svg/);
      assert.ok((await stat(join(dir, `${file}.png`))).size > 1000);
    }
  });
});

describe('torture: processes back to start after an action', () => {
  const at = (counts: readonly number[]): { tMs: number; processes: number; rssBytes: number }[] => counts.map((processes, i) => ({ tMs: i * 250, processes, rssBytes: 0 }));

  it('times each action that raised the count until the count is back, and says which never came back', () => {
    // 3 at rest; an upgrade at 0 ms (5 until 1000 ms), one at 1500 ms (back at 2500 ms), one at
    // 3000 ms that is never back, and nothing raised by an action at 2600 ms.
    const samples = at([3, 5, 5, 5, 3, 3, 5, 5, 5, 5, 3, 3, 3, 5, 5]);
    const r = processReturns(samples, [0, 1500, 2600, 3000]);
    assert.deepEqual(r, { raised: 3, backMs: [1000, 1000], notBack: 1 });
    assert.equal(formatReturns(r), 'median 1.00 s, max 1.00 s (1 not back by the end)');
    assert.equal(formatReturns(processReturns(at([3, 3, 3]), [0, 250])), '-');
  });

  it('holds for generated runs: every raising action is either back (at or after it) or counted as not back', () => {
    let seed = 7;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let run = 0; run < 200; run++) {
      const samples = at(Array.from({ length: 1 + random(40) }, (_, i) => (i === 0 ? 3 : 2 + random(4))));
      const times = [...new Set(Array.from({ length: random(8) }, () => random(10_000)))].sort((a, b) => a - b);
      const r = processReturns(samples, times);
      assert.equal(r.backMs.length + r.notBack, r.raised);
      assert.ok(r.raised <= times.length);
      for (const ms of r.backMs) assert.ok(ms > 0, `back ${ms} ms after its action`);
    }
  });
});
