// The one interface between control and a data plane. Control computes the plan; a driver makes
// the running state match `desired` as one transaction, or throws and leaves everything as it was.
import type { Config } from '../config/model.js';
import type { Plan } from './plan-types.js';
import type { LatencySnapshot } from './latency-histogram.js';
import type { OverrideTable } from './endpoint-override.js';
import type { TlsServiceStatus } from './tls-status.js';

export interface ApplyReport {
  /** Listen addresses bound by this apply. */
  readonly bound: readonly string[];
  /** Listen addresses released (now draining or closed). */
  readonly released: readonly string[];
}

export interface ListenerStatus {
  readonly address: string;
  readonly service: string | null;
  readonly state: 'warming' | 'active' | 'draining' | 'closed';
  readonly since: string;
  /** "socket:[inode]": the same value before and after an apply proves the socket was kept. */
  readonly socket: string | null;
  readonly connections: number;
}

export interface EndpointStatus {
  readonly cluster: string;
  readonly address: string;
  readonly weight: number;
  readonly healthy: boolean;
  /** up, down (active checks) or ejected (passive). */
  readonly health: 'up' | 'down' | 'ejected';
  /**
   * Why the last active health check failed ("connection refused", "timed out", "HTTP 503"):
   * kept while the endpoint is down, cleared once it is up and checks pass; null when they pass
   * (or none are configured). Absent when the data plane does not say.
   */
  readonly checkError?: string | null;
  readonly ejections: number;
  readonly active: number;
  readonly total: number;
  readonly failures: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** Counts by HTTP status code ("503"), then by hitless error code ("HITLESS_ERR_NO_HEALTHY_ENDPOINT"). */
export type LocalResponses = Readonly<Record<string, Readonly<Record<string, number>>>>;

export interface ServiceStatus {
  readonly name: string;
  readonly mode: string;
  readonly balance: string;
  readonly listen: readonly string[];
  readonly active: number;
  readonly total: number;
  readonly rejected: number;
  readonly failed: number;
  readonly retries: number;
  readonly responses: Readonly<Record<'1xx' | '2xx' | '3xx' | '4xx' | '5xx', number>>;
  /**
   * http: the answers hitless gave itself (no endpoint answered), by status code and then by
   * error code ({"431": {"HITLESS_ERR_HEADERS_TOO_LARGE": 2}}); only codes that happened are
   * listed. Optional: the HAProxy data plane does not count its own answers by code.
   */
  readonly localResponses?: LocalResponses;
  /** Bytes from clients / to clients (tcp: whole connections; http: bodies). Optional: not every driver counts them. */
  readonly bytesIn?: number;
  readonly bytesOut?: number;
  /** http: request latency histogram (metrics and the dashboard read it). */
  readonly latency?: LatencySnapshot;
  /** Services with tls: handshakes, failures by reason, versions, SNI matches, certificates and their expiry. */
  readonly tls?: TlsServiceStatus;
  readonly endpoints: readonly EndpointStatus[];
}

export interface DataplaneStatus {
  readonly driver: string;
  /** Process model (hitless run with workers): the generation of workers now serving. */
  readonly generation?: number;
  readonly services: readonly ServiceStatus[];
  readonly listeners: readonly ListenerStatus[];
}

export interface Driver {
  readonly name: string;
  /** Commits `desired` (whose diff from the running config is `plan`) or throws with nothing changed. */
  apply(desired: Config, plan: Plan): Promise<ApplyReport>;
  status(): DataplaneStatus;
  /**
   * Runtime endpoint overrides (endpoint-override.ts): replaces the whole table; resolves once the
   * data plane uses it. The table is kept and applied again to whatever later applies build.
   * Absent: this data plane cannot take overrides (the admin API answers 501).
   */
  setOverrides?(table: OverrideTable): Promise<void>;
  /** Graceful: stop accepting, let connections finish for up to `drainMs`, then close them. Idempotent. */
  close(drainMs: number): Promise<void>;
}
