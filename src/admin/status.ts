// The document GET /status returns and `hitless status` renders.
import type { Controller } from '../control/controller.js';
import type { CountersClock } from '../observability/telemetry.js';
import { VERSION } from '../version.js';

export function buildStatus(controller: Controller, startedAt: number) {
  const current = controller.current;
  // Read together with the status: the time its counters were read (a supervisor's or HAProxy's
  // last collection), so that a client computing rates (hitless top) divides by the right interval.
  const countersAt = (controller.driver as Partial<CountersClock>).countersAt?.() ?? Date.now();
  const dataplane = controller.driver.status();
  return {
    pid: process.pid,
    version: VERSION,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    config: current ? { hash: current.hash, source: current.source } : null,
    /** Unix ms at which the counters below were read. */
    countersAt,
    ...dataplane,
    lastApply: controller.history.at(-1) ?? null,
    // Sections of the assembler (discovery sources: state, since, last error, endpoint counts).
    ...controller.assembler?.status(),
    applies: controller.history.map(({ plan: _plan, ...rest }) => rest),
  };
}

export type StatusDocument = ReturnType<typeof buildStatus>;
