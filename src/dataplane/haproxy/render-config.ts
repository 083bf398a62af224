// Config → a complete haproxy.cfg, plus the per-backend server sets the driver diffs to decide
// between runtime API commands and a reload. Rendering is pure and deterministic: the same
// Config always yields the same text, so "did anything but servers change?" is a text compare.
import { isIP } from 'node:net';
import type { ClusterConfig, Config, HaproxySettings, ServiceConfig, Timeouts } from '../../config/model.js';
import type { BalanceAlgorithm } from '../../config/schema.js';
import { bufferSize, httpBackendRules, httpFrontendRules, MAX_REWRITE } from './render-http.js';
import type { SupportPaths } from './support-files.js';
import { bindTlsOptions, renderAllTls, type ServiceTlsFiles } from './render-tls.js';
import { backendTlsOptions, serverTlsOptions, upstreamTlsFiles } from './upstream-tls.js';

export interface StatePaths {
  readonly config: string;
  readonly workerSocket: string;
  readonly masterSocket: string;
  readonly serverState: string;
  /** The Lua file and error pages the config refers to (support-files.ts). */
  readonly support: SupportPaths;
  /** The directory of the TLS files (crt-lists and certificates, render-tls.ts). */
  readonly tls: string;
}

export interface ServerSpec {
  readonly name: string;
  /** hitless's endpoint key ("host:port"), for status. */
  readonly endpoint: string;
  /** The address as HAProxy wants it (IPv6 without brackets). */
  readonly address: string;
  /** Weight in HAProxy's 0-256 range (see scaleWeights). */
  readonly weight: number;
  /** Literal IPs only: runtime-added servers never resolve names (init-addr none). */
  readonly literal: boolean;
  /** upstream_tls keywords of this server alone (SNI and name from its host); absent: none. */
  readonly tlsOptions?: string;
}

export interface BackendSpec {
  readonly name: string;
  readonly service: string;
  readonly cluster: string;
  /** Keywords every server line of this backend carries after its weight (checks, observe). */
  readonly serverOptions: string;
  /** What a removed server's connections may take to finish before it is deleted. */
  readonly drainMs: number;
  readonly servers: ReadonlyMap<string, ServerSpec>;
}

export interface RenderedConfig {
  readonly text: string;
  /** The text without server lines: equal skeletons mean only servers changed. */
  readonly skeleton: string;
  readonly backends: ReadonlyMap<string, BackendSpec>;
  /** TLS files by service (services with tls: only); the text names them, their content is not in it. */
  readonly tls: ReadonlyMap<string, ServiceTlsFiles>;
  /** Files the text names that the driver writes into the state dir first (upstream-tls.ts): path → content. */
  readonly files: ReadonlyMap<string, string>;
}

// HAProxy caps server weights at 256; hitless allows up to 1000.
const MAX_WEIGHT = 256;
// HAProxy timeouts are 32-bit milliseconds; "never" is the largest one it takes.
const NEVER = '2147483647ms';

export function backendName(service: string, cluster: string): string {
  // Service and cluster names cannot contain ":", so this never collides, and it is legal in HAProxy.
  return `${service}:${cluster}`;
}

/** Stable per endpoint identity, so server-state survives reloads; "/" and brackets are not allowed. */
export function serverName(endpointKey: string): string {
  return endpointKey.replace(/[[\]]/g, '').replace(/[^A-Za-z0-9._:-]/g, '_');
}

export function renderConfig(config: Config, paths: StatePaths, settings: HaproxySettings): RenderedConfig {
  const blocks: string[][] = [globalBlock(paths, settings, bufferSize(config))];
  const backends = new Map<string, BackendSpec>();
  const backendBlocks: string[][] = [];
  const tls = renderAllTls(config.services.values(), paths.tls);
  const files = new Map<string, string>();
  for (const service of config.services.values()) {
    blocks.push(frontendBlock(service, tls.get(service.name)));
    for (const cluster of service.clusters.values()) {
      for (const [path, content] of upstreamTlsFiles(cluster, settings.stateDir)) files.set(path, content);
      const spec = backendSpec(service, cluster, settings.stateDir);
      backends.set(spec.name, spec);
      backendBlocks.push(backendBlock(service, cluster, spec));
    }
  }
  blocks.push(...backendBlocks);
  const text = blocks.map((b) => b.join('\n')).join('\n\n') + '\n';
  const skeleton = text
    .split('\n')
    .filter((l) => !l.startsWith('  server '))
    .join('\n');
  return { text, skeleton, backends, tls, files };
}

function globalBlock(paths: StatePaths, s: HaproxySettings, bufsize: number): string[] {
  return [
    '# Rendered by hitless; rewritten on every apply (runtime server changes included).',
    'global',
    '  master-worker',
    `  nbthread ${s.threads}`,
    // expose-fd listeners: a reload hands the listening sockets over instead of re-binding them.
    `  stats socket ${paths.workerSocket} mode 600 level admin expose-fd listeners`,
    `  server-state-file ${paths.serverState}`,
    `  hard-stop-after ${s.hardStopAfter}ms`,
    `  mworker-max-reloads ${s.maxReloads}`,
    // Room for a head over max_header_bytes, so that it is answered 431 (render-http.ts).
    `  tune.bufsize ${bufsize}`,
    `  tune.maxrewrite ${MAX_REWRITE}`,
    `  lua-load-per-thread ${paths.support.lua}`,
    '',
    'defaults',
    '  load-server-state-from-file global',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    // The answers HAProxy gives itself, as the builtin plane gives them (support-files.ts).
    ...[...paths.support.errorFiles].map(([status, file]) => `  errorfile ${status} ${file}`),
  ];
}

function ms(value: number): string {
  return value === 0 ? NEVER : `${value}ms`;
}

// HAProxy warns about (and ignores) client-side timeouts on backends and server-side ones on frontends.
function frontendTimeouts(mode: ServiceConfig['mode'], t: Timeouts): string[] {
  if (mode === 'tcp') return [`  timeout client ${ms(t.idle)}`];
  return [`  timeout client ${ms(Math.max(t.idle, t.header))}`, `  timeout http-request ${ms(t.header)}`, `  timeout http-keep-alive ${ms(t.idle)}`];
}

function backendTimeouts(mode: ServiceConfig['mode'], t: Timeouts): string[] {
  const lines = [`  timeout connect ${ms(t.connect)}`];
  if (mode === 'tcp') return [...lines, `  timeout server ${ms(t.idle)}`];
  // Upgraded (WebSocket) connections may idle indefinitely, as tcp ones with idle 0 do.
  return [...lines, `  timeout server ${ms(t.response)}`, `  timeout tunnel ${NEVER}`];
}

function frontendBlock(service: ServiceConfig, tls: ServiceTlsFiles | undefined): string[] {
  const lines = [`frontend ${service.name}`, `  mode ${service.mode}`];
  // On a reload the old worker soft-stops, and HAProxy 2.6 then closes its idle front
  // connections at once, "idle" including one it has just accepted and not read yet: that client
  // is reset ("socket hang up"; here about 1 request in 5-10 reloads, new and keep-alive
  // connections alike, whatever the reload path). With this option the old worker keeps such a
  // connection, answers its request with "Connection: close", and exits once all are closed
  // (hard-stop-after bounds it): 0 failures in 560 reloads under load. tcp mode has no such state.
  if (service.mode === 'http') lines.push('  option idle-close-on-response');
  const ssl = tls && service.tls ? ` ${bindTlsOptions(tls, service.tls)}` : '';
  for (const l of service.listen) lines.push(`  bind ${l.key}${ssl}`);
  if (service.maxConnections !== null) lines.push(`  maxconn ${service.maxConnections}`);
  lines.push(...frontendTimeouts(service.mode, service.timeouts));
  // The service's own `haproxy.frontend` lines (config/haproxy-passthrough.ts allows no rule,
  // so their place before hitless's HTTP rules changes no rule order).
  lines.push(...passedThrough(service.haproxy?.frontend));
  if (service.mode === 'http') lines.push(...httpFrontendRules(service));
  service.routes.forEach((route, i) => {
    const conditions: string[] = [];
    if (route.host !== null) conditions.push(hostCondition(route.host));
    if (route.path !== null) conditions.push(`{ path_beg ${route.path} }`);
    const target = backendName(service.name, route.cluster);
    lines.push(`  # route ${i}: ${route.host ?? '*'}${route.path ?? ''}`);
    lines.push(conditions.length > 0 ? `  use_backend ${target} if ${conditions.join(' ')}` : `  use_backend ${target}`);
  });
  lines.push(`  default_backend ${backendName(service.name, service.defaultCluster)}`);
  return lines;
}

/** Host match as the builtin router does it: case-insensitive, port ignored unless the route names one. */
function hostCondition(host: string): string {
  const withPort = host.includes(':');
  const fetch = withPort ? 'req.hdr(host),lower' : 'req.hdr(host),field(1,:),lower';
  if (host.startsWith('*.')) return `{ ${fetch} -m end ${host.slice(1)} }`;
  return `{ ${fetch} -m str ${host} }`;
}

const BALANCE: Record<BalanceAlgorithm, string[]> = {
  'round-robin': ['  balance roundrobin'],
  'least-conn': ['  balance leastconn'],
  'random-two': ['  balance random(2)'],
  // Consistent hashing keeps the algorithm dynamic, so servers can still be added at runtime:
  // every algorithm here must be dynamic (HAProxy 2.6), runtime-changes.ts relies on it.
  'source-hash': ['  balance source', '  hash-type consistent'],
};

function backendSpec(service: ServiceConfig, cluster: ClusterConfig, stateDir: string): BackendSpec {
  const weights = scaleWeights(cluster.endpoints.map((e) => e.weight));
  const servers = new Map<string, ServerSpec>();
  cluster.endpoints.forEach((e, i) => {
    const name = serverName(e.key);
    const tlsOptions = serverTlsOptions(cluster, e.host);
    servers.set(name, { name, endpoint: e.key, address: `${e.host}:${e.port}`, weight: weights[i], literal: isIP(e.host) !== 0, ...(tlsOptions ? { tlsOptions } : {}) });
  });
  return {
    name: backendName(service.name, cluster.name),
    service: service.name,
    cluster: cluster.name,
    serverOptions: [serverOptions(service, cluster), backendTlsOptions(cluster, stateDir)].filter((o) => o !== '').join(' '),
    drainMs: service.timeouts.drain,
    servers,
  };
}

/** Proportional scaling into 0-256 when a cluster uses larger weights; a non-zero weight stays non-zero. */
export function scaleWeights(weights: readonly number[]): number[] {
  const max = Math.max(0, ...weights);
  if (max <= MAX_WEIGHT) return [...weights];
  return weights.map((w) => (w === 0 ? 0 : Math.max(1, Math.round((w * MAX_WEIGHT) / max))));
}

function serverOptions(service: ServiceConfig, cluster: ClusterConfig): string {
  const { active, passive } = cluster.health;
  const options: string[] = [];
  if (active) options.push(`check inter ${active.interval}ms fall ${active.fall} rise ${active.rise}`);
  else if (passive) {
    // HAProxy only observes traffic on checked servers; a plain connect check every `ejection`
    // brings an ejected server back, as the builtin plane's ejection timer does.
    options.push(`check inter ${passive.ejection}ms fastinter ${passive.ejection}ms downinter ${passive.ejection}ms fall 1 rise 1`);
  }
  if (passive) {
    const layer = service.mode === 'http' ? 'layer7' : 'layer4';
    options.push(`observe ${layer} error-limit ${passive.consecutiveFailures} on-error mark-down`);
  }
  if (service.haproxy?.serverOptions) options.push(service.haproxy.serverOptions);
  return options.join(' ');
}

/** `haproxy:` lines of a service, already checked against the allow-lists when the config was loaded. */
function passedThrough(lines: readonly string[] | undefined): string[] {
  return (lines ?? []).map((l) => `  ${l}`);
}

function backendBlock(service: ServiceConfig, cluster: ClusterConfig, spec: BackendSpec): string[] {
  const lines = [`backend ${spec.name}`, `  mode ${service.mode}`, ...BALANCE[cluster.balance]];
  lines.push(...backendTimeouts(service.mode, service.timeouts));
  lines.push(`  retries ${service.retries}`, '  option redispatch');
  if (service.mode === 'http') lines.push(...httpBackendRules());
  const active = cluster.health.active;
  if (active) {
    lines.push(`  timeout check ${active.timeout}ms`);
    if (active.type === 'http') lines.push(`  option httpchk GET ${active.path}`);
  }
  // After hitless's check settings: a check option passed through (option redis-check, ...) wins.
  lines.push(...passedThrough(service.haproxy?.backend));
  for (const s of spec.servers.values()) lines.push(serverLine(s, spec.serverOptions));
  return lines;
}

export function serverLine(s: ServerSpec, options: string): string {
  return `  server ${s.name} ${s.address} weight ${s.weight}${options ? ` ${options}` : ''}${s.tlsOptions ? ` ${s.tlsOptions}` : ''}`;
}
