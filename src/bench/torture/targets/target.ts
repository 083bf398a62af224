// A built-in target: a proxy the tool can start in front of the bundled backends, torture, and
// stop. Adding a target = one file implementing TargetDefinition + one line in registry.ts.
import type { Action } from '../actions.js';
import type { Endpoint } from '../loopback.js';
import type { TortureTls } from '../tls-material.js';
import type { Backend } from './backends.js';

/**
 * What the action is, for targets that offer more than one (hitless: apply or upgrade). `cert`:
 * a certificate rotation as the target's users do it (new files, then the reload or the runtime
 * API that makes the proxy read them; hitless: the files alone). `cert-put`: hitless only, a
 * PUT /config alternating two configs that name certificate A's and B's files.
 */
export type ActionChoice = 'native' | 'apply' | 'upgrade' | 'cert' | 'cert-put' | 'none';

export interface TargetContext {
  readonly backends: readonly Backend[];
  readonly action: ActionChoice;
  /** How long the target may take to accept connections. */
  readonly startTimeoutMs: number;
  /** Set when the run has TLS traffic or rotates certificates: the target also listens with TLS. */
  readonly tls?: TortureTls;
}

export interface StartedTarget {
  /** HTTP traffic, and long-lived connections via HTTP Upgrade. */
  readonly http: Endpoint;
  /** The TLS listener (certificate A at start), when the context asked for TLS. */
  readonly https?: Endpoint;
  readonly action: Action | undefined;
  /** The pid the action is about (master process), for `{pid}` in --action-cmd. */
  readonly mainPid: number | undefined;
  /** Roots of the target's process trees, for sampling; may grow during the run. */
  roots(): readonly number[];
  readonly notes: readonly string[];
  /** Stops every process of the target and removes its temp files. Idempotent. */
  stop(): Promise<void>;
}

export interface TargetDefinition {
  readonly name: string;
  readonly description: string;
  /** Actions per second this target is driven at, at most (the suite's rate otherwise). */
  readonly maxActionRate?: number;
  /** The reason to skip this target on this machine (e.g. binary missing), or undefined. */
  unavailable(): Promise<string | undefined>;
  /** A line for the report's versions section, e.g. "HAProxy version 2.6.12". */
  version(): Promise<string | undefined>;
  start(context: TargetContext): Promise<StartedTarget>;
}

export function loopbackEndpoint(port: number): Endpoint {
  return { host: '127.0.0.1', port };
}
