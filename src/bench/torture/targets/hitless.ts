// hitless itself (builtin data plane): `node dist/cli/main.js run --config A`, with actions
// through its admin API on a unix socket: apply (PUT /config, alternating A and B) or upgrade
// (POST /upgrade). The two configs differ in endpoint set, weights and balance, and B adds a
// service on another port, so every apply really changes listeners and clusters.
import { existsSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyAction, upgradeAction, type Action } from '../actions.js';
import { fileRotationAction, startRotation } from './cert-actions.js';
import { freePort } from './ports.js';
import { capture, makeTempDir, startServingChild } from './processes.js';
import { loopbackEndpoint, type StartedTarget, type TargetContext, type TargetDefinition } from './target.js';
import type { Backend } from './backends.js';

/** The project root: the nearest directory upwards holding hitless's package.json. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (dirname(dir) !== dir) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src', 'cli'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

const ROOT = projectRoot();
export const MAIN = join(ROOT, 'dist', 'cli', 'main.js');

interface HitlessVariant {
  readonly mode: 'tcp' | 'http';
  /** `--workers` for `hitless run` (absent: the run command's default). */
  readonly workers?: number;
  /** What the suite's default ("native") action is for this target. */
  readonly native: 'apply' | 'upgrade';
  readonly maxActionRate?: number;
}

function hitlessTargetFor(name: string, variant: HitlessVariant): TargetDefinition {
  const { mode, native } = variant;
  return {
    name,
    maxActionRate: variant.maxActionRate,
    description: `hitless, builtin data plane in ${mode} mode${variant.workers ? ` with ${variant.workers} workers` : ''}: ${native === 'upgrade' ? 'a code upgrade (POST /upgrade)' : 'an apply (PUT /config, alternating two configs)'} per action`,
    unavailable: async () => (existsSync(MAIN) ? undefined : `${MAIN} not found: run "npm run build" first`),
    version: async () => {
      const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version?: string };
      const commit = (await capture('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])).output.trim();
      return `hitless ${pkg.version ?? '?'}${/^[0-9a-f]+$/.test(commit) ? ` (commit ${commit})` : ''}`;
    },
    start: (context) => startHitless(context, variant),
  };
}

/** tcp mode: connections are spliced; an apply must not disturb any of them. */
export const hitlessTarget = hitlessTargetFor('hitless', { mode: 'tcp', native: 'apply' });
/** http mode: keep-alive clients' next requests follow the new config on the same connection. */
export const hitlessHttpTarget = hitlessTargetFor('hitless-http', { mode: 'http', native: 'apply' });
/**
 * Code upgrades: a new generation of workers takes the sockets; the old one moves its tunnels
 * (upgraded connections, tcp-mode connections) there and drains the rest. One every 2 s at most:
 * each upgrade starts two worker processes (their start, not the moves, is what costs), and code
 * upgrades are rare events. Long-lived connections outlive any number of upgrades (try
 * `--long-lived-life 60-60`).
 */
export const hitlessUpgradeTarget = hitlessTargetFor('hitless-upgrade', { mode: 'http', workers: 2, native: 'upgrade', maxActionRate: 0.5 });

export interface HitlessConfigOptions {
  readonly adminSocket: string;
  readonly port: number;
  readonly extraPort: number;
  readonly backends: readonly Backend[];
  readonly mode: 'tcp' | 'http';
  /** A TLS service "webtls" on its own port to the same endpoints, serving these files. */
  readonly tls?: TlsServiceFiles;
}

export interface TlsServiceFiles {
  readonly port: number;
  readonly cert: string;
  readonly key: string;
}

/** The TLS service both configs carry (an apply changes the plain services around it). */
export function tlsService(o: { readonly mode: 'tcp' | 'http'; readonly backends: readonly Backend[]; readonly tls?: TlsServiceFiles }): string {
  if (!o.tls) return '';
  const endpoints = o.backends.map((b) => `127.0.0.1:${b.httpPort}`).join(', ');
  return `  webtls:
    mode: ${o.mode}
    listen: 127.0.0.1:${o.tls.port}
    balance: round-robin
    endpoints: [${endpoints}]
    timeouts: { connect: 2s, idle: 10m }
    tls:
      certificates: [{ cert: "${o.tls.cert}", key: "${o.tls.key}" }]
`;
}

/** Config A: every backend, equal weights, round-robin. */
export function hitlessConfigA(o: HitlessConfigOptions): string {
  const endpoints = o.backends.map((b) => `127.0.0.1:${b.httpPort}`).join(', ');
  return `admin: { listen: "unix:${o.adminSocket}" }
services:
  web:
    mode: ${o.mode}
    listen: 127.0.0.1:${o.port}
    balance: round-robin
    endpoints: [${endpoints}]
    timeouts: { connect: 2s, idle: 10m }
${tlsService(o)}`;
}

/** Config B: the last backend moves to an extra service; weights and balance change. */
export function hitlessConfigB(o: HitlessConfigOptions): string {
  const kept = o.backends.length > 1 ? o.backends.slice(0, -1) : o.backends;
  const endpoints = kept.map((b, i) => `{ address: "127.0.0.1:${b.httpPort}", weight: ${i + 1} }`).join(', ');
  const moved = o.backends[o.backends.length - 1];
  return `admin: { listen: "unix:${o.adminSocket}" }
services:
  web:
    mode: ${o.mode}
    listen: 127.0.0.1:${o.port}
    balance: least-conn
    endpoints: [${endpoints}]
    timeouts: { connect: 2s, idle: 10m }
  extra:
    mode: ${o.mode}
    listen: 127.0.0.1:${o.extraPort}
    balance: round-robin
    endpoints: [127.0.0.1:${moved.httpPort}]
${tlsService(o)}`;
}

/** A note when dist/ is older than the sources: the run would measure yesterday's code. */
function staleNote(): string[] {
  try {
    const built = statSync(MAIN).mtimeMs;
    const source = statSync(join(ROOT, 'src', 'cli', 'main.ts')).mtimeMs;
    return source > built ? [`dist/ looks older than src/ (run "npm run build")`] : [];
  } catch {
    return [];
  }
}

async function startHitless(context: TargetContext, variant: HitlessVariant): Promise<StartedTarget> {
  const { mode } = variant;
  const dir = await makeTempDir('hitless');
  const tls = context.tls;
  const tlsPort = tls ? await freePort() : undefined;
  const rotation = tls && context.action === 'cert' ? await startRotation(tls, dir.path) : undefined;
  // Served from the live files (rotated by renaming over them), or from A's own files (cert-put).
  const served = rotation ? rotation.live : tls?.certs[0];
  const options: HitlessConfigOptions = {
    adminSocket: join(dir.path, 'admin.sock'),
    port: await freePort(),
    extraPort: await freePort(),
    backends: context.backends,
    mode,
    tls: served && tlsPort ? { port: tlsPort, cert: served.cert, key: served.key } : undefined,
  };
  const files = [join(dir.path, 'config-a.yaml'), join(dir.path, 'config-b.yaml')] as const;
  await writeFile(files[0], hitlessConfigA(options));
  if (tls && tlsPort && context.action === 'cert-put') {
    // The second config differs from the first in the certificate alone.
    await writeFile(files[1], hitlessConfigA({ ...options, tls: { port: tlsPort, cert: tls.certs[1].cert, key: tls.certs[1].key } }));
  } else await writeFile(files[1], hitlessConfigB(options));
  const endpoint = loopbackEndpoint(options.port);
  const workers = variant.workers === undefined ? [] : ['--workers', String(variant.workers)];
  const child = await startServingChild(process.execPath, [MAIN, 'run', '--config', files[0], ...workers], endpoint, context.startTimeoutMs, dir);
  const root = child.pid;
  const admin = `unix:${options.adminSocket}`;
  let action: Action | undefined;
  if (context.action === 'none') action = undefined;
  else if (rotation) action = fileRotationAction(rotation, 'hitless watches them (no signal, no API call)');
  else if (context.action === 'cert-put') action = { ...applyAction(admin, files), name: 'rotate certificate: PUT /config naming the other certificate\'s files' };
  else if (context.action === 'upgrade' || (context.action === 'native' && variant.native === 'upgrade')) action = upgradeAction(admin);
  else action = applyAction(admin, files);
  return {
    http: endpoint,
    https: tlsPort ? loopbackEndpoint(tlsPort) : undefined,
    action,
    mainPid: root,
    roots: () => [root],
    notes: staleNote(),
    stop: child.stop,
  };
}
