// npm run bench:slowloris — what a slowloris attack does to everyone else's requests: 5,000
// connections that send the start of a request head and then one header byte every 3 s, never
// finishing (each replaced as soon as the target closes it), against hitless (http mode,
// --workers 1), then HAProxy 2.6 (one thread), then nginx (one worker), behind the same nginx
// backend. Every target has the same header timeout (10 s). Meanwhile a steady client sends
// requests at a fixed rate, on keep-alive connections and on new ones, and the bench prints their
// latency (p50/p99/max) without the attack and under it, per target, and hitless p99 / HAProxy p99.
//
//   SLOWLORIS_CONNS=5000  SLOWLORIS_SECONDS=35 (attack)  SLOWLORIS_BASELINE_SECONDS=10
//   SLOWLORIS_ONLY=hitless,haproxy,nginx   SLOWLORIS_ROUNDS=3 (targets interleaved; the round with the
//   median p99 under attack is shown and every round's p99 listed: the machines are shared)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './lib/free-port.js';
import { IpcChild } from './lib/ipc-child.js';
import { listenBacklog, listenOverflows } from './lib/net-stats.js';
import { mb, treeMemory } from './lib/proc-memory.js';
import { treeCpuSeconds } from './lib/proc.js';
import type { AttackStats, FromAttacker, ToAttacker } from './lib/slowloris-attacker.js';
import type { FromSteady, LatencySummary, PhaseSummary, ToSteady } from './lib/steady-client.js';
import { haproxy, HAPROXY, hitless, NGINX, nginx, ROOT, startBackend, stopAll, stopProcess, version, type Target } from './lib/targets.js';

const ATTACK_CONNS = Number(process.env.SLOWLORIS_CONNS ?? 5_000);
const ATTACK_SECONDS = Number(process.env.SLOWLORIS_SECONDS ?? 35);
const BASELINE_SECONDS = Number(process.env.SLOWLORIS_BASELINE_SECONDS ?? 10);
/** Seconds between two header bytes on one slowloris connection (well under the header timeout). */
const TICK_S = 3;
const HEADER_TIMEOUT_S = 10;
const IDLE_TIMEOUT_S = 60;
/** The steady client: keep-alive connections, their total rate, and new connections per second. */
const KA_CONNS = 8;
const KA_RATE = 200;
const NEW_RATE = 50;
/** Attacker source addresses per target: 127.0.(100+index).1-4, ~28k ephemeral ports each. */
const ATTACK_SOURCES = 4;
const ONLY = (process.env.SLOWLORIS_ONLY ?? 'hitless,haproxy,nginx').split(',');
const ROUNDS = Number(process.env.SLOWLORIS_ROUNDS ?? 3);

const dir = mkdtempSync(join(tmpdir(), 'hitless-bench-slowloris-'));
const WITHOUT = 'without attack';
const UNDER = 'under attack';

interface Row {
  readonly target: Target;
  readonly phases: Record<string, PhaseSummary>;
  readonly attack: AttackStats;
  /** CPU the target used during the attack, as % of one core. */
  readonly cpuPercent: number;
  readonly peakRssBytes: number;
  readonly peakFds: number;
  /** The target's accept queue length, and how many SYNs full accept queues dropped during the attack. */
  readonly backlog: number;
  readonly listenOverflows: number;
  /** The machine's 1-minute load average at the end of the attack: the machines are shared. */
  readonly load: string;
}

type Steady = IpcChild<ToSteady, FromSteady>;
type Attacker = IpcChild<ToAttacker, FromAttacker>;

/** RSS and fds of the target every second until `until` resolves: their peaks during the attack. */
async function samplePeaks(pid: number, until: Promise<unknown>): Promise<{ rss: number; fds: number }> {
  let done = false;
  void until.finally(() => (done = true));
  const peak = { rss: 0, fds: 0 };
  for (let i = 0; i < 600 && !done; i++) {
    const m = await treeMemory(pid);
    peak.rss = Math.max(peak.rss, m.rssBytes);
    peak.fds = Math.max(peak.fds, m.fds);
    await sleep(1_000);
  }
  return peak;
}

async function measure(target: Target, index: number, backend: number): Promise<Row> {
  const port = await freePort(20_000, 20_999);
  const child = await target.start({ dir, port, backend, headerTimeoutS: HEADER_TIMEOUT_S, idleTimeoutS: IDLE_TIMEOUT_S, connections: ATTACK_CONNS + 500 });
  const pid = child.pid!;
  let steady: Steady | null = null;
  let attacker: Attacker | null = null;
  try {
    spawnSync('wrk', ['-t1', '-c10', '-d2s', `http://127.0.0.1:${port}/`], { stdio: 'ignore', timeout: 20_000 }); // warm-up
    steady = new IpcChild<ToSteady, FromSteady>('steady client', join(ROOT, 'bench/lib/steady-client.ts'), [String(port), String(KA_CONNS), String(KA_RATE), String(NEW_RATE)]);
    await sleep(1_000); // its connections open and its JIT warms before anything counts
    steady.send({ t: 'phase', name: WITHOUT });
    await sleep(BASELINE_SECONDS * 1000);

    const sources = Array.from({ length: ATTACK_SOURCES }, (_, k) => `127.0.${100 + index}.${k + 1}`).join(',');
    steady.send({ t: 'phase', name: UNDER });
    const cpu0 = await treeCpuSeconds(pid);
    const overflows0 = listenOverflows();
    const t0 = performance.now();
    attacker = new IpcChild<ToAttacker, FromAttacker>('attacker', join(ROOT, 'bench/lib/slowloris-attacker.ts'), [String(port), sources, String(ATTACK_CONNS), String(ATTACK_SECONDS), String(TICK_S)]);
    const done = attacker.next('done', (ATTACK_SECONDS + 30) * 1000);
    const peaks = await samplePeaks(pid, done);
    const { stats } = await done;
    const cpuPercent = (100 * ((await treeCpuSeconds(pid)) - cpu0)) / ((performance.now() - t0) / 1000);
    const overflows = listenOverflows() - overflows0;
    steady.send({ t: 'phase', name: null });
    await sleep(500); // requests due during the attack finish (or time out) into its phase
    steady.send({ t: 'report' });
    const { phases } = await steady.next('report', 15_000);
    return { target, phases, attack: stats, cpuPercent, peakRssBytes: peaks.rss, peakFds: peaks.fds, backlog: listenBacklog(port), listenOverflows: overflows, load: loadAverage() };
  } finally {
    steady?.send({ t: 'stop' });
    await steady?.stop();
    await attacker?.stop();
    await stopProcess(child);
  }
}

const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
const fmt = (ms: number): string => (Number.isFinite(ms) ? ms.toFixed(2) : '-');
const latencyCells = (s: LatencySummary): string[] => [fmt(s.p50), fmt(s.p99), fmt(s.max), `${s.requests}/${s.errors}`];

function latencyTable(rows: readonly Row[]): string {
  const head = ['target', 'phase', 'p50 ms', 'p99 ms', 'max ms', 'ok/errors', 'keep-alive p50/p99/max', 'new conn p50/p99/max', 'client stall'];
  const body = rows.flatMap((r) =>
    [WITHOUT, UNDER].map((name) => {
      const p = r.phases[name];
      const triple = (s: LatencySummary) => `${fmt(s.p50)} / ${fmt(s.p99)} / ${fmt(s.max)}`;
      return [r.target.name, name, ...latencyCells(p.all), triple(p.keepAlive), triple(p.newConnection), `${p.clientStallMs.toFixed(0)} ms`];
    }),
  );
  return formatTable(head, body);
}

function attackTable(rows: readonly Row[]): string {
  const head = ['target', 'ramp s', 'peak open', 'opened', 'closed by target', 'of which 408', 'lifetime p50 s', 'max s', 'connect errors', 'target CPU', 'peak RSS', 'peak fds', 'backlog', 'SYNs dropped', 'load avg'];
  const body = rows.map((r) => {
    const a = r.attack;
    return [
      r.target.name,
      Number.isNaN(a.rampSeconds) ? 'never' : a.rampSeconds.toFixed(1),
      String(a.peakOpen),
      String(a.opened),
      String(a.closedByTarget),
      String(a.answered408),
      a.lifetimeP50.toFixed(1),
      a.lifetimeMax.toFixed(1),
      String(a.connectErrors),
      `${r.cpuPercent.toFixed(0)}%`,
      mb(r.peakRssBytes),
      String(r.peakFds),
      String(r.backlog),
      String(r.listenOverflows),
      r.load,
    ];
  });
  return formatTable(head, body);
}

function formatTable(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

function verdict(rows: readonly Row[]): string[] {
  const h = rows.find((r) => r.target === hitless)?.phases[UNDER];
  const ha = rows.find((r) => r.target === haproxy)?.phases[UNDER];
  if (!h || !ha) return [];
  const ratio = (a: LatencySummary, b: LatencySummary) => (a.p99 / b.p99).toFixed(2);
  return [
    `hitless p99 / HAProxy p99 under attack: ${ratio(h.all, ha.all)}x (${fmt(h.all.p99)} vs ${fmt(ha.all.p99)} ms; goal <= 2x → ${h.all.p99 <= 2 * ha.all.p99 ? 'met' : 'NOT met'})`,
    `  keep-alive requests: ${ratio(h.keepAlive, ha.keepAlive)}x; new-connection requests: ${ratio(h.newConnection, ha.newConnection)}x`,
  ];
}

async function main(): Promise<void> {
  if (spawnSync('which', ['wrk']).status !== 0) throw new Error('wrk is needed for the warm-up: apt-get install -y wrk');
  const backendPort = await freePort(20_000, 20_999);
  const backend = await startBackend(dir, backendPort);
  console.log(`# bench:slowloris — ${new Date().toISOString()}`);
  console.log(`machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}, Linux ${release()}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  console.log(`versions: node ${process.version}, ${version(HAPROXY, ['-v'])}, ${version(NGINX, ['-v'])}`);
  console.log(
    `attack: ${ATTACK_CONNS} slowloris connections for ${ATTACK_SECONDS} s (partial head, then one header byte every ${TICK_S} s; replaced when closed), ` +
      `from ${ATTACK_SOURCES} source addresses`,
  );
  console.log(
    `header timeout ${HEADER_TIMEOUT_S} s on every target: hitless timeouts.header, HAProxy timeout http-request, nginx client_header_timeout; ` +
      `hitless --workers 1, HAProxy nbthread 1, nginx 1 worker`,
  );
  console.log(
    `steady client: ${KA_RATE} req/s over ${KA_CONNS} keep-alive connections + ${NEW_RATE} req/s on new connections, open loop (latency from when each request was due); ` +
      `${BASELINE_SECONDS} s without attack, then for the whole attack`,
  );
  const targets = [hitless, haproxy, nginx].filter((t) => ONLY.includes(t.name));
  const byTarget = new Map<string, Row[]>(targets.map((t) => [t.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, target] of targets.entries()) {
      process.stderr.write(`round ${round + 1}/${ROUNDS} ${target.name}: ${BASELINE_SECONDS} s without attack, then ${ATTACK_SECONDS} s under attack...\n`);
      // Each round and target attacks from its own source addresses: no TIME_WAIT left in the way.
      byTarget.get(target.name)!.push(await measure(target, round * targets.length + index, backendPort));
    }
  }
  const rows = [...byTarget.values()].map((all) => [...all].sort((a, b) => a.phases[UNDER].all.p99 - b.phases[UNDER].all.p99)[Math.floor(all.length / 2)]);
  console.log(`\nlatency of the steady client's requests (ms)\n${latencyTable(rows)}`);
  console.log("(client stall: the longest the steady client's own event loop was held up in that phase, e.g. starved of CPU)\n");
  console.log(`the attack, as each target handled it\n${attackTable(rows)}`);
  console.log('(SYNs dropped: TcpExt ListenOverflows over the attack, machine-wide; a dropped SYN costs its client a 1 s retransmit)\n');
  for (const r of rows) {
    const slow = r.phases[UNDER].slowest.map((x) => `${x.ms.toFixed(0)} ms at ${x.at.toFixed(1)} s`).join(', ');
    console.log(`${r.target.name}: slowest requests under attack (seconds after the attack began): ${slow}`);
  }
  if (ROUNDS > 1) for (const [name, all] of byTarget) console.log(`${name}: p99 under attack in each round: ${all.map((r) => fmt(r.phases[UNDER].all.p99)).join(' / ')} ms`);
  console.log('');
  for (const line of verdict(rows)) console.log(line);
  await stopProcess(backend);
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  });
