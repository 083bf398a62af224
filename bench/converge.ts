// npm run bench:converge — how fast a registry change reaches traffic, and what an apply costs.
//  For ZooKeeper and etcd (real servers from the Debian packages, on loopback), with N services x
//  10 endpoints registered (N = 100 and 500) and a background writer churning random services
//  (one endpoint moved every 20 ms): the time from a registry write that adds an endpoint to the
//  first connection that reaches it through hitless (p50, p99, max over many changes), and the
//  wall time and CPU of each discovery apply, and that CPU per service change it applied (does it
//  grow with N, or only with the churn?).
//  hitless runs in this process (Hitless.start, silent logger, default 20 ms coalescing window):
//  alone (--workers 0), then as the supervisor of 2 worker processes (what `hitless run` does by
//  default); BENCH_CONVERGE_WORKERS=0,2 chooses. With workers, "cpu" is the supervisor's only (the
//  workers' CPU also carries the probe traffic), while the apply's wall time covers both.
//  Then the fleet row (converge-fleet.ts): N `hitless run` processes on a 3-member etcd cluster
//  and a 3-server ZooKeeper ensemble, registry write → applied on every instance.
//  BENCH_CONVERGE_ROWS=single,fleet chooses the parts (the single rows listen on 25000+).
//  Loopback only; the registries are stopped (by pid) at the end.
import { createServer, type Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config/load.js';
import type { ApplyRecord } from '../src/control/controller.js';
import { Hitless } from '../src/hitless.js';
import { processRoutes } from '../src/admin/process-routes.js';
import { createSupervised } from '../src/process/supervised.js';
import { silentLogger } from '../src/observability/log.js';
import { EtcdServer, etcdMissing } from '../test/helpers/etcd.js';
import { echoOnce } from '../test/helpers/tcp-client.js';
import { ZookeeperServer, zookeeperMissing } from '../test/helpers/zookeeper.js';
import { runFleets } from './converge-fleet.js';
import { etcdWriter, zookeeperWriter, type Writer } from './lib/registry-writers.js';

const CHANGES = Number(process.env.BENCH_CONVERGE_CHANGES ?? 200);
const SIZES = (process.env.BENCH_CONVERGE_SERVICES ?? '100,500').split(',').map(Number);
const WORKERS = (process.env.BENCH_CONVERGE_WORKERS ?? '0,2').split(',').map(Number);
const ENDPOINTS = 10;
const BASE_PORT = 25_000;
const CHURN_MS = 20;
const ROWS = (process.env.BENCH_CONVERGE_ROWS ?? 'single,fleet').split(',');

class Listener {
  accepted = 0;
  private waiter: (() => void) | null = null;
  constructor(readonly server: Server) {
    server.on('connection', (s) => {
      this.accepted++;
      this.waiter?.();
      s.on('error', () => {});
      s.pipe(s);
    });
  }
  get port(): number {
    return (this.server.address() as { port: number }).port;
  }
  static async start(): Promise<Listener> {
    const server = createServer();
    await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
    return new Listener(server);
  }
  /** Resolves with performance.now() at the next connection. */
  next(timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
      this.waiter = () => {
        this.waiter = null;
        clearTimeout(timer);
        resolve(performance.now());
      };
    });
  }
}

const pct = (s: readonly number[], q: number) => {
  const sorted = [...s].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
};

const sum = (s: readonly number[]) => s.reduce((a, b) => a + b, 0);

/** hitless in this process, or (workers > 0) this process as the supervisor of `workers` worker processes. */
async function startHitless(text: string, workers: number): Promise<Hitless> {
  const snapshot = parseConfig(text, 'bench');
  const log = silentLogger();
  if (workers === 0) return Hitless.start({ snapshot, log });
  const supervised = createSupervised({ workers, log, readyTimeoutMs: 60_000, upgradeDrainMs: 1_000 });
  return Hitless.start({ snapshot, log, driver: supervised.driver, adminExtension: processRoutes(supervised.control) });
}

async function runOne(writer: Writer, n: number, workers: number, real: Listener[], extra: Listener[]) {
  // Service 0 is probed: its endpoints are real listeners. The others point at addresses that
  // are never connected to (nothing sends them traffic); they exist to be watched and churned.
  const writes: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < ENDPOINTS; j++) {
      const value = i === 0 ? { host: '127.0.0.1', port: real[j].port } : { host: `127.3.${i >> 8}.${i & 255}`, port: 9000 + j };
      writes.push(writer.put(i, `ep-${j}`, value));
      if (writes.length >= 200) await Promise.all(writes.splice(0));
    }
  }
  await Promise.all(writes);
  const services: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) services[`svc-${i}`] = { listen: `127.0.0.1:${BASE_PORT + i}`, discovery: writer.discovery(i) };
  const text = stringify({ admin: { listen: `unix:/tmp/hitless-bench-converge-${process.pid}.sock` }, services });
  const hitless = await startHitless(text, workers);

  // Time and CPU of every discovery apply, and how many services it changed (bench-only
  // instrumentation of the controller).
  const applies: { ms: number; cpu: number; changed: number }[] = [];
  const c = hitless.controller as unknown as { applyNow: (...args: unknown[]) => Promise<unknown> };
  const applyNow = c.applyNow.bind(c);
  c.applyNow = async (...args) => {
    const cpu = process.cpuUsage();
    const t = performance.now();
    let changed = 0;
    try {
      const record = (await applyNow(...args)) as ApplyRecord;
      const services = record.plan?.services;
      changed = services ? services.added.length + services.removed.length + services.changed.length : 0;
      return record;
    } finally {
      const used = process.cpuUsage(cpu);
      applies.push({ ms: performance.now() - t, cpu: (used.user + used.system) / 1000, changed });
    }
  };

  let running = true;
  const clients = Array.from({ length: 4 }, async () => {
    while (running) await echoOnce(BASE_PORT, 16, 5_000);
  });
  const churn = (async () => {
    let k = 0;
    while (running) {
      const i = 1 + Math.floor(Math.random() * (n - 1));
      await writer.put(i, `ep-${k++ % ENDPOINTS}`, { host: `127.3.${i >> 8}.${i & 255}`, port: 10_000 + Math.floor(Math.random() * 1000) }).catch(() => {});
      await sleep(CHURN_MS);
    }
  })();

  await sleep(500);
  applies.length = 0;
  const latencies: number[] = [];
  for (let k = 0; k < CHANGES; k++) {
    const target = extra[k % extra.length];
    const reached = target.next(10_000);
    const t0 = performance.now();
    await writer.put(0, 'probe', { host: '127.0.0.1', port: target.port, weight: 100 });
    latencies.push(
      (await reached.catch((err: Error) => {
        const svc = hitless.controller.current?.config.services.get('svc-0');
        const status = hitless.discovery.describe().find((d) => d.service === 'svc-0');
        throw new Error(`${err.message}; svc-0 runs ${svc?.endpoints.map((e) => e.key).join(' ')}; discovery ${JSON.stringify(status)}`);
      })) - t0,
    );
    await writer.remove(0, 'probe');
    await sleep(30);
  }
  running = false;
  await Promise.all([...clients, churn]);
  const result = {
    registry: writer.kind,
    workers,
    services: n,
    endpoints: n * ENDPOINTS,
    changes: latencies.length,
    p50: pct(latencies, 0.5),
    p99: pct(latencies, 0.99),
    max: pct(latencies, 1),
    applies: applies.length,
    applyMsP50: pct(applies.map((a) => a.ms), 0.5),
    applyMsP99: pct(applies.map((a) => a.ms), 0.99),
    applyCpuMsP50: pct(applies.map((a) => a.cpu), 0.5),
    changedPerApply: sum(applies.map((a) => a.changed)) / applies.length,
    /** All apply CPU over all service changes applied: the cost of one change. */
    cpuUsPerChange: (1000 * sum(applies.map((a) => a.cpu))) / sum(applies.map((a) => a.changed)),
  };
  await hitless.stop(0);
  return result;
}

async function main(): Promise<void> {
  if (ROWS.includes('single')) await runSingles();
  if (ROWS.includes('fleet')) await runFleets();
}

async function runSingles(): Promise<void> {
  const real = await Promise.all(Array.from({ length: ENDPOINTS }, () => Listener.start()));
  const extra = await Promise.all([Listener.start(), Listener.start()]);
  const rows: Awaited<ReturnType<typeof runOne>>[] = [];
  const registries: Array<[string, string | null, () => Promise<{ writer: Writer; stop: () => Promise<void> }>]> = [
    ['zookeeper', zookeeperMissing(), async () => {
      const server = await ZookeeperServer.launch();
      const writer = zookeeperWriter([server.hosts]);
      return { writer, stop: async () => (await writer.close(), await server.destroy()) };
    }],
    ['etcd', etcdMissing(), async () => {
      const server = await EtcdServer.launch();
      const writer = etcdWriter([server.url]);
      return { writer, stop: async () => (await writer.close(), await server.destroy()) };
    }],
  ];
  for (const [name, missing, launch] of registries) {
    if (missing) {
      console.log(`skipping ${name}: ${missing}`);
      continue;
    }
    for (const workers of WORKERS) {
      for (const n of SIZES) {
        // A fresh registry per size, so the churn history of one run does not weigh on the next.
        const { writer, stop } = await launch();
        try {
          const row = await runOne(writer, n, workers, real, extra);
          rows.push(row);
          console.log(JSON.stringify(row));
        } finally {
          await stop();
        }
      }
    }
  }
  const f = (x: number) => x.toFixed(1).padStart(7);
  console.log(`\nregistry write → first connection reaching the new endpoint, ${CHANGES} changes each, churn: 1 endpoint moved every ${CHURN_MS} ms`);
  console.log('registry   workers services endpoints    p50 ms  p99 ms  max ms | applies  apply ms p50  p99   cpu ms p50  changed/apply  cpu µs/change');
  for (const r of rows) {
    console.log(
      `${r.registry.padEnd(10)} ${String(r.workers).padStart(7)} ${String(r.services).padStart(8)} ${String(r.endpoints).padStart(9)}  ${f(r.p50)} ${f(r.p99)} ${f(r.max)} | ${String(r.applies).padStart(7)} ${f(r.applyMsP50)} ${f(r.applyMsP99)} ${f(r.applyCpuMsP50)}  ${f(r.changedPerApply).padStart(13)}  ${f(r.cpuUsPerChange).padStart(13)}`,
    );
  }
  for (const name of ['zookeeper', 'etcd']) {
    for (const workers of WORKERS) {
      const at = (n: number | undefined) => rows.find((r) => r.registry === name && r.workers === workers && r.services === n);
      const [small, large] = [at(SIZES[0]), at(SIZES.at(-1))];
      if (small && large && small !== large) {
        console.log(
          `${name}, --workers ${workers}: at ${large.services} services / at ${small.services} services (services x${large.services / small.services}): apply wall p50 ${(large.applyMsP50 / small.applyMsP50).toFixed(2)}x, apply CPU p50 ${(large.applyCpuMsP50 / small.applyCpuMsP50).toFixed(2)}x, CPU per change ${(large.cpuUsPerChange / small.cpuUsPerChange).toFixed(2)}x`,
        );
      }
    }
  }
  await Promise.all([...real, ...extra].map((l) => new Promise((r) => l.server.close(r))));
}

await main();
process.exit(0);
