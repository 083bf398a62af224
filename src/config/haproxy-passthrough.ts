// `services.NAME.haproxy:` — HAProxy directives that hitless passes, unchanged, into the config it
// renders for the HAProxy data plane (dataplane.driver: haproxy). They exist for what HAProxy can
// do and hitless's own model cannot say (a queue timeout, a Redis or MySQL health check, a slow
// start, PROXY protocol to the servers): what a synapse config carries per service (issue 19).
//
// Narrow on purpose. Only directives on the allow-lists below pass, because hitless owns the rest
// of the rendered config: the listeners (bind, mode), balancing, its timeouts, its HTTP rules
// (framing, forwarding headers and its own answers are the same on both data planes), and the
// server lines, which the runtime API adds and removes. Whatever passes is still checked by
// `haproxy -c` with the rest of the config before anything is applied, as every rendered config is.
// A line can carry no second directive (no control characters) and no environment expansion
// (`$` inside double quotes is how HAProxy reads a variable: it would leak hitless's environment).
import { z } from 'zod';

/** Directives a frontend may carry (the leading words, lower case). */
export const FRONTEND_DIRECTIVES: readonly string[] = [
  'backlog',
  'rate-limit sessions',
  'timeout client-fin',
  'option tcpka',
  'option clitcpka',
  'option splice-auto',
  'option splice-request',
  'option splice-response',
  'option tcp-smart-accept',
  'option http-buffer-request',
];

/** Directives a backend may carry: health-check variants, queueing, TCP tuning, compression. */
export const BACKEND_DIRECTIVES: readonly string[] = [
  'fullconn',
  'timeout queue',
  'timeout server-fin',
  'option tcpka',
  'option srvtcpka',
  'option splice-auto',
  'option splice-request',
  'option splice-response',
  'option tcp-smart-connect',
  'option abortonclose',
  'option allbackups',
  'option prefer-last-server',
  'option http-buffer-request',
  'option tcp-check',
  'option mysql-check',
  'option pgsql-check',
  'option redis-check',
  'option smtpchk',
  'option ssl-hello-chk',
  'option ldap-check',
  'tcp-check connect',
  'tcp-check send',
  'tcp-check send-binary',
  'tcp-check expect',
  'tcp-check comment',
  'http-check expect',
  'http-check send',
  'http-check send-state',
  'http-check disable-on-404',
  'http-reuse',
  'max-keep-alive-queue',
  'compression algo',
  'compression type',
];

/**
 * Server keywords, with how many arguments each takes. All are accepted by HAProxy 2.6's
 * `add server` (hitless adds discovered endpoints at runtime with the same options).
 */
export const SERVER_KEYWORDS: Readonly<Record<string, number>> = {
  backup: 0,
  maxconn: 1,
  maxqueue: 1,
  minconn: 1,
  slowstart: 1,
  'send-proxy': 0,
  'send-proxy-v2': 0,
  ssl: 0,
  verify: 1,
  verifyhost: 1,
  sni: 1,
  alpn: 1,
  'ca-file': 1,
  crt: 1,
  'check-ssl': 0,
  'check-sni': 1,
  fastinter: 1,
  downinter: 1,
  port: 1,
  addr: 1,
  'on-marked-down': 1,
  'on-marked-up': 1,
  'pool-max-conn': 1,
  'pool-purge-delay': 1,
  tfo: 0,
};

/** Server keywords hitless renders from its own settings: the setting to use instead. */
export const SERVER_KEYWORDS_OWNED: Readonly<Record<string, string>> = {
  weight: 'the endpoint weight (endpoints[].weight, or the registry entry\'s weight)',
  check: 'health.active',
  inter: 'health.active.interval',
  rise: 'health.active.rise',
  fall: 'health.active.fall',
  observe: 'health.passive',
  'error-limit': 'health.passive.consecutive_failures',
  'on-error': 'health.passive',
};

const MAX_LINES = 50;
const MAX_LINE = 1_000;

/** The allow-listed directive a line starts with, or null. */
export function directiveOf(line: string, allowed: readonly string[]): string | null {
  const words = line.trim().toLowerCase().split(/\s+/);
  let best: string | null = null;
  for (const d of allowed) {
    const want = d.split(' ');
    if (want.every((w, i) => words[i] === w) && (best === null || want.length > best.split(' ').length)) best = d;
  }
  return best;
}

/** Why a line cannot be passed through as written (control characters, environment expansion), or null. */
function unsafeText(line: string): string | null {
  if (line.length > MAX_LINE) return `longer than ${MAX_LINE} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(line)) return 'control characters (a line is one directive)';
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\') i++;
    else if (quote === null && (c === '"' || c === "'")) quote = c;
    else if (c === quote) quote = null;
    else if (c === '$' && quote === '"') return 'environment expansion ("$" inside double quotes)';
  }
  return quote === null ? null : 'an unterminated quote';
}

/** Why `line` may not go into a `section`, or null when it may. */
export function lineProblem(section: 'frontend' | 'backend', line: string): string | null {
  const unsafe = unsafeText(line);
  if (unsafe) return `not passed through: ${unsafe}`;
  const allowed = section === 'frontend' ? FRONTEND_DIRECTIVES : BACKEND_DIRECTIVES;
  if (directiveOf(line, allowed)) return null;
  const first = line.trim().split(/\s+/).slice(0, 2).join(' ');
  return `"${first}" is not a directive hitless passes into a ${section} (allowed: ${allowed.join(', ')})`;
}

/** Why `options` cannot be appended to server lines, or null when they can. */
export function serverOptionsProblem(options: string): string | null {
  const unsafe = unsafeText(options);
  if (unsafe) return `not passed through: ${unsafe}`;
  const words = options.trim().split(/\s+/).filter((w) => w.length > 0);
  for (let i = 0; i < words.length; i++) {
    const keyword = words[i].toLowerCase();
    const owned = SERVER_KEYWORDS_OWNED[keyword];
    if (owned) return `"${keyword}" is rendered by hitless: use ${owned}`;
    const args = SERVER_KEYWORDS[keyword];
    if (args === undefined) return `"${keyword}" is not a server keyword hitless passes through (allowed: ${Object.keys(SERVER_KEYWORDS).join(', ')})`;
    if (i + args >= words.length && args > 0) return `"${keyword}" needs ${args} argument${args === 1 ? '' : 's'}`;
    i += args;
  }
  return null;
}

const lines = (section: 'frontend' | 'backend') =>
  z
    .array(z.string().min(1))
    .max(MAX_LINES)
    .superRefine((list, ctx) => {
      list.forEach((line, i) => {
        const problem = lineProblem(section, line);
        if (problem) ctx.addIssue({ code: 'custom', path: [i], message: problem });
      });
    });

export const haproxyPassThroughSchema = z.strictObject({
  /** Lines for the service's frontend (after hitless's own settings). */
  frontend: lines('frontend').optional(),
  /** Lines for each of the service's backends, before the server lines. */
  backend: lines('backend').optional(),
  /** Keywords appended to every server line of the service (and to runtime `add server`). */
  server_options: z
    .string()
    .superRefine((text, ctx) => {
      const problem = serverOptionsProblem(text);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
});

export type RawHaproxyPassThrough = z.output<typeof haproxyPassThroughSchema>;

export const HAPROXY_PASSTHROUGH_KEYS: readonly string[] = ['frontend', 'backend', 'server_options'];

/** The normalised pass-through: lines trimmed (nothing else: quoted text stays as written). */
export interface HaproxyPassThrough {
  readonly frontend: readonly string[];
  readonly backend: readonly string[];
  readonly serverOptions: string;
}

export function normalisePassThrough(raw: RawHaproxyPassThrough | undefined): HaproxyPassThrough | null {
  if (!raw) return null;
  const clean = (l: string) => l.trim();
  return Object.freeze({
    frontend: Object.freeze((raw.frontend ?? []).map(clean)),
    backend: Object.freeze((raw.backend ?? []).map(clean)),
    serverOptions: clean(raw.server_options ?? ''),
  });
}
