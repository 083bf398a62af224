// synapse's per-service HAProxy lines (`frontend`, `backend`, `listen`, and the global `defaults`)
// read into hitless settings. Each line is mapped (mode, balance, timeouts, retries, maxconn,
// option httpchk), built into hitless (option redispatch, option forwardfor), passed through to
// the HAProxy data plane when it is on the allow-list of config/haproxy-passthrough.ts and the
// import targets HAProxy, or reported as not mapped with the reason.
import { BACKEND_DIRECTIVES, directiveOf, FRONTEND_DIRECTIVES, lineProblem } from '../config/haproxy-passthrough.js';
import type { BalanceAlgorithm } from '../config/schema.js';
import { haproxyTime } from './durations.js';
import { at, type Report } from './report.js';

export type Section = 'frontend' | 'backend' | 'listen' | 'defaults';
export type TimeoutName = 'connect' | 'client' | 'server' | 'http-request' | 'http-keep-alive' | 'check';

/** What a service's HAProxy lines say, in hitless's terms (times in milliseconds). */
export interface ProxySettings {
  mode?: 'tcp' | 'http';
  balance?: BalanceAlgorithm;
  retries?: number;
  maxconn?: number;
  readonly timeouts: Partial<Record<TimeoutName, number>>;
  /** `option httpchk`: the path checked, and where the line was (for a report when no server is checked). */
  httpchk?: { path: string; at: string; line: string };
  /** Lines for HAProxy's frontend / backend, when the import targets the HAProxy data plane. */
  readonly frontend: string[];
  readonly backend: string[];
}

export interface LineContext {
  readonly report: Report;
  /** True when the output drives HAProxy (--dataplane haproxy): allow-listed lines pass through. */
  readonly passThrough: boolean;
}

export function emptySettings(): ProxySettings {
  return { timeouts: {}, frontend: [], backend: [] };
}

export function copySettings(s: ProxySettings): ProxySettings {
  return { ...s, timeouts: { ...s.timeouts }, frontend: [...s.frontend], backend: [...s.backend] };
}

const BALANCE: Record<string, BalanceAlgorithm> = {
  roundrobin: 'round-robin',
  'static-rr': 'round-robin',
  leastconn: 'least-conn',
  source: 'source-hash',
  random: 'random-two',
  'random(2)': 'random-two',
};

const TIMEOUTS: Record<string, TimeoutName> = {
  connect: 'connect',
  client: 'client',
  server: 'server',
  'http-request': 'http-request',
  'http-keep-alive': 'http-keep-alive',
  check: 'check',
};
/** HAProxy 1.x spellings synapse configs still carry. */
const OLD_TIMEOUTS: Record<string, TimeoutName> = { contimeout: 'connect', clitimeout: 'client', srvtimeout: 'server' };

const PASSED = 'with --dataplane haproxy the line is passed through to HAProxy';
const CHECK_WHY = 'the builtin health check is a TCP connect or an HTTP GET that expects a 2xx or 3xx answer';

/** Why an allow-listed line has no builtin equivalent. */
function builtinWhy(directive: string): string {
  if (/^(option (tcp-check|mysql-check|pgsql-check|redis-check|smtpchk|ssl-hello-chk|ldap-check)|tcp-check|http-check)/.test(directive)) return CHECK_WHY;
  if (directive === 'timeout queue' || directive === 'fullconn') return 'hitless queues no connection: each goes to an endpoint at once';
  if (directive.startsWith('compression')) return 'hitless passes response bodies as the endpoint sent them';
  return 'the builtin data plane has no such setting';
}

/** Directives (by leading words) that are neither mapped nor passed through, with why and what instead. */
const NOT_MAPPED: ReadonlyArray<readonly [RegExp, string, string | null]> = [
  [/^bind\b/, 'hitless listens on the address made of haproxy.port and bind_address', 'add further addresses to the service\'s listen: list'],
  [/^(default_backend|use_backend)\b/, "synapse's backend names do not exist in hitless: a service sends its traffic to its own endpoints", 'route http requests with routes: and clusters:'],
  [/^(acl|http-request|http-response|tcp-request|tcp-response|redirect|req[a-z]*|rsp[a-z]*|http-after-response)\b/, "request and response rules are not passed through: hitless's HTTP handling (framing, forwarding headers, its own answers) is the same on both data planes", 'keep such rules in the application, or in a proxy in front of hitless'],
  [/^(log|no log|option (httplog|tcplog|dontlognull|dontlog-normal|log-health-checks|log-separate-errors|logasap)|log-format|log-tag|capture)\b/, "HAProxy's logging: hitless writes access logs itself", 'services.NAME.access_log: { path: FILE, format: combined }'],
  [/^option (http-server-close|httpclose|forceclose|http-keep-alive|http-pretend-keepalive|http-tunnel|http-no-delay)\b/, 'hitless keeps connections alive on both sides, and no config change closes one', null],
  [/^(cookie|appsession|stick|stick-table|persist|option persist|hash-type|ignore-persist|force-persist|use-server)\b/, 'hitless keeps no sticky sessions', 'balance: source-hash keeps a client address on one endpoint'],
  [/^stats\b/, "HAProxy's stats page", "hitless serves GET /metrics, GET /status and a dashboard on its admin address"],
  [/^(errorfile|errorloc|errorloc302|errorloc303)\b/, "hitless answers its own errors, with its own bodies and an x-hitless-error code", null],
  [/^server\b/, 'servers written in a section are not read', 'list them as the service\'s endpoints:'],
  [/^default-server\b/, 'hitless renders every server line itself', 'give server keywords as haproxy.server_options (with --dataplane haproxy)'],
  [/^timeout tunnel\b/, 'hitless keeps an upgraded (WebSocket) connection open for as long as it lives', 'tcp services: timeouts.idle'],
];

function builtIn(lower: string): boolean {
  return /^(option redispatch|redispatch|no option redispatch|option forwardfor)\b/.test(lower);
}

function toList(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** Reads `lines` (a string or a list, as synapse takes them) of a `section` into `into`. */
export function readLines(lines: unknown, section: Section, path: string, into: ProxySettings, ctx: LineContext): void {
  toList(lines).forEach((raw, i) => {
    const where = Array.isArray(lines) ? at(path, i) : path;
    if (typeof raw !== 'string') {
      ctx.report.skip(where, raw, 'not a line of text', null);
      return;
    }
    readLine(raw, section, where, into, ctx);
  });
}

function readLine(raw: string, section: Section, where: string, into: ProxySettings, ctx: LineContext): void {
  const line = raw.trim().replace(/\s+/g, ' ');
  const lower = line.toLowerCase();
  const words = lower.split(' ');
  const skip = (why: string, instead: string | null = null) => ctx.report.skip(where, raw, why, instead);
  if (line === '') return;
  if (words[0] === 'mode') {
    if (words[1] === 'tcp' || words[1] === 'http') into.mode = words[1];
    else skip(`hitless services are tcp or http`);
    return;
  }
  if (words[0] === 'balance') {
    const algorithm = BALANCE[words[1] ?? ''];
    if (algorithm && words.length === 2) {
      into.balance = algorithm;
      if (words[1] === 'static-rr') ctx.report.note(where, 'static-rr is mapped to round-robin (smooth weighted; weights may also change at runtime)');
    } else if (/^random\(\d+\)$/.test(words[1] ?? '')) {
      into.balance = 'random-two';
      ctx.report.note(where, `${words[1]} is mapped to random-two (the better of two random endpoints)`);
    } else skip('hitless balances round-robin, least-conn, random-two or source-hash (the client address)', 'pick the closest of these as balance:');
    return;
  }
  const timeout = words[0] === 'timeout' ? TIMEOUTS[words[1] ?? ''] : OLD_TIMEOUTS[words[0]];
  if (timeout) {
    const value = haproxyTime(words[0] === 'timeout' ? (words[2] ?? '') : (words[1] ?? ''));
    if (value === null || words.length > (words[0] === 'timeout' ? 3 : 2)) skip('not a HAProxy time', null);
    else into.timeouts[timeout] = value;
    return;
  }
  if (words[0] === 'retries' && words.length === 2 && /^\d+$/.test(words[1])) {
    const n = Number(words[1]);
    into.retries = Math.min(n, 10);
    if (n > 10) ctx.report.note(where, `retries ${n} is mapped to 10, the most hitless tries`);
    return;
  }
  if (words[0] === 'maxconn' && words.length === 2 && /^\d+$/.test(words[1]) && section !== 'backend') {
    if (Number(words[1]) > 0) into.maxconn = Number(words[1]);
    else skip('maxconn 0', null);
    return;
  }
  if (words[0] === 'option' && words[1] === 'httpchk') {
    // option httpchk [<method>] <uri> [<version>]; HAProxy sends OPTIONS / when nothing is given.
    const args = line.split(' ').slice(2);
    const uri = args.length >= 2 ? args[1] : args[0];
    const method = args.length >= 2 ? args[0].toUpperCase() : 'OPTIONS';
    if (uri !== undefined && !uri.startsWith('/')) skip('the checked URI must be a path', null);
    else {
      into.httpchk = { path: uri ?? '/', at: where, line: raw };
      if (method !== 'GET') ctx.report.note(where, `HAProxy sent ${method}; hitless's http check sends GET ${uri ?? '/'}`);
      if (args.length >= 3) ctx.report.note(where, `the HTTP version and headers (${args.slice(2).join(' ')}) are not sent: hitless's check is a plain HTTP/1.1 GET`);
    }
    return;
  }
  if (builtIn(lower)) return;
  const frontend = section !== 'backend' ? directiveOf(line, FRONTEND_DIRECTIVES) : null;
  const backend = section !== 'frontend' ? directiveOf(line, BACKEND_DIRECTIVES) : null;
  if (frontend || backend) {
    if (!ctx.passThrough) {
      skip(builtinWhy((frontend ?? backend)!), PASSED);
      return;
    }
    // What hitless's own config check would refuse (environment expansion, ...) is reported here.
    const problem = lineProblem(frontend ? 'frontend' : 'backend', line);
    if (problem) {
      skip(problem);
      return;
    }
    if (frontend) into.frontend.push(line);
    if (backend) into.backend.push(line);
    return;
  }
  for (const [pattern, why, instead] of NOT_MAPPED) {
    if (pattern.test(lower)) {
      skip(why, instead);
      return;
    }
  }
  const directive = line.split(' ').slice(0, 2).join(' ');
  skip(`"${directive}" has no hitless equivalent${ctx.passThrough ? ' and is not among the directives passed through to HAProxy' : ''}`);
}
