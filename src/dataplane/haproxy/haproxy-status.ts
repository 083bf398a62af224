// HAProxy's own numbers (`show stat`, `show proc`) in hitless's status shape, plus an `haproxy`
// section: the processes (master, serving worker, old workers still draining) and reloads.
import type { Config } from '../../config/model.js';
import type { TlsConfig } from '../../config/tls-model.js';
import type { DataplaneStatus, EndpointStatus, ListenerStatus, ServiceStatus } from '../driver.js';
import { upstreamTlsStatus } from './upstream-tls.js';
import { backendName, type RenderedConfig } from './render-config.js';
import type { ReloadRecord } from './reloader.js';
import type { ProcEntry, ProcTable, StatRow } from './runtime-api.js';
import { certificateStatuses, type TlsServiceStatus } from '../tls-status.js';

export interface HaproxySection {
  readonly version: string | null;
  readonly configFile: string;
  readonly master: (ProcEntry & { readonly failedReloads: number }) | null;
  readonly worker: ProcEntry | null;
  /** Workers of previous configs still finishing connections (bounded by hard-stop-after / max reloads). */
  readonly oldWorkers: readonly ProcEntry[];
  /** Reloads this hitless asked for (coalesced requests count once). */
  readonly reloads: number;
  readonly lastReload: ReloadRecord | null;
  /** Endpoint changes applied through the runtime API, without a reload. */
  readonly runtimeApplies: number;
  /** Certificates renewed, appended or removed through the runtime API (set/commit ssl cert, add/del ssl crt-list), without a reload. */
  readonly certificateRotations: number;
  readonly runtimeCommands: number;
  /** Removed servers still draining before `del server`. */
  readonly draining: number;
  /** Removed servers whose `del server` kept failing (left in maintenance until the next reload). */
  readonly stuckRemovals: number;
  readonly restarts: number;
  readonly sampledAt: string | null;
}

export type HaproxyDataplaneStatus = DataplaneStatus & { readonly haproxy: HaproxySection };

export interface StatusInputs {
  readonly config: Config | null;
  readonly rendered: RenderedConfig | null;
  readonly stats: readonly StatRow[];
  readonly proc: ProcTable | null;
  readonly startedAt: string;
  readonly haproxy: Omit<HaproxySection, 'master' | 'worker' | 'oldWorkers'>;
}

const num = (row: StatRow | undefined, key: string): number => Number(row?.[key] ?? 0) || 0;

/** HAProxy's own words for a failing check ("Layer4 connection problem", "L7STS 503"), when it has any. */
function checkError(row: StatRow | undefined): string | null {
  const text = row?.last_chk || row?.check_desc || '';
  const status = row?.check_status || '';
  const code = row?.check_code || '';
  if (!text && !status) return null;
  return [status, code, text].filter((x) => x !== '').join(' ');
}

/**
 * HAProxy's frontend TLS counters (its ssl stats module: ssl_sess, ssl_reused_sess,
 * ssl_failed_handshake) and the certificates the config serves. HAProxy 2.6 counts neither
 * versions nor SNI matches, and does not say why a handshake failed: handshakes carry the version
 * "unknown", SNI matches stay empty, and failures carry the one reason "unclassified".
 */
function tlsStatus(config: TlsConfig, fe: StatRow | undefined): TlsServiceStatus {
  const failed = num(fe, 'ssl_failed_handshake');
  return {
    handshakes: num(fe, 'ssl_sess'),
    resumed: num(fe, 'ssl_reused_sess'),
    // hitless_tls_handshakes_total is a series per version: HAProxy's count, under "unknown".
    versions: num(fe, 'ssl_sess') > 0 ? { unknown: num(fe, 'ssl_sess') } : {},
    failures: failed > 0 ? { unclassified: failed } : {},
    sni: {},
    handshaking: 0,
    certificates: certificateStatuses(config),
  };
}

export function buildHaproxyStatus(input: StatusInputs): HaproxyDataplaneStatus {
  const rows = new Map<string, StatRow>();
  for (const row of input.stats) rows.set(`${row.pxname}/${row.svname}`, row);
  const services: ServiceStatus[] = [];
  const listeners: ListenerStatus[] = [];
  for (const service of input.config?.services.values() ?? []) {
    const fe = rows.get(`${service.name}/FRONTEND`);
    const backends = [...service.clusters.keys()].map((c) => rows.get(`${backendName(service.name, c)}/BACKEND`));
    const endpoints: EndpointStatus[] = [];
    for (const cluster of service.clusters.keys()) {
      const spec = input.rendered?.backends.get(backendName(service.name, cluster));
      for (const server of spec?.servers.values() ?? []) {
        const row = rows.get(`${spec!.name}/${server.name}`);
        const state = row?.status ?? 'unknown';
        const healthy = /^(UP|no check|DRAIN|NOLB)/.test(state);
        endpoints.push({
          cluster,
          address: server.endpoint,
          weight: row ? num(row, 'weight') : server.weight,
          healthy,
          health: healthy ? 'up' : 'down',
          checkError: healthy ? null : checkError(row),
          ejections: num(row, 'chkdown'),
          active: num(row, 'scur'),
          total: num(row, 'stot'),
          failures: num(row, 'econ') + num(row, 'eresp'),
          bytesIn: num(row, 'bin'),
          bytesOut: num(row, 'bout'),
        });
      }
    }
    const sum = (key: string) => backends.reduce((n, row) => n + num(row, key), 0);
    services.push({
      name: service.name,
      mode: service.mode,
      balance: service.balance,
      listen: service.listen.map((l) => l.key),
      active: num(fe, 'scur'),
      total: num(fe, 'stot'),
      rejected: num(fe, 'dreq') + num(fe, 'dcon') + num(fe, 'dses'),
      failed: sum('econ') + sum('eresp'),
      retries: sum('wretr'),
      responses: {
        '1xx': num(fe, 'hrsp_1xx'),
        '2xx': num(fe, 'hrsp_2xx'),
        '3xx': num(fe, 'hrsp_3xx'),
        '4xx': num(fe, 'hrsp_4xx'),
        '5xx': num(fe, 'hrsp_5xx'),
      },
      bytesIn: num(fe, 'bin'),
      bytesOut: num(fe, 'bout'),
      ...upstreamTlsStatus(service),
      endpoints,
      ...(service.tls ? { tls: tlsStatus(service.tls, fe) } : {}),
    });
    for (const l of service.listen) {
      // HAProxy owns the sockets (passed from worker to worker on reload); we do not see their inodes.
      listeners.push({ address: l.key, service: service.name, state: 'active', since: input.startedAt, socket: null, connections: num(fe, 'scur') });
    }
  }
  const proc = input.proc;
  return {
    driver: 'haproxy',
    services,
    listeners,
    haproxy: { ...input.haproxy, master: proc?.master ?? null, worker: proc?.workers[0] ?? null, oldWorkers: proc?.oldWorkers ?? [] },
  };
}
