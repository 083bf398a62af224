// The one interface between control and a data plane. Control computes the plan; a driver makes
// the running state match `desired` in two phases: prepare() does everything that can fail and
// changes nothing that serves, then commit() makes it serve or abort() gives back what prepare
// took. An apply is prepare + commit, a validation (POST /config/validate) prepare + abort.
import type { Config } from '../config/model.js';
import type { Plan } from './plan-types.js';
import type { LatencySnapshot } from './latency-histogram.js';
import type { OverrideTable } from './endpoint-override.js';
import type { TlsServiceStatus, UpstreamTlsStatus } from './tls-status.js';

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
  /**
   * How many of the processes that route traffic count it healthy: workers under `hitless run`
   * (each checks on its own), 1 or 0 in one process. `healthy` is the least healthy view, so while
   * workers disagree it is false and this is still above 0: some traffic still goes there.
   */
  readonly healthyIn?: number;
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
  /** Services with upstream_tls: handshakes to endpoints, failures by reason, clusters not verified. */
  readonly upstreamTls?: UpstreamTlsStatus;
  readonly endpoints: readonly EndpointStatus[];
}

export interface DataplaneStatus {
  readonly driver: string;
  /** Process model (hitless run with workers): the generation of workers now serving. */
  readonly generation?: number;
  readonly services: readonly ServiceStatus[];
  readonly listeners: readonly ListenerStatus[];
}

/** What prepare did and what commit would do: POST /config/validate reports it. */
export interface PrepareReport {
  /** Listen addresses prepare bound (bound, not accepting); commit makes them accept, abort closes them. */
  readonly bound: readonly string[];
  /** How commit makes the change serve, in a few words ("swap", "seamless reload", ...). */
  readonly commit: string;
}

/**
 * A change a driver has prepared: every check passed and every resource it needs is held (new
 * listening sockets bound but not accepting, runtimes built, `haproxy -c` passed, every worker
 * prepared), and nothing serves differently yet. Exactly one of commit() and abort() follows, once.
 */
export interface PreparedChange {
  readonly plan: Plan;
  readonly prepared: PrepareReport;
  /**
   * Makes the change serve. The builtin driver's swap cannot fail; where commit can (a HAProxy
   * reload, a first generation of workers that does not start), it throws with the running state
   * as it was and what prepare took released.
   */
  commit(): Promise<ApplyReport>;
  /** Releases everything prepare took and changes nothing. Does not throw. */
  abort(): Promise<void>;
}

export interface Driver {
  readonly name: string;
  /**
   * Prepares `desired`, whose diff from the running config is `plan` (computed once, by the
   * Controller), or throws with nothing changed and nothing held. At most one prepared change is
   * outstanding per driver (the Controller's apply queue guarantees it; drivers assert it).
   */
  prepare(desired: Config, plan: Plan): Promise<PreparedChange>;
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
