// The document GET /status returns and `hitless status` renders.
import type { Controller } from '../control/controller.js';
import type { ConfigFile } from '../control/config-file.js';
import type { CountersClock } from '../observability/telemetry.js';
import { VERSION } from '../version.js';

export function buildStatus(controller: Controller, startedAt: number, configFile: ConfigFile) {
  const current = controller.current;
  // Read together with the status: the time its counters were read (a supervisor's or HAProxy's
  // last collection), so that a client computing rates (hitless top) divides by the right interval.
  const countersAt = (controller.driver as Partial<CountersClock>).countersAt?.() ?? Date.now();
  const dataplane = controller.driver.status();
  return {
    pid: process.pid,
    version: VERSION,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    config: current ? configSection(controller, configFile) : null,
    /** Unix ms at which the counters below were read. */
    countersAt,
    ...dataplane,
    lastApply: controller.history.at(-1) ?? null,
    // Sections of the assembler (discovery sources: state, since, last error, endpoint counts).
    ...controller.assembler?.status(),
    applies: controller.history.map(({ plan: _plan, ...rest }) => rest),
  };
}

/**
 * Where the running config came from and whether the file a SIGHUP or a restart would load says
 * the same (by content hash). `warning` is set whenever they would not keep what runs.
 */
function configSection(controller: Controller, configFile: ConfigFile) {
  const current = controller.current!;
  const base = controller.base ?? current;
  const source = controller.baseSource ?? 'embedded';
  const file = configFile.state(base.hash);
  let warning: string | null = null;
  if (file.path === null) {
    if (source === 'api') warning = 'hitless runs without a config file: the config applied through the API lasts until hitless stops';
  } else if (file.error !== null) warning = `${file.error}: SIGHUP or a restart would fail to load it`;
  else if (file.differs) {
    const why = source === 'api' && !configFile.persisted(base.hash) ? 'applied through the admin API and not written to the file' : 'the file changed on disk since hitless loaded or wrote it';
    warning = `${file.path} differs from the running config (${why}): SIGHUP or a restart will load the file's content`;
  }
  return {
    /** The running config's hash (with discovered endpoints merged in). */
    hash: current.hash,
    /** The hash of the config text as written (the file's or the API request's); GET /config's ETag. */
    baseHash: base.hash,
    /** file | api | embedded: where the running config came from. */
    source,
    file: file.path,
    fileHash: file.hash,
    /** Whether the file on disk now differs from the running config; null without a file. */
    fileDiffers: file.differs,
    apiApply: base.config.admin.apiApply,
    warning,
  };
}

export type StatusDocument = ReturnType<typeof buildStatus>;
