// A nerve config (and its service_conf_dir) as hitless `register:` entries: each service announced
// in ZooKeeper as nerve announces it (an ephemeral sequential znode INSTANCE_ID_<seq> under
// zk_path holding {host, port, name, weight, labels}), while one local check passes. nerve's
// defaults are written out (a check every 0.5s, 100ms timeout, rise 1, fall 1) so that the
// registration behaves as it did.
import { duration, seconds } from './durations.js';
import { readSource } from './read-source.js';
import { at, isRecord, type Report } from './report.js';
import { parseHostPort } from '../config/address.js';

export interface NerveOptions {
  readonly confDir?: string;
  /** In place of the config's instance_id (nerve's --instance_id). */
  readonly instanceId?: string;
  /** Prefix of the report's paths ("nerve" when imported beside a synapse config). */
  readonly root: string;
}

export interface NerveImport {
  readonly register: Array<Record<string, unknown>>;
  readonly files: readonly string[];
}

const DEFAULT_INTERVAL = 500;
const DEFAULT_TIMEOUT = 100;

const SERVICE_KEYS = new Set(['host', 'port', 'reporter_type', 'zk_hosts', 'zk_path', 'check_interval', 'checks', 'weight', 'labels', 'instance_id', 'name']);

const UNNEEDED: Readonly<Record<string, [string, string | null]>> = {
  use_path_encoding: ["hitless writes the entry as the znode's data under INSTANCE_ID_<seq>, which synapse and hitless read; encoding it into the name only shortens listings", null],
  haproxy_server_options: ['hitless writes no haproxy_server_options into its entries: a synapse reading them no longer gets them (e.g. backup)', "give them to the reading side: services.NAME.haproxy.server_options with hitless's HAProxy data plane"],
  ttl_seconds: ['hitless announces with ephemeral znodes, which need no renewal', null],
  check_mocked: ['hitless always runs the check before it announces', 'point the check at something that always answers, such as the service port itself'],
  load_config_from_zk: ['hitless takes its registrations from its config file', null],
};

export async function importNerve(path: string, options: NerveOptions, report: Report): Promise<NerveImport> {
  const source = await readSource(path, report, options.confDir);
  const root = options.root;
  let instanceId: string | null = options.instanceId ?? null;
  for (const [key, value] of Object.entries(source.top)) {
    const where = at(root, key);
    if (key === 'services' || key === 'service_conf_dir') continue;
    if (key === 'instance_id') {
      if (typeof value === 'string' && value.length > 0) instanceId ??= value;
      else report.skip(where, value, 'expected a name');
    } else if (key === 'heartbeat_path') report.skip(where, value, 'hitless touches no heartbeat file', 'watch GET /status (registrations[].registered) or the process itself (systemd)');
    else if (key === 'statsd') report.skip(where, value, 'hitless sends no StatsD metrics', 'scrape GET /metrics (Prometheus) on the admin address');
    else report.skip(where, value, 'not a nerve setting this import knows');
  }
  if (instanceId === null && source.services.size > 0) report.note(at(root, 'instance_id'), 'none given: each entry is named host:port (nerve requires an instance_id; give --instance-id)');
  const register: Array<Record<string, unknown>> = [];
  for (const [name, value] of source.services) {
    const entry = convertService(name, value, at(at(root, 'services'), name), instanceId, report);
    if (entry) register.push(entry);
  }
  return { register, files: source.files };
}

function convertService(name: string, value: unknown, path: string, instanceId: string | null, report: Report): Record<string, unknown> | null {
  if (!isRecord(value)) {
    report.skip(path, value, 'expected a mapping of settings');
    return null;
  }
  const reporter = value.reporter_type ?? 'zookeeper';
  if (reporter !== 'zookeeper') {
    const why =
      reporter === 'etcd'
        ? "nerve's etcd reporter writes etcd's v2 API; hitless writes v3, where v2 readers (synapse's etcd watcher) see nothing"
        : `hitless registers in ZooKeeper or etcd v3, not with a "${String(reporter)}" reporter`;
    report.skip(at(path, 'reporter_type'), reporter, why, 'announce in ZooKeeper (zk_hosts, zk_path), which synapse and hitless both read');
    report.note(path, 'left out, with its reporter settings');
    return null;
  }
  for (const key of Object.keys(value)) {
    if (SERVICE_KEYS.has(key)) continue;
    const where = at(path, key);
    if (key === 'node_type' && value[key] === 'ephemeral_sequential') continue;
    if (key === 'node_type') report.skip(where, value[key], 'hitless announces with ephemeral sequential znodes only (they vanish with the session)');
    else if (UNNEEDED[key]) report.skip(where, value[key], ...UNNEEDED[key]);
    else if (key.startsWith('etcd_')) report.skip(where, value[key], 'an etcd reporter setting, with the zookeeper reporter');
    else report.skip(where, value[key], 'not an option of a nerve service');
  }
  const hosts = Array.isArray(value.zk_hosts) ? value.zk_hosts : typeof value.zk_hosts === 'string' ? value.zk_hosts.split(',') : [];
  const good = hosts.filter((h): h is string => typeof h === 'string' && parseHostPort(h.trim()).ok).map((h) => h.trim());
  if (good.length === 0 || good.length !== hosts.length) report.skip(at(path, 'zk_hosts'), value.zk_hosts, 'expected ZooKeeper members as "host:port"');
  const zkPath = typeof value.zk_path === 'string' && /^\/([^/]+(\/[^/]+)*)?$/.test(value.zk_path) ? value.zk_path : null;
  if (zkPath === null) report.skip(at(path, 'zk_path'), value.zk_path, 'expected an absolute znode path');
  const host = typeof value.host === 'string' && value.host.length > 0 ? value.host : null;
  if (host === null) report.skip(at(path, 'host'), value.host, 'expected the address to announce');
  const port = typeof value.port === 'number' || (typeof value.port === 'string' && /^\d+$/.test(value.port)) ? Number(value.port) : null;
  if (port === null || port < 1 || port > 65535) report.skip(at(path, 'port'), value.port, 'expected a port');
  if (good.length === 0 || zkPath === null || host === null || port === null || port < 1 || port > 65535) {
    report.note(path, 'left out: it cannot be announced without the settings above');
    return null;
  }
  const entry: Record<string, unknown> = { service: name, zookeeper: { hosts: good, path: zkPath }, host, port };
  if (instanceId !== null) entry.name = instanceId;
  if (value.instance_id !== undefined || value.name !== undefined) report.note(path, 'nerve sets instance_id and name itself (the top-level instance_id and the service key); they are not read from a service');
  const weight = weightOf(value.weight, at(path, 'weight'), report);
  if (weight !== null) entry.weight = weight;
  const labels = labelsOf(value.labels, at(path, 'labels'), report);
  if (labels) entry.labels = labels;
  entry.check = checkOf(value, path, host, port, report);
  return entry;
}

function weightOf(value: unknown, path: string, report: Report): number | null {
  if (value === undefined) return null;
  if (!/^\d+$/.test(String(value))) {
    report.skip(path, value, 'nerve refuses a weight that is not a whole number', null);
    return null;
  }
  if (Number(value) > 1000) {
    report.skip(path, value, 'hitless writes weights of 0-1000', 'scale the weights of the service down to 0-1000');
    return null;
  }
  return Number(value);
}

function labelsOf(value: unknown, path: string, report: Report): Record<string, unknown> | null {
  if (value === undefined) return null;
  if (!isRecord(value)) {
    report.skip(path, value, 'expected a mapping of label to value');
    return null;
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[key] = v;
    else report.skip(at(path, key), v, 'hitless writes labels whose values are strings, numbers, true/false or null');
  }
  return Object.keys(out).length > 0 ? out : null;
}

const CHECK_KEYS = new Set(['type', 'host', 'port', 'timeout', 'rise', 'fall', 'uri']);

/** nerve's checks (all must pass) as hitless's one check: the first http check, else the first tcp one. */
function checkOf(service: Record<string, unknown>, path: string, host: string, port: number, report: Report): Record<string, unknown> {
  const interval = service.check_interval === undefined ? DEFAULT_INTERVAL : seconds(service.check_interval);
  if (interval === null || interval < 1) report.skip(at(path, 'check_interval'), service.check_interval, 'expected seconds');
  const check: Record<string, unknown> = { type: 'tcp', interval: duration(interval !== null && interval >= 1 ? interval : DEFAULT_INTERVAL) };
  const checks = Array.isArray(service.checks) ? service.checks : [];
  if (service.checks !== undefined && !Array.isArray(service.checks)) report.skip(at(path, 'checks'), service.checks, 'expected a list of checks');
  const usable = (c: unknown, type: string) => isRecord(c) && c.type === type && (type !== 'http' || typeof c.uri === 'string');
  let primary = checks.findIndex((c) => usable(c, 'http'));
  if (primary < 0) primary = checks.findIndex((c) => usable(c, 'tcp'));
  if (checks.length === 0 || primary < 0) {
    report.note(path, "nerve announced it with no usable check; hitless announces it while a TCP connect to its port succeeds");
    Object.assign(check, { timeout: duration(DEFAULT_TIMEOUT), rise: 1, fall: 1 });
  }
  checks.forEach((c: unknown, i) => {
    const where = at(at(path, 'checks'), i);
    if (i !== primary) {
      const type = isRecord(c) ? c.type : undefined;
      const why =
        type === 'http' || type === 'tcp'
          ? 'hitless announces a service while one check passes'
          : `hitless checks with a TCP connect or an HTTP GET, not a "${String(type)}" check`;
      report.skip(where, c, why, 'make one HTTP health endpoint that checks the rest (the service itself, its dependencies)');
      return;
    }
    const chosen = c as Record<string, unknown>;
    check.type = chosen.type;
    if (chosen.type === 'http') check.path = chosen.uri;
    if (chosen.host !== undefined && chosen.host !== host) report.skip(at(where, 'host'), chosen.host, 'hitless checks the announced host', 'announce the host that is checked');
    if (chosen.port !== undefined) {
      const checkPort = /^\d+$/.test(String(chosen.port)) ? Number(chosen.port) : null;
      if (checkPort === null || checkPort < 1 || checkPort > 65535) report.skip(at(where, 'port'), chosen.port, 'expected a port');
      else if (checkPort !== port) check.port = checkPort;
    }
    const timeout = chosen.timeout === undefined ? DEFAULT_TIMEOUT : seconds(chosen.timeout);
    if (timeout === null || timeout < 1) report.skip(at(where, 'timeout'), chosen.timeout, 'expected seconds');
    check.timeout = duration(timeout !== null && timeout >= 1 ? timeout : DEFAULT_TIMEOUT);
    for (const key of ['rise', 'fall'] as const) {
      const n = chosen[key] === undefined ? 1 : /^\d+$/.test(String(chosen[key])) ? Number(chosen[key]) : 0;
      if (n < 1 || n > 100) report.skip(at(where, key), chosen[key], 'hitless takes 1 to 100');
      check[key] = n >= 1 && n <= 100 ? n : 1;
    }
    for (const key of Object.keys(chosen)) {
      if (CHECK_KEYS.has(key)) continue;
      const value = chosen[key];
      if (key === 'name') report.skip(at(where, key), value, 'hitless logs a check under its service and address');
      else if (key === 'ssl') report.skip(at(where, key), value, "hitless's http check speaks plain HTTP", 'check a plain-HTTP health port, or use a tcp check');
      else if (key === 'read_timeout' || key === 'open_timeout' || key === 'ssl_timeout') report.skip(at(where, key), value, 'hitless has one timeout for the whole check (check.timeout, from timeout)');
      else if (key === 'headers') report.skip(at(where, key), value, "hitless's http check sends no extra headers");
      else if (key === 'expect') report.skip(at(where, key), value, "hitless's http check passes on any 2xx answer; it does not look at the body");
      else report.skip(at(where, key), value, `not an option of a nerve ${String(chosen.type)} check`);
    }
  });
  return check;
}
