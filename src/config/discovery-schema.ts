// The shape of `discovery:` (per service), `discovery_defaults:` and `register:`, and their
// normalisation into discovery-model.ts. schema.ts refers to these lazily (z.lazy) because this
// file imports `parsedString` from it: a function declaration, so the import cycle is safe.
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { parseHostPort, type HostPort, type ParseResult } from './address.js';
import { parsedString } from './parsed-string.js';
import type {
  CheckConfig,
  DiscoveryConfig,
  DiscoverySettings,
  DiscoveryTarget,
  EtcdTarget,
  RegistrationConfig,
  ZookeeperTarget,
} from './discovery-model.js';

export const DISCOVERY_DEFAULTS = Object.freeze({
  mode: 'replace' as const,
  minEndpoints: 1,
  maxDropPercent: 50,
  dropHold: 60_000,
  coalesce: 20,
  initialWait: 3_000,
  sessionTimeout: 10_000,
  minTtl: 1_000,
  maxTtl: 300_000,
  leaseTtl: 10,
  check: Object.freeze({ type: 'tcp' as const, path: '/', interval: 2_000, timeout: 1_000, rise: 2, fall: 3 }),
});

const durationText = 'a duration such as 500ms, 2s, 10m or 1h';
const duration = parsedString((text): ParseResult<number> => {
  const ms = parseDuration(text);
  return ms === undefined ? { ok: false, reason: `expected ${durationText}` } : { ok: true, value: ms };
}, durationText);
const hostPort = parsedString(parseHostPort, 'an address "host:port"');
/** ZooKeeper's "h1:2181,h2:2181" or a list of "host:port". */
const hostPortList = z.union([z.string(), z.array(z.string()).min(1)]).transform((value, ctx): HostPort[] => {
  const hosts: HostPort[] = [];
  for (const text of typeof value === 'string' ? value.split(',') : value) {
    const parsed = parseHostPort(text.trim());
    if (parsed.ok) hosts.push(parsed.value);
    else ctx.addIssue({ code: 'custom', message: `${parsed.reason}, found ${JSON.stringify(text)}` });
  }
  return hosts;
});
const etcdEndpoint = z
  .string()
  .min(1)
  .transform((s) => (/^https?:\/\//.test(s) ? s : `http://${s}`));
const znodePath = z.string().regex(/^\/([^/]+(\/[^/]+)*)?$/, 'expected an absolute znode path such as "/services/web"');

const zookeeper = z.strictObject({ hosts: hostPortList, path: znodePath, session_timeout: duration.optional() });
const etcd = z.strictObject({
  endpoints: z.union([etcdEndpoint.transform((e) => [e]), z.array(etcdEndpoint).min(1)]),
  prefix: z.string().min(1),
});
const dns = z.strictObject({
  name: z.string().min(1),
  type: z.enum(['A', 'AAAA', 'SRV']).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  server: hostPort.optional(),
  min_ttl: duration.optional(),
  max_ttl: duration.optional(),
});
const file = z.strictObject({ path: z.string().min(1) });

const SOURCE_KEYS = ['zookeeper', 'etcd', 'dns', 'file'] as const;

export const discoverySchema = z
  .strictObject({
    zookeeper: zookeeper.optional(),
    etcd: etcd.optional(),
    dns: dns.optional(),
    file: file.optional(),
    mode: z.enum(['replace', 'add']).optional(),
    min_endpoints: z.number().int().min(0).optional(),
    max_drop_percent: z.number().int().min(0).max(100).optional(),
    drop_hold: duration.optional(),
  })
  .superRefine((d, ctx) => {
    const given = SOURCE_KEYS.filter((k) => d[k] !== undefined);
    if (given.length !== 1) {
      const found = given.length === 0 ? 'none' : given.join(' and ');
      ctx.addIssue({ code: 'custom', message: `expected exactly one source (${SOURCE_KEYS.join(', ')}), found ${found}` });
    }
    if (d.dns && (d.dns.type ?? 'A') !== 'SRV' && d.dns.port === undefined) {
      ctx.addIssue({ code: 'custom', path: ['dns', 'port'], message: `expected a port for ${d.dns.type ?? 'A'} records (SRV records carry their own)` });
    }
    if (d.dns?.min_ttl !== undefined && d.dns.max_ttl !== undefined && d.dns.min_ttl > d.dns.max_ttl) {
      ctx.addIssue({ code: 'custom', path: ['dns', 'min_ttl'], message: 'expected min_ttl <= max_ttl' });
    }
  });

export const discoveryDefaultsSchema = z.strictObject({
  coalesce: duration.optional(),
  initial_wait: duration.optional(),
  min_endpoints: z.number().int().min(0).optional(),
  max_drop_percent: z.number().int().min(0).max(100).optional(),
  drop_hold: duration.optional(),
});

const check = z.strictObject({
  type: z.enum(['tcp', 'http']).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  path: z.string().startsWith('/').optional(),
  interval: duration.optional(),
  timeout: duration.optional(),
  rise: z.number().int().min(1).max(100).optional(),
  fall: z.number().int().min(1).max(100).optional(),
});

const registration = z
  .strictObject({
    service: z.string().min(1),
    zookeeper: zookeeper.optional(),
    etcd: etcd.extend({ ttl: duration.optional() }).optional(),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    name: z.string().min(1).optional(),
    weight: z.number().int().min(0).max(1000).optional(),
    // Scalars of any JSON type, written as they are: nerve writes its labels so, and synapse's
    // label filters compare values by type (true is not "true").
    labels: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
    check: check.optional(),
  })
  .superRefine((r, ctx) => {
    if ((r.zookeeper === undefined) === (r.etcd === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'expected exactly one registry: zookeeper or etcd' });
    }
  });

export const registerSchema = z.array(registration);

export type RawDiscovery = z.output<typeof discoverySchema>;
export type RawDiscoveryDefaults = z.output<typeof discoveryDefaultsSchema>;
export type RawRegistration = z.output<typeof registration>;

/** Keys for load.ts's "allowed here" hints. */
export const DISCOVERY_ALLOWED_KEYS: Record<string, readonly string[]> = {
  discovery: ['zookeeper', 'etcd', 'dns', 'file', 'mode', 'min_endpoints', 'max_drop_percent', 'drop_hold'],
  discovery_defaults: ['coalesce', 'initial_wait', 'min_endpoints', 'max_drop_percent', 'drop_hold'],
  zookeeper: ['hosts', 'path', 'session_timeout'],
  etcd: ['endpoints', 'prefix', 'ttl'],
  dns: ['name', 'type', 'port', 'server', 'min_ttl', 'max_ttl'],
  file: ['path'],
  check: ['type', 'port', 'path', 'interval', 'timeout', 'rise', 'fall'],
  registration: ['service', 'zookeeper', 'etcd', 'host', 'port', 'name', 'weight', 'labels', 'check'],
};

function zookeeperTarget(zk: z.output<typeof zookeeper>): ZookeeperTarget {
  return Object.freeze({
    kind: 'zookeeper',
    hosts: Object.freeze(zk.hosts.map((h) => h.key)),
    path: zk.path,
    sessionTimeout: zk.session_timeout ?? DISCOVERY_DEFAULTS.sessionTimeout,
  });
}

function etcdTarget(e: z.output<typeof etcd>): EtcdTarget {
  return Object.freeze({ kind: 'etcd', endpoints: Object.freeze(e.endpoints), prefix: e.prefix.endsWith('/') ? e.prefix : `${e.prefix}/` });
}

function target(d: RawDiscovery): DiscoveryTarget {
  if (d.zookeeper) return zookeeperTarget(d.zookeeper);
  if (d.etcd) return etcdTarget(d.etcd);
  if (d.dns) {
    const minTtl = d.dns.min_ttl ?? DISCOVERY_DEFAULTS.minTtl;
    return Object.freeze({
      kind: 'dns',
      name: d.dns.name,
      type: d.dns.type ?? 'A',
      port: d.dns.port ?? null,
      server: d.dns.server ?? null,
      minTtl,
      maxTtl: Math.max(minTtl, d.dns.max_ttl ?? DISCOVERY_DEFAULTS.maxTtl),
    });
  }
  return Object.freeze({ kind: 'file', path: d.file!.path });
}

export function normaliseDiscovery(d: RawDiscovery | undefined, defaults: RawDiscoveryDefaults | undefined): DiscoveryConfig | null {
  if (!d) return null;
  return Object.freeze({
    target: target(d),
    mode: d.mode ?? DISCOVERY_DEFAULTS.mode,
    minEndpoints: d.min_endpoints ?? defaults?.min_endpoints ?? DISCOVERY_DEFAULTS.minEndpoints,
    maxDropPercent: d.max_drop_percent ?? defaults?.max_drop_percent ?? DISCOVERY_DEFAULTS.maxDropPercent,
    dropHold: d.drop_hold ?? defaults?.drop_hold ?? DISCOVERY_DEFAULTS.dropHold,
  });
}

export function normaliseDiscoverySettings(d: RawDiscoveryDefaults | undefined): DiscoverySettings {
  return Object.freeze({
    coalesce: d?.coalesce ?? DISCOVERY_DEFAULTS.coalesce,
    initialWait: d?.initial_wait ?? DISCOVERY_DEFAULTS.initialWait,
  });
}

export function normaliseRegistrations(list: readonly RawRegistration[] | undefined): readonly RegistrationConfig[] {
  return Object.freeze(
    (list ?? []).map((r) => {
      const c = DISCOVERY_DEFAULTS.check;
      const checkConfig: CheckConfig = Object.freeze({
        type: r.check?.type ?? c.type,
        port: r.check?.port ?? null,
        path: r.check?.path ?? c.path,
        interval: r.check?.interval ?? c.interval,
        timeout: r.check?.timeout ?? c.timeout,
        rise: r.check?.rise ?? c.rise,
        fall: r.check?.fall ?? c.fall,
      });
      const registry = r.zookeeper
        ? zookeeperTarget(r.zookeeper)
        : Object.freeze({ ...etcdTarget(r.etcd!), ttl: Math.max(2, Math.round((r.etcd!.ttl ?? DISCOVERY_DEFAULTS.leaseTtl * 1000) / 1000)) });
      return Object.freeze({
        service: r.service,
        target: registry,
        host: r.host,
        port: r.port,
        name: r.name ?? `${r.host}:${r.port}`,
        weight: r.weight ?? null,
        labels: r.labels ? Object.freeze({ ...r.labels }) : null,
        check: checkConfig,
      });
    }),
  );
}
