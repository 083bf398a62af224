// The normalised, frozen shapes of `discovery:` (per service), `discovery_defaults:` and
// `register:`. Built by discovery-schema.ts; read by discovery/, control/ and register/.
import type { HostPort } from './address.js';

export interface ZookeeperTarget {
  readonly kind: 'zookeeper';
  /** "host:port" of every ensemble member. */
  readonly hosts: readonly string[];
  /** The parent znode; its children are the endpoints. */
  readonly path: string;
  readonly sessionTimeout: number;
}

export interface EtcdTarget {
  readonly kind: 'etcd';
  /** Client URLs, e.g. "http://127.0.0.1:2379". */
  readonly endpoints: readonly string[];
  /** Key prefix, always ending in "/" so that "/web" never matches "/web2/...". */
  readonly prefix: string;
}

export interface DnsTarget {
  readonly kind: 'dns';
  readonly name: string;
  readonly type: 'A' | 'AAAA' | 'SRV';
  /** The port given to A/AAAA addresses; SRV records carry their own. */
  readonly port: number | null;
  /** A specific resolver ("127.0.0.1:5353"); null uses the system's. */
  readonly server: HostPort | null;
  readonly minTtl: number;
  readonly maxTtl: number;
}

export interface FileTarget {
  readonly kind: 'file';
  readonly path: string;
}

export type DiscoveryTarget = ZookeeperTarget | EtcdTarget | DnsTarget | FileTarget;

export interface DiscoveryConfig {
  readonly target: DiscoveryTarget;
  /** replace: discovered endpoints replace the static ones; add: they are added to them. */
  readonly mode: 'replace' | 'add';
  /** A healthy source's set smaller than this is held (the last known good set stays). */
  readonly minEndpoints: number;
  /**
   * A set that would drop more than this percentage of the reference set (the last set reported
   * without malformed entries, or any larger one applied since) is held (0..100; 100: no guard).
   */
  readonly maxDropPercent: number;
  /** Milliseconds a held drop reported without malformed entries stays held before it is applied. */
  readonly dropHold: number;
}

export interface DiscoverySettings {
  /** Bursts of source updates within this many milliseconds become one apply. */
  readonly coalesce: number;
  /** At startup, how long to wait for every source's first answer before binding. */
  readonly initialWait: number;
}

export interface CheckConfig {
  readonly type: 'tcp' | 'http';
  /** Where to check, when not the registered port (e.g. a separate health/admin port). */
  readonly port: number | null;
  readonly path: string;
  readonly interval: number;
  readonly timeout: number;
  readonly rise: number;
  readonly fall: number;
}

export interface RegistrationConfig {
  readonly service: string;
  readonly target: ZookeeperTarget | (EtcdTarget & { readonly ttl: number });
  readonly host: string;
  readonly port: number;
  /** The instance name written into the registry (nerve's "name"); defaults to host:port. */
  readonly name: string;
  readonly weight: number | null;
  readonly labels: Readonly<Record<string, string | number | boolean | null>> | null;
  readonly check: CheckConfig;
}
