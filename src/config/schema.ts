// The one place where the config's shape and its defaults are declared. Everything else reads the
// normalised, frozen `Config` produced by load.ts; nothing else knows about raw YAML.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { parseAdminAddress, parseHostPort, parseListenAddress } from './address.js';
import { defaultAdminListen } from './admin-default.js';
import { discoveryDefaultsSchema, discoverySchema, registerSchema } from './discovery-schema.js';
import { parsedString } from './parsed-string.js';
import { tlsSchema } from './tls-schema.js';
import { upstreamTlsSchema } from './upstream-tls-schema.js';
import { haproxyPassThroughSchema } from './haproxy-passthrough.js';

export const BALANCE_ALGORITHMS = ['round-robin', 'least-conn', 'random-two', 'source-hash'] as const;
export type BalanceAlgorithm = (typeof BALANCE_ALGORITHMS)[number];
export const SERVICE_MODES = ['tcp', 'http'] as const;
export type ServiceMode = (typeof SERVICE_MODES)[number];
export const ACCESS_LOG_FORMATS = ['json', 'combined'] as const;
export type AccessLogFormat = (typeof ACCESS_LOG_FORMATS)[number];
export const DATAPLANE_DRIVERS = ['builtin', 'haproxy'] as const;
export type DataplaneDriverName = (typeof DATAPLANE_DRIVERS)[number];
/** What a config applied through the admin API does to the config file (docs/operations.md). */
export const API_APPLY_MODES = ['write-file', 'keep-file', 'refuse'] as const;
export type ApiApplyMode = (typeof API_APPLY_MODES)[number];

/** Defaults, in one place. A service setting overrides `defaults:`, which overrides these. */
export const DEFAULTS = Object.freeze({
  /** unix:$RUNTIME_DIRECTORY/admin.sock under systemd, else unix:$TMPDIR/hitless-admin.sock (admin-default.ts). */
  adminListen: defaultAdminListen(),
  apiApply: 'write-file' as ApiApplyMode,
  balance: 'round-robin' as BalanceAlgorithm,
  mode: 'tcp' as ServiceMode,
  weight: 1,
  retries: 2,
  timeouts: Object.freeze({ connect: 2_000, idle: 600_000, drain: 30_000, header: 10_000, response: 60_000, handshake: 10_000 }),
  /** HTTP: idle keep-alive of client connections (tcp mode uses `idle` for the whole connection). */
  httpIdle: 60_000,
  limits: Object.freeze({ maxHeaderBytes: 16_384, maxUrlBytes: 8_192 }),
  health: Object.freeze({ type: 'tcp' as 'tcp' | 'http', path: '/', interval: 2_000, timeout: 1_000, rise: 2, fall: 3 }),
  passive: Object.freeze({ consecutiveFailures: 5, ejection: 10_000 }),
  defaultCluster: 'default',
  accessLogFormat: 'json' as AccessLogFormat,
  /** `dataplane:` (global; changing `driver` needs a restart). The state dir is per process by default. */
  dataplane: Object.freeze({
    driver: 'builtin' as DataplaneDriverName,
    haproxy: Object.freeze({
      binary: '/usr/sbin/haproxy',
      stateDir: join(tmpdir(), `hitless-haproxy-${process.pid}`),
      threads: 1,
      hardStopAfter: 30_000,
      maxReloads: 50,
    }),
  }),
});



const duration = parsedString(
  (text) => {
    const ms = parseDuration(text);
    return ms === undefined ? { ok: false, reason: 'expected a duration such as 500ms, 2s, 10m or 1h' } : { ok: true, value: ms };
  },
  'a duration such as 500ms, 2s, 10m or 1h',
);
const endpointAddress = parsedString(parseHostPort, 'an endpoint address "host:port"');
const listenAddress = parsedString(parseListenAddress, 'a listen address "ip:port"');
const adminAddress = parsedString(parseAdminAddress, 'an admin address "unix:/path" or "ip:port"');

const timeouts = z.strictObject({
  connect: duration.optional(),
  idle: duration.optional(),
  drain: duration.optional(),
  /** HTTP: time allowed to receive a request's headers (slowloris guard); 408 after it. */
  header: duration.optional(),
  /** HTTP: time allowed for an endpoint to start its response; 504 after it. */
  response: duration.optional(),
  /** TLS: time allowed for a client's TLS handshake (services with tls:); the connection is closed after it. */
  handshake: duration.optional(),
});

const health = z.strictObject({
  /** Active checks: a TCP connect, or an HTTP GET expecting 2xx/3xx. */
  active: z
    .strictObject({
      type: z.enum(['tcp', 'http']).optional(),
      path: z.string().startsWith('/').optional(),
      interval: duration.optional(),
      timeout: duration.optional(),
      rise: z.number().int().min(1).max(100).optional(),
      fall: z.number().int().min(1).max(100).optional(),
    })
    .optional(),
  /** Passive ejection: consecutive connect failures or 5xx take an endpoint out for `ejection`. */
  passive: z
    .strictObject({
      consecutive_failures: z.number().int().min(1).max(1000).optional(),
      ejection: duration.optional(),
    })
    .optional(),
});

const limits = z.strictObject({
  max_header_bytes: z.number().int().min(1024).max(1_048_576).optional(),
  max_url_bytes: z.number().int().min(256).max(1_048_576).optional(),
});

const endpoint = z.union([
  endpointAddress.transform((address) => ({ address, weight: undefined as number | undefined })),
  z.strictObject({
    address: endpointAddress,
    weight: z.number().int().min(0).max(1000).optional(),
  }),
]);

/** A service's name (a key of `services:`). */
export const serviceNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'service names use letters, digits, ".", "_" and "-"');

const clusterName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'cluster names use letters, digits, ".", "_" and "-"');

/** A named group of endpoints with its own balancer and health checks. */
const cluster = z.strictObject({
  balance: z.enum(BALANCE_ALGORITHMS).optional(),
  endpoints: z.array(endpoint).default([]),
  health: health.optional(),
  /** TLS to this cluster's endpoints (upstream-tls-schema.ts); absent: the service's upstream_tls. */
  upstream_tls: upstreamTlsSchema.optional(),
});

/** HTTP routing: first match wins; a route without host and path is the catch-all. */
const route = z.strictObject({
  host: z.string().regex(/^(\*\.)?[A-Za-z0-9.-]+(:\d+)?$/, 'hosts are "name", "*.suffix" (optionally with :port)').optional(),
  path: z.string().startsWith('/').optional(),
  cluster: clusterName,
});

/** One entry of `services:`; incremental.ts validates services one at a time with it. */
export const serviceSchema = z.strictObject({
  mode: z.enum(SERVICE_MODES).optional(),
  listen: z.union([listenAddress.transform((a) => [a]), z.array(listenAddress).min(1)]),
  balance: z.enum(BALANCE_ALGORITHMS).optional(),
  endpoints: z.array(endpoint).optional(),
  health: health.optional(),
  clusters: z.record(clusterName, cluster).optional(),
  routes: z.array(route).optional(),
  timeouts: timeouts.optional(),
  limits: limits.optional(),
  retries: z.number().int().min(0).max(10).optional(),
  max_connections: z.number().int().min(1).optional(),
  /** One line per request (http) or connection (tcp); see docs/access-log.md. */
  access_log: z
    .strictObject({
      path: z.string().min(1),
      format: z.enum(ACCESS_LOG_FORMATS).optional(),
    })
    .optional(),
  // Lazy: discovery-schema.ts imports parsedString from here (see its header).
  discovery: z.lazy(() => discoverySchema).optional(),
  /** TLS termination (tls-schema.ts); the listener stays a plain TCP socket of the pool. */
  tls: tlsSchema.optional(),
  /** TLS to the endpoints (upstream-tls-schema.ts), for every cluster without its own. */
  upstream_tls: upstreamTlsSchema.optional(),
  /** HAProxy directives passed through to the HAProxy data plane (haproxy-passthrough.ts). */
  haproxy: haproxyPassThroughSchema.optional(),
});

/** Which data plane runs the services; HAProxy settings apply only to `driver: haproxy`. */
const dataplane = z.strictObject({
  driver: z.enum(DATAPLANE_DRIVERS).optional(),
  haproxy: z
    .strictObject({
      binary: z.string().startsWith('/').optional(),
      state_dir: z.string().startsWith('/').optional(),
      threads: z.number().int().min(1).max(64).optional(),
      hard_stop_after: duration.optional(),
      max_reloads: z.number().int().min(1).max(10_000).optional(),
    })
    .optional(),
});

export const rawConfigSchema = z.strictObject({
  admin: z
    .strictObject({
      listen: adminAddress.optional(),
      token: z.string().min(16).optional(),
      /** May read (status, metrics, dashboard data) but never change anything. */
      read_token: z.string().min(16).optional(),
      api_apply: z.enum(API_APPLY_MODES).optional(),
      /** Append-only JSON lines, one per config change; absent: audit lines go to the main log. */
      audit_log: z.string().min(1).optional(),
    })
    .optional(),
  defaults: z
    .strictObject({
      balance: z.enum(BALANCE_ALGORITHMS).optional(),
      timeouts: timeouts.optional(),
      health: health.optional(),
      limits: limits.optional(),
      retries: z.number().int().min(0).max(10).optional(),
      max_connections: z.number().int().min(1).optional(),
    })
    .optional(),
  services: z.record(serviceNameSchema, serviceSchema).default({}),
  discovery_defaults: z.lazy(() => discoveryDefaultsSchema).optional(),
  register: z.lazy(() => registerSchema).optional(),
  dataplane: dataplane.optional(),
});

export type RawConfig = z.output<typeof rawConfigSchema>;
export type RawService = z.output<typeof serviceSchema>;
export type RawHealth = z.output<typeof health>;
