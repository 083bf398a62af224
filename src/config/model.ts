// The normalised, frozen configuration every other module reads. Built only by load.ts.
import type { AdminAddress, HostPort } from './address.js';
import type { AccessLogFormat, ApiApplyMode, BalanceAlgorithm, DataplaneDriverName, ServiceMode } from './schema.js';
import type { DiscoveryConfig, DiscoverySettings, RegistrationConfig } from './discovery-model.js';
import type { TlsConfig, UpstreamTlsConfig } from './tls-model.js';
import type { HaproxyPassThrough } from './haproxy-passthrough.js';

export interface Timeouts {
  /** Milliseconds to wait for an endpoint's TCP handshake before trying the next endpoint. */
  readonly connect: number;
  /** Milliseconds without traffic after which a proxied connection is closed (0: never). */
  readonly idle: number;
  /** Milliseconds connections of a removed listener may keep running before they are closed. */
  readonly drain: number;
  /** HTTP: milliseconds to receive a request's headers (408 after). */
  readonly header: number;
  /** HTTP: milliseconds for an endpoint to start answering (504 after). */
  readonly response: number;
  /** TLS: milliseconds for a client's TLS handshake (services with tls). */
  readonly handshake: number;
}

export interface ActiveHealthConfig {
  readonly type: 'tcp' | 'http';
  readonly path: string;
  readonly interval: number;
  readonly timeout: number;
  readonly rise: number;
  readonly fall: number;
}

export interface PassiveHealthConfig {
  readonly consecutiveFailures: number;
  readonly ejection: number;
}

export interface HealthConfig {
  /** null: no active checks (endpoints are presumed up). */
  readonly active: ActiveHealthConfig | null;
  /** null: no passive ejection. */
  readonly passive: PassiveHealthConfig | null;
}

export interface ClusterConfig {
  readonly name: string;
  readonly balance: BalanceAlgorithm;
  readonly endpoints: readonly EndpointConfig[];
  readonly health: HealthConfig;
  /** TLS to the endpoints (`upstream_tls:`, the cluster's or the service's); null: plain TCP. */
  readonly upstreamTls: UpstreamTlsConfig | null;
}

export interface RouteConfig {
  /** Exact host, or "*.suffix"; null matches any host. Lower-case, without port unless given. */
  readonly host: string | null;
  /** Path prefix; null matches any path. */
  readonly path: string | null;
  readonly cluster: string;
}

export interface LimitsConfig {
  readonly maxHeaderBytes: number;
  readonly maxUrlBytes: number;
}

export interface EndpointConfig extends HostPort {
  readonly weight: number;
}

export interface ServiceConfig {
  readonly name: string;
  readonly mode: ServiceMode;
  readonly listen: readonly HostPort[];
  /** The default cluster's balance and endpoints (tcp services use only these). */
  readonly balance: BalanceAlgorithm;
  readonly endpoints: readonly EndpointConfig[];
  readonly health: HealthConfig;
  /** Every cluster by name, the default one ("default", or the routes' catch-all) included. */
  readonly clusters: ReadonlyMap<string, ClusterConfig>;
  /** The cluster that unrouted requests (and every tcp connection) go to. */
  readonly defaultCluster: string;
  /** HTTP routes, first match wins; empty means everything goes to the default cluster. */
  readonly routes: readonly RouteConfig[];
  readonly limits: LimitsConfig;
  readonly timeouts: Timeouts;
  /** Extra endpoints tried when a connect fails, before the client is given up on. */
  readonly retries: number;
  /** Cap on concurrent client connections; null is unlimited. */
  readonly maxConnections: number | null;
  /** Where the default cluster's endpoints are discovered; null: only the static ones. */
  readonly discovery: DiscoveryConfig | null;
  /** Per-request (http) / per-connection (tcp) log; null: none. */
  readonly accessLog: AccessLogConfig | null;
  /** TLS termination; absent: plain TCP / HTTP. */
  readonly tls?: TlsConfig;
  /** HAProxy directives for the HAProxy data plane only (`haproxy:`); null: none. */
  readonly haproxy: HaproxyPassThrough | null;
}

export interface AccessLogConfig {
  /** A file path (appended to), or "stderr". */
  readonly path: string;
  readonly format: AccessLogFormat;
}

export interface Config {
  readonly admin: {
    readonly listen: AdminAddress;
    /** Bearer token of the admin role (may change the config); null: every client that reaches the API is admin. */
    readonly token: string | null;
    /** Bearer token of the read-only role (status, metrics, dashboard data); null: none. */
    readonly readToken: string | null;
    /** What an apply through the admin API does to the config file. */
    readonly apiApply: ApiApplyMode;
    readonly auditLog: string | null;
  };
  /** Services by name, in the order the file lists them. */
  readonly services: ReadonlyMap<string, ServiceConfig>;
  /** `discovery_defaults:` (coalescing window, startup wait). */
  readonly discovery: DiscoverySettings;
  /** This host's own services to keep registered (`register:`). */
  readonly register: readonly RegistrationConfig[];
  /** `dataplane:` — which driver runs the services (fixed for the life of the process). */
  readonly dataplane: DataplaneConfig;
}

export interface DataplaneConfig {
  readonly driver: DataplaneDriverName;
  readonly haproxy: HaproxySettings;
}

export interface HaproxySettings {
  readonly binary: string;
  /** Rendered config, sockets and the server-state file live here. */
  readonly stateDir: string;
  readonly threads: number;
  /** Milliseconds an old worker may keep connections after a reload. */
  readonly hardStopAfter: number;
  /** Reloads an old worker may survive before the master kills it. */
  readonly maxReloads: number;
}

/** A config plus where it came from: the text is what GET /config returns, the hash its ETag. */
export interface ConfigSnapshot {
  readonly config: Config;
  readonly source: string;
  readonly text: string;
  /**
   * SHA-256 of `text` (for a config discovery assembled: of the base's hash and its discovered
   * services' identities). It names what a person wrote, for ETags and If-Match; what a service
   * means, for the plan and the workers, is its identity (service-identity.ts).
   */
  readonly hash: string;
}
