// A synapse config (and its service_conf_dir) as hitless `services:`. Each synapse service is one
// hitless service listening where synapse's HAProxy frontend listened (bind_address:port, shifted
// by --port-offset to run beside synapse), with synapse's discovery as its discovery source,
// default_servers as static endpoints, and its HAProxy lines and server options as hitless
// settings — or, with --dataplane haproxy, passed through to the HAProxy hitless drives when they
// are on the allow-list. Everything else is reported (report.ts).
import { isIP } from 'node:net';
import { parseHostPort } from '../config/address.js';
import { duration, haproxyTime } from './durations.js';
import { copySettings, emptySettings, readLines, type LineContext, type ProxySettings } from './haproxy-lines.js';
import { readSource } from './read-source.js';
import { at, isRecord, type Report } from './report.js';
import { readServerOptions, type ServerOptions } from './server-options.js';
import { readDiscovery } from './synapse-discovery.js';

export interface SynapseOptions {
  readonly dataplane: 'builtin' | 'haproxy';
  /** Added to every listen port, so that hitless can run beside synapse during a rollout. */
  readonly portOffset: number;
  /** In place of the config's service_conf_dir. */
  readonly confDir?: string;
}

export interface SynapseImport {
  readonly services: Record<string, Record<string, unknown>>;
  /** `dataplane:` for the output (null: the builtin default). */
  readonly dataplane: Record<string, unknown> | null;
  readonly files: readonly string[];
}

interface Globals {
  readonly ctx: LineContext;
  readonly options: SynapseOptions;
  readonly defaults: ProxySettings;
  bindAddress: string | null;
  readonly haproxySettings: Record<string, unknown>;
  /** Listen address → the service that took it. */
  readonly listens: Map<string, string>;
}

const NO_RELOAD = 'hitless applies a change inside the running process: there is nothing to reload';

/** Keys of synapse's top-level `haproxy:` that hitless has no use for, with why. */
const TOP_HAPROXY_UNNEEDED: Readonly<Record<string, [string, string | null]>> = {
  reload_command: [NO_RELOAD, null],
  do_reloads: [NO_RELOAD, null],
  restart_interval: [NO_RELOAD, null],
  restart_jitter: [NO_RELOAD, null],
  config_file_path: ['hitless keeps the running config in memory (the HAProxy data plane writes its haproxy.cfg into dataplane.haproxy.state_dir)', null],
  do_writes: ['hitless keeps the running config in memory (the HAProxy data plane writes its haproxy.cfg into dataplane.haproxy.state_dir)', null],
  socket_file_path: ["the HAProxy data plane talks to HAProxy's runtime API on its own socket; the builtin one needs none", null],
  do_socket: ["the HAProxy data plane talks to HAProxy's runtime API on its own socket; the builtin one needs none", null],
  state_file_path: ['hitless keeps no file of past endpoints: while the registry fails, the last known good set stays in effect, and a restart reads the registry again', null],
  state_file_ttl: ['hitless keeps no file of past endpoints: while the registry fails, the last known good set stays in effect, and a restart reads the registry again', null],
  shared_frontend: ['hitless gives each service its own listen address', 'an http service with routes: and clusters: serves several sites on one port (with static endpoints)'],
};

export async function importSynapse(path: string, options: SynapseOptions, report: Report): Promise<SynapseImport> {
  const source = await readSource(path, report, options.confDir);
  const g: Globals = {
    ctx: { report, passThrough: options.dataplane === 'haproxy' },
    options,
    defaults: emptySettings(),
    bindAddress: null,
    haproxySettings: {},
    listens: new Map(),
  };
  for (const [key, value] of Object.entries(source.top)) {
    if (key === 'services' || key === 'service_conf_dir') continue;
    if (key === 'haproxy') readTopHaproxy(value, g);
    else if (key === 'file_output') report.skip(key, value, 'hitless writes no files of the endpoints it discovered', 'read them from GET /status (services[].endpoints) or hitless status --json');
    else if (key === 'statsd') report.skip(key, value, 'hitless sends no StatsD metrics', 'scrape GET /metrics (Prometheus) on the admin address');
    else report.skip(key, value, 'synapse treats another top-level section as a config generator (a plugin such as nginx); hitless is the proxy itself');
  }
  const services: Record<string, Record<string, unknown>> = {};
  for (const [name, value] of source.services) {
    const converted = convertService(name, value, g);
    if (converted) services[converted.name] = converted.service;
  }
  if (options.dataplane === 'haproxy') report.note('dataplane', 'the HAProxy data plane runs in one process: start it with hitless run --workers 0');
  const dataplane = options.dataplane === 'haproxy' ? { driver: 'haproxy', ...(Object.keys(g.haproxySettings).length > 0 ? { haproxy: g.haproxySettings } : {}) } : null;
  return { services, dataplane, files: source.files };
}

function readTopHaproxy(value: unknown, g: Globals): void {
  const report = g.ctx.report;
  if (!isRecord(value)) {
    report.skip('haproxy', value, 'expected a mapping');
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    const where = at('haproxy', key);
    if (key === 'defaults') readLines(v, 'defaults', where, g.defaults, g.ctx);
    else if (key === 'global') readGlobal(v, where, g);
    else if (key === 'bind_address') {
      if (typeof v === 'string') g.bindAddress = v;
      else report.skip(where, v, 'expected an address');
    } else if (key === 'extra_sections') {
      if (!isRecord(v)) report.skip(where, v, 'expected a mapping of section title to lines');
      else {
        for (const [title, lines] of Object.entries(v)) {
          const stats = /^listen\s+stats\b/i.test(title) || (Array.isArray(lines) && lines.some((l) => typeof l === 'string' && /^\s*stats\s+(enable|uri)\b/.test(l)));
          report.skip(at(where, title), lines, 'hitless renders every section itself', stats ? 'GET /metrics, GET /status and the dashboard on the admin address' : 'make it a hitless service');
        }
      }
    } else if (TOP_HAPROXY_UNNEEDED[key]) report.skip(where, v, ...TOP_HAPROXY_UNNEEDED[key]);
    else report.skip(where, v, "not an option of synapse's haproxy section");
  }
}

function readGlobal(lines: unknown, path: string, g: Globals): void {
  const list = Array.isArray(lines) ? lines : [lines];
  list.forEach((raw, i) => {
    const where = Array.isArray(lines) ? at(path, i) : path;
    const words = typeof raw === 'string' ? raw.trim().split(/\s+/) : [];
    if (g.options.dataplane === 'haproxy' && words[0] === 'nbthread' && /^\d+$/.test(words[1] ?? '') && Number(words[1]) >= 1 && Number(words[1]) <= 64) {
      g.haproxySettings.threads = Number(words[1]);
      return;
    }
    const hardStop = words[0] === 'hard-stop-after' ? haproxyTime(words[1] ?? '') : null;
    if (g.options.dataplane === 'haproxy' && hardStop !== null && hardStop > 0) {
      g.haproxySettings.hard_stop_after = duration(hardStop);
      return;
    }
    const why =
      g.options.dataplane === 'haproxy'
        ? "hitless renders HAProxy's global section itself (master-worker, its own runtime API socket, its buffers)"
        : "hitless is not HAProxy: its process settings are hitless run's (--workers) and its systemd unit's";
    g.ctx.report.skip(where, raw, why, words[0] === 'maxconn' ? "cap each service's clients with max_connections" : null);
  });
}

/** A synapse service name as a hitless one (letters, digits, ".", "_", "-"). */
function serviceName(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9_.-]/g, '_');
  return /^[A-Za-z0-9]/.test(clean) ? clean : `s${clean}`;
}

const SERVICE_KEYS = new Set(['discovery', 'default_servers', 'keep_default_servers', 'use_previous_backends', 'backend_port_override', 'haproxy', 'leader_election']);
const HAPROXY_KEYS = new Set(['port', 'bind_address', 'frontend', 'backend', 'listen', 'server_options', 'server_port_override', 'disabled']);
const HAPROXY_UNNEEDED: Readonly<Record<string, [string, string | null]>> = {
  bind_options: ['hitless listens without TLS or PROXY-protocol options here', 'terminate TLS in front of hitless, or keep this service on synapse'],
  backend_name: ['hitless names its HAProxy backends itself; the name mattered only to shared_frontend and extra_sections', null],
  backend_order: ["hitless's balancer orders the endpoints itself", null],
  cookie_value_method: ['hitless keeps no sticky sessions', 'balance: source-hash keeps a client address on one endpoint'],
  shared_frontend: ['hitless gives each service its own listen address', 'an http service with routes: and clusters: serves several sites on one port (with static endpoints)'],
};

function convertService(synapseName: string, value: unknown, g: Globals): { name: string; service: Record<string, unknown> } | null {
  const report = g.ctx.report;
  const path = at('services', synapseName);
  if (!isRecord(value)) {
    report.skip(path, value, 'expected a mapping of settings');
    return null;
  }
  const name = serviceName(synapseName);
  if (name !== synapseName) report.note(path, `named "${name}" in hitless (service names use letters, digits, ".", "_" and "-")`);
  const hp = value.haproxy;
  const hpPath = at(path, 'haproxy');
  if (!isRecord(hp)) {
    report.skip(hpPath, hp, 'no haproxy section: synapse configured no HAProxy for this service', 'give it a haproxy: { port } to have hitless serve it');
    return null;
  }
  if (hp.disabled === true) {
    report.skip(at(hpPath, 'disabled'), true, 'synapse configures no HAProxy for this service, so neither does the import');
    return null;
  }
  for (const key of Object.keys(value)) {
    if (SERVICE_KEYS.has(key)) continue;
    report.skip(at(path, key), value[key], key === 'nginx' || key === 'file_output' ? `settings for synapse's ${key} config generator; hitless is the proxy itself` : 'not an option of a synapse service');
  }
  for (const key of Object.keys(hp)) {
    if (HAPROXY_KEYS.has(key)) continue;
    if (HAPROXY_UNNEEDED[key]) report.skip(at(hpPath, key), hp[key], ...HAPROXY_UNNEEDED[key]);
    else report.skip(at(hpPath, key), hp[key], "not an option of a service's haproxy section");
  }
  const listen = listenAddress(hp, hpPath, name, g);
  if (!listen) return null;

  const settings = copySettings(g.defaults);
  readLines(hp.frontend, 'frontend', at(hpPath, 'frontend'), settings, g.ctx);
  readLines(hp.backend, 'backend', at(hpPath, 'backend'), settings, g.ctx);
  readLines(hp.listen, 'listen', at(hpPath, 'listen'), settings, g.ctx);
  const serverOptions = readServerOptions(hp.server_options, at(hpPath, 'server_options'), g.ctx);

  const override = portOverride(value, hp, path, report);
  const endpoints = defaultServers(value.default_servers, at(path, 'default_servers'), override, report);
  const discovery = value.discovery === undefined ? null : readDiscovery(value.discovery, at(path, 'discovery'), override, report);
  if (override !== null && discovery?.source && !discovery.portOverrideUsed) {
    report.skip(value.backend_port_override !== undefined ? at(path, 'backend_port_override') : at(hpPath, 'server_port_override'), override, 'hitless connects to the port each registry entry announces', 'register the port the clients should use');
  }
  const found = discovery?.endpoints ?? [];
  if (value.discovery === undefined) report.skip(at(path, 'discovery'), undefined, 'a synapse service needs a discovery method');
  if (endpoints.length === 0 && found.length === 0 && !discovery?.source) {
    report.note(path, 'left out: it has no endpoint source hitless can use (see above)');
    return null;
  }
  const service: Record<string, unknown> = { mode: settings.mode ?? 'tcp', listen };
  if (settings.balance) service.balance = settings.balance;
  const statics = [...found, ...endpoints];
  if (statics.length > 0) service.endpoints = [...new Set(statics)];
  const health = healthOf(settings, serverOptions, at(hpPath, 'server_options'), report);
  if (health) service.health = health;
  const timeouts = timeoutsOf(settings, service.mode as 'tcp' | 'http', hpPath, report);
  if (Object.keys(timeouts).length > 0) service.timeouts = timeouts;
  if (settings.retries !== undefined) service.retries = settings.retries;
  if (settings.maxconn !== undefined) service.max_connections = settings.maxconn;
  if (discovery?.source) service.discovery = discoveryOf(discovery.source, value, path, found.length > 0, endpoints.length > 0, report);
  else readDiscoveryFlags(value, path, report, false);
  const pass = passThroughOf(settings, serverOptions);
  if (pass) service.haproxy = pass;
  return { name, service };
}

function listenAddress(hp: Record<string, unknown>, hpPath: string, name: string, g: Globals): string | null {
  const report = g.ctx.report;
  if (!('port' in hp)) {
    report.skip(hpPath, hp, 'no port: synapse made only a backend, reached through shared_frontend or extra_sections; a hitless service always listens', 'give the service a haproxy.port');
    return null;
  }
  const port = typeof hp.port === 'number' || (typeof hp.port === 'string' && /^\d+$/.test(hp.port)) ? Number(hp.port) : null;
  if (port === null) {
    report.skip(at(hpPath, 'port'), hp.port, 'hitless listens on TCP ports (synapse binds bind_address alone, e.g. a unix socket, when port is null)');
    return null;
  }
  const shifted = port + g.options.portOffset;
  if (port < 1 || shifted > 65535) {
    report.skip(at(hpPath, 'port'), hp.port, `port ${port}${g.options.portOffset ? ` + offset ${g.options.portOffset}` : ''} is outside 1-65535`);
    return null;
  }
  let host = typeof hp.bind_address === 'string' ? hp.bind_address : (g.bindAddress ?? 'localhost');
  if (host === 'localhost' || host === '*') host = host === '*' ? '0.0.0.0' : '127.0.0.1';
  if (isIP(host) === 0) {
    report.skip(at(hpPath, 'bind_address'), host, 'hitless listens on IP addresses', 'give the address this name resolves to');
    return null;
  }
  const address = isIP(host) === 6 ? `[${host}]:${shifted}` : `${host}:${shifted}`;
  const owner = g.listens.get(address);
  if (owner) {
    report.skip(at(hpPath, 'port'), hp.port, `listen address ${address} is already the service "${owner}"'s`);
    return null;
  }
  g.listens.set(address, name);
  return address;
}

function portOverride(value: Record<string, unknown>, hp: Record<string, unknown>, path: string, report: Report): number | null {
  const raw = value.backend_port_override ?? hp.server_port_override;
  if (raw === undefined || raw === null) return null;
  if (/^\d+$/.test(String(raw)) && Number(raw) >= 1 && Number(raw) <= 65535) return Number(raw);
  report.skip(value.backend_port_override !== undefined ? at(path, 'backend_port_override') : at(at(path, 'haproxy'), 'server_port_override'), raw, 'not a port');
  return null;
}

function defaultServers(list: unknown, path: string, override: number | null, report: Report): string[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) {
    report.skip(path, list, 'expected a list of { name, host, port }');
    return [];
  }
  const out: string[] = [];
  let named = false;
  list.forEach((server: unknown, i) => {
    const where = at(path, i);
    const port = isRecord(server) ? (override ?? server.port) : undefined;
    const text = isRecord(server) && typeof server.host === 'string' ? `${isIP(server.host) === 6 ? `[${server.host}]` : server.host}:${String(port)}` : '';
    if (!isRecord(server) || !parseHostPort(text).ok) {
      report.skip(where, server, 'expected { name, host, port }');
      return;
    }
    for (const key of Object.keys(server)) if (!['name', 'host', 'port'].includes(key)) report.skip(at(where, key), server[key], 'not an option of a default server');
    named ||= typeof server.name === 'string';
    out.push(text);
  });
  if (named) report.note(path, 'hitless names endpoints by their address; the names are not kept');
  return out;
}

function healthOf(settings: ProxySettings, server: ServerOptions, serverPath: string, report: Report): Record<string, unknown> | null {
  const h = server.health;
  const health: Record<string, unknown> = {};
  if (h.check) {
    const inter = h.inter ?? 2_000;
    health.active = {
      type: settings.httpchk ? 'http' : 'tcp',
      ...(settings.httpchk ? { path: settings.httpchk.path } : {}),
      interval: duration(inter),
      // Without `timeout check`, HAProxy gives a whole check `inter`.
      timeout: duration(settings.timeouts.check ?? inter),
      rise: h.rise ?? 2,
      fall: h.fall ?? 3,
    };
  } else if (settings.httpchk) {
    report.skip(settings.httpchk.at, settings.httpchk.line, 'no server has the check keyword, so HAProxy ran no check', 'add check to server_options');
  }
  if (h.observe) {
    health.passive = { consecutive_failures: h.observe.errorLimit };
    report.noteOnce(serverPath, 'observe: an endpoint ejected after error-limit errors in a row returns after health.passive.ejection (10s), where HAProxy returned it after rise good checks');
  }
  return Object.keys(health).length > 0 ? health : null;
}

function timeoutsOf(settings: ProxySettings, mode: 'tcp' | 'http', hpPath: string, report: Report): Record<string, string> {
  const t = settings.timeouts;
  const out: Record<string, string> = {};
  if (t.connect !== undefined) out.connect = duration(t.connect);
  if (mode === 'tcp') {
    // A tcp connection idles out when either side's timeout runs out: the shorter one.
    const sides = [t.client, t.server].filter((v): v is number => v !== undefined);
    if (sides.length > 0) out.idle = duration(Math.min(...sides));
    if (sides.length === 2 && t.client !== t.server) report.note(hpPath, `timeout client ${duration(t.client!)} and timeout server ${duration(t.server!)} are one idle timeout in hitless: the shorter, ${out.idle}`);
    for (const name of ['http-request', 'http-keep-alive'] as const) {
      if (t[name] !== undefined) report.skip(hpPath, `timeout ${name} ${duration(t[name])}`, 'an HTTP timeout in a tcp service');
    }
  } else {
    // HAProxy falls back on `timeout client` for both when they are not set.
    const header = t['http-request'] ?? t.client;
    const idle = t['http-keep-alive'] ?? t['http-request'] ?? t.client;
    if (header !== undefined) out.header = duration(header);
    if (idle !== undefined) out.idle = duration(idle);
    if (t.server !== undefined) out.response = duration(t.server);
  }
  return out;
}

function discoveryOf(source: Record<string, unknown>, value: Record<string, unknown>, path: string, dnsStatics: boolean, defaults: boolean, report: Report): Record<string, unknown> {
  const discovery: Record<string, unknown> = { ...source };
  const keep = value.keep_default_servers === true;
  if (keep || dnsStatics) discovery.mode = 'add';
  if (defaults && !keep) {
    if (dnsStatics) report.skip(at(path, 'default_servers'), value.default_servers, 'the servers given as IP addresses are always in use here, so default servers could not be kept apart as a fallback', 'list them as dns servers, or leave them out');
    else report.note(at(path, 'default_servers'), 'static endpoints serve until the source first answers; after that an empty source keeps its last known good set (min_endpoints), where synapse went back to the default servers');
  }
  readDiscoveryFlags(value, path, report, true);
  if (value.use_previous_backends === false) discovery.min_endpoints = 0;
  return discovery;
}

/** keep_default_servers, use_previous_backends and leader_election, wherever they are not consumed. */
function readDiscoveryFlags(value: Record<string, unknown>, path: string, report: Report, withSource: boolean): void {
  if (!withSource && value.keep_default_servers !== undefined) report.skip(at(path, 'keep_default_servers'), value.keep_default_servers, 'no discovery source to keep them beside: the default servers are the endpoints');
  if (!withSource && value.use_previous_backends !== undefined) report.skip(at(path, 'use_previous_backends'), value.use_previous_backends, 'no discovery source: nothing to remember');
  if (value.use_previous_backends !== undefined && typeof value.use_previous_backends !== 'boolean') report.skip(at(path, 'use_previous_backends'), value.use_previous_backends, 'expected true or false');
  if (value.keep_default_servers !== undefined && typeof value.keep_default_servers !== 'boolean') report.skip(at(path, 'keep_default_servers'), value.keep_default_servers, 'expected true or false');
  if (value.leader_election !== undefined && value.leader_election !== false) report.skip(at(path, 'leader_election'), value.leader_election, 'hitless sends traffic to every endpoint, never to one elected leader');
}

function passThroughOf(settings: ProxySettings, server: ServerOptions): Record<string, unknown> | null {
  const out: Record<string, unknown> = {};
  if (settings.frontend.length > 0) out.frontend = settings.frontend;
  if (settings.backend.length > 0) out.backend = settings.backend;
  if (server.pass.length > 0) out.server_options = server.pass.join(' ');
  return Object.keys(out).length > 0 ? out : null;
}
