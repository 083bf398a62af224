// One torture run against one target: traffic of each enabled kind, the action schedule and the
// /proc sampler, all bounded by the same deadline, then a hard stop after a short grace.
import { setMaxListeners } from 'node:events';
import { runActionSchedule, type ActionsResult } from './action-scheduler.js';
import type { Action } from './actions.js';
import { KindStats, type KindResult, type TrafficKind } from './kind-stats.js';
import { assertLoopback, type Endpoint } from './loopback.js';
import { startSampler, type ProcSample } from './proc-sampler.js';
import { Timeline } from './timeline.js';
import { TLS_SERVERNAME, type TortureTls } from './tls-material.js';
import type { ClientTls } from './traffic/http-get.js';
import { Budget, sleep } from './traffic/budget.js';
import type { LongLivedMode } from './traffic/echo-connection.js';
import { runLongLivedLoop } from './traffic/long-lived-loop.js';
import { runKeepAliveLoop, runNewConnectionLoop } from './traffic/request-loops.js';

export interface TrafficOptions {
  /** Concurrency of each kind; 0 turns the kind off. */
  readonly newConnection: number;
  readonly keepAlive: number;
  readonly longLived: number;
  /** The same two request kinds over TLS (to RunOptions.https): a full handshake per request, and keep-alive. */
  readonly tlsNewConnection?: number;
  readonly tlsKeepAlive?: number;
  readonly longLivedMode: LongLivedMode;
  readonly longLivedLifeMs: readonly [number, number];
  readonly pingIntervalMs: number;
  readonly timeoutMs: number;
  /** Total operations (requests + long-lived connections) over the whole run. */
  readonly maxRequests: number;
}

export interface RunOptions {
  readonly target: string;
  /** HTTP traffic (and long-lived in upgrade mode) goes here. */
  readonly http?: Endpoint;
  /** Long-lived traffic in raw mode goes here: a TCP line-echo service. */
  readonly tcp?: Endpoint;
  /** TLS traffic goes here, verified against `tls.ca` for "localhost". */
  readonly https?: Endpoint;
  readonly tls?: Pick<TortureTls, 'ca' | 'nameOf'>;
  readonly traffic: TrafficOptions;
  readonly durationMs: number;
  /** Traffic without actions first, to measure latency undisturbed. */
  readonly baselineMs: number;
  readonly action?: Action;
  readonly actionRate: number;
  readonly maxActions: number;
  /** Pids whose process trees make up the target, for the process/RSS samples. */
  readonly roots?: () => readonly number[];
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: Progress) => void;
  readonly notes?: readonly string[];
}

export interface Progress {
  readonly target: string;
  readonly elapsedMs: number;
  readonly durationMs: number;
  readonly ok: number;
  readonly failed: number;
  readonly actions: number;
}

export interface TargetResult {
  readonly target: string;
  readonly skipped?: string;
  readonly notes: readonly string[];
  readonly startedAt: string;
  readonly durationMs: number;
  readonly baselineMs: number;
  /** Wall time of the whole run, grace included: proof that it stayed within its bounds. */
  readonly elapsedMs: number;
  readonly operations: number;
  readonly kinds: readonly KindResult[];
  readonly actions: ActionsResult;
  readonly samples: readonly ProcSample[];
}

/** How long after the deadline in-flight work may take before it is cut. */
export function graceMs(traffic: TrafficOptions): number {
  return traffic.timeoutMs + 1500;
}

export async function runTorture(options: RunOptions): Promise<TargetResult> {
  const { traffic } = options;
  if (options.http) assertLoopback(options.http);
  if (options.tcp) assertLoopback(options.tcp);
  if (options.https) assertLoopback(options.https);
  const startedAt = new Date().toISOString();
  const timeline = new Timeline(Math.min(options.baselineMs, options.durationMs), options.durationMs);
  const hardStop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, hardStop.signal]) : hardStop.signal;
  // Every in-flight request listens on the signal; hundreds of listeners are expected here.
  setMaxListeners(0, signal);
  const budget = new Budget(timeline, options.durationMs, traffic.maxRequests, signal);
  const stats = new Map<TrafficKind, KindStats>();
  const loops = startLoops(options, budget, timeline, stats);
  const sampler = options.roots ? startSampler(options.roots, () => timeline.now()) : undefined;
  const actionsDone = runActionSchedule({
    action: options.action,
    ratePerSecond: options.actionRate,
    maxActions: options.maxActions,
    timeline,
    signal,
  });
  const progress = options.onProgress ? startProgress(options, timeline, stats, signal) : undefined;
  const cut = setTimeout(() => hardStop.abort(), options.durationMs + graceMs(traffic));
  try {
    await Promise.all(loops);
    const actions = await actionsDone;
    const samples = (await sampler?.stop()) ?? [];
    return {
      target: options.target,
      notes: [...(options.notes ?? [])],
      startedAt,
      durationMs: options.durationMs,
      baselineMs: timeline.baselineMs,
      elapsedMs: Math.round(timeline.now()),
      operations: budget.operations,
      kinds: [...stats.values()].map((s) => s.result()),
      actions,
      samples,
    };
  } finally {
    clearTimeout(cut);
    hardStop.abort();
    await progress;
  }
}

function startLoops(options: RunOptions, budget: Budget, timeline: Timeline, stats: Map<TrafficKind, KindStats>): Promise<void>[] {
  const { traffic } = options;
  const loops: Promise<void>[] = [];
  const add = (kind: TrafficKind, concurrency: number) => {
    const s = new KindStats(kind, concurrency, timeline);
    stats.set(kind, s);
    return s;
  };
  const common = { timeoutMs: traffic.timeoutMs, budget, timeline };
  if (options.http && traffic.newConnection > 0) {
    const s = add('newConnection', traffic.newConnection);
    loops.push(runNewConnectionLoop({ ...common, endpoint: options.http, concurrency: traffic.newConnection, stats: s }));
  }
  if (options.http && traffic.keepAlive > 0) {
    const s = add('keepAlive', traffic.keepAlive);
    loops.push(runKeepAliveLoop({ ...common, endpoint: options.http, concurrency: traffic.keepAlive, stats: s }));
  }
  const tls = options.tls;
  const clientTls = (s: KindStats): ClientTls | undefined =>
    tls && { ca: tls.ca, servername: TLS_SERVERNAME, onHandshake: (fingerprint) => s.handshake(tls.nameOf(fingerprint)) };
  if (options.https && tls && traffic.tlsNewConnection) {
    const s = add('tlsNewConnection', traffic.tlsNewConnection);
    loops.push(runNewConnectionLoop({ ...common, endpoint: options.https, concurrency: traffic.tlsNewConnection, stats: s, tls: clientTls(s) }));
  }
  if (options.https && tls && traffic.tlsKeepAlive) {
    const s = add('tlsKeepAlive', traffic.tlsKeepAlive);
    loops.push(runKeepAliveLoop({ ...common, endpoint: options.https, concurrency: traffic.tlsKeepAlive, stats: s, tls: clientTls(s) }));
  }
  const echoEndpoint = traffic.longLivedMode === 'raw' ? options.tcp : options.http;
  if (echoEndpoint && traffic.longLived > 0) {
    const s = add('longLived', traffic.longLived);
    loops.push(
      runLongLivedLoop({
        ...common,
        endpoint: echoEndpoint,
        mode: traffic.longLivedMode,
        concurrency: traffic.longLived,
        lifeMs: traffic.longLivedLifeMs,
        pingIntervalMs: traffic.pingIntervalMs,
        stats: s,
      }),
    );
  }
  return loops;
}

async function startProgress(options: RunOptions, timeline: Timeline, stats: Map<TrafficKind, KindStats>, signal: AbortSignal) {
  const report = () => {
    let ok = 0;
    let failed = 0;
    for (const s of stats.values()) {
      ok += s.ok;
      failed += s.failedCount;
    }
    options.onProgress?.({
      target: options.target,
      elapsedMs: timeline.now(),
      durationMs: options.durationMs,
      ok,
      failed,
      actions: timeline.actions.length,
    });
  };
  while (!signal.aborted) {
    report();
    await sleep(250, signal);
  }
  report();
}
