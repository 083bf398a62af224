// Every registry stores endpoints in nerve's JSON shape; one validator for all sources, so a
// malformed entry reads the same whichever registry it came from.
//
// As liberal as synapse, which reads the same nodes: an entry with a usable `host` and `port` key
// is used, whatever else it holds (issue 19). synapse requires only those two keys and passes
// the rest through or ignores it, so here: `port` may be a number or a string of digits (synapse
// writes it into haproxy.cfg as text); `weight` is used when it is an integer (or a string of
// digits), capped at 1000, and otherwise ignored, as synapse ignores it; `name` is used when it is
// a string or a number; `labels` when it is an object (values of any JSON type, kept as text: a
// number, a boolean or an object label still names the endpoint's metadata, and nothing in
// hitless routes on label types); extra keys are ignored. What hitless needs to connect — host
// and port — stays strict. An entry left out is named with its reason by the caller (status and log).
import { isIP } from 'node:net';
import { z } from 'zod';
import type { DiscoveredEndpoint } from './source.js';

const MAX_WEIGHT = 1000;

const endpointShape = z.object({
  host: z
    .string()
    .min(1)
    .refine((h) => isIP(h) !== 0 || isHostname(h), 'host must be an IP address or a hostname'),
  port: z.union([z.number(), z.string().regex(/^\d{1,5}$/, 'port must be a number').transform(Number)]).pipe(z.number().int().min(1).max(65535)),
  name: z.unknown().optional(),
  weight: z.unknown().optional(),
  labels: z.unknown().optional(),
});

/** A weight synapse would hand HAProxy: an integer, or a string of digits; capped at 1000. Anything else: none. */
function usableWeight(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) return undefined;
  return Math.min(n, MAX_WEIGHT);
}

function usableName(value: unknown): string | undefined {
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : undefined;
}

/** A label value as text: strings as they are, anything else as its JSON. */
const labelText = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? 'null'));

function usableLabels(value: unknown): Readonly<Record<string, string>> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return Object.freeze(Object.fromEntries(Object.entries(value).map(([k, v]) => [k, labelText(v)])));
}

/**
 * Letters, digits, hyphens, underscores and dots (one trailing dot allowed), no empty label, and a last label that is not all digits
 * (RFC 3696 §2): "10.0.0.256" is a broken address, not a name to look up.
 */
function isHostname(h: string): boolean {
  // Underscores too: getaddrinfo (and so HAProxy, behind synapse) resolves names such as docker's.
  const name = h.endsWith('.') ? h.slice(0, -1) : h;
  return name.length <= 253 && /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/.test(name) && !/(^|\.)\d+$/.test(name);
}

export type ParsedEntry = { ok: true; endpoint: DiscoveredEndpoint } | { ok: false; reason: string };

/** Validates one decoded entry (extra keys, as other registrars write, are ignored). */
export function parseEndpointValue(value: unknown): ParsedEntry {
  const parsed = endpointShape.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return { ok: false, reason: `${where}${issue.message}` };
  }
  const { host, port } = parsed.data;
  const name = usableName(parsed.data.name);
  const weight = usableWeight(parsed.data.weight);
  const labels = usableLabels(parsed.data.labels);
  const endpoint: DiscoveredEndpoint = {
    host: host.toLowerCase(),
    port,
    ...(name === undefined ? {} : { name }),
    ...(weight === undefined ? {} : { weight }),
    ...(labels === undefined ? {} : { labels }),
  };
  return { ok: true, endpoint: Object.freeze(endpoint) };
}

/** Parses the bytes a registry holds for one entry (a ZooKeeper node's data, an etcd value). */
export function parseEndpointJson(data: Buffer | string | null | undefined): ParsedEntry {
  const text = data === null || data === undefined ? '' : data.toString();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: `not JSON: ${JSON.stringify(text.slice(0, 60))}` };
  }
  return parseEndpointValue(value);
}

const PATH_ENCODED = /^base64_(\d+)_/;

/**
 * nerve's path encoding (`use_path_encoding`): the entry's JSON, base64url-encoded, in the node's
 * own name — `base64_<length>_<encoded>_<sequence>` — with the node data written too. synapse reads
 * such a name without reading the data; hitless reads the data and falls back to the name when the
 * data is unusable (empty, or written by a registrar that only encodes names). null: not such a name.
 */
export function parsePathEncodedName(child: string): ParsedEntry | null {
  const m = PATH_ENCODED.exec(child);
  if (!m) return null;
  const encoded = child.slice(m[0].length, m[0].length + Number(m[1]));
  return parseEndpointJson(Buffer.from(encoded, 'base64url'));
}

/** A ZooKeeper child's entry: its data, or (nerve's path encoding) its name when the data is unusable. */
export function parseChild(child: string, data: Buffer | string | null | undefined): ParsedEntry {
  const fromData = parseEndpointJson(data);
  if (fromData.ok) return fromData;
  const fromName = parsePathEncodedName(child);
  return fromName?.ok ? fromName : fromData;
}

/** Splits named entries into the valid set and one problem line per malformed entry. */
export function collectEntries(entries: Iterable<readonly [string, ParsedEntry]>): {
  endpoints: DiscoveredEndpoint[];
  problems: string[];
} {
  const endpoints: DiscoveredEndpoint[] = [];
  const problems: string[] = [];
  for (const [id, entry] of entries) {
    if (entry.ok) endpoints.push(entry.endpoint);
    else problems.push(`${id}: ${entry.reason}`);
  }
  return { endpoints, problems };
}
