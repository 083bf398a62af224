// What each config key means, for docs/configuration.md (scripts/gen-config-doc.ts walks the
// schema for the keys, their types and bounds; DEFAULTS gives the defaults; this gives the prose).
// Paths use "*" for map keys and "[]" for list items. A key missing here is listed as
// undocumented by the generator, and `--check` fails on it.
import { DEFAULTS } from '../src/config/schema.js';

const ms = (n: number): string => (n % 3_600_000 === 0 ? `${n / 3_600_000}h` : n % 60_000 === 0 ? `${n / 60_000}m` : n % 1000 === 0 ? `${n / 1000}s` : `${n}ms`);
const t = DEFAULTS.timeouts;
const h = DEFAULTS.health;

export interface KeyText {
  readonly text: string;
  /** Overrides the type the walker infers (strings parsed by our own functions look like "any"). */
  readonly type?: string;
  readonly default?: string;
}

const DURATION = 'duration (500ms, 2s, 10m, 1h)';

const timeouts = (prefix: string): Record<string, KeyText> => ({
  [`${prefix}`]: { text: 'Timeouts.' },
  [`${prefix}.connect`]: { type: DURATION, default: ms(t.connect), text: "Time for an endpoint's TCP handshake before the next endpoint is tried." },
  [`${prefix}.idle`]: { type: DURATION, default: `${ms(t.idle)} (tcp), ${ms(DEFAULTS.httpIdle)} (http keep-alive)`, text: 'Without traffic for this long, a proxied connection is closed (0: never).' },
  [`${prefix}.drain`]: { type: DURATION, default: ms(t.drain), text: 'Connections of a removed listener or service may finish for this long, then are closed.' },
  [`${prefix}.header`]: { type: DURATION, default: ms(t.header), text: "HTTP: time to receive a request's headers (slowloris guard); 408 after it." },
  [`${prefix}.response`]: { type: DURATION, default: ms(t.response), text: 'HTTP: time for an endpoint to start its response; 504 after it.' },
});

const health = (prefix: string): Record<string, KeyText> => ({
  [prefix]: { text: 'Health checking of the endpoints.' },
  [`${prefix}.active`]: { text: 'Active checks; absent: endpoints are presumed up.' },
  [`${prefix}.active.type`]: { default: h.type, text: 'A TCP connect, or an HTTP GET expecting 2xx/3xx.' },
  [`${prefix}.active.path`]: { default: h.path, text: 'HTTP check path.' },
  [`${prefix}.active.interval`]: { type: DURATION, default: ms(h.interval), text: 'Time between checks of one endpoint.' },
  [`${prefix}.active.timeout`]: { type: DURATION, default: ms(h.timeout), text: 'A check slower than this fails.' },
  [`${prefix}.active.rise`]: { default: String(h.rise), text: 'Consecutive successes that bring a down endpoint up.' },
  [`${prefix}.active.fall`]: { default: String(h.fall), text: 'Consecutive failures that take an up endpoint down.' },
  [`${prefix}.passive`]: { text: 'Passive ejection from live traffic; absent: none.' },
  [`${prefix}.passive.consecutive_failures`]: { default: String(DEFAULTS.passive.consecutiveFailures), text: 'Consecutive connect failures (or http 5xx) that eject an endpoint.' },
  [`${prefix}.passive.ejection`]: { type: DURATION, default: ms(DEFAULTS.passive.ejection), text: 'How long an ejected endpoint stays out.' },
});

const limits = (prefix: string): Record<string, KeyText> => ({
  [prefix]: { text: 'HTTP request limits.' },
  [`${prefix}.max_header_bytes`]: { default: String(DEFAULTS.limits.maxHeaderBytes), text: 'Largest request header block; 431 beyond.' },
  [`${prefix}.max_url_bytes`]: { default: String(DEFAULTS.limits.maxUrlBytes), text: 'Longest request target; 414 beyond.' },
});

const endpoints = (prefix: string): Record<string, KeyText> => ({
  [prefix]: { text: 'Endpoints: "host:port" strings, or maps with address and weight.' },
  [`${prefix}[]`]: { type: '"host:port" or map', text: 'One endpoint; hostnames are resolved at connect time.' },
  [`${prefix}[].address`]: { type: '"host:port"', text: 'The endpoint address.' },
  [`${prefix}[].weight`]: { default: String(DEFAULTS.weight), text: 'Share of traffic relative to the other endpoints; 0 drains it.' },
});

export const KEY_TEXT: Record<string, KeyText> = {
  admin: { text: 'The admin API (status, config, metrics, dashboard).' },
  'admin.listen': { type: '"unix:/path" or "ip:port"', default: 'unix:$TMPDIR/hitless-admin.sock (os.tmpdir())', text: 'Where the admin API listens. A unix socket is created with mode 0600. A non-loopback TCP address requires admin.token (the config is refused otherwise).' },
  'admin.token': { text: 'Bearer token every admin request must carry (Authorization: Bearer TOKEN), 16 characters or more. Compared in constant time.' },
  'admin.audit_log': { text: 'File that gets one append-only JSON line per config change (time, origin, peer, hashes, diff); created with mode 0600. Absent: audit lines go to the main log (msg "audit").' },
  defaults: { text: 'Settings every service inherits unless it sets its own.' },
  'defaults.balance': { default: DEFAULTS.balance, text: 'Default balancing algorithm.' },
  ...timeouts('defaults.timeouts'),
  ...health('defaults.health'),
  ...limits('defaults.limits'),
  'defaults.retries': { default: String(DEFAULTS.retries), text: 'Default number of other endpoints tried after a failed connect.' },
  'defaults.max_connections': { default: 'unlimited', text: 'Default cap on concurrent client connections per service.' },
  services: { text: 'The services, by name (letters, digits, ".", "_", "-").' },
  'services.*': { text: 'One service: what it listens on and where it sends traffic.' },
  'services.*.mode': { default: DEFAULTS.mode, text: 'tcp: bytes are spliced; http: requests are parsed, routed and balanced one by one.' },
  'services.*.listen': { type: '"ip:port" or list', text: 'Listen address(es); literal IPs, "localhost" or "*". An address stays bound across applies as long as some service lists it.' },
  'services.*.listen[]': { type: '"ip:port"', text: 'One listen address.' },
  'services.*.balance': { default: DEFAULTS.balance, text: 'Balancing algorithm of the default cluster.' },
  ...endpoints('services.*.endpoints'),
  ...health('services.*.health'),
  'services.*.clusters': { text: 'HTTP: named groups of endpoints that routes send requests to.' },
  'services.*.clusters.*': { text: 'One cluster.' },
  'services.*.clusters.*.balance': { default: 'the service balance', text: 'Balancing algorithm of the cluster.' },
  ...endpoints('services.*.clusters.*.endpoints'),
  ...health('services.*.clusters.*.health'),
  'services.*.routes': { text: 'HTTP: first match wins; a route without host and path is the catch-all.' },
  'services.*.routes[]': { text: 'One route.' },
  'services.*.routes[].host': { text: 'Exact host or "*.suffix" (optionally with :port).' },
  'services.*.routes[].path': { text: 'Path prefix.' },
  'services.*.routes[].cluster': { text: 'The cluster matching requests go to.' },
  ...timeouts('services.*.timeouts'),
  ...limits('services.*.limits'),
  'services.*.retries': { default: String(DEFAULTS.retries), text: 'Other endpoints tried after a failed connect (http: also idempotent requests whose reused connection was reset).' },
  'services.*.max_connections': { default: 'unlimited', text: 'Cap on concurrent client connections; tcp connections beyond it are closed at once, counted as rejected. With worker processes (`hitless run --workers N`, the default) each worker enforces its share, ceil(max_connections / N): the kernel spreads connections over the workers, so a connection may be refused by a full worker while another has room, and the total can reach N × ceil(max_connections / N).' },
  'services.*.access_log': { text: 'One line per request (http) or connection (tcp); see docs/access-log.md.' },
  'services.*.access_log.path': { type: 'path or "stderr"', text: 'File to append to (created if missing, reopened on SIGHUP for logrotate), or "stderr". Buffered: lines reach the file within a second.' },
  'services.*.access_log.format': { default: DEFAULTS.accessLogFormat, text: 'json (one object per line) or combined (nginx combined + key=value fields).' },
  'services.*.discovery': { text: "Where the default cluster's endpoints are discovered (ZooKeeper, etcd, DNS, a file); see the discovery documentation." },
};
