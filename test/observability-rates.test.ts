// Rates an operator reads are computed over the interval that produced them (issue 15, finding 2).
// The real `hitless run` with two workers under a steady, paced load: the dashboard's series
// (GET /dashboard/data) and `hitless top` must each read the offered rate, sample after sample.
// Before the fix, the dashboard divided by its own 1 s tick while the supervisor collected the
// workers' counters every 2 s: the series read 0, 2x, 0, 2x.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HitlessProcess } from './helpers/hitless-process.js';
import { runCli } from './helpers/cli.js';
import { countIn, pacedLoad, type PacedLoad } from './helpers/paced-load.js';
import { reservePort } from './helpers/ports.js';
import { sleep } from './helpers/wait.js';
import { startBackend, type Backend } from './observability-helpers.js';
import { renderTop, type TopRow } from '../src/cli/top-command.js';
import type { StatusDocument } from '../src/admin/status.js';

/** Offered load; low enough for a shared 2-core machine, high enough that one request is 0.4 %. */
const RPS = 250;
const TOLERANCE = 0.2;

interface Series {
  readonly t: number[];
  readonly rps: number[];
}

describe('rates under a steady load, with workers', () => {
  let backend: Backend;
  let h: HitlessProcess;
  let load: PacedLoad | null = null;
  let loadStarted = 0;

  before(async () => {
    backend = await startBackend(200);
    const port = await reservePort();
    h = await HitlessProcess.start({
      workers: 2,
      logLevel: 'warn',
      config: (admin) => `admin: { listen: "${admin}" }\nservices:\n  web:\n    mode: http\n    listen: 127.0.0.1:${port}\n    endpoints: [${backend.address}]\n`,
    });
    loadStarted = Date.now();
    load = pacedLoad(port, RPS, { maxMs: 90_000 });
  });

  after(async () => {
    await load?.stop();
    await h?.kill();
    await backend?.close();
  });

  /**
   * Each reported rate against the offered one, where "offered" is what the client actually wrote
   * in that same interval: on a shared, loaded machine the client itself falls behind its schedule
   * and catches up. The tolerance is 20% of the nominal rate. A 0/2x alternation is off by 100%.
   */
  const check = (what: string, intervals: Array<{ end: number; dtMs: number; rps: number }>): void => {
    const rows = intervals.map((p) => ({ ...p, offered: Math.round((countIn(load!.sent, p.end - p.dtMs, p.end) * 100_000) / p.dtMs) / 100 }));
    const shown = rows.map((r) => `${r.rps}/s (offered ${r.offered}/s) over ${r.dtMs} ms`).join(', ');
    assert.ok(rows.length >= 8, `${what}: at least 8 consecutive samples under load, got ${rows.length}: ${shown}`);
    for (const r of rows) assert.ok(Math.abs(r.rps - r.offered) <= RPS * TOLERANCE, `${what}: every sample within 20% of the offered rate: ${shown}`);
  };

  it('the dashboard series reads the offered rate at every point (>= 8 consecutive)', async (t) => {
    // Nothing asks for a status meanwhile (a page or `top` would refresh the workers' counters
    // themselves): the sampler sees only the supervisor's 2 s collections, the sharpest case.
    await sleep(24_000);
    const res = await h.request('GET', '/dashboard/data');
    assert.equal(res.status, 200, res.text);
    const { series } = res.json<{ series: Series }>();
    // Points whose whole interval lies in the steady part of the load (after a 1.5 s warm-up).
    const points: Array<{ end: number; dtMs: number; rps: number }> = [];
    for (let i = 1; i < series.t.length; i++) {
      if (series.t[i - 1] >= loadStarted + 1_500) points.push({ end: series.t[i], dtMs: series.t[i] - series.t[i - 1], rps: series.rps[i] });
    }
    t.diagnostic(`dashboard series: ${points.map((p) => `${p.rps}/s over ${p.dtMs} ms`).join(', ')}`);
    assert.equal(load!.failed(), 0, 'every request of the load was answered');
    check('dashboard', points);
  });

  it('hitless top reads the offered rate at every interval (9 consecutive)', async (t) => {
    const out = await runCli(['top', '--admin', h.admin, '--json', '--interval', '1s', '--count', '9'], 60_000);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as { time: string; intervalMs: number; services: TopRow[] });
    assert.equal(lines.length, 9);
    const intervals = lines.map((l) => ({ end: Date.parse(l.time), dtMs: l.intervalMs, rps: l.services.find((s) => s.service === 'web')!.rate.rps }));
    t.diagnostic(`hitless top: ${intervals.map((i) => i.rps).join(', ')} req/s`);
    check('top', intervals);
  });
});

describe('hitless top screen', () => {
  it('keeps its rows in one order (by service name) whatever the rates do', () => {
    const status = { version: '0', pid: 1, uptimeSeconds: 1, config: null, lastApply: null } as unknown as StatusDocument;
    const row = (service: string, rps: number): TopRow => ({ service, mode: 'http', rate: { rps, eps: 0, bps: 0, active: 0 }, total: 0, p99: null, endpointsUp: 1, endpoints: 1 });
    const order = (rows: TopRow[]) => renderTop(status, rows, 1000).split('\n').filter((l) => /^(alpha|beta|gamma) /.test(l)).map((l) => l.split(' ')[0]);
    assert.deepEqual(order([row('gamma', 5), row('alpha', 900), row('beta', 10)]), ['alpha', 'beta', 'gamma']);
    assert.deepEqual(order([row('beta', 900), row('gamma', 1), row('alpha', 0)]), ['alpha', 'beta', 'gamma']);
  });
});
