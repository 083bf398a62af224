// Validated raw config → normalised, frozen Config: defaults applied, cross-key checks made.
// Split per service so that the incremental parser (incremental.ts) can normalise only the
// services whose text changed and reuse the frozen others; the full path below keeps the exact
// order in which problems have always been reported.
import type { HostPort } from './address.js';
import { isLoopback, parseAdminAddress } from './address.js';
import { normaliseDiscovery, normaliseDiscoverySettings, normaliseRegistrations } from './discovery-schema.js';
import { freezeMap } from './freeze-map.js';
import { normalisePassThrough } from './haproxy-passthrough.js';
import type { Config, ServiceConfig } from './model.js';
import { normaliseClusters } from './normalise-clusters.js';
import { DEFAULTS, type RawConfig, type RawService } from './schema.js';
import { normaliseTls } from './tls-material.js';
import { checkHaproxyUpstreamTls } from './upstream-tls.js';
import { sealService } from './service-identity.js';

export type Problem = (path: PropertyKey[], message: string) => void;

/** What every service inherits from the top of the file (part of each service's identity). */
export type Inherited = Pick<RawConfig, 'defaults' | 'discovery_defaults'>;

/** The inherited settings as a string: equal strings, equal effect on every service. */
export function inheritedKey(raw: Inherited): string {
  return JSON.stringify([raw.defaults ?? null, raw.discovery_defaults ?? null]);
}

/** One service with every default applied (not yet frozen); problems go to `problem`. */
export function normaliseService(name: string, s: RawService, raw: Inherited, problem: Problem): ServiceConfig {
  const d = raw.defaults ?? {};
  const mode = s.mode ?? DEFAULTS.mode;
  const clusters = normaliseClusters(name, s, d, mode, problem);
  const main = clusters.clusters.get(clusters.defaultCluster);
  const tls = s.tls ? normaliseTls(name, s.tls, mode, problem) : undefined;
  return {
    name,
    mode,
    listen: Object.freeze(s.listen),
    balance: main?.balance ?? DEFAULTS.balance,
    endpoints: main?.endpoints ?? Object.freeze([]),
    health: main?.health ?? Object.freeze({ active: null, passive: null }),
    ...clusters,
    limits: Object.freeze({
      maxHeaderBytes: s.limits?.max_header_bytes ?? d.limits?.max_header_bytes ?? DEFAULTS.limits.maxHeaderBytes,
      maxUrlBytes: s.limits?.max_url_bytes ?? d.limits?.max_url_bytes ?? DEFAULTS.limits.maxUrlBytes,
    }),
    timeouts: Object.freeze({
      connect: s.timeouts?.connect ?? d.timeouts?.connect ?? DEFAULTS.timeouts.connect,
      idle: s.timeouts?.idle ?? d.timeouts?.idle ?? (mode === 'http' ? DEFAULTS.httpIdle : DEFAULTS.timeouts.idle),
      drain: s.timeouts?.drain ?? d.timeouts?.drain ?? DEFAULTS.timeouts.drain,
      header: s.timeouts?.header ?? d.timeouts?.header ?? DEFAULTS.timeouts.header,
      response: s.timeouts?.response ?? d.timeouts?.response ?? DEFAULTS.timeouts.response,
      handshake: s.timeouts?.handshake ?? d.timeouts?.handshake ?? DEFAULTS.timeouts.handshake,
    }),
    retries: s.retries ?? d.retries ?? DEFAULTS.retries,
    maxConnections: s.max_connections ?? d.max_connections ?? null,
    discovery: normaliseDiscovery(s.discovery, raw.discovery_defaults),
    accessLog: s.access_log ? Object.freeze({ path: s.access_log.path, format: s.access_log.format ?? DEFAULTS.accessLogFormat }) : null,
    // Only services with tls: have the key, so configs without TLS are what they always were.
    ...(tls ? { tls } : {}),
    haproxy: normalisePassThrough(s.haproxy),
  };
}

/** Each listen address belongs to one service: records `name`'s addresses in `owners`. */
export function claimListen(owners: Map<string, string>, name: string, listen: readonly HostPort[], problem: Problem): void {
  for (let i = 0; i < listen.length; i++) {
    const key = listen[i].key;
    const owner = owners.get(key);
    if (owner === undefined) owners.set(key, name);
    else problem(['services', name, 'listen', ...(listen.length > 1 ? [i] : [])], `listen address ${key} is already used by service "${owner}"; each address belongs to one service`);
  }
}

/** The top of the file around already normalised services, with the checks that span both. */
export function finishConfig(raw: RawConfig, services: Map<string, ServiceConfig>, listenOwner: ReadonlyMap<string, string>, problem: Problem): Config {
  const defaultAdmin = parseAdminAddress(DEFAULTS.adminListen);
  const adminListen = raw.admin?.listen ?? (defaultAdmin.ok ? defaultAdmin.value : undefined)!;
  if (adminListen.kind === 'tcp' && listenOwner.has(adminListen.key)) {
    problem(['admin', 'listen'], `admin address ${adminListen.key} is also the listen address of service "${listenOwner.get(adminListen.key)}"`);
  }
  // Anyone who can reach a non-loopback admin port could reconfigure the proxy: demand a token.
  if (adminListen.kind === 'tcp' && !isLoopback(adminListen.host) && !raw.admin?.token) {
    problem(['admin', 'listen'], `admin address ${adminListen.key} is not loopback: set admin.token (16+ characters) so that only holders of it can change the config, or listen on 127.0.0.1 or a unix socket`);
  }
  // A read-only token only means something when requests without a token are refused.
  if (raw.admin?.read_token !== undefined && raw.admin.token === undefined) {
    problem(['admin', 'read_token'], 'admin.read_token needs admin.token: without it every request may change the config, so a read-only token would restrict nothing; set admin.token too');
  }
  if ((raw.dataplane?.driver ?? DEFAULTS.dataplane.driver) === 'haproxy') {
    for (const service of services.values()) checkHaproxyUpstreamTls(service, problem);
    for (const service of services.values()) {
      service.tls?.certificates.forEach((c, i) => {
        if (c.ocspFile) problem(['services', service.name, 'tls', 'certificates', i, 'ocsp_file'], 'OCSP stapling (ocsp_file) is not available on the HAProxy data plane yet; remove it, or use the builtin data plane');
      });
    }
  }
  if (raw.admin?.read_token !== undefined && raw.admin.read_token === raw.admin.token) {
    problem(['admin', 'read_token'], 'admin.read_token equals admin.token: a holder of it could change the config; choose another secret');
  }
  const dataplane = normaliseDataplane(raw.dataplane);
  // HAProxy directives mean nothing to the builtin data plane: refused rather than ignored.
  if (dataplane.driver !== 'haproxy') {
    for (const service of services.values()) {
      if (service.haproxy) problem(['services', service.name, 'haproxy'], `HAProxy directives need dataplane.driver: haproxy (the ${dataplane.driver} data plane cannot apply them); remove them or switch the driver`);
    }
  }
  return Object.freeze({
    admin: Object.freeze({
      listen: adminListen,
      token: raw.admin?.token ?? null,
      readToken: raw.admin?.read_token ?? null,
      apiApply: raw.admin?.api_apply ?? DEFAULTS.apiApply,
      auditLog: raw.admin?.audit_log ?? null,
    }),
    services: freezeMap(services),
    discovery: normaliseDiscoverySettings(raw.discovery_defaults),
    register: normaliseRegistrations(raw.register),
    dataplane,
  });
}

/** The whole config at once (the located path): problems in file order, service by service. */
export function normalise(raw: RawConfig, problem: Problem): Config {
  const services = new Map<string, ServiceConfig>();
  const listenOwner = new Map<string, string>();
  for (const [name, s] of Object.entries(raw.services)) {
    claimListen(listenOwner, name, s.listen, problem);
    services.set(name, sealService(normaliseService(name, s, raw, problem)));
  }
  return finishConfig(raw, services, listenOwner, problem);
}

function normaliseDataplane(raw: RawConfig['dataplane']): Config['dataplane'] {
  const d = DEFAULTS.dataplane.haproxy;
  const h = raw?.haproxy;
  return Object.freeze({
    driver: raw?.driver ?? DEFAULTS.dataplane.driver,
    haproxy: Object.freeze({
      binary: h?.binary ?? d.binary,
      stateDir: h?.state_dir ?? d.stateDir,
      threads: h?.threads ?? d.threads,
      hardStopAfter: h?.hard_stop_after ?? d.hardStopAfter,
      maxReloads: h?.max_reloads ?? d.maxReloads,
    }),
  });
}
