// Runs the torture against several targets one after another (never at the same time: they would
// fight over the same two cores), each fronting the same bundled backends.
import { shellAction, type Action } from './actions.js';
import type { Endpoint } from './loopback.js';
import { runTorture, type Progress, type TargetResult, type TrafficOptions } from './run-torture.js';
import { startBackends, type BackendSet } from './targets/backends.js';
import { isCertAction } from './targets/cert-actions.js';
import { findTarget } from './targets/registry.js';
import { makeTortureTls, opensslMissing, type TortureTls } from './tls-material.js';
import type { ActionChoice, StartedTarget } from './targets/target.js';

export interface RunShape {
  readonly traffic: TrafficOptions;
  readonly durationMs: number;
  readonly baselineMs: number;
  readonly actionRate: number;
  readonly maxActions: number;
}

/** A proxy the user runs, described by addresses (and optionally pids) only. */
export interface ExternalTarget {
  readonly name: string;
  readonly http?: Endpoint;
  readonly tcp?: Endpoint;
  readonly action?: Action;
  readonly roots?: () => readonly number[];
}

export interface SuiteOptions {
  readonly builtins: readonly string[];
  readonly external?: ExternalTarget;
  readonly action: ActionChoice;
  /** A shell command as the action for built-in targets; `{pid}` becomes the target's main pid. */
  readonly actionCmd?: string;
  readonly backends: number;
  readonly shape: RunShape;
  readonly signal: AbortSignal;
  readonly onProgress?: (progress: Progress) => void;
  readonly log: (line: string) => void;
}

export interface SuiteResult {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly shape: RunShape;
  readonly targets: readonly TargetResult[];
}

export async function runSuite(options: SuiteOptions): Promise<SuiteResult> {
  const startedAt = new Date().toISOString();
  const results: TargetResult[] = [];
  if (options.external) results.push(await runExternal(options, options.external));
  if (options.builtins.length > 0 && !options.signal.aborted) {
    const tls = await tortureTls(options);
    const backends = await startBackends(options.backends);
    try {
      for (const name of options.builtins) {
        if (options.signal.aborted) break;
        results.push(await runBuiltin(options, name, backends, tls));
      }
    } finally {
      await backends.stop();
      await tls?.remove();
    }
  }
  return { startedAt, finishedAt: new Date().toISOString(), shape: options.shape, targets: results };
}

function runExternal(options: SuiteOptions, target: ExternalTarget): Promise<TargetResult> {
  options.log(`torture: ${target.name} (${target.action?.name ?? 'no action'})`);
  return runTorture({
    ...options.shape,
    target: target.name,
    http: target.http,
    tcp: target.tcp,
    action: target.action,
    roots: target.roots,
    signal: options.signal,
    onProgress: options.onProgress,
  });
}

/** Certificates for this run, when it has TLS traffic or rotates certificates. */
async function tortureTls(options: SuiteOptions): Promise<TortureTls | undefined> {
  const { traffic } = options.shape;
  if (!traffic.tlsNewConnection && !traffic.tlsKeepAlive && !isCertAction(options.action)) return undefined;
  const missing = await opensslMissing();
  if (missing) throw new Error(`TLS traffic or --action ${options.action}: ${missing}`);
  return makeTortureTls();
}

async function runBuiltin(options: SuiteOptions, name: string, backends: BackendSet, tls: TortureTls | undefined): Promise<TargetResult> {
  const definition = findTarget(name);
  const unavailable = await definition.unavailable();
  if (unavailable) {
    options.log(`torture: skipping ${name}: ${unavailable}`);
    return skippedResult(name, unavailable, options.shape);
  }
  let started: StartedTarget;
  try {
    started = await definition.start({ backends: backends.backends, action: options.action, startTimeoutMs: 15_000, tls });
  } catch (err) {
    const reason = `failed to start: ${err instanceof Error ? err.message : String(err)}`;
    options.log(`torture: skipping ${name}: ${reason}`);
    return skippedResult(name, reason, options.shape);
  }
  try {
    const action = options.actionCmd ? shellAction(options.actionCmd.replaceAll('{pid}', String(started.mainPid ?? ''))) : started.action;
    options.log(`torture: ${name} on ${started.http.host}:${started.http.port} (${action?.name ?? 'no action'})`);
    const notes = [...started.notes];
    if (tls && !started.https) notes.push('no TLS listener: this target ran without the TLS traffic kinds');
    return await runTorture({
      ...options.shape,
      ...actionPace(definition.maxActionRate, options.shape),
      target: name,
      http: started.http,
      https: started.https,
      tls,
      action,
      roots: () => started.roots(),
      signal: options.signal,
      onProgress: options.onProgress,
      notes,
    });
  } finally {
    await started.stop();
  }
}

export function skippedResult(target: string, reason: string, shape: RunShape): TargetResult {
  return {
    target,
    skipped: reason,
    notes: [],
    startedAt: new Date().toISOString(),
    durationMs: 0,
    baselineMs: shape.baselineMs,
    elapsedMs: 0,
    operations: 0,
    kinds: [],
    actions: { name: 'none', ratePerSecond: shape.actionRate, attempted: 0, ok: 0, failed: 0, skipped: 0, errorSamples: [], timesMs: [] },
    samples: [],
  };
}


/** A target that caps its action rate (code upgrades) runs at that cap; the action count follows. */
function actionPace(cap: number | undefined, shape: RunShape): Pick<RunShape, 'actionRate' | 'maxActions'> {
  if (cap === undefined || cap >= shape.actionRate) return { actionRate: shape.actionRate, maxActions: shape.maxActions };
  return { actionRate: cap, maxActions: Math.min(shape.maxActions, Math.ceil((cap * (shape.durationMs - shape.baselineMs)) / 1000) + 1) };
}
