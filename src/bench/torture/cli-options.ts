// Turns the command line's strings into validated options. Kept apart from commander so that
// bench/torture.ts and tests can build the same options without a command line.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { applyAction, shellAction, upgradeAction, type Action } from './actions.js';
import { parseLoopbackEndpoint, type Endpoint } from './loopback.js';
import type { RunShape } from './suite.js';
import { BUILTIN_TARGETS, findTarget } from './targets/registry.js';
import type { ActionChoice } from './targets/target.js';

export interface RawTortureOptions {
  targets?: string;
  http?: string;
  tcp?: string;
  name?: string;
  pid?: string;
  pidfile?: string;
  action?: string;
  actionCmd?: string;
  admin?: string;
  token?: string;
  applyConfigs?: string;
  rate?: string;
  maxActions?: string;
  duration?: string;
  baseline?: string;
  newConn?: string;
  keepAlive?: string;
  longLived?: string;
  longLivedLife?: string;
  longLivedMode?: string;
  pingInterval?: string;
  timeout?: string;
  maxRequests?: string;
  backends?: string;
  tlsNewConn?: string;
  tlsKeepAlive?: string;
  ports?: string;
  json?: boolean;
  report?: string;
}

export interface ExternalSpec {
  readonly name: string;
  readonly http?: Endpoint;
  readonly tcp?: Endpoint;
  readonly action?: Action;
  readonly pid?: number;
  readonly pidfile?: string;
}

export interface TortureOptions {
  readonly builtins: readonly string[];
  readonly external?: ExternalSpec;
  readonly action: ActionChoice;
  readonly actionCmd?: string;
  readonly backends: number;
  readonly shape: RunShape;
  /** Where built-in targets and backends listen; absent: ports.ts's default. */
  readonly ports?: readonly [number, number];
  readonly json: boolean;
  readonly report?: string;
}

const ACTIONS: readonly ActionChoice[] = ['native', 'apply', 'upgrade', 'cert', 'cert-put', 'none'];

function number(text: string | undefined, fallback: number, what: string, min = 0, max = 1e9): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max) throw new Error(`${what} must be a number from ${min} to ${max}, found ${JSON.stringify(text)}`);
  return value;
}

function integer(text: string | undefined, fallback: number, what: string, min = 0, max = 1e9): number {
  const value = number(text, fallback, what, min, max);
  if (!Number.isInteger(value)) throw new Error(`${what} must be a whole number, found ${JSON.stringify(text)}`);
  return value;
}

function lifeRange(text: string | undefined): [number, number] {
  if (text === undefined) return [2000, 5000];
  const m = /^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$/.exec(text.trim());
  if (!m) throw new Error(`--long-lived-life expects seconds "MIN-MAX" such as 2-5, found ${JSON.stringify(text)}`);
  const min = Number(m[1]) * 1000;
  const max = m[2] === undefined ? min : Number(m[2]) * 1000;
  if (min <= 0 || max < min || max > 3_600_000) throw new Error(`--long-lived-life: need 0 < MIN <= MAX <= 3600, found ${text}`);
  return [min, max];
}

function portRange(text: string | undefined): [number, number] | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)-(\d+)$/.exec(text.trim());
  const [low, high] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!(low >= 1024 && high >= low + 10 && high < 65536)) throw new Error(`--ports expects LOW-HIGH such as 20000-20999 (1024 <= LOW, LOW + 10 <= HIGH < 65536), found ${JSON.stringify(text)}`);
  return [low, high];
}

function builtinNames(text: string | undefined): string[] {
  if (!text) return [];
  const names = text.split(',').map((n) => n.trim()).filter(Boolean);
  const expanded = names.includes('all') ? BUILTIN_TARGETS.map((t) => t.name) : names;
  for (const name of expanded) findTarget(name);
  return [...new Set(expanded)];
}

export function parseTortureOptions(raw: RawTortureOptions): TortureOptions {
  const builtins = builtinNames(raw.targets);
  if (builtins.length === 0 && raw.http === undefined && raw.tcp === undefined) {
    throw new Error('nothing to torture: give --targets (built-in targets) or --http/--tcp (your own proxy on loopback)');
  }
  const action = (raw.action ?? 'native') as ActionChoice;
  if (!ACTIONS.includes(action)) throw new Error(`--action must be one of ${ACTIONS.join(', ')}, found ${JSON.stringify(raw.action)}`);
  const durationMs = number(raw.duration, 30, '--duration', 0.1, 86_400) * 1000;
  const baselineMs = Math.min(number(raw.baseline, Math.min(3, durationMs / 4000), '--baseline', 0, 86_400) * 1000, durationMs);
  const rate = number(raw.rate, 10, '--rate', 0, 1000);
  const longLivedMode = raw.longLivedMode ?? (raw.tcp !== undefined && raw.http === undefined ? 'raw' : 'upgrade');
  if (longLivedMode !== 'upgrade' && longLivedMode !== 'raw') throw new Error(`--long-lived-mode must be upgrade or raw, found ${JSON.stringify(longLivedMode)}`);
  const shape: RunShape = {
    durationMs,
    baselineMs,
    actionRate: rate,
    maxActions: integer(raw.maxActions, Math.ceil((rate * (durationMs - baselineMs)) / 1000) + 1, '--max-actions', 0),
    traffic: {
      newConnection: integer(raw.newConn, 4, '--new-conn', 0, 10_000),
      keepAlive: integer(raw.keepAlive, 4, '--keep-alive', 0, 10_000),
      tlsNewConnection: integer(raw.tlsNewConn, 0, '--tls-new-conn', 0, 10_000),
      tlsKeepAlive: integer(raw.tlsKeepAlive, 0, '--tls-keep-alive', 0, 10_000),
      longLived: integer(raw.longLived, 20, '--long-lived', 0, 10_000),
      longLivedMode,
      longLivedLifeMs: lifeRange(raw.longLivedLife),
      pingIntervalMs: integer(raw.pingInterval, 50, '--ping-interval', 1, 60_000),
      timeoutMs: integer(raw.timeout, 5000, '--timeout', 1, 600_000),
      maxRequests: integer(raw.maxRequests, 5_000_000, '--max-requests', 1),
    },
  };
  return {
    builtins,
    external: externalSpec(raw, action),
    action,
    actionCmd: raw.actionCmd,
    backends: integer(raw.backends, 3, '--backends', 1, 32),
    shape,
    ports: portRange(raw.ports),
    json: raw.json === true,
    report: raw.report,
  };
}

function externalSpec(raw: RawTortureOptions, action: ActionChoice): ExternalSpec | undefined {
  if (raw.http === undefined && raw.tcp === undefined) return undefined;
  return {
    name: raw.name ?? 'external',
    http: raw.http === undefined ? undefined : parseLoopbackEndpoint(raw.http),
    tcp: raw.tcp === undefined ? undefined : parseLoopbackEndpoint(raw.tcp),
    action: externalAction(raw, action),
    pid: raw.pid === undefined ? undefined : integer(raw.pid, 0, '--pid', 2),
    pidfile: raw.pidfile,
  };
}

function externalAction(raw: RawTortureOptions, action: ActionChoice): Action | undefined {
  if (raw.actionCmd !== undefined) return shellAction(raw.actionCmd);
  if (action === 'none' || action === 'native') return undefined;
  if (action === 'cert' || action === 'cert-put') {
    throw new Error(`--action ${action} rotates the certificates of built-in targets; for your own proxy give the rotation as --action-cmd (e.g. a script that replaces the files and reloads)`);
  }
  if (!raw.admin) throw new Error(`--action ${action} on your own target needs --admin (unix:/path or 127.0.0.1:port)`);
  const token = raw.token ?? process.env.HITLESS_ADMIN_TOKEN;
  if (action === 'upgrade') return upgradeAction(raw.admin, token);
  const files = (raw.applyConfigs ?? '').split(',').map((f) => f.trim()).filter(Boolean);
  if (files.length !== 2) throw new Error('--action apply on your own target needs --apply-configs A.yaml,B.yaml (two configs to alternate)');
  for (const file of files) if (!existsSync(file)) throw new Error(`--apply-configs: ${file} does not exist`);
  return applyAction(raw.admin, [files[0], files[1]], token);
}

/** Roots for sampling an external target: --pid, plus every pid ever seen in --pidfile. */
export function externalRoots(spec: ExternalSpec): (() => readonly number[]) | undefined {
  if (spec.pid === undefined && spec.pidfile === undefined) return undefined;
  const seen = new Set<number>(spec.pid === undefined ? [] : [spec.pid]);
  const pidfile = spec.pidfile;
  let reading = false;
  return () => {
    if (pidfile && !reading) {
      reading = true;
      void readFile(pidfile, 'utf8')
        .then((text) => text.split(/\s+/).map(Number).filter((p) => Number.isInteger(p) && p > 1).forEach((p) => seen.add(p)))
        .catch(() => undefined)
        .finally(() => (reading = false));
    }
    return [...seen];
  };
}
