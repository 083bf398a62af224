// The admin API of runtime endpoint overrides (hitless endpoint ...):
//   GET    /overrides                      every override, with whether its endpoint is there now
//   POST   /overrides/SERVICE/ADDRESS      {"state": "drain"|"maint"|"ready", "weight": 0-1000|null}
//   DELETE /overrides/SERVICE/ADDRESS      clear it
// POST and DELETE change what the data plane does: they are "change" routes, authorised as PUT
// /config is. Every byte of the path and body is checked before anything changes; an error names
// the field ("service", "address", "state", "weight", "body") in `details.field`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EndpointOverrides } from '../control/endpoint-overrides.js';
import { checkAddress, checkService, checkState, checkWeight, cleanBy, printable, type Checked, type OverrideChange } from '../control/override-store.js';
import { ErrorCodes, HitlessError, httpStatusOf } from '../errors.js';
import { readBody, sendError, sendJson } from './http-util.js';

const PREFIX = '/overrides';
const MAX_BODY_BYTES = 16 * 1024;
/** The header a client names itself in (the CLI sends user@host); recorded as `by` with the peer address. */
export const ACTOR_HEADER = 'x-hitless-actor';

export function isOverrideRoute(path: string): boolean {
  return path === PREFIX || path.startsWith(`${PREFIX}/`);
}

export async function handleOverrideRoute(overrides: EndpointOverrides, req: IncomingMessage, res: ServerResponse, path: string, peer: string): Promise<void> {
  try {
    if (path === PREFIX) {
      if (req.method !== 'GET') throw new HitlessError(ErrorCodes.METHOD_NOT_ALLOWED, `${req.method} is not allowed on ${PREFIX}; use GET`);
      return sendJson(res, 200, overrides.list());
    }
    const target = parseTarget(path.slice(PREFIX.length + 1));
    const by = describeActor(req, peer);
    if (req.method === 'POST') {
      const change = parseChange(await readBody(req, MAX_BODY_BYTES));
      return sendJson(res, 200, await overrides.change(target.service, target.address, change, by, peer));
    }
    if (req.method === 'DELETE') {
      req.resume();
      return sendJson(res, 200, await overrides.clear(target.service, target.address, by, peer));
    }
    throw new HitlessError(ErrorCodes.METHOD_NOT_ALLOWED, `${req.method} is not allowed on ${PREFIX}/SERVICE/ADDRESS; use POST (set) or DELETE (clear)`);
  } catch (err) {
    if (!(err instanceof HitlessError)) throw err;
    req.resume();
    sendError(res, httpStatusOf(err.code), err.code, err.message, err.details);
  }
}

/** "SERVICE/ADDRESS", each part percent-decoded ("[::1]:80" may come as %5B::1%5D:80). */
function parseTarget(rest: string): { service: string; address: string } {
  const parts = rest.split('/');
  if (parts.length !== 2) {
    throw invalid(parts.length < 2 || parts[1] === '' ? 'address' : 'path', `expected ${PREFIX}/SERVICE/ADDRESS (ADDRESS as host:port), found ${PREFIX}/${printable(rest)}`);
  }
  const service = valid(checkService(decode(parts[0], 'service')));
  const address = valid(checkAddress(decode(parts[1], 'address')));
  return { service, address };
}

function decode(text: string, field: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalid(field, `"${printable(text)}" is not a valid percent-encoded ${field}`);
  }
}

/** The body of a POST: a JSON object with "state" and/or "weight", nothing else. */
function parseChange(body: string): OverrideChange {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    throw invalid('body', 'expected a JSON object such as {"state": "drain"} or {"weight": 5}');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('body', 'expected a JSON object such as {"state": "drain"} or {"weight": 5}');
  const fields = doc as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key !== 'state' && key !== 'weight') throw invalid(printable(key), `unknown field "${printable(key)}"; allowed: state ("ready", "drain", "maint"), weight (0-1000, or null to clear it)`);
  }
  if (fields.state === undefined && fields.weight === undefined) throw invalid('state', 'give "state" ("ready", "drain", "maint") and/or "weight" (0-1000, or null to clear it)');
  return {
    ...(fields.state !== undefined ? { state: valid(checkState(fields.state)) } : {}),
    ...(fields.weight !== undefined ? { weight: fields.weight === null ? null : valid(checkWeight(fields.weight)) } : {}),
  };
}

function describeActor(req: IncomingMessage, peer: string): string {
  const header = req.headers[ACTOR_HEADER];
  const name = cleanBy(Array.isArray(header) ? header[0] : header);
  return name ? `${name} (${peer})` : peer;
}

function valid<T>(checked: Checked<T>): T {
  if (!checked.ok) throw invalid(checked.field, checked.reason);
  return checked.value;
}

function invalid(field: string, reason: string): HitlessError {
  return new HitlessError(ErrorCodes.INVALID_REQUEST, `${field}: ${reason}`, { field });
}
