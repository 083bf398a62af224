// synapse's `discovery:` of one service, as a hitless discovery source. ZooKeeper maps one to one
// (hitless reads nerve's entries, as synapse's default decoder does); DNS maps its first host name
// to a dns source and its IP addresses to static endpoints; `base` is static endpoints only. The
// other watchers (cloud APIs, docker, marathon, serversets, etcd v2) have no hitless source.
import { parseHostPort } from '../config/address.js';
import { duration, seconds } from './durations.js';
import { at, isRecord, type Report } from './report.js';
import { isIP } from 'node:net';

export interface DiscoveryResult {
  /** hitless `discovery:` without mode / min_endpoints (synapse.ts adds those); null: none. */
  readonly source: Record<string, unknown> | null;
  /** Static endpoints the source contributes ("ip:port": DNS servers given as IP addresses). */
  readonly endpoints: readonly string[];
  /** False when the method has no hitless source: the service has only its default_servers. */
  readonly mapped: boolean;
  /** Whether backend_port_override was used (DNS); for other sources it is reported by the caller. */
  readonly portOverrideUsed: boolean;
}

const NONE: DiscoveryResult = { source: null, endpoints: [], mapped: false, portOverrideUsed: false };

/** Options every synapse watcher takes (base watcher), and what hitless says about them. */
function commonOption(key: string, value: unknown, path: string, report: Report): boolean {
  switch (key) {
    case 'method':
      return true;
    case 'label_filters':
    case 'label_filter':
      report.skip(at(path, key), value, 'hitless cannot filter registry entries by label: every entry under the path is used', 'register each subset under its own path (a path per label value) and point the service there');
      return true;
    default:
      return false;
  }
}

const OTHER_METHODS: Readonly<Record<string, string>> = {
  ec2tag: 'hitless has no AWS EC2 tag source',
  awstag: 'hitless has no AWS EC2 tag source',
  aws_ecs: 'hitless has no AWS ECS source',
  asg: 'hitless has no AWS auto-scaling group source',
  docker: 'hitless has no docker API source',
  marathon: 'hitless has no Marathon source',
  etcd: "synapse's etcd watcher reads etcd's v2 API; hitless reads v3, where v2 keys are not visible",
  zookeeper_dns: 'hitless has no source that reads host names from ZooKeeper and resolves them',
  zookeeper_recursive: 'hitless reads the children of one znode, not a tree',
  zookeeper_exhibitor: 'hitless connects to ZooKeeper members it is given, not through Exhibitor',
  zookeeper_aurora: "hitless reads nerve's entries, not Aurora serversets",
  file: "synapse's file watcher reads \"host port\" lines; hitless's file source reads a YAML or JSON list",
  multi: 'hitless takes one source per service',
  yarn_slider: 'hitless has no YARN source',
};

/** `discovery:` of the service at `path`; `portOverride` is its backend_port_override. */
export function readDiscovery(discovery: unknown, path: string, portOverride: number | null, report: Report): DiscoveryResult {
  if (!isRecord(discovery)) {
    report.skip(path, discovery, 'expected a mapping with a method');
    return NONE;
  }
  const method = discovery.method;
  switch (method) {
    case 'base':
      for (const [key, value] of Object.entries(discovery)) if (!commonOption(key, value, path, report)) report.skip(at(path, key), value, 'not an option of the base watcher');
      return { source: null, endpoints: [], mapped: true, portOverrideUsed: false };
    case 'zookeeper':
    case 'zookeeper_poll':
      return zookeeper(discovery, path, method, report);
    case 'dns':
      return dns(discovery, path, portOverride, report);
    default: {
      const why = typeof method === 'string' ? OTHER_METHODS[method] ?? `hitless has no "${method}" source` : 'no discovery method';
      report.skip(path, discovery, why, 'hitless discovers from ZooKeeper, etcd v3, DNS or a file: register the instances in one of them');
      return NONE;
    }
  }
}

function zookeeper(d: Record<string, unknown>, path: string, method: string, report: Report): DiscoveryResult {
  const hosts = typeof d.hosts === 'string' ? d.hosts.split(',') : Array.isArray(d.hosts) ? d.hosts : null;
  const good = (hosts ?? []).filter((h): h is string => typeof h === 'string' && parseHostPort(h.trim()).ok).map((h) => h.trim());
  if (hosts === null || good.length === 0 || good.length !== hosts.length) {
    report.skip(at(path, 'hosts'), d.hosts, 'expected ZooKeeper members as "host:port"');
    if (good.length === 0) return NONE;
  }
  if (typeof d.path !== 'string' || !/^\/([^/]+(\/[^/]+)*)?$/.test(d.path)) {
    report.skip(at(path, 'path'), d.path, 'expected an absolute znode path');
    return NONE;
  }
  if (method === 'zookeeper_poll') report.note(path, 'zookeeper_poll is mapped to a watched ZooKeeper source: changes are seen at once rather than at the next poll');
  for (const [key, value] of Object.entries(d)) {
    if (key === 'hosts' || key === 'path' || commonOption(key, value, path, report)) continue;
    const where = at(path, key);
    if (key === 'decode') {
      const decode = isRecord(value) ? value.method : undefined;
      if (decode === 'nerve') continue;
      report.skip(where, value, "hitless reads nerve's entries only (host, port, name, weight, labels), not Finagle serversets", 'register the instances the way nerve does (hitless register)');
      return NONE;
    }
    if (key === 'polling_interval_sec' && method === 'zookeeper_poll') report.skip(where, value, 'hitless watches the znode: a change is seen at once, with no polling');
    else if (key === 'retry_policy') report.skip(where, value, 'hitless retries ZooKeeper itself: another member within the session, a new session after expiry');
    else if (key === 'discovery_jitter') report.skip(where, value, 'hitless does not sleep between discoveries; it folds bursts into one apply', 'discovery_defaults.coalesce (for every service)');
    else if (key === 'generator_config_path' && value === 'disabled') continue; // what hitless does: no settings from znodes
    else if (key === 'generator_config_path') report.skip(where, value, 'hitless takes service settings from its config, never from a znode');
    else report.skip(where, value, 'not an option of the zookeeper watcher');
  }
  if (d.generator_config_path !== 'disabled') report.noteOnce(path, "synapse also read HAProxy settings from the data of a service's znode itself (unless generator_config_path: disabled); hitless does not: check that those znodes hold none");
  return { source: { zookeeper: { hosts: good.join(','), path: d.path } }, endpoints: [], mapped: true, portOverrideUsed: false };
}

function dns(d: Record<string, unknown>, path: string, portOverride: number | null, report: Report): DiscoveryResult {
  const endpoints: string[] = [];
  let source: Record<string, unknown> | null = null;
  const servers = Array.isArray(d.servers) ? d.servers : [];
  if (servers.length === 0) report.skip(at(path, 'servers'), d.servers, 'expected a list of { host, port }');
  let nameserver: string | null = null;
  if (d.nameserver !== undefined) {
    const list = Array.isArray(d.nameserver) ? d.nameserver : [d.nameserver];
    const first = list[0];
    if (typeof first === 'string' && isIP(first) !== 0) nameserver = isIP(first) === 6 ? `[${first}]:53` : `${first}:53`;
    else report.skip(at(path, 'nameserver'), d.nameserver, 'expected the IP address of a resolver');
    if (list.length > 1) report.skip(at(path, 'nameserver'), list.slice(1), 'hitless queries one resolver per source', 'put the resolvers behind one address, or rely on the system resolver');
  }
  const interval = d.check_interval === undefined ? 30_000 : seconds(d.check_interval);
  if (interval === null || interval < 1_000) report.skip(at(path, 'check_interval'), d.check_interval, 'expected seconds (at least 1)');
  let named = false;
  servers.forEach((server: unknown, i) => {
    const where = at(at(path, 'servers'), i);
    if (!isRecord(server) || typeof server.host !== 'string') {
      report.skip(where, server, 'expected { host, port }');
      return;
    }
    const port = portOverride ?? (typeof server.port === 'number' || (typeof server.port === 'string' && /^\d+$/.test(server.port)) ? Number(server.port) : null);
    if (port === null || port < 1 || port > 65535) {
      report.skip(where, server, 'no port: the dns watcher needs a port per server, or backend_port_override');
      return;
    }
    named ||= typeof server.name === 'string';
    if (server.labels !== undefined) report.skip(at(where, 'labels'), server.labels, 'hitless keeps no labels on endpoints found through DNS');
    for (const key of Object.keys(server)) if (!['host', 'port', 'name', 'labels'].includes(key)) report.skip(at(where, key), server[key], 'not an option of a dns server');
    if (isIP(server.host) !== 0) {
      endpoints.push(isIP(server.host) === 6 ? `[${server.host}]:${port}` : `${server.host}:${port}`);
      return;
    }
    if (source !== null) {
      report.skip(where, server, 'hitless resolves one name per service', 'publish one name whose records list every address, or make a service per name');
      return;
    }
    source = {
      dns: { name: server.host, type: 'A', port, ...(nameserver ? { server: nameserver } : {}), ...(interval !== null && interval >= 1_000 ? { max_ttl: duration(interval) } : {}) },
    };
    report.noteOnce(where, "synapse resolved each name to its A and AAAA records every check_interval; hitless resolves its A records (type: AAAA for IPv6) when their TTL runs out, and at least every max_ttl (check_interval)");
  });
  if (named) report.note(at(path, 'servers'), 'hitless names endpoints by their address; the names are not kept');
  for (const [key, value] of Object.entries(d)) {
    if (['servers', 'nameserver', 'check_interval'].includes(key) || commonOption(key, value, path, report)) continue;
    report.skip(at(path, key), value, 'not an option of the dns watcher');
  }
  if (source === null && endpoints.length === 0) return NONE;
  return { source, endpoints, mapped: true, portOverrideUsed: portOverride !== null };
}
