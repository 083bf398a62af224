// Prometheus metrics as a pure function of a status snapshot (GET /status + applyStats). Nothing
// is counted here: the data plane already keeps every counter, so a scrape reads them once and
// renders them. Families are prom-client's JSON shape with an aggregator each, so the snapshots of
// several workers merge with prom-client's AggregatorRegistry.aggregate (see renderMetrics).
import { AggregatorRegistry } from 'prom-client';
import type { ListenerStatus, ServiceStatus } from '../dataplane/driver.js';
import type { LatencySnapshot } from '../dataplane/latency-histogram.js';
import { CHANGE_KINDS, type ApplyStatsSnapshot } from './apply-stats.js';
import { discoveryRows } from './discovery-status.js';
import { tlsMetrics, upstreamTlsMetrics } from './tls-metrics.js';

/** The parts of a status document metrics read; anything else in it is ignored. */
export interface MetricsInput {
  readonly pid: number;
  readonly version: string;
  readonly uptimeSeconds: number;
  readonly driver: string;
  /** Process model: the worker generation, when there is one. */
  readonly generation?: number;
  readonly config?: { readonly hash: string; readonly fileDiffers?: boolean | null } | null;
  readonly services: readonly ServiceStatus[];
  readonly listeners: readonly ListenerStatus[];
  readonly applyStats?: ApplyStatsSnapshot;
  readonly discovery?: unknown;
  /** Process model: the supervisor's `process` section of GET /status (upgrades' tunnel counts). */
  readonly process?: { readonly upgrades?: UpgradeMoves };
}

/** What status says of tunnels at code upgrades (process/supervisor-status.ts). */
interface UpgradeMoves {
  readonly movedConnections?: number;
  readonly drainedConnections?: number;
  readonly lostConnections?: number;
  readonly movePauseMs?: { readonly p50: number | null; readonly p99: number | null; readonly max: number | null };
}

type Aggregator = 'sum' | 'max' | 'min' | 'first' | 'omit' | 'average';
type Labels = Record<string, string | number>;
/** prom-client's MetricObjectWithValues, as plain data (no collect()): what workers can send over IPC. */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly aggregator: Aggregator;
  readonly values: Array<{ readonly value: number; readonly labels: Labels; readonly metricName?: string }>;
}

class Families {
  readonly list: MetricFamily[] = [];
  private readonly byName = new Map<string, MetricFamily>();

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string, aggregator: Aggregator = 'sum'): MetricFamily {
    let f = this.byName.get(name);
    if (!f) {
      f = { name, help, type, aggregator, values: [] };
      this.byName.set(name, f);
      this.list.push(f);
    }
    return f;
  }

  add(name: string, type: 'counter' | 'gauge', help: string, labels: Labels, value: number, aggregator?: Aggregator): void {
    this.family(name, type, help, aggregator).values.push({ labels, value });
  }

  /** A histogram from non-cumulative bucket counts in `unit`s; exposed in seconds. */
  histogram(name: string, help: string, labels: Labels, h: LatencySnapshot, unitSeconds: number): void {
    const f = this.family(name, 'histogram', help);
    let cumulative = 0;
    h.boundsMs.forEach((bound, i) => {
      cumulative += h.counts[i];
      f.values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: bound * unitSeconds }, value: cumulative });
    });
    f.values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
    f.values.push({ metricName: `${name}_sum`, labels, value: h.sumMs * unitSeconds });
    f.values.push({ metricName: `${name}_count`, labels, value: h.count });
  }
}

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const LISTENER_STATES = ['warming', 'active', 'draining'] as const;

export function metricFamilies(s: MetricsInput): MetricFamily[] {
  const m = new Families();
  processMetrics(m, s);
  for (const svc of s.services) serviceMetrics(m, svc);
  listenerMetrics(m, s.listeners);
  if (s.applyStats) applyMetrics(m, s.applyStats);
  discoveryMetrics(m, s.discovery);
  configFileMetric(m, s.config);
  return m.list;
}

/** Alertable: an API apply not written to the file, or a file edited but not applied yet. */
function configFileMetric(m: Families, config: MetricsInput['config']): void {
  if (typeof config?.fileDiffers !== 'boolean') return;
  m.add('hitless_config_file_differs', 'gauge', '1 when the config file on disk differs from the running config (SIGHUP or a restart would load something else); absent without a file.', {}, config.fileDiffers ? 1 : 0, 'max');
}

function processMetrics(m: Families, s: MetricsInput): void {
  const info: Labels = { version: s.version, pid: s.pid, driver: s.driver, config_hash: s.config?.hash.slice(0, 12) ?? '' };
  if (s.generation !== undefined) info.generation = s.generation;
  m.add('hitless_info', 'gauge', 'Always 1; the labels say which hitless (version, pid, driver, config hash, generation) is running.', info, 1, 'first');
  m.add('hitless_uptime_seconds', 'gauge', 'Seconds since this process started.', {}, s.uptimeSeconds, 'max');
  if (s.generation !== undefined) m.add('hitless_generation', 'gauge', 'Worker generation (process model); rises with every code upgrade.', {}, s.generation, 'max');
  const u = s.process?.upgrades;
  if (u?.movedConnections === undefined) return;
  const help = 'Long-lived connections (tcp mode, upgraded HTTP) at code upgrades, by outcome: moved to the new generation, drained on the old one (could not be quiesced), lost (a process died mid-move).';
  m.add('hitless_upgrade_connections_total', 'counter', help, { outcome: 'moved' }, u.movedConnections, 'max');
  m.add('hitless_upgrade_connections_total', 'counter', help, { outcome: 'drained' }, u.drainedConnections ?? 0, 'max');
  m.add('hitless_upgrade_connections_total', 'counter', help, { outcome: 'lost' }, u.lostConnections ?? 0, 'max');
  const pause = u.movePauseMs;
  const pauseHelp = 'Pause a moved connection saw at the latest code upgrade (old worker stops reading it -> new worker reads it), by quantile (1 = the longest).';
  for (const [quantile, ms] of [['0.5', pause?.p50], ['0.99', pause?.p99], ['1', pause?.max]] as const) {
    if (typeof ms === 'number') m.add('hitless_upgrade_move_pause_seconds', 'gauge', pauseHelp, { quantile }, ms / 1000, 'max');
  }
}

function serviceMetrics(m: Families, svc: ServiceStatus): void {
  const l = { service: svc.name };
  const unit = svc.mode === 'http' ? 'requests' : 'connections';
  m.add(`hitless_service_${unit}_active`, 'gauge', `Client ${unit} in flight (${svc.mode === 'http' ? 'http' : 'tcp'} services).`, l, svc.active);
  m.add(`hitless_service_${unit}_total`, 'counter', `Client ${unit} accepted (${svc.mode === 'http' ? 'http' : 'tcp'} services).`, l, svc.total);
  if (svc.mode === 'http') {
    for (const c of CLASSES) m.add('hitless_service_responses_total', 'counter', 'HTTP responses sent to clients, by status class.', { ...l, class: c }, svc.responses[c]);
  }
  const errors: Array<[string, number]> = [['rejected', svc.rejected], ['failed', svc.failed]];
  for (const [kind, value] of errors) {
    m.add('hitless_service_errors_total', 'counter', 'Client connections or requests hitless could not serve, by kind: rejected (max_connections), failed (no endpoint served it: a tcp connection closed, or an http answer hitless gave itself).', { ...l, kind }, value);
  }
  // A retry is not an error: the request may well succeed on the next endpoint.
  m.add('hitless_service_retries_total', 'counter', 'Requests (http) or connections (tcp) tried again after an endpoint failed (http: on another endpoint, or on a fresh connection when a pooled one had been closed).', l, svc.retries);
  if (svc.mode === 'http') {
    for (const [code, byError] of Object.entries(svc.localResponses ?? {})) {
      for (const [error, value] of Object.entries(byError)) {
        m.add('hitless_service_local_responses_total', 'counter', 'HTTP answers hitless gave itself instead of an endpoint, by status code and hitless error code (only those that happened).', { ...l, code, error }, value);
      }
    }
  }
  if (svc.bytesIn !== undefined) m.add('hitless_service_bytes_total', 'counter', 'Bytes from clients (in) and to clients (out); http counts bodies.', { ...l, direction: 'in' }, svc.bytesIn);
  if (svc.bytesOut !== undefined) m.add('hitless_service_bytes_total', 'counter', 'Bytes from clients (in) and to clients (out); http counts bodies.', { ...l, direction: 'out' }, svc.bytesOut);
  if (svc.tls) tlsMetrics((name, type, help, labels, value, aggregator) => m.add(name, type, help, labels, value, aggregator), svc.name, svc.tls);
  if (svc.upstreamTls) upstreamTlsMetrics((name, type, help, labels, value, aggregator) => m.add(name, type, help, labels, value, aggregator), svc.name, svc.upstreamTls);
  if (svc.latency && svc.mode === 'http') {
    m.histogram('hitless_http_request_duration_seconds', 'Time from a request being parsed to its response ending (or the client leaving).', l, svc.latency, 0.001);
  }
  for (const e of svc.endpoints) {
    const el = { service: svc.name, cluster: e.cluster, endpoint: e.address };
    m.add('hitless_endpoint_up', 'gauge', '1 when the endpoint receives traffic (active checks up and not ejected), else 0.', el, e.healthy ? 1 : 0, 'min');
    m.add('hitless_endpoint_weight', 'gauge', 'Balancer weight in effect.', el, e.weight, 'max');
    m.add('hitless_endpoint_active', 'gauge', 'Connections (tcp) or requests (http) in flight to the endpoint.', el, e.active);
    m.add('hitless_endpoint_dispatched_total', 'counter', 'Connections (tcp) or requests (http) sent to the endpoint, retries included.', el, e.total);
    m.add('hitless_endpoint_failures_total', 'counter', 'Connect failures, timeouts and (http) 5xx answers of the endpoint.', el, e.failures);
    m.add('hitless_endpoint_ejections_total', 'counter', 'Times passive health took the endpoint out of rotation.', el, e.ejections);
    m.add('hitless_endpoint_bytes_total', 'counter', 'Bytes sent to (in) and received from (out) the endpoint.', { ...el, direction: 'in' }, e.bytesIn);
    m.add('hitless_endpoint_bytes_total', 'counter', 'Bytes sent to (in) and received from (out) the endpoint.', { ...el, direction: 'out' }, e.bytesOut);
    // Only overridden endpoints have the series: `hitless_endpoint_override` alone lists what operators took out.
    const override = (e as { readonly override?: { readonly state: string | null } }).override;
    if (override) m.add('hitless_endpoint_override', 'gauge', 'An operator override is set (hitless endpoint ...): state drain, maint, or ready (a weight override only).', { ...el, state: override.state ?? 'ready' }, 1, 'max');
  }
}

function listenerMetrics(m: Families, listeners: readonly ListenerStatus[]): void {
  // One address can appear twice (a draining socket and its re-bound successor): sum per state.
  const byAddress = new Map<string, { service: string; states: Record<string, number>; connections: number }>();
  for (const l of listeners) {
    const entry = byAddress.get(l.address) ?? { service: '', states: { warming: 0, active: 0, draining: 0 }, connections: 0 };
    if (l.state !== 'closed') entry.states[l.state] = 1;
    if (l.service) entry.service = l.service;
    entry.connections += l.connections;
    byAddress.set(l.address, entry);
  }
  for (const [address, e] of byAddress) {
    for (const state of LISTENER_STATES) {
      m.add('hitless_listener_state', 'gauge', 'Listener state per address (Envoy-style warming/active/draining); 1 for the states it is in.', { address, service: e.service, state }, e.states[state], 'max');
    }
    m.add('hitless_listener_connections', 'gauge', 'Client connections open on the listener.', { address, service: e.service }, e.connections);
  }
}

function applyMetrics(m: Families, a: ApplyStatsSnapshot): void {
  for (const [key, value] of Object.entries(a.count)) {
    const [origin, result] = key.split('/');
    m.add('hitless_applies_total', 'counter', 'Config applies by origin (startup, sighup, reload, admin, discovery, certificates) and result (applied, noop, rejected).', { origin, result }, value);
  }
  m.histogram('hitless_apply_duration_seconds', 'Time an apply took (noops excluded).', {}, a.duration, 0.001);
  for (const kind of CHANGE_KINDS) m.add('hitless_apply_changes_total', 'counter', 'What applies changed, by kind.', { kind }, a.changes[kind]);
  m.add('hitless_last_apply_timestamp_seconds', 'gauge', 'Unix time of the last successful apply (0: none).', {}, a.lastAppliedAt, 'max');
}

function discoveryMetrics(m: Families, discovery: unknown): void {
  for (const row of discoveryRows(discovery)) {
    const l = { service: row.service, source: row.source };
    m.add('hitless_discovery_source_up', 'gauge', '1 when the discovery source currently tells the truth, 0 when it failed (the last known good set stays).', l, row.healthy ? 1 : 0, 'min');
    m.add('hitless_discovery_source_state', 'gauge', 'Discovery source state; 1 for the state it is in.', { ...l, state: row.state }, 1, 'max');
    m.add('hitless_discovery_endpoints', 'gauge', 'Endpoints the source currently provides.', l, row.endpoints, 'max');
    if (row.lastUpdate !== null) m.add('hitless_discovery_last_update_timestamp_seconds', 'gauge', 'Unix time of the last update from the source.', l, row.lastUpdate, 'max');
    if (row.held !== null) m.add('hitless_discovery_held_endpoints', 'gauge', 'Endpoints in a reported set a guard holds instead of applying (min_endpoints, max_drop_percent); absent when none is held.', l, row.held, 'max');
  }
}

/**
 * Renders the exposition text of one or more workers' families. prom-client sums counters and
 * histograms across workers; gauges use the aggregator set above (sum, max, min or first).
 */
export async function renderMetrics(perWorker: readonly MetricFamily[][]): Promise<{ contentType: string; text: string }> {
  const input = perWorker.map((fams) => fams.map(cloneFamily));
  // prom-client's types want its MetricType enum; the values are these same strings.
  const registry = AggregatorRegistry.aggregate(input as unknown as Parameters<typeof AggregatorRegistry.aggregate>[0]);
  return { contentType: registry.contentType, text: await registry.metrics() };
}

/** prom-client's aggregate() reuses value objects; copies keep the callers' snapshots intact. */
function cloneFamily(f: MetricFamily): MetricFamily {
  return { ...f, values: f.values.map((v) => ({ ...v, labels: { ...v.labels } })) };
}
