// Closed-loop HTTP request workers (like `ab -c N`): each worker sends its next request as soon as
// the previous one finished.
import http from 'node:http';
import https from 'node:https';
import type { KindStats } from '../kind-stats.js';
import type { Endpoint } from '../loopback.js';
import type { Timeline } from '../timeline.js';
import { runWorkers, type Budget } from './budget.js';
import { httpGet, type ClientTls } from './http-get.js';

export interface RequestLoopOptions {
  readonly endpoint: Endpoint;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly budget: Budget;
  readonly timeline: Timeline;
  readonly stats: KindStats;
  /** HTTPS to the endpoint (the TLS kinds). */
  readonly tls?: ClientTls;
}

/** (a) A new TCP connection per request: `Connection: close`, no agent, a fresh socket each time. */
export function runNewConnectionLoop(options: RequestLoopOptions): Promise<void> {
  return runLoop(options, false);
}

/** (b) Keep-alive: one reused socket per worker, and a reset is a failure, never retried. */
export async function runKeepAliveLoop(options: RequestLoopOptions): Promise<void> {
  const Agent = options.tls ? https.Agent : http.Agent;
  const agent = new Agent({
    keepAlive: true,
    maxSockets: options.concurrency,
    maxFreeSockets: options.concurrency,
    // LIFO keeps each socket busy, so the proxy sees long-lived keep-alive clients.
    scheduling: 'lifo',
  });
  try {
    await runLoop(options, agent);
  } finally {
    agent.destroy();
  }
}

async function runLoop(options: RequestLoopOptions, agent: http.Agent | false): Promise<void> {
  const { budget, timeline, stats } = options;
  await runWorkers(options.concurrency, async () => {
    while (budget.take()) {
      const start = timeline.now();
      try {
        await httpGet({ endpoint: options.endpoint, agent, tls: options.tls, timeoutMs: options.timeoutMs, signal: budget.signal });
        const end = timeline.now();
        stats.latency(start, end);
        stats.succeeded(end);
      } catch (err) {
        // A hard stop aborts what is in flight; that is our doing, not the target's failure.
        if (budget.signal.aborted) return;
        stats.failed(err, timeline.now());
      }
    }
  });
}
