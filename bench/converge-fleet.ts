// The fleet row of `npm run bench:converge`: N `hitless run` processes (one process each,
// --workers 0, so that more fit on one machine) on a 3-member etcd cluster, then on a 3-server
// ZooKeeper ensemble, each discovering the same S services x E endpoints with every member in its
// config, as the hosts of a fleet running the same local proxy do. One change at a time is
// written (an endpoint added to, then removed from, service 0); its latency runs from just before
// the write to the time each instance logged the discovery apply that carried it ("config
// applied", origin discovery, as hitless itself timestamps it). "every instance" is, per change,
// the slowest instance of the fleet: the write is applied everywhere. No churn besides.
//   BENCH_CONVERGE_FLEET=N instances (default 12), BENCH_CONVERGE_FLEET_SERVICES (50),
//   BENCH_CONVERGE_FLEET_CHANGES (100). Listen ports come from 23000-23999.
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { EtcdCluster, etcdMissing, reserveClusterPort } from '../test/helpers/etcd-cluster.js';
import { HitlessProcess } from '../test/helpers/hitless-process.js';
import { ZookeeperEnsemble, zookeeperMissing } from '../test/helpers/zookeeper-ensemble.js';
import { treeRss } from './lib/proc.js';
import { etcdWriter, zookeeperWriter, type Writer } from './lib/registry-writers.js';

const INSTANCES = Number(process.env.BENCH_CONVERGE_FLEET ?? 12);
const SERVICES = Number(process.env.BENCH_CONVERGE_FLEET_SERVICES ?? 50);
const CHANGES = Number(process.env.BENCH_CONVERGE_FLEET_CHANGES ?? 100);
const ENDPOINTS = 5;
const APPLY_TIMEOUT_MS = 10_000;

/** One `hitless run`, and the times (epoch ms, from its own log) of its discovery applies. */
class Instance {
  private readonly applies: number[] = [];
  private waiter: { after: number; resolve: (t: number) => void } | null = null;
  private partial = '';

  constructor(readonly process: HitlessProcess) {
    process.child.stderr!.on('data', (chunk: Buffer) => this.read(chunk.toString()));
  }

  /** The time of the first discovery apply logged at or after `after`. */
  appliedAfter(after: number): Promise<number> {
    const seen = this.applies.find((t) => t >= after);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`pid ${this.process.pid}: no discovery apply within ${APPLY_TIMEOUT_MS} ms`)), APPLY_TIMEOUT_MS);
      this.waiter = {
        after,
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
      };
    });
  }

  private read(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.includes('"config applied"')) continue;
      const entry = JSON.parse(line) as { time: string; origin?: string };
      if (entry.origin !== 'discovery') continue;
      const time = Date.parse(entry.time);
      this.applies.push(time);
      if (this.applies.length > 100) this.applies.shift();
      if (this.waiter && time >= this.waiter.after) {
        const { resolve } = this.waiter;
        this.waiter = null;
        resolve(time);
      }
    }
  }
}

interface FleetRow {
  readonly registry: string;
  readonly instances: number;
  readonly changes: number;
  readonly each: readonly number[];
  readonly every: readonly number[];
  readonly rssMb: number;
}

/** Listen ports per instance, reserved once and used again by each fleet (one runs at a time). */
const listenPorts: number[][] = [];

async function reserveListenPorts(): Promise<void> {
  while (listenPorts.length < INSTANCES) {
    const ports: number[] = [];
    for (let i = 0; i < SERVICES; i++) ports.push(await reserveClusterPort());
    listenPorts.push(ports);
  }
}

async function startFleet(writer: Writer): Promise<Instance[]> {
  await reserveListenPorts();
  const instances: Instance[] = [];
  for (let started = 0; started < INSTANCES; started += 4) {
    const batch = Array.from({ length: Math.min(4, INSTANCES - started) }, async (_, k) => {
      const ports = listenPorts[started + k];
      const services: Record<string, unknown> = {};
      for (let i = 0; i < SERVICES; i++) services[`svc-${i}`] = { listen: `127.0.0.1:${ports[i]}`, discovery: writer.discovery(i) };
      const config = (admin: string) => stringify({ admin: { listen: admin }, discovery_defaults: { initial_wait: '5s' }, services });
      return new Instance(await HitlessProcess.start({ config, workers: 0, readyTimeoutMs: 60_000 }));
    });
    instances.push(...(await Promise.all(batch)));
  }
  return instances;
}

async function runFleet(writer: Writer): Promise<FleetRow> {
  for (let i = 0; i < SERVICES; i++) for (let j = 0; j < ENDPOINTS; j++) await writer.put(i, `ep-${j}`, { host: `127.3.${i >> 8}.${i & 255}`, port: 9000 + j });
  const instances = await startFleet(writer);
  try {
    await sleep(1_000);
    const each: number[] = [];
    const every: number[] = [];
    for (let k = 0; k < CHANGES; k++) {
      const before = Date.now();
      if (k % 2 === 0) await writer.put(0, 'probe', { host: '127.0.0.1', port: 9999 });
      else await writer.remove(0, 'probe');
      const latencies = (await Promise.all(instances.map((x) => x.appliedAfter(before)))).map((t) => t - before);
      each.push(...latencies);
      every.push(Math.max(...latencies));
      await sleep(30);
    }
    const rss = await Promise.all(instances.map((x) => treeRss(x.process.pid)));
    return { registry: writer.kind, instances: instances.length, changes: CHANGES, each, every, rssMb: rss.reduce((a, r) => a + r.rssMb, 0) };
  } finally {
    await Promise.all(instances.map((x) => x.process.kill()));
  }
}

const pct = (s: readonly number[], q: number) => {
  const sorted = [...s].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
};

export async function runFleets(): Promise<void> {
  const rows: FleetRow[] = [];
  const registries: Array<[string, string | null, () => Promise<{ writer: Writer; stop: () => Promise<void> }>]> = [
    ['etcd', etcdMissing(), async () => {
      const cluster = await EtcdCluster.launch();
      const writer = etcdWriter(cluster.urls);
      return { writer, stop: async () => (await writer.close(), await cluster.destroy()) };
    }],
    ['zookeeper', zookeeperMissing(), async () => {
      const ensemble = await ZookeeperEnsemble.launch();
      const writer = zookeeperWriter(ensemble.hosts);
      return { writer, stop: async () => (await writer.close(), await ensemble.destroy()) };
    }],
  ];
  for (const [name, missing, launch] of registries) {
    if (missing) {
      console.log(`skipping the ${name} fleet: ${missing}`);
      continue;
    }
    const { writer, stop } = await launch();
    try {
      const row = await runFleet(writer);
      rows.push(row);
      console.log(JSON.stringify({ ...row, each: undefined, every: undefined, eachP50: pct(row.each, 0.5), everyP99: pct(row.every, 0.99) }));
    } finally {
      await stop();
    }
  }
  const f = (x: number) => x.toFixed(0).padStart(6);
  console.log(`\nfleet: registry write → applied, ${SERVICES} services x ${ENDPOINTS} endpoints per instance, every member in each config, one change at a time`);
  console.log('registry   instances changes | each instance: p50    p99    max | every instance: p50    p99    max | fleet RSS MB');
  for (const r of rows) {
    console.log(
      `${r.registry.padEnd(10)} ${String(r.instances).padStart(9)} ${String(r.changes).padStart(7)} |               ${f(pct(r.each, 0.5))} ${f(pct(r.each, 0.99))} ${f(pct(r.each, 1))} |                 ${f(pct(r.every, 0.5))} ${f(pct(r.every, 0.99))} ${f(pct(r.every, 1))} | ${String(r.rssMb).padStart(12)}`,
    );
  }
}
