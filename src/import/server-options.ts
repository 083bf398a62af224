// synapse's `server_options` (keywords appended to every server line of a service) read into
// hitless health settings; the keywords hitless has no setting for pass through to the HAProxy data
// plane when they are on the allow-list (config/haproxy-passthrough.ts), or are reported.
import { SERVER_KEYWORDS, serverOptionsProblem } from '../config/haproxy-passthrough.js';
import { haproxyTime } from './durations.js';
import type { LineContext } from './haproxy-lines.js';

export interface ServerHealth {
  /** The `check` keyword: HAProxy checks these servers. */
  check: boolean;
  inter?: number;
  rise?: number;
  fall?: number;
  /** `observe`: errors in live traffic count against a server (error-limit, default 10). */
  observe?: { errorLimit: number };
}

export interface ServerOptions {
  readonly health: ServerHealth;
  /** Keywords (with their arguments) for HAProxy's server lines, when passing through. */
  readonly pass: string[];
}

/** Arguments of the keywords hitless maps or knows it does not take (the allow-listed ones are in SERVER_KEYWORDS). */
const OTHER_KEYWORDS: Readonly<Record<string, number>> = {
  check: 0,
  inter: 1,
  rise: 1,
  fall: 1,
  weight: 1,
  observe: 1,
  'error-limit': 1,
  'on-error': 1,
  cookie: 1,
  disabled: 0,
  enabled: 0,
  track: 1,
  id: 1,
  redir: 1,
  resolvers: 1,
  'init-addr': 1,
  'resolve-prefer': 1,
  'agent-check': 0,
  'agent-inter': 1,
  'agent-port': 1,
  'agent-addr': 1,
  'agent-send': 1,
  'no-check': 0,
  'non-stick': 0,
  source: 1,
  proto: 1,
  ciphers: 1,
  'ssl-min-ver': 1,
  'ssl-max-ver': 1,
  'crl-file': 1,
  'check-send-proxy': 0,
  'check-proto': 1,
  'check-alpn': 1,
  'max-reuse': 1,
  'pool-low-conn': 1,
};

const PASSED = 'with --dataplane haproxy it is passed through to HAProxy\'s server lines';

/** Why the builtin data plane has nothing for an allow-listed keyword. */
const BUILTIN_WHY: Readonly<Record<string, string>> = {
  maxconn: 'hitless has no per-endpoint connection cap (max_connections caps a service\'s clients)',
  maxqueue: 'hitless queues no connection',
  minconn: 'hitless has no per-endpoint connection cap',
  slowstart: 'hitless gives an endpoint its full weight at once',
  backup: 'hitless has no backup endpoints: every endpoint takes traffic (weight 0 drains one)',
  'send-proxy': 'hitless does not send the PROXY protocol to endpoints',
  'send-proxy-v2': 'hitless does not send the PROXY protocol to endpoints',
  fastinter: 'hitless checks at one interval (health.active.interval)',
  downinter: 'hitless checks at one interval (health.active.interval)',
  port: "hitless checks an endpoint's own address and port",
  addr: "hitless checks an endpoint's own address and port",
  'on-marked-down': 'hitless lets the connections of an endpoint that turns unhealthy finish',
  'on-marked-up': 'hitless lets the connections of an endpoint that turns unhealthy finish',
  'pool-max-conn': 'hitless sizes its connection pools to endpoints itself',
  'pool-purge-delay': 'hitless sizes its connection pools to endpoints itself',
  tfo: 'hitless connects to endpoints without TCP Fast Open',
};
const TLS_WHY = 'hitless connects to endpoints without TLS';

/** Reasons for keywords that are neither mapped nor passed through. */
const NOT_TAKEN: Readonly<Record<string, [string, string | null]>> = {
  cookie: ['hitless keeps no sticky sessions', 'balance: source-hash keeps a client address on one endpoint'],
  disabled: ['hitless has no disabled endpoints in a config', 'leave the endpoint out, or drain it: hitless endpoint drain SERVICE ADDRESS'],
  track: ["hitless checks each endpoint itself; it cannot follow another server's state", null],
  'agent-check': ['hitless has no agent checks (an agent that changes weights)', 'change weights with hitless endpoint weight SERVICE ADDRESS N'],
  resolvers: ['hitless resolves endpoint host names itself', null],
  'init-addr': ['hitless resolves endpoint host names itself', null],
};

/** Reads `text` (a string of server keywords) of a service whose options are at `path`. */
export function readServerOptions(text: unknown, path: string, ctx: LineContext): ServerOptions {
  const health: ServerHealth = { check: false };
  const pass: string[] = [];
  if (text === undefined || text === null || text === '') return { health, pass };
  if (typeof text !== 'string') {
    ctx.report.skip(path, text, 'not a string of server keywords');
    return { health, pass };
  }
  const words = text.trim().split(/\s+/);
  const checkItems: string[] = [];
  let onError: string | null = null;
  let errorLimit: number | null = null;
  for (let i = 0; i < words.length; i++) {
    const keyword = words[i].toLowerCase();
    const count = SERVER_KEYWORDS[keyword] ?? OTHER_KEYWORDS[keyword];
    if (count === undefined) {
      ctx.report.skip(path, words.slice(i).join(' '), `"${keyword}" is not a server keyword this import knows, so the rest of the options could not be read either`);
      break;
    }
    const args = words.slice(i + 1, i + 1 + count);
    const item = [words[i], ...args].join(' ');
    i += count;
    if (args.length < count) {
      ctx.report.skip(path, item, `"${keyword}" needs ${count} argument${count === 1 ? '' : 's'}`);
      continue;
    }
    const time = () => {
      const ms = haproxyTime(args[0]);
      if (ms === null || ms === 0) ctx.report.skip(path, item, 'not a HAProxy time');
      return ms ?? undefined;
    };
    const count1 = () => {
      const n = /^\d+$/.test(args[0]) ? Number(args[0]) : 0;
      if (n < 1 || n > 100) ctx.report.skip(path, item, 'hitless takes 1 to 100');
      return n >= 1 && n <= 100 ? n : undefined;
    };
    switch (keyword) {
      case 'check':
        health.check = true;
        continue;
      case 'inter':
        health.inter = time();
        checkItems.push(item);
        continue;
      case 'rise':
        health.rise = count1();
        checkItems.push(item);
        continue;
      case 'fall':
        health.fall = count1();
        checkItems.push(item);
        continue;
      case 'observe':
        if (args[0] === 'layer4' || args[0] === 'layer7') health.observe = { errorLimit: 10 };
        else ctx.report.skip(path, item, 'observe takes layer4 or layer7');
        continue;
      case 'error-limit':
        errorLimit = /^\d+$/.test(args[0]) && Number(args[0]) > 0 ? Number(args[0]) : null;
        if (errorLimit === null) ctx.report.skip(path, item, 'not a positive count');
        continue;
      case 'on-error':
        onError = args[0];
        continue;
      case 'weight':
        ctx.report.skip(path, item, 'the same weight on every server changes no ratio', "weights come from the registry entries' weight (and endpoints[].weight for static ones)");
        continue;
    }
    if (SERVER_KEYWORDS[keyword] !== undefined) {
      const problem = ctx.passThrough ? serverOptionsProblem(item) : null;
      if (problem) ctx.report.skip(path, item, problem);
      else if (ctx.passThrough) pass.push(item);
      else ctx.report.skip(path, item, BUILTIN_WHY[keyword] ?? TLS_WHY, PASSED);
      continue;
    }
    const [why, instead] = NOT_TAKEN[keyword] ?? [`"${keyword}" has no hitless equivalent${ctx.passThrough ? ' and is not passed through to HAProxy' : ''}`, null];
    ctx.report.skip(path, item, why, instead);
  }
  if (health.observe) {
    if (errorLimit !== null) health.observe.errorLimit = errorLimit;
    if (onError !== null && onError !== 'mark-down' && onError !== 'sudden-death') {
      ctx.report.note(path, `on-error ${onError}: hitless ejects the endpoint after error-limit errors (as mark-down does) for health.passive.ejection`);
    }
  } else {
    if (errorLimit !== null) ctx.report.skip(path, `error-limit ${errorLimit}`, 'without observe, HAProxy counts no live-traffic errors');
    if (onError !== null) ctx.report.skip(path, `on-error ${onError}`, 'without observe, HAProxy counts no live-traffic errors');
  }
  if (!health.check) {
    for (const item of checkItems) ctx.report.skip(path, item, 'without check, HAProxy runs no health check', 'add check to the server options');
  }
  return { health, pass };
}
