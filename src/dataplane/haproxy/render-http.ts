// The http-mode rules that make HAProxy 2.6 behave as the builtin plane does for the same config
// (issue 15 item 7; test/driver-http-conformance.test.ts holds both planes to one table): the
// same refusals with the same status and `x-hitless-error` code, the target and Host the endpoint
// receives, hop-by-hop headers removed, and the forwarding headers built the same way
// (src/dataplane/builtin/http/headers.ts scanRequestHeaders is the reference). Rules run in the
// builtin plane's order: limits, then the target and Host checks, then rewriting.
import type { Config, ServiceConfig } from '../../config/model.js';
import { PROXY_CODES } from '../../errors.js';

/** HAProxy's header-rewrite reserve (its default): room for the headers these rules add. */
export const MAX_REWRITE = 1024;
const MIN_BUFSIZE = 16_384;

/**
 * HAProxy reads a request head only if it fits in `tune.bufsize - tune.maxrewrite` (it answers a
 * stock 400 beyond), and the size is global. Twice the largest `max_header_bytes` leaves room to
 * see a head that is over the limit, so it gets the builtin plane's 431 rather than that 400.
 */
export function bufferSize(config: Config): number {
  let limit = 0;
  for (const s of config.services.values()) if (s.mode === 'http') limit = Math.max(limit, s.limits.maxHeaderBytes);
  const wanted = 2 * limit + MAX_REWRITE;
  return Math.max(MIN_BUFSIZE, Math.ceil(wanted / 1024) * 1024);
}

/** A double-quoted HAProxy word: `\`, `"` and `$` (environment expansion) escaped, newlines as \n. */
export function quoted(text: string): string {
  return `"${text.replace(/[\\"$]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;
}

const TEXT = 'content-type "text/plain; charset=utf-8"';

/** One of hitless's own answers, with the builtin plane's status, body and code (errors.ts). */
function answer(action: 'deny' | 'return', status: number, text: string, code: string, condition: string): string {
  return `  http-request ${action} status ${status} ${TEXT} string ${quoted(`${status} ${text}\n`)} hdr x-hitless-error ${code} ${condition}`;
}

/** RFC 3986 authority as a Host value (headers.ts HOST_VALUE); single-quoted, so `'` is \x27. */
const HOST_VALUE = "'^(?:\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9._~!$&\\x27()*+,;=%-]*)(?::[0-9]{0,5})?$'";

/** Limits and refusals: the request reaches no endpoint. `deny` so HAProxy counts them as denied. */
function refusals(service: ServiceConfig): string[] {
  const { maxHeaderBytes, maxUrlBytes } = service.limits;
  return [
    // node:http counts a head as the bytes of its target, header names and values, and refuses it
    // (431) at max_header_bytes; req.hdrs is the header block with ": " and CRLF on each line and
    // the final CRLF, which this takes off again.
    '  http-request set-var(txn.hl_url) url,length',
    '  http-request set-var(txn.hl_sep) req.fhdr_cnt,mul(4),add(2)',
    '  http-request set-var(txn.hl_head) req.hdrs,length,add(txn.hl_url),sub(txn.hl_sep)',
    answer('deny', 431, 'Request Header Fields Too Large', PROXY_CODES.HEADERS_TOO_LARGE, `if { var(txn.hl_head) -m int ge ${maxHeaderBytes} }`),
    answer('deny', 414, 'request line too long', PROXY_CODES.URL_TOO_LONG, `if { var(txn.hl_url) -m int gt ${maxUrlBytes} }`),
    answer('deny', 405, 'Method Not Allowed', PROXY_CODES.METHOD_NOT_ALLOWED, 'if METH_CONNECT'),
    // request-target.ts: origin-form, absolute-form (http/https) or `OPTIONS *`, never a fragment
    // (Debian's 2.6.12 parser already refuses '#' itself; 2.6 builds without that fix do not).
    answer('deny', 400, 'invalid request target', PROXY_CODES.BAD_REQUEST, 'if { url -m sub \\# }'),
    answer('deny', 400, 'invalid request target', PROXY_CODES.BAD_REQUEST, 'unless { url_beg / } or { url_beg -i http:// https:// } or { url -m str * } METH_OPTIONS'),
    // RFC 9112 §3.2: an HTTP/1.1 request without Host.
    answer('deny', 400, 'an HTTP/1.1 request needs a Host header', PROXY_CODES.BAD_REQUEST, 'if { req.ver 1.1 } { req.fhdr_cnt(host) eq 0 }'),
    answer('deny', 400, 'invalid Host header', PROXY_CODES.BAD_REQUEST, `if { req.fhdr_cnt(host) gt 0 } !{ req.fhdr(host) -m reg ${HOST_VALUE} }`),
  ];
}

/**
 * RFC 9112 §3.2.2: an absolute-form target is routed on its authority, which becomes the Host,
 * and the endpoint receives origin-form. (HAProxy itself refuses one whose Host differs.)
 */
const ABSOLUTE_FORM = [
  '  http-request set-var(txn.hl_authority) url,field(3,/),field(1,?) if { url_beg -i http:// https:// }',
  '  http-request set-header host %[var(txn.hl_authority)] if { var(txn.hl_authority) -m found }',
  '  http-request set-uri %[pathq] if { var(txn.hl_authority) -m found } { pathq -m beg / }',
  '  http-request set-uri / if { var(txn.hl_authority) -m found } !{ pathq -m beg / }',
];

/**
 * Hop-by-hop headers stop here (headers.ts HOP_BY_HOP), and so do the names Connection lists.
 * Upgrade and `Connection: upgrade` go on only for an HTTP/1.1 upgrade other than h2c (hitless
 * offers no HTTP/2 to endpoints), as upgrade-proxy.ts does.
 */
const HOP_BY_HOP = [
  '  http-request lua.hitless_connection_tokens if { req.hdr(connection) -m reg -i ^(?!(close|keep-alive|upgrade)$) }',
  '  http-request del-header upgrade if { req.hdr(upgrade) -m reg -i ^h2c(/|$) }',
  '  http-request del-header upgrade unless { req.hdr(connection) -m str -i upgrade } { req.ver 1.1 }',
  '  http-request set-header connection upgrade if { req.fhdr_cnt(upgrade) gt 0 }',
  '  http-request del-header connection if { req.fhdr_cnt(upgrade) eq 0 }',
  '  http-request del-header keep-alive',
  '  http-request del-header proxy-connection',
  '  http-request del-header te',
  '  http-request del-header trailer',
];

/**
 * The client address appended to X-Forwarded-For and Forwarded (RFC 7239: `for=IP` or
 * `for="[IPv6]"`, then proto and the routed host), each as one line joined to what was received;
 * X-Forwarded-Proto and X-Forwarded-Host added when absent. HAProxy 2.6 has `option forwardfor`
 * (a second line rather than one joined line) and no `option forwarded` (2.7), hence the rules.
 */
const forwarding = (proto: 'http' | 'https'): string[] => [
  '  http-request lua.hitless_join x-forwarded-for if { req.fhdr_cnt(x-forwarded-for) gt 1 }',
  '  http-request lua.hitless_join forwarded if { req.fhdr_cnt(forwarded) gt 1 }',
  `  http-request set-var-fmt(txn.hl_for) "for=%[src];proto=${proto}"`,
  `  http-request set-var-fmt(txn.hl_for) "for=\\"[%[src]]\\";proto=${proto}" if { var(txn.hl_for) -m sub : }`,
  '  http-request set-var-fmt(txn.hl_for) "%[var(txn.hl_for)];host=\\"%[req.fhdr(host)]\\"" if { req.fhdr_cnt(host) gt 0 }',
  // Appended first: once the header exists, the "absent" rule below no longer matches.
  '  http-request set-header x-forwarded-for "%[req.fhdr(x-forwarded-for)], %[src]" if { req.fhdr_cnt(x-forwarded-for) gt 0 }',
  '  http-request set-header x-forwarded-for %[src] if { req.fhdr_cnt(x-forwarded-for) eq 0 }',
  '  http-request set-header forwarded "%[req.fhdr(forwarded)], %[var(txn.hl_for)]" if { req.fhdr_cnt(forwarded) gt 0 }',
  '  http-request set-header forwarded %[var(txn.hl_for)] if { req.fhdr_cnt(forwarded) eq 0 }',
  `  http-request add-header x-forwarded-proto ${proto} if { req.fhdr_cnt(x-forwarded-proto) eq 0 }`,
  '  http-request add-header x-forwarded-host %[req.fhdr(host)] if { req.fhdr_cnt(x-forwarded-host) eq 0 } { req.fhdr_cnt(host) gt 0 }',
];

/**
 * After refusing a request (its own 4xx answers), the builtin plane closes the connection; HAProxy
 * keeps it unless the response says close. Only answers no server gave (an endpoint's own 4xx,
 * whatever it carries, leaves the connection alone).
 */
const CLOSE_AFTER_REFUSAL = '  http-after-response set-header connection close if { status ge 400 } { status lt 500 } { res.fhdr(x-hitless-error) -m found } !{ srv_id -m found }';

/** The http frontend's rules, before its routes. */
export function httpFrontendRules(service: ServiceConfig): string[] {
  return [...refusals(service), CLOSE_AFTER_REFUSAL, ...ABSOLUTE_FORM, ...HOP_BY_HOP, ...forwarding(service.tls ? 'https' : 'http')];
}

/**
 * No usable server (none configured, all down, drained or in maintenance): the builtin plane's 503.
 * Not in a worker that is stopping after a reload: there nbsrv reads 0 for every backend once it
 * is stopped, although the connections that worker still serves are forwarded normally (without
 * `!{ stopping }`, requests finishing on the old worker during a reload got this 503).
 */
export function httpBackendRules(): string[] {
  return [answer('return', 503, 'no healthy endpoint', PROXY_CODES.NO_HEALTHY_ENDPOINT, 'if { nbsrv eq 0 } !{ stopping }')];
}
