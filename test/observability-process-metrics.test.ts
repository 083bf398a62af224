// Process metrics of every hitless process (issue 15, finding 6) and the generation they belong to
// (finding 5), over a real scrape of the real `hitless run`: the supervisor and each worker export
// event-loop lag, heap, GC, handles, CPU and RSS, one series per process (role, pid, worker slot,
// generation); hitless_generation follows a code upgrade; the dashboard shows each process's
// event-loop lag. Without workers, the one process exports its own.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { HitlessProcess } from './helpers/hitless-process.js';
import { reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';
import { parseExposition, startBackend, valueOf, type Backend, type Sample } from './observability-helpers.js';

/** Families every process must export (GC's histogram has series only once a collection happened). */
const PER_PROCESS = [
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_eventloop_lag_max_seconds',
  'nodejs_heap_size_used_bytes',
  'nodejs_active_handles_total',
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
];

interface Worker {
  readonly pid: number;
  readonly slot: number;
  readonly generation: number;
  readonly state: string;
}

interface ProcessRow {
  readonly role: string;
  readonly pid: number;
  readonly worker?: number;
  readonly generation?: number;
  readonly eventLoopLagP99Ms: number | null;
  readonly heapUsedBytes: number | null;
}

const config = (admin: string, port: number, backend: Backend) =>
  `admin: { listen: "${admin}" }\nservices:\n  web:\n    mode: http\n    listen: 127.0.0.1:${port}\n    endpoints: [${backend.address}]\n`;

async function scrape(h: HitlessProcess): Promise<{ text: string; samples: Sample[] }> {
  const res = await h.request('GET', '/metrics');
  assert.equal(res.status, 200, res.text);
  return { text: res.text, samples: parseExposition(res.text) };
}

/** The series of `name` that belong to the process with these labels. */
function series(samples: readonly Sample[], name: string, labels: Record<string, string>): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

describe('process metrics with workers', () => {
  let backend: Backend;
  let h: HitlessProcess | undefined;

  after(async () => {
    await h?.kill();
    await backend?.close();
  });

  it('the supervisor and every worker export their own, labelled by role, pid, worker and generation', async () => {
    backend = await startBackend(200);
    const port = await reservePort();
    h = await HitlessProcess.start({ workers: 2, logLevel: 'warn', config: (admin) => config(admin, port, backend) });
    const status = await h.status();
    const workers = (status.process as unknown as { workers: Worker[] }).workers;
    assert.equal(workers.length, 2);
    const processes: Array<Record<string, string>> = [
      { role: 'supervisor', pid: String(h.pid) },
      ...workers.map((w) => ({ role: 'worker', pid: String(w.pid), worker: String(w.slot), generation: '1' })),
    ];
    // A worker loads its collector a second after it is ready; a scrape before that waits for
    // it, which a heavily loaded machine can stretch past the status timeout: bounded retries.
    const { text, samples } = await waitFor('every process\'s metrics', async () => {
      const m = await scrape(h!);
      return processes.every((labels) => series(m.samples, PER_PROCESS[0], labels).length === 1) ? m : undefined;
    }, { timeoutMs: 15_000, intervalMs: 250 });
    assert.match(text, /# TYPE nodejs_gc_duration_seconds histogram/);
    for (const labels of processes) {
      for (const name of PER_PROCESS) {
        const found = series(samples, name, labels);
        assert.equal(found.length, 1, `${name}${JSON.stringify(labels)}: ${found.length} series`);
        assert.ok(Number.isFinite(found[0].value) && found[0].value >= 0, `${name}${JSON.stringify(labels)} = ${found[0].value}`);
      }
    }
    assert.ok(valueOf(samples, 'process_resident_memory_bytes', { role: 'worker', pid: String(workers[0].pid) }) > 10_000_000, 'a worker uses more than 10 MB');
    // Generation: the gauge and the info label (documented, and before this change never emitted).
    assert.equal(valueOf(samples, 'hitless_generation'), 1);
    assert.equal(series(samples, 'hitless_info', { generation: '1' }).length, 1);
  });

  it('the dashboard shows every process with its event-loop lag', async () => {
    const res = await h!.request('GET', '/dashboard/data');
    assert.equal(res.status, 200, res.text);
    const d = res.json<{ processes: ProcessRow[]; generations: { serving: number } | null }>();
    assert.deepEqual(d.processes.map((p) => p.role).sort(), ['supervisor', 'worker', 'worker']);
    for (const p of d.processes) {
      assert.ok(typeof p.eventLoopLagP99Ms === 'number' && p.eventLoopLagP99Ms >= 0, `lag of ${p.role} ${p.pid}: ${p.eventLoopLagP99Ms}`);
      assert.ok(typeof p.heapUsedBytes === 'number' && p.heapUsedBytes > 0);
    }
    assert.equal(d.generations?.serving, 1);
  });

  it('after a code upgrade, hitless_generation and the new workers say generation 2', async () => {
    const res = await h!.request('POST', '/upgrade');
    assert.equal(res.status, 200, res.text);
    const workers = await waitFor('the new generation to serve alone', async () => {
      const list = ((await h!.status()).process as unknown as { workers: Worker[] }).workers;
      return list.length === 2 && list.every((w) => w.generation === 2 && w.state === 'ready') ? list : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    // A new worker's metrics come with its status; a scrape in the first instants after it is
    // ready may find them still loading (then it shows the worker without them): wait, bounded.
    const ofWorker = (samples: readonly Sample[], w: Worker) => series(samples, 'nodejs_eventloop_lag_p99_seconds', { role: 'worker', pid: String(w.pid), generation: '2', worker: String(w.slot) });
    const samples = await waitFor('the new workers\' process metrics', async () => {
      const { samples: s } = await scrape(h!);
      return workers.every((w) => ofWorker(s, w).length === 1) ? s : undefined;
    }, { timeoutMs: 15_000, intervalMs: 250 });
    assert.equal(valueOf(samples, 'hitless_generation'), 2);
    assert.equal(series(samples, 'hitless_info', { generation: '2' }).length, 1);
    assert.equal(series(samples, 'nodejs_eventloop_lag_p99_seconds', { generation: '1' }).length, 0, 'the old generation is gone');
  });
});

describe('process metrics without workers', () => {
  let backend: Backend;
  let h: HitlessProcess | undefined;

  after(async () => {
    await h?.kill();
    await backend?.close();
  });

  it('the one process exports its own, as role="standalone", and no generation', async () => {
    backend = await startBackend(200);
    const port = await reservePort();
    h = await HitlessProcess.start({ workers: 0, logLevel: 'warn', config: (admin) => config(admin, port, backend) });
    const { samples } = await scrape(h);
    for (const name of PER_PROCESS) assert.equal(series(samples, name, { role: 'standalone', pid: String(h.pid) }).length, 1, name);
    assert.equal(samples.filter((s) => s.name === 'hitless_generation').length, 0);
  });
});
