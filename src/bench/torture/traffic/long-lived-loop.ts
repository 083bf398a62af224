// (c) Long-lived connections, opened continuously: each slot opens a connection, keeps it for a
// planned life (pinging every interval and checking the echo), closes it, and opens the next.
// A close or reset before the planned end is a "broken long-lived" failure.
import type { KindStats } from '../kind-stats.js';
import type { Endpoint } from '../loopback.js';
import type { Timeline } from '../timeline.js';
import { runWorkers, sleep, type Budget } from './budget.js';
import { EchoConnection, type LongLivedMode } from './echo-connection.js';

export interface LongLivedOptions {
  readonly endpoint: Endpoint;
  readonly mode: LongLivedMode;
  readonly concurrency: number;
  readonly lifeMs: readonly [min: number, max: number];
  readonly pingIntervalMs: number;
  readonly timeoutMs: number;
  readonly budget: Budget;
  readonly timeline: Timeline;
  readonly stats: KindStats;
}

export async function runLongLivedLoop(options: LongLivedOptions): Promise<void> {
  const { budget, timeline, stats } = options;
  await runWorkers(options.concurrency, async (slot) => {
    // Stagger the slots so that connections do not all start and end in lockstep.
    await sleep((slot * options.pingIntervalMs) / Math.max(1, options.concurrency), budget.signal);
    while (budget.take()) {
      try {
        await oneConnection(options);
        stats.succeeded(timeline.now());
      } catch (err) {
        if (budget.signal.aborted) return;
        stats.failed(err, timeline.now());
      }
    }
  });
}

async function oneConnection(options: LongLivedOptions): Promise<void> {
  const { budget, timeline, stats } = options;
  const [min, max] = options.lifeMs;
  // The run's deadline shortens the planned life: ending there is a planned end, not a break.
  const plannedEnd = Math.min(timeline.now() + min + Math.random() * (max - min), budget.deadlineMs);
  const connection = await EchoConnection.open(options.endpoint, options.mode, options.timeoutMs, budget.signal);
  try {
    for (let n = 0; timeline.now() < plannedEnd && !budget.signal.aborted; n++) {
      const start = timeline.now();
      await connection.ping(`ping ${n} ${start.toFixed(1)}`, options.timeoutMs);
      stats.latency(start, timeline.now());
      stats.pings++;
      await sleep(Math.min(options.pingIntervalMs, Math.max(0, plannedEnd - timeline.now())), budget.signal);
    }
  } catch (err) {
    connection.destroy();
    throw err;
  }
  connection.close();
}
