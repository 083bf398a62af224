// The document GET /status returns and `hitless status` renders.
import type { Controller } from '../control/controller.js';
import { VERSION } from '../version.js';

export function buildStatus(controller: Controller, startedAt: number) {
  const current = controller.current;
  const dataplane = controller.driver.status();
  return {
    pid: process.pid,
    version: VERSION,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    config: current ? { hash: current.hash, source: current.source } : null,
    ...dataplane,
    lastApply: controller.history.at(-1) ?? null,
    // Sections of the assembler (discovery sources: state, since, last error, endpoint counts).
    ...controller.assembler?.status(),
    applies: controller.history.map(({ plan: _plan, ...rest }) => rest),
  };
}

export type StatusDocument = ReturnType<typeof buildStatus>;
