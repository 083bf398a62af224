// Files the rendered haproxy.cfg refers to, written into the state dir before the first check:
// the error pages HAProxy sends for the errors it detects itself, rewritten to hitless's own
// answers (same status and `x-hitless-error` code as the builtin plane where the cause is the
// same), and a small Lua file for the two header rewrites HAProxy 2.6's sample fetches cannot
// express. Their content never depends on the config, so writing them once per start is enough.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROXY_CODES } from '../../errors.js';

export interface SupportPaths {
  /** The Lua file loaded with `lua-load-per-thread`. */
  readonly lua: string;
  /** Error pages by the status HAProxy would answer with (the file may say another status). */
  readonly errorFiles: ReadonlyMap<number, string>;
}

interface ErrorPage {
  /** The status HAProxy answers with on its own... */
  readonly haproxyStatus: number;
  /** ...and what the client gets instead: the builtin plane's answer for the same cause. */
  readonly status: number;
  readonly reason: string;
  readonly code: string;
  readonly text: string;
}

/**
 * HAProxy's own answers, mapped to the builtin plane's (src/dataplane/builtin/http/errors.ts).
 * HAProxy answers 503 when it could not connect to a server (after `retries`); "no usable
 * server at all" never gets here, the backend answers it first (render-http.ts), so a 503 from
 * HAProxy itself is a failed connect, which the builtin plane answers 502. HAProxy's 502 covers
 * both a malformed response and a connection closed before the response (it cannot tell the two
 * apart to a rule): it takes the malformed-response code. No page for 400 and 408: in 2.6 those
 * come from HAProxy's HTTP/1 parser (a malformed, too large or too slow head, a bad chunk), which
 * sends its stock pages whatever `errorfile` says (checked with real HAProxy 2.6.12).
 */
const PAGES: readonly ErrorPage[] = [
  { haproxyStatus: 502, status: 502, reason: 'Bad Gateway', code: PROXY_CODES.UPSTREAM_BAD_RESPONSE, text: 'the endpoint sent an invalid or incomplete response' },
  { haproxyStatus: 503, status: 502, reason: 'Bad Gateway', code: PROXY_CODES.UPSTREAM_CONNECT, text: 'could not connect to an endpoint' },
  { haproxyStatus: 504, status: 504, reason: 'Gateway Timeout', code: PROXY_CODES.UPSTREAM_TIMEOUT, text: 'the endpoint did not answer in time' },
];

/** A complete HTTP response, as `errorfile` wants it: HAProxy sends it as written. */
function errorPage(page: ErrorPage): string {
  const body = `${page.status} ${page.text}\n`;
  return [
    `HTTP/1.1 ${page.status} ${page.reason}`,
    'content-type: text/plain; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    `x-hitless-error: ${page.code}`,
    '',
    body,
  ].join('\r\n');
}

/**
 * hitless_connection_tokens: the names a Connection header lists are hop-by-hop (RFC 9110 §7.6.1)
 * and are removed, except those that decide framing and routing (headers.ts PROTECTED) and the
 * connection options HAProxy handles itself. HAProxy 2.6 only acts on close/keep-alive/upgrade.
 *
 * hitless_join: several lines of a list header (X-Forwarded-For, Forwarded) become one line,
 * comma-joined in order, so the element hitless appends goes on the one line the builtin plane
 * sends. The sample fetches only read one occurrence at a time.
 *
 * Both run only for the requests that need them (the rules' conditions), so the common request
 * never enters Lua.
 */
export const LUA = `-- Rendered by hitless (src/dataplane/haproxy/support-files.ts); rewritten at every start.
local KEPT = { ["host"] = true, ["content-length"] = true, ["transfer-encoding"] = true,
               ["close"] = true, ["keep-alive"] = true, ["upgrade"] = true }

core.register_action("hitless_connection_tokens", { "http-req" }, function(txn)
  local values = txn.http:req_get_headers()["connection"]
  if values == nil then return end
  for i = 0, #values do
    local value = values[i]
    if value ~= nil then
      for token in string.gmatch(value, "[^,]+") do
        local name = string.lower((string.gsub(token, "^[ \\t]*(.-)[ \\t]*$", "%1")))
        if name ~= "" and not KEPT[name] then txn.http:req_del_header(name) end
      end
    end
  end
end, 0)

core.register_action("hitless_join", { "http-req" }, function(txn, name)
  local values = txn.http:req_get_headers()[name]
  if values == nil then return end
  local parts = {}
  for i = 0, #values do
    if values[i] ~= nil then parts[#parts + 1] = values[i] end
  end
  txn.http:req_set_header(name, table.concat(parts, ", "))
end, 1)
`;

export function supportPaths(stateDir: string): SupportPaths {
  const errorFiles = new Map<number, string>();
  for (const page of PAGES) errorFiles.set(page.haproxyStatus, join(stateDir, `error-${page.haproxyStatus}.http`));
  return { lua: join(stateDir, 'hitless.lua'), errorFiles };
}

/** Writes every support file (mode 0600, like the config); the state dir must exist. */
export async function writeSupportFiles(paths: SupportPaths): Promise<void> {
  await writeFile(paths.lua, LUA, { mode: 0o600 });
  for (const page of PAGES) await writeFile(paths.errorFiles.get(page.haproxyStatus)!, errorPage(page), { mode: 0o600 });
}
